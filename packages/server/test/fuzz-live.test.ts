import v8 from 'node:v8';
import vm from 'node:vm';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startNode, type TestNode, until, waitForState } from './harness.js';

// A live server under a raw client sending random and mutated frames over many reconnects,
// while a well-behaved client on the same server keeps getting answers. Bounded: 2 000 frames,
// at most 15 s of fuzzing.

const FRAMES = 2_000;
const DEADLINE_MS = 15_000;

const nodes: TestNode[] = [];
afterEach(async () => {
  for (const node of nodes.splice(0)) await node.close();
});

type FuzzFrame = { data: string | Buffer; binary: boolean; what: string };

const encoder = new TextEncoder();
const name = fc.string({ minLength: 1, maxLength: 12 });
const payload = fc.option(fc.jsonValue({ maxDepth: 4 }), { nil: undefined });
const validMessage = fc.oneof(
  fc.record({ t: fc.constant('evt'), e: name, d: payload }),
  fc.record({
    t: fc.constant('req'),
    id: name,
    e: fc.constantFrom('echo', 'missing', 'tether:presence', 'close'),
    d: payload,
  }),
  fc.record({ t: fc.constant('join'), id: name, r: fc.constantFrom('a', 'b', 'bad room', 'x'.repeat(300)) }),
  fc.record({ t: fc.constant('leave'), r: name }),
  fc.record({ t: fc.constant('res'), id: name, d: payload }),
  fc.record({ t: fc.constant('err'), id: fc.constantFrom('x.1', 'nonode.7', 'a'), c: name, m: fc.string() }),
  fc.constant({ t: 'pong' }),
);

function mutate(bytes: Uint8Array, edits: Array<[number, number, number]>): Buffer {
  const out = Array.from(bytes);
  for (const [op, at, value] of edits) {
    const i = out.length === 0 ? 0 : at % out.length;
    if (op === 0) out[i] = value;
    else if (op === 1) out.splice(i, 0, value);
    else out.splice(i, 1 + (value % 4));
  }
  return Buffer.from(out);
}

const fuzzFrame: fc.Arbitrary<FuzzFrame> = fc.oneof(
  {
    weight: 5,
    arbitrary: validMessage.map((m) => ({ data: JSON.stringify(m), binary: false, what: 'valid' })),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        validMessage,
        fc.array(fc.tuple(fc.nat(2), fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
      )
      .map(([m, edits, binary]) => ({
        data: mutate(encoder.encode(JSON.stringify(m)), edits),
        binary,
        what: 'mutated',
      })),
  },
  {
    weight: 1,
    arbitrary: fc
      .jsonValue({ maxDepth: 3 })
      .map((v) => ({ data: JSON.stringify(v) ?? 'null', binary: false, what: 'json' })),
  },
  {
    weight: 1,
    arbitrary: fc
      .uint8Array({ maxLength: 64 })
      .map((b) => ({ data: Buffer.from(b), binary: true, what: 'bytes' })),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 60, max: 20_000 }).map((n) => ({
      data: `{"t":"evt","e":"x","d":${'['.repeat(n)}${']'.repeat(n)}}`,
      binary: false,
      what: 'deep',
    })),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(
        '{"t":"evt","e":"x","d":{"__proto__":{"polluted":1}}}',
        '{"t":"req","id":"p","e":"echo","d":{"constructor":{"prototype":{"polluted":1}}}}',
        '{"t":"hello"}',
        '{"t":"welcome","sid":"a","sk":"b","cid":"c","rs":0,"hb":[1,1],"mp":1}',
        '{"t":"msg","r":"a","e":"x","ep":"e","off":1}',
      )
      .map((data) => ({ data, binary: false, what: 'hostile' })),
  },
);

function heapCollector(): () => number {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  return () => {
    for (let i = 0; i < 3; i++) gc();
    return process.memoryUsage().heapUsed;
  };
}

function connectRaw(url: string): Promise<WebSocket | undefined> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), ['tether.v1.json']);
  ws.on('error', () => {});
  return new Promise((resolve) => {
    ws.once('open', () => resolve(ws));
    ws.once('close', () => resolve(undefined));
  });
}

