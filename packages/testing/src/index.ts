/**
 * Test helpers for apps built on Tether: a real server and clients in one process
 * ({@link createTestPair}), network faults over a real TCP proxy ({@link FaultProxy}), waits that
 * say what they waited for ({@link waitFor}), and fences that make "nothing else arrived" a
 * checkable claim ({@link fence}).
 *
 * @packageDocumentation
 */
export { FaultProxy, type NetworkMode } from './fault-proxy.js';
export { FENCE_EVENT, type FenceOptions, type FenceSender, fence } from './fence.js';
export {
  createTestPair,
  type TestClientOptions,
  type TestPair,
  type TestPairOptions,
} from './test-pair.js';
export {
  type Listenable,
  type WaitForEventOptions,
  type WaitOptions,
  WaitTimeoutError,
  waitFor,
  waitForEvent,
  waitForState,
} from './wait-for.js';
