/**
 * @tether/redis-bus: the cross-node bus of Tether on Redis.
 *
 * @example
 * import { RedisBus } from '@tether/redis-bus';
 * const bus = new RedisBus({ url: 'redis://127.0.0.1:6379' });
 */

// Backend services publish through the bus without serving connections; the emitter lives in
// @tether/server (it works on any bus) and is offered here too, where such services look for it.
export { TetherEmitter, type TetherEmitterOptions } from '@tether/server';
export type { ClusterSource, RedisSource } from './connection.js';
export { InboxKeys } from './inbox-keys.js';
export type { RedisBusOptions, RedisBusSettings } from './options.js';
export { RedisBus } from './redis-bus.js';
export { RedisInbox, type RedisInboxOptions, type RedisInboxSettings } from './redis-inbox.js';
