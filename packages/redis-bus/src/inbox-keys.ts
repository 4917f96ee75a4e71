import { DEFAULT_PREFIX, validatePrefix } from './keys.js';

/**
 * Every Redis key and channel RedisInbox uses, in one place. The Lua scripts in
 * inbox-scripts.ts receive `base` and build the same names (a test checks that they match).
 *
 * Layout (prefix `tether:` by default, so `base` is `tether:inbox:`):
 *
 * | name                          | type   | what                                                         |
 * |-------------------------------|--------|--------------------------------------------------------------|
 * | `<base>seq`                   | string | store order counter                                          |
 * | `<base>n`                     | hash   | id -> JSON meta of a pending notification (user, event, times, attempts) |
 * | `<base>d`                     | hash   | id -> JSON data of a pending notification or a dead letter   |
 * | `<base>u:<user>`              | zset   | a user's pending ids; score `seq` (urgent) or `2^50 + seq`: one range in delivery order |
 * | `<base>ck:<user>`             | hash   | collapse key -> id of the user's newest notification with it |
 * | `<base>exp`                   | zset   | pending id -> expiresAt (the sweep's index)                  |
 * | `<base>off`                   | zset   | pending id -> createdAt, until claimed for the offline notice |
 * | `<base>done`                  | zset   | acknowledged or expired id -> forgetAt (the dedup window)     |
 * | `<base>dead`                  | hash   | id -> JSON dead letter                                       |
 * | `<base>dead:t`                | zset   | dead id -> deadAt (listing order)                            |
 * | `<base>dead:f`                | zset   | dead id -> forgetAt (retention)                              |
 * | `<base>dead:u:<user>`         | zset   | a user's dead ids -> deadAt                                  |
 * | `<base>wake`                  | channel | user key of each stored or redriven notification            |
 *
 * The scripts touch several users' keys and the shared indexes in one step, so RedisInbox runs on
 * a single Redis (with replicas or Sentinel), not on a Redis Cluster.
 */
export class InboxKeys {
  /** Prefix of every inbox key, e.g. `tether:inbox:`. */
  readonly base: string;

  constructor(prefix: string = DEFAULT_PREFIX) {
    this.base = `${validatePrefix(prefix)}inbox:`;
  }

  get seq(): string {
    return `${this.base}seq`;
  }
  get meta(): string {
    return `${this.base}n`;
  }
  get data(): string {
    return `${this.base}d`;
  }
  user(userId: string): string {
    return `${this.base}u:${userId}`;
  }
  collapse(userId: string): string {
    return `${this.base}ck:${userId}`;
  }
  get expiry(): string {
    return `${this.base}exp`;
  }
  get offline(): string {
    return `${this.base}off`;
  }
  get remembered(): string {
    return `${this.base}done`;
  }
  get dead(): string {
    return `${this.base}dead`;
  }
  get deadByTime(): string {
    return `${this.base}dead:t`;
  }
  get deadByForget(): string {
    return `${this.base}dead:f`;
  }
  deadOfUser(userId: string): string {
    return `${this.base}dead:u:${userId}`;
  }
  get wakeChannel(): string {
    return `${this.base}wake`;
  }
}
