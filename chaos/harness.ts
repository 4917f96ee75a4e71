import { type ChildProcess, fork } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Room, TetherClient } from '@tether/client';
import { waitFor } from '@tether/test-utils';

const nodeScript = fileURLToPath(new URL('./node.mjs', import.meta.url));
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** What a node's publishing stream did: each resolved seq with the time it resolved. */
export interface StreamResult {
  resolved: Array<[seq: number, at: number]>;
  failed: number[];
}

/** A Tether node on RedisBus in its own process (chaos/node.mjs). */
export class ChaosNode {
  readonly name: string;
  readonly #child: ChildProcess;
  port = 0;
  status: 'up' | 'down' = 'up';
  /** Times the node's bus went down, then up. */
  downs = 0;
  ups = 0;
  readonly #waiting = new Map<string, (message: Record<string, unknown>) => void>();
  #next = 0;
  readonly exited: Promise<void>;

  private constructor(name: string, redisUrl: string, env: Record<string, string>) {
    this.name = name;
    this.#child = fork(nodeScript, [], {
      env: { ...process.env, ...env, CHAOS_NODE: name, CHAOS_REDIS_URL: redisUrl },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.add(this.#child);
    this.exited = new Promise((resolve) =>
      this.#child.once('exit', () => {
        children.delete(this.#child);
        resolve();
      }),
    );
    this.#child.on('message', (raw) => {
      const message = raw as Record<string, unknown>;
      if (message.type === 'bus') {
        this.status = message.status as 'up' | 'down';
        if (this.status === 'up') this.ups++;
        else this.downs++;
        return;
      }
      const key = typeof message.id === 'string' ? message.id : String(message.type);
      const waiter = this.#waiting.get(key);
      if (waiter) {
        this.#waiting.delete(key);
        waiter(message);
      }
    });
  }

  /** Forks the node and resolves once it listens. */
  static async start(name: string, redisUrl: string, env: Record<string, string> = {}): Promise<ChaosNode> {
    const node = new ChaosNode(name, redisUrl, env);
    const ready = await node.#expect('ready', 20_000);
    node.port = ready.port as number;
    return node;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/tether`;
  }

  get pid(): number {
    return this.#child.pid!;
  }

  /** Publishes `{ seq }` (with `pad` bytes of padding) to `room` over and over, `intervalMs` apart, until `stop()`. */
  start(room: string, intervalMs: number, pad = 0): void {
    this.#child.send({ type: 'start', room, intervalMs, pad });
  }

  async stop(): Promise<StreamResult> {
    const waiting = this.#expect('stopped', 30_000);
    this.#child.send({ type: 'stop' });
    const answer = await waiting;
    return { resolved: answer.resolved as StreamResult['resolved'], failed: answer.failed as number[] };
  }

  /** Publishes one message; resolves true when the bus took it. */
  async publish(room: string, seq: number): Promise<boolean> {
    const id = `p${++this.#next}`;
    const waiting = this.#expect(id, 30_000);
    this.#child.send({ type: 'publish', room, seq, id });
    return (await waiting).ok === true;
  }

  /** Messages its rooms got from history after a gap, and gaps it reported. */
  async counters(): Promise<{ repaired: number; lost: number; rejoinsRecovered: number; bus: string }> {
    if (!this.#child.connected) throw new Error(`${this.name} has exited`);
    const id = `c${++this.#next}`;
    const waiting = this.#expect(id, 10_000);
    this.#child.send({ type: 'counters', id });
    const answer = await waiting;
    return {
      repaired: answer.repaired as number,
      lost: answer.lost as number,
      rejoinsRecovered: answer.rejoinsRecovered as number,
      bus: answer.bus as string,
    };
  }

  signal(signal: NodeJS.Signals): void {
    this.#child.kill(signal);
  }

  async close(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGTERM');
    await this.exited;
  }

  #expect(key: string, timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(key);
        reject(new Error(`${this.name}: no "${key}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting.set(key, (message) => {
        clearTimeout(timer);
        resolve(message);
      });
    });
  }
}

/** A lost-messages report, in the order it reached the client among the messages. */
export const LOST = 'lost' as const;
type Entry = number | typeof LOST;

/** A client in one room that records every `seq` and every failed-recovery report, in order. */
export class Watcher {
  readonly client: TetherClient;
  readonly log: Entry[] = [];
  /** `tether:rejoined` with `recovered: false` on the room's handle. */
  handleReports = 0;
  room: Room | undefined;

  constructor(url: string) {
    this.client = new TetherClient(url, { reconnect: { initialDelay: 50, maxDelay: 300 } });
    this.client.on('tether:recovery-failed', () => this.log.push(LOST));
    this.client.on('state', (state) => {
      if (state === 'reconnecting') this.drops++;
    });
  }

  /** Times the connection dropped. */
  drops = 0;

  async join(name: string): Promise<void> {
    const room = (this.room = await this.client.join(name));
    room.on('tick', (data) => this.log.push((data as { seq: number }).seq));
    room.on('tether:rejoined', ({ recovered }) => {
      if (!recovered) this.handleReports++;
    });
  }

  /** Forgets what was recorded (a new phase of a test starts its stream from seq 1). */
  reset(): void {
    this.log.length = 0;
    this.handleReports = 0;
  }

  get last(): number {
    for (let i = this.log.length - 1; i >= 0; i--) if (this.log[i] !== LOST) return this.log[i] as number;
    return 0;
  }

  get reports(): number {
    return this.log.filter((entry) => entry === LOST).length;
  }

  close(): void {
    this.client.close();
  }
}

/**
 * What a client's log breaks, given the publishes that resolved: a seq twice, out of order, or a
 * resolved one missing without a report between its neighbours. Empty when it holds.
 */
export function problems(log: readonly Entry[], resolved: readonly number[]): string[] {
  const found: string[] = [];
  const at = new Map<number, number>();
  let last = 0;
  log.forEach((entry, index) => {
    if (entry === LOST) return;
    if (at.has(entry)) found.push(`seq ${entry} twice`);
    else if (entry < last) found.push(`seq ${entry} after ${last}`);
    at.set(entry, index);
    last = Math.max(last, entry);
  });
  for (const seq of resolved) {
    if (at.has(seq)) continue;
    // The report must come after the last message before it and before the first one after it.
    let before = -1;
    let after = log.length;
    log.forEach((entry, index) => {
      if (entry === LOST) return;
      if (entry < seq) before = Math.max(before, index);
      else if (index < after) after = index;
    });
    const reported = log.slice(before + 1, after).includes(LOST);
    if (!reported) found.push(`seq ${seq} missing, not reported`);
    if (found.length > 20) break;
  }
  return found;
}

/** Waits until every watcher has `seq` (or a later one). */
export async function reached(watchers: readonly Watcher[], seq: number, timeoutMs = 30_000): Promise<void> {
  await waitFor(() => watchers.every((w) => w.last >= seq), {
    timeout: timeoutMs,
    message: () => `clients did not reach seq ${seq}: ${watchers.map((w) => w.last).join(', ')}`,
  });
}

/** One figure line per fault, printed and appended to .tmp/chaos-figures.jsonl. */
export function record(figures: Record<string, unknown>): void {
  console.log(`chaos figures: ${JSON.stringify(figures)}`);
  const dir = fileURLToPath(new URL('../.tmp/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  appendFileSync(
    `${dir}chaos-figures.jsonl`,
    `${JSON.stringify({ at: new Date().toISOString(), ...figures })}\n`,
  );
}