describe('live server under fuzzed frames', () => {
  it('stays up, keeps answering a well-behaved client and returns its memory', {
    timeout: 40_000,
  }, async () => {
    const problems: unknown[] = [];
    const onProblem = (err: unknown) => problems.push(err);
    process.on('unhandledRejection', onProblem);
    process.on('uncaughtException', onProblem);
    const heap = heapCollector();
    try {
      const server = await startNode({ authorizeJoin: (_conn, room) => room !== 'b' });
      nodes.push(server);
      server.tether.on('connection', (conn) => {
        conn.on('echo', (d) => d);
        conn.on('x', () => {});
      });
      const polite = server.client();
      await waitForState(polite, 'open');
      // Warm up the paths the fuzz uses, then take the baseline.
      for (let i = 0; i < 20; i++) await polite.request('echo', i);
      const heapBefore = heap();

      const seed = Date.now() ^ 0x5eed;
      const frames = fc.sample(fuzzFrame, { numRuns: FRAMES, seed });
      let stop = false;
      let sent = 0;
      let settled = 0; // polite requests answered or failed
      let fuzzerWaiting = false;
      const rtts: number[] = [];
      const failures: unknown[] = [];
      // The polite client and the fuzzer take turns: a request, then some fuzz frames, then the
      // next request; the fuzzer waits for an answer every 64 frames.
      const politeLoop = (async () => {
        let n = 0;
        while (!stop) {
          const started = performance.now();
          try {
            const value = { n: n++ };
            expect(await polite.request('echo', value, { timeout: 30_000 })).toEqual(value);
            rtts.push(performance.now() - started);
          } catch (err) {
            failures.push(err);
          }
          settled++;
          const sentThen = sent;
          await until(() => stop || fuzzerWaiting || sent > sentThen, DEADLINE_MS + 5_000, 'the fuzzer');
        }
      })();

      const deadline = Date.now() + DEADLINE_MS;
      let connections = 0;
      let ws: WebSocket | undefined;
      for (let i = 0; i < frames.length && Date.now() < deadline; i++) {
        if (!ws || ws.readyState !== WebSocket.OPEN) {
          ws = await connectRaw(server.url);
          if (!ws) continue;
          connections++;
          // Usually a proper hello first; sometimes the fuzzed frame is the first one.
          if (i % 10 !== 0) ws.send(JSON.stringify({ t: 'hello' }));
        }
        const frame = frames[i]!;
        ws.send(frame.data, { binary: frame.binary });
        sent++;
        // Let the server read, answer and close between small bursts.
        if (i % 8 === 7) await new Promise((resolve) => setImmediate(resolve));
        if (i % 64 === 63) {
          const settledThen = settled;
          fuzzerWaiting = true;
          await until(() => settled > settledThen, 5_000, 'a polite round trip between bursts');
          fuzzerWaiting = false;
        }
      }
      ws?.terminate();
      stop = true;
      await politeLoop;

      expect(problems, `seed ${seed}`).toEqual([]);
      expect(failures, `seed ${seed}`).toEqual([]);
      expect(sent).toBeGreaterThan(FRAMES / 2);
      expect(connections).toBeGreaterThan(5);
      expect(rtts.length).toBeGreaterThan(20);
      // Every polite request was answered (failures is empty); how fast is the bench's business.
      expect(polite.state).toBe('open');
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();

      // Every fuzzing connection is gone from the server, and the heap came back near its baseline.
      await until(() => server.tether.connections.size <= 1, 5_000, 'every fuzzing connection to go');
      expect(server.tether.connections.size).toBe(1);
      const grown = heap() - heapBefore;
      expect(grown, `heap grew by ${(grown / 1e6).toFixed(1)} MB`).toBeLessThan(32 * 1024 * 1024);
    } finally {
      process.off('unhandledRejection', onProblem);
      process.off('uncaughtException', onProblem);
    }
  });
});
