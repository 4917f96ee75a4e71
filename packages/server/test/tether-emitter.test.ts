import { TetherClient } from '@tether/client';
import { fence, TcpProxy, waitFor } from '@tether/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Bus,
  MemoryBus,
  type PublishResult,
  TetherEmitter,
  type TetherEmitterOptions,
  TetherError,
} from '../src/index.js';
import { startNode, type TestNode, until, waitForState } from './harness.js';

type Events = { status: { data: { state: string } } };

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  // Clients and servers first, the shared bus last.
  for (const thing of open.splice(0).reverse()) await thing.close();
});

async function nodeOn(bus: Bus): Promise<TestNode> {
  const node = await startNode({ bus, authorizeJoin: () => true });
  open.push(node);
  return node;
}

function sharedBus(): MemoryBus {
  const bus = new MemoryBus();
  open.push(bus);
  return bus;
}

function emitterOn(bus: Bus, options: Partial<TetherEmitterOptions> = {}): TetherEmitter<Events> {
  return new TetherEmitter<Events>({ bus, closeBus: false, ...options });
}

describe('TetherEmitter', () => {
  it('reaches room members on every node of the bus, with an offset', async () => {
    const bus = sharedBus();
    const [a, b] = [await nodeOn(bus), await nodeOn(bus)];
    const roomA = await a.client().join('order:42');
    const roomB = await b.client().join('order:42');
    const gotA: Array<[unknown, number]> = [];
    const gotB: Array<[unknown, number]> = [];
    roomA.on('status', (data, meta) => gotA.push([data, meta.offset]));
    roomB.on('status', (data, meta) => gotB.push([data, meta.offset]));

    const emitter = emitterOn(bus);
    const first = await emitter.to('order:42').emit('status', { state: 'placed' });
    const second = await emitter.to('order:42').emit('status', { state: 'paid' });

    expect(first).toMatchObject({ offset: 1, duplicate: false });
    expect(second).toMatchObject({ offset: 2, duplicate: false, epoch: first.epoch });
    await until(() => gotA.length === 2 && gotB.length === 2, 3_000, 'both nodes to deliver');
    const expected = [
      [{ state: 'placed' }, 1],
      [{ state: 'paid' }, 2],
    ];
    expect(gotA).toEqual(expected);
    expect(gotB).toEqual(expected);
  });

  it('shares offsets with server publishes to the same room', async () => {
    const bus = sharedBus();
    const node = await nodeOn(bus);
    const emitter = emitterOn(bus);
    const fromServer = await node.tether.to('room:mixed').emit('status', { state: 'server' });
    const fromEmitter = await emitter.to('room:mixed').emit('status', { state: 'emitter' });
    expect(fromEmitter.epoch).toBe(fromServer.epoch);
    expect(fromEmitter.offset).toBe(fromServer.offset + 1);
  });

  it('is recovered by a client that was away when it was published', async () => {
    const bus = sharedBus();
    const node = await nodeOn(bus);
    const proxy = await TcpProxy.start({ target: { host: '127.0.0.1', port: node.port } });
    open.push(proxy);
    // The client goes through the proxy: the test breaks the network, not the server.
    const away = new TetherClient(proxy.url('/tether'), { reconnect: { initialDelay: 50, maxDelay: 200 } });
    open.push({ close: async () => away.close() });
    const room = await away.join('order:7');
    const got: Array<[unknown, number]> = [];
    room.on('status', (data, meta) => got.push([data, meta.offset]));
    const rejoined = new Promise<boolean>((resolve) =>
      room.on('tether:rejoined', ({ recovered }) => resolve(recovered)),
    );

    const emitter = emitterOn(bus);
    await emitter.to('order:7').emit('status', { state: 'placed' });
    await until(() => got.length === 1, 3_000, 'the first message');

    proxy.pause();
    await waitForState(away, 'reconnecting');
    await emitter.to('order:7').emit('status', { state: 'picked-up' });
    await emitter.to('order:7').emit('status', { state: 'delivered' });
    proxy.resume();

    await expect(rejoined).resolves.toBe(true);
    await until(() => got.length === 3, 3_000, 'the missed messages');
    expect(got).toEqual([
      [{ state: 'placed' }, 1],
      [{ state: 'picked-up' }, 2],
      [{ state: 'delivered' }, 3],
    ]);
  });

  it('publishes an id once within the dedup window', async () => {
    const bus = sharedBus();
    const node = await nodeOn(bus);
    const room = await node.client().join('order:9');
    const got: unknown[] = [];
    room.on('status', (data) => got.push(data));

    // Two emitters stand for two workers that both picked up the same job.
    const [one, two] = [emitterOn(bus), emitterOn(bus)];
    const first = await one.to('order:9').emit('status', { state: 'picked-up' }, { id: 'evt-981' });
    const again = await two.to('order:9').emit('status', { state: 'picked-up' }, { id: 'evt-981' });
    await one.to('order:9').emit('status', { state: 'delivered' }, { id: 'evt-982' });

    expect(first.duplicate).toBe(false);
    expect(again).toEqual({ epoch: first.epoch, offset: first.offset, duplicate: true });
    await until(() => got.length === 2, 3_000, 'two messages');
    await fence({
      inbox: got,
      send: () => one.to('order:9').emit('status', { state: 'fence' }),
      isMarker: (d) => (d as { state: string }).state === 'fence',
    });
    expect(got).toEqual([{ state: 'picked-up' }, { state: 'delivered' }, { state: 'fence' }]);
  });

  it('honours the dedup window it was given', async () => {
    const bus = sharedBus();
    const emitter = emitterOn(bus, { dedupWindowMs: 30 });
    await emitter.to('jobs').emit('status', { state: 'a' }, { id: 'x' });
    // Publishing the same id again until it is taken: only the 30 ms window can free it that soon
    // (the default window is minutes long).
    const later = await waitFor(
      async () => {
        const result = await emitter.to('jobs').emit('status', { state: 'a' }, { id: 'x' });
        return result.duplicate ? undefined : result;
      },
      { timeout: 3_000, interval: 10, message: 'the id was still a duplicate after 3 s' },
    );
    expect(later).toMatchObject({ duplicate: false, offset: 2 });
  });

  it('keeps volatile messages out of history and offsets', async () => {
    const bus = sharedBus();
    const emitter = emitterOn(bus);
    await emitter.to('live').emit('status', { state: 'kept' });
    const volatile = await emitter.to('live').emit('status', { state: 'dropped' }, { volatile: true });
    expect(volatile.offset).toBe(1);
    const page = await bus.history('live', { epoch: volatile.epoch, offset: 0 }, 10);
    expect(page.messages.map((m) => m.data)).toEqual([{ state: 'kept' }]);
  });

  it('applies its history policy per room', async () => {
    const bus = sharedBus();
    const emitter = emitterOn(bus, {
      history: (room) => (room.startsWith('keep:') ? { size: 2, ttlMs: 60_000 } : false),
    });
    const results: PublishResult[] = [];
    for (const n of [1, 2, 3]) results.push(await emitter.to('keep:a').emit('status', { state: String(n) }));
    await emitter.to('drop:a').emit('status', { state: 'gone' });
    const kept = await bus.history('keep:a', { epoch: results[0]!.epoch, offset: 1 }, 10);
    expect(kept.messages.map((m) => m.offset)).toEqual([2, 3]);
    const dropped = await bus.history(
      'drop:a',
      { epoch: (await bus.history('drop:a', undefined, 0)).epoch, offset: 0 },
      10,
    );
    expect(dropped).toMatchObject({ messages: [], complete: false, offset: 1 });
  });

  it('rejects invalid rooms, reserved events, and emits after close', async () => {
    const bus = sharedBus();
    const emitter = emitterOn(bus);
    await expect(emitter.to('has space').emit('status', { state: 'x' })).rejects.toMatchObject({
      code: 'INVALID_ROOM',
    });
    const reserved = new TetherEmitter({ bus, closeBus: false });
    await expect(reserved.to('ok').emit('tether:hello', {})).rejects.toMatchObject({
      code: 'RESERVED_EVENT',
    });
    await emitter.close();
    const err = await emitter
      .to('ok')
      .emit('status', { state: 'late' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TetherError);
    expect((err as TetherError).code).toBe('CLOSED');
  });

  it('closes the bus it was given unless told not to', async () => {
    let closed = 0;
    const counting = new (class extends MemoryBus {
      override async close() {
        closed++;
        await super.close();
      }
    })();
    await new TetherEmitter({ bus: counting, closeBus: false }).close();
    expect(closed).toBe(0);
    const owner = new TetherEmitter({ bus: counting });
    await Promise.all([owner.close(), owner.close()]);
    expect(closed).toBe(1);
  });

  it('is typed by the event map', () => {
    const emitter = new TetherEmitter<Events>({ bus: new MemoryBus() });
    // Type checks only: these lines never publish.
    const check = () => {
      void emitter.to('r').emit('status', { state: 'ok' });
      // @ts-expect-error wrong payload
      void emitter.to('r').emit('status', { state: 1 });
      // @ts-expect-error unknown event
      void emitter.to('r').emit('nope', {});
    };
    expect(typeof check).toBe('function');
  });
});
