import { waitFor } from '@tether/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { type BusNode, type Delivery, MemoryBus } from '../src/index.js';
import { startNode, type TestNode } from './harness.js';
import { openStream } from './sse-helpers.js';

// A node's own gaps (room-continuity.ts) on any bus: a MemoryBus whose deliveries to the node can
// be lost on purpose, as a pub/sub subscription loses them, stands in for a faulty transport.

/** A MemoryBus that drops room messages to attached nodes while `dropping` is set. */
class LossyBus extends MemoryBus {
  dropping: 'until-next-subscribe' | number = 0;
  dropped = 0;

  override attach(node: BusNode) {
    const lossy: BusNode = {
      nodeId: node.nodeId,
      onNodeMessage: (payload) => node.onNodeMessage(payload),
      onRoomMessage: (delivery: Delivery) => {
        if (this.dropping === 'until-next-subscribe' || this.dropping > 0) {
          if (typeof this.dropping === 'number') this.dropping--;
          this.dropped++;
          return;
        }
        node.onRoomMessage(delivery);
      },
    };
    return super.attach(lossy).then((link) => ({
      ...link,
      subscribe: async (room: string) => {
        if (this.dropping === 'until-next-subscribe') this.dropping = 0;
        await link.subscribe(room);
      },
    }));
  }
}

const nodes: TestNode[] = [];
afterEach(async () => {
  for (const node of nodes.splice(0)) await node.close();
});

async function setUp(bus: LossyBus) {
  const node = await startNode({ bus, authorizeJoin: () => true });
  nodes.push(node);
  const client = node.client();
  const room = await client.join('r');
  const log: string[] = [];
  room.on('n', (data) => log.push(String(data)));
  room.on('tether:rejoined', ({ recovered }) => log.push(`rejoined:${recovered}`));
  client.on('tether:recovery-failed', () => log.push('failed'));
  return { node, client, log };
}

describe("a node's own gaps", () => {
  it('a message that skips offsets makes the node read the missing ones from history first', async () => {
    const bus = new LossyBus();
    const { node, log } = await setUp(bus);
    await node.tether.to('r').emit('n', 1);
    bus.dropping = 3;
    for (let i = 2; i <= 5; i++) await node.tether.to('r').emit('n', i);
    await waitFor(() => log.includes('5'));
    expect(bus.dropped).toBe(3);
    expect(log).toEqual(['1', '2', '3', '4', '5']);
    expect(node.tether.counters.gapMessagesRepaired).toBeGreaterThanOrEqual(3);
  });

  it('what history no longer holds is reported before the next message', async () => {
    const bus = new LossyBus();
    const { node, log } = await setUp(bus);
    await node.tether.to('r').emit('n', 1);
    bus.dropping = 2;
    // Kept out of history, like messages published with `history: false`.
    for (let i = 2; i <= 3; i++) await bus.publish({ room: 'r', event: 'n', data: i, history: false });
    await node.tether.to('r').emit('n', 4);
    await waitFor(() => log.includes('4'));
    expect(log).toEqual(['1', 'rejoined:false', 'failed', '4']);
    expect(node.tether.counters.gapsLost).toBe(1);
  });

  it('a publish of its own that never comes back makes it subscribe again and read history', async () => {
    const bus = new LossyBus();
    const { node, log } = await setUp(bus);
    await node.tether.to('r').emit('n', 1);
    bus.dropping = 'until-next-subscribe'; // a subscription lost without the bus noticing
    await node.tether.to('r').emit('n', 2);
    await waitFor(() => log.includes('2'), { timeout: 10_000 });
    await node.tether.to('r').emit('n', 3);
    await waitFor(() => log.includes('3'));
    expect(log).toEqual(['1', '2', '3']);
    expect(node.tether.counters.gapMessagesRepaired).toBe(1);
  });

  it('tells a plain EventSource with tether:recovery-failed before the next event', async () => {
    const bus = new LossyBus();
    const node = await startNode({ bus, authorizeJoin: () => true });
    nodes.push(node);
    const stream = await openStream(`${node.url}/events?room=r`);
    try {
      await stream.next((e) => e.event === 'tether:ready');
      await node.tether.to('r').emit('n', 1);
      bus.dropping = 1;
      await bus.publish({ room: 'r', event: 'n', data: 2, history: false });
      await node.tether.to('r').emit('n', 3);
      await stream.next((e) => e.event === 'n' && e.data === '3');
      const seen = stream.events.filter((e) => e.event !== 'tether:ready').map((e) => `${e.event}:${e.data}`);
      expect(seen).toEqual(['n:1', 'tether:recovery-failed:{"room":"r"}', 'n:3']);
    } finally {
      stream.close();
    }
  });
});
