import type { Message, ServerMessage } from '@tether/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryBus } from '../memory-bus.js';
import { Admission, type Admitted } from './admission.js';
import { ConnectionCaps } from './connection-caps.js';
import { resolveLimits } from './limit-options.js';
import { InboundRateLimiter } from './rate-limiter.js';
import { TokenBucket } from './token-bucket.js';
import { UserRateLimits } from './user-rate-limit.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

describe('TokenBucket', () => {
  it('admits a burst, then the refill rate, never more than capacity', () => {
    const bucket = new TokenBucket({ capacity: 10, perSecond: 5, now: 0 });
    let admitted = 0;
    for (let i = 0; i < 20; i++) if (bucket.take(0)) admitted++;
    expect(admitted).toBe(10);
    expect(bucket.take(199)).toBe(false); // 0.995 tokens
    expect(bucket.take(200)).toBe(true); // 1 token after 200 ms at 5/s
    // A long pause refills to capacity, not beyond.
    admitted = 0;
    for (let i = 0; i < 50; i++) if (bucket.take(60_000)) admitted++;
    expect(admitted).toBe(10);
  });

  it('keeps an initial allowance above capacity once, and ignores time going backwards', () => {
    const bucket = new TokenBucket({ capacity: 2, perSecond: 1, initial: 5, now: 1_000 });
    let admitted = 0;
    for (let i = 0; i < 10; i++) if (bucket.take(1_000)) admitted++;
    expect(admitted).toBe(5);
    expect(bucket.take(500)).toBe(false);
    expect(bucket.take(2_000)).toBe(true);
  });
});

function fakeConnection() {
  const sent: ServerMessage[] = [];
  const closes: number[] = [];
  return {
    id: 'c1',
    sent,
    closes,
    send: (m: ServerMessage) => sent.push(m) > 0,
    close: (code: number) => closes.push(code),
  };
}

