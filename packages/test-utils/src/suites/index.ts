/**
 * Shared vitest suites: every package that implements a bus, a transport or a node runs the same
 * tests. They take the classes under test as arguments (see `TetherKit`), so this package depends
 * on none of the packages it tests. Kept apart from the main entry because importing them loads vitest.
 *
 * @packageDocumentation
 */
export { busContract, type MakeBus, type RecordingNode, recordingNode, uniqueRoom } from './bus-contract.js';
export { type MakeSharedBus, multiNodeDelivery } from './multi-node-delivery.js';
export { type TransportKind, transportSuite } from './transport-suite.js';
