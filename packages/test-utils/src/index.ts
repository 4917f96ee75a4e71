/**
 * Test fixtures shared by every Tether package and the end-to-end suite: real `redis-server`
 * processes, a TCP proxy that can cut and block connections, free ports, a node harness, and
 * synchronisation helpers (polling, fences, deferred promises). The shared suites are in
 * `@tether/test-utils/suites`.
 *
 * @packageDocumentation
 */
export { liveChildCount, removeOnExit, spawnReaped } from './child-reaper.js';
export { type Deferred, deferred } from './deferred.js';
export { FenceError, type FenceOptions, fence } from './fence.js';
export { freePort } from './free-port.js';
export {
  type InboxStore,
  inboxContract,
  type MakeInboxStore,
  type RecordingListener,
  recordingListener,
} from './inbox-contract.js';
export { type HandleTracker, trackHandles } from './leak-check.js';
export { type RedisCliOptions, redisCli } from './redis-cli.js';
export { RedisCluster, type RedisClusterNode, type RedisClusterOptions } from './redis-cluster.js';
export {
  RedisServer,
  type RedisServerOptions,
  RedisStartError,
  type RedisStartErrorCode,
} from './redis-server.js';
export { type ProxyTarget, TcpProxy, type TcpProxyOptions } from './tcp-proxy.js';
export { startTestNode, type TestNode, type TetherKit, until, waitForState } from './tether-node.js';
export { delay, type EmitterLike, once, type WaitForOptions, waitFor } from './wait.js';