describe('InboundRateLimiter', () => {
  afterEach(() => vi.useRealTimers());

  const settings = (over: Partial<Parameters<typeof resolveLimits>[0]['rateLimit'] & object> = {}) => {
    const resolved = resolveLimits({
      rateLimit: { burst: 10, perSecond: 10, initialTokens: 10, closeAfterMs: 1_000, ...over },
    });
    if (!resolved.rateLimit) throw new Error('unreachable');
    return resolved.rateLimit;
  };

  it('answers requests and joins with RATE_LIMITED, drops events, lets pong and leave through', () => {
    vi.useFakeTimers({ now: 0 });
    const host = { clock: { now: 0 }, counters: { rateLimited: 0 }, logger: silent };
    const limiter = new InboundRateLimiter(host, settings());
    const conn = fakeConnection();
    const evt: Message = { t: 'evt', e: 'x' };
    for (let i = 0; i < 10; i++) expect(limiter.admit(evt, conn)).toBe(true);
    expect(limiter.admit(evt, conn)).toBe(false);
    expect(limiter.admit({ t: 'req', id: 'r1', e: 'x' }, conn)).toBe(false);
    expect(limiter.admit({ t: 'join', id: 'j1', r: 'room' }, conn)).toBe(false);
    expect(limiter.admit({ t: 'pong' }, conn)).toBe(true);
    expect(limiter.admit({ t: 'leave', r: 'room' }, conn)).toBe(true);
    expect(conn.sent).toEqual([
      { t: 'evt', e: 'tether:rate-limited', d: { m: 'connection rate limit exceeded', ms: 500 } },
      { t: 'err', id: 'r1', c: 'RATE_LIMITED', m: 'connection rate limit exceeded' },
      { t: 'err', id: 'j1', c: 'RATE_LIMITED', m: 'connection rate limit exceeded' },
    ]);
    expect(host.counters.rateLimited).toBe(3);
    expect(conn.closes).toEqual([]);
  });

  it('refills from the precise clock when the coarse one lags', () => {
    vi.useFakeTimers({ now: 0 });
    const host = { clock: { now: 0 }, counters: { rateLimited: 0 }, logger: silent };
    const limiter = new InboundRateLimiter(host, settings());
    const conn = fakeConnection();
    for (let i = 0; i < 10; i++) limiter.admit({ t: 'evt', e: 'x' }, conn);
    vi.setSystemTime(500); // the coarse clock still says 0: 5 tokens came back all the same
    let admitted = 0;
    for (let i = 0; i < 10; i++) if (limiter.admit({ t: 'evt', e: 'x' }, conn)) admitted++;
    expect(admitted).toBe(5);
  });

  it('closes with 4029 only after a sustained episode with at least `burst` refusals', () => {
    vi.useFakeTimers({ now: 0 });
    const host = { clock: { now: 0 }, counters: { rateLimited: 0 }, logger: silent };
    const limiter = new InboundRateLimiter(host, settings());
    const conn = fakeConnection();
    // 100 messages per 100 ms against a 10/s refill, for 2 s: the episode starts at once.
    for (let t = 0; t <= 2_000 && conn.closes.length === 0; t += 100) {
      vi.setSystemTime(t);
      host.clock.now = t;
      for (let i = 0; i < 100; i++) limiter.admit({ t: 'evt', e: 'x' }, conn);
      if (t < 1_000) expect(conn.closes).toEqual([]);
    }
    expect(conn.closes).toEqual([4029]);
  });

  it('pauses a pausable transport on a refusal until half the burst is back, once', () => {
    vi.useFakeTimers({ now: 0 });
    const host = { clock: { now: 0 }, counters: { rateLimited: 0 }, logger: silent };
    const calls: string[] = [];
    const reader = { pauseReading: () => calls.push('pause'), resumeReading: () => calls.push('resume') };
    const limiter = new InboundRateLimiter(host, settings(), undefined, reader);
    const conn = fakeConnection();
    for (let i = 0; i < 30; i++) limiter.admit({ t: 'evt', e: 'x' }, conn);
    expect(calls).toEqual(['pause']);
    expect(limiter.paused).toBe(true);
    vi.advanceTimersByTime(499); // 5 tokens (half of 10) at 10/s take 500 ms
    expect(calls).toEqual(['pause']);
    vi.advanceTimersByTime(1);
    expect(calls).toEqual(['pause', 'resume']);
    // The 5 tokens back are used, the sixth message is refused again: a new pause.
    for (let i = 0; i < 6; i++) limiter.admit({ t: 'evt', e: 'x' }, conn);
    limiter.dispose();
    vi.advanceTimersByTime(10_000);
    expect(calls).toEqual(['pause', 'resume', 'pause']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('forgets an episode once the client calms down', () => {
    vi.useFakeTimers({ now: 0 });
    const host = { clock: { now: 0 }, counters: { rateLimited: 0 }, logger: silent };
    const limiter = new InboundRateLimiter(host, settings());
    const conn = fakeConnection();
    for (let round = 0; round < 10; round++) {
      const t = round * 900;
      vi.setSystemTime(t);
      host.clock.now = t;
      // A spike of 30 (20 refused), then quiet for 900 ms: the bucket refills, the episode ends.
      for (let i = 0; i < 30; i++) limiter.admit({ t: 'evt', e: 'x' }, conn);
    }
    expect(host.counters.rateLimited).toBeGreaterThan(100);
    expect(conn.closes).toEqual([]);
  });
});

describe('rate-limit episodes', () => {
  afterEach(() => vi.useRealTimers());

  it('tells the client and logs once per episode, not per refused message', () => {
    vi.useFakeTimers({ now: 0 });
    const lines: Array<[string, string]> = [];
    const record = (level: string) => (_obj: object, msg?: string) => void lines.push([level, msg ?? '']);
    const logger = {
      debug: record('debug'),
      info: record('info'),
      warn: record('warn'),
      error: record('error'),
    };
    const host = { clock: { now: 0 }, counters: { rateLimited: 0 }, logger };
    const resolved = resolveLimits({
      rateLimit: { burst: 10, perSecond: 10, initialTokens: 10, closeAfterMs: 0 },
    });
    if (!resolved.rateLimit) throw new Error('unreachable');
    const limiter = new InboundRateLimiter(host, resolved.rateLimit);
    const conn = fakeConnection();
    const notices = () => conn.sent.filter((m) => m.t === 'evt' && m.e === 'tether:rate-limited').length;
    for (let i = 0; i < 50; i++) limiter.admit({ t: 'evt', e: 'x' }, conn);
    expect(host.counters.rateLimited).toBe(40);
    expect(notices()).toBe(1);
    expect(lines.filter(([level]) => level === 'warn')).toHaveLength(1);
    // Quiet for a second: the bucket is full again, the next message ends the episode.
    vi.setSystemTime(1_000);
    host.clock.now = 1_000;
    expect(limiter.admit({ t: 'evt', e: 'x' }, conn)).toBe(true);
    expect(lines.at(-1)).toEqual(['debug', 'rate limit episode ended']);
    // A second flood is a second episode: told again, logged again.
    for (let i = 0; i < 50; i++) limiter.admit({ t: 'evt', e: 'x' }, conn);
    expect(notices()).toBe(2);
    expect(lines.filter(([level]) => level === 'warn')).toHaveLength(2);
  });
});

describe('UserRateLimits', () => {
  it('counts in batches through the bus and blocks every connection of the user once over', async () => {
    const bus = new MemoryBus();
    const calls: string[] = [];
    const increment = bus.increment.bind(bus);
    bus.increment = (key, ttl) => {
      calls.push(key);
      return increment(key, ttl);
    };
    const users = new UserRateLimits(bus, { limit: 20, windowMs: 60_000, batch: 5 }, silent);
    const a = users.acquire('u1');
    const b = users.acquire('u1');
    expect(a).toBe(b);
    let admitted = 0;
    for (let i = 0; i < 40; i++) {
      if ((i % 2 ? a : b).take()) admitted++;
      await Promise.resolve(); // let the bus answer, as it would between frames
      await Promise.resolve();
    }
    expect(admitted).toBeGreaterThanOrEqual(20);
    expect(admitted).toBeLessThanOrEqual(21);
    // 4 batches counted, then at most a recheck or two: far fewer bus calls than messages.
    expect(calls.length).toBeLessThanOrEqual(6);
    users.release(a);
    expect(users.size).toBe(1);
    users.release(b);
    expect(users.size).toBe(0);
    await bus.close();
  });

  it('fails open when the bus is down', async () => {
    const bus = new MemoryBus();
    bus.increment = () => Promise.reject(new Error('down'));
    const users = new UserRateLimits(bus, { limit: 1, windowMs: 60_000, batch: 1 }, silent);
    const quota = users.acquire('u1');
    for (let i = 0; i < 5; i++) {
      expect(quota.take()).toBe(true);
      await Promise.resolve();
    }
    await bus.close();
  });
});

describe('ConnectionCaps', () => {
  it('caps per address and per user, and forgets keys whose connections all closed', () => {
    const caps = new ConnectionCaps({ perIp: 2, perUser: 1 });
    const first = caps.acquire('1.1.1.1', 'alice');
    expect(caps.acquire('1.1.1.1', 'alice')).toBe('user');
    const second = caps.acquire('1.1.1.1', 'bob');
    expect(caps.acquire('1.1.1.1', 'carol')).toBe('ip');
    expect(typeof first).toBe('object');
    if (typeof first === 'string' || typeof second === 'string') throw new Error('unreachable');
    first.release();
    first.release(); // idempotent
    expect(caps.check('1.1.1.1', 'alice')).toBeUndefined();
    second.release();
    expect(caps.tracked).toEqual({ ips: 0, users: 0 });
  });

  it('tracks nothing when the caps are off', () => {
    const caps = new ConnectionCaps({ perIp: Number.POSITIVE_INFINITY, perUser: Number.POSITIVE_INFINITY });
    for (let i = 0; i < 100; i++) caps.acquire(`10.0.0.${i}`, `u${i}`);
    expect(caps.tracked).toEqual({ ips: 0, users: 0 });
  });
});

describe('Admission', () => {
  afterEach(() => vi.useRealTimers());

  const handshake = { headers: {}, url: '/', address: '10.0.0.1' };
  const host = { clock: { now: 0 }, counters: { rateLimited: 0 }, logger: silent };
  function admission(options: Parameters<typeof resolveLimits>[0]) {
    return new Admission({
      limits: resolveLimits(options),
      allowedOrigins: '*',
      bus: new MemoryBus(),
      host,
      logger: silent,
    });
  }
  function admitted(result: ReturnType<Admission['admit']>): Admitted {
    if (!('release' in result)) throw new Error(`refused: ${result.message}`);
    return result;
  }

  it('keeps nothing per connection when no cap counts it, and makes a limiter per call', () => {
    const gate = admission({});
    const a = admitted(gate.admit({ data: undefined, handshake }));
    const b = admitted(gate.admit({ data: undefined, handshake }));
    expect(a).toBe(b);
    const first = a.limiter();
    expect(first).toBeDefined();
    expect(a.limiter()).not.toBe(first);
    expect(
      admitted(admission({ rateLimit: false }).admit({ data: undefined, handshake })).limiter(),
    ).toBeUndefined();
  });

  it('hands a per-user quota to the limiters of the user’s connections', () => {
    const gate = admission({
      rateLimit: { perUser: { key: () => 'u1', limit: 1_000, windowMs: 60_000 } },
    });
    const a = admitted(gate.admit({ data: undefined, handshake }));
    const b = admitted(gate.admit({ data: undefined, handshake }));
    expect(a).not.toBe(b);
    expect(a.limiter()?.user).toBeDefined();
    expect(a.limiter()?.user).toBe(b.limiter()?.user);
    expect(gate.tracked.quotas).toBe(1);
    a.release();
    b.release();
    expect(gate.tracked.quotas).toBe(0);
  });

  it('gives back a counted connection’s cap place once it is released', () => {
    const gate = admission({ maxConnectionsPerIp: 1 });
    const conn = admitted(gate.admit({ data: undefined, handshake }));
    expect(gate.admit({ data: undefined, handshake })).toMatchObject({ status: 429 });
    conn.release();
    conn.release(); // idempotent
    expect(gate.tracked.ips).toBe(0);
    expect('release' in gate.admit({ data: undefined, handshake })).toBe(true);
  });
});

describe('resolveLimits', () => {
  it('applies the documented defaults and refuses nonsense', () => {
    const limits = resolveLimits({});
    expect(limits.maxRoomsPerConnection).toBe(100);
    expect(limits.rateLimit).toMatchObject({
      burst: 200,
      perSecond: 100,
      initialTokens: 1_200,
      closeAfterMs: 10_000,
    });
    expect(limits.maxConnectionsPerIp).toBe(Number.POSITIVE_INFINITY);
    expect(resolveLimits({ rateLimit: false }).rateLimit).toBe(false);
    expect(() => resolveLimits({ rateLimit: { perSecond: -1 } })).toThrow(TypeError);
    expect(() => resolveLimits({ rateLimit: { perUser: { windowMs: 1_000 } as never } })).toThrow(TypeError);
    const perUser = resolveLimits({ rateLimit: { perUser: { limit: 1_000, windowMs: 60_000 } } });
    expect(perUser.rateLimit ? perUser.rateLimit.perUser?.batch : undefined).toBe(10);
    expect(
      limits.userKey({ data: { userId: 7 }, handshake: { headers: {}, url: '/', address: undefined } }),
    ).toBe(7);
  });
});
