import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Bus } from '../bus.js';
import { type ForwardHost, type Handover, PostForwarder, type StreamPost } from './sse-forward.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

/** Nodes wired to one fake bus: `sendToNode` delivers to the named node on a microtask, or rejects. */
function cluster(options: { failSends?: boolean } = {}) {
  const handlers = new Map<string, Map<string, (payload: Record<string, unknown>) => void>>();
  const bus = {
    async sendToNode(nodeId: string, payload: unknown) {
      if (options.failSends) throw new Error('bus down');
      const kind = (payload as { kind: string }).kind;
      queueMicrotask(() =>
        handlers.get(nodeId)?.get(kind)?.(structuredClone(payload) as Record<string, unknown>),
      );
    },
  } as unknown as Bus;
  const node = (nodeId: string, handOver: (post: StreamPost) => Handover) => {
    const own = new Map<string, (payload: Record<string, unknown>) => void>();
    handlers.set(nodeId, own);
    const host: ForwardHost = {
      nodeId,
      bus,
      logger: silent,
      registerNodeMessage: (kind, h) => own.set(kind, h),
    };
    return new PostForwarder(host, handOver);
  };
  return { node };
}

const post: StreamPost = { stream: 3, secret: 's', frames: ['{"t":"pong"}'], close: undefined };

afterEach(() => {
  vi.useRealTimers();
});

describe('PostForwarder', () => {
  it("hands a post to the holder and resolves with the holder's verdict", async () => {
    const { node } = cluster();
    const received: StreamPost[] = [];
    node('holder', (p) => {
      received.push(p);
      return p.secret === 's' ? 'ok' : 'unknown';
    });
    const sender = node('sender', () => 'unknown');
    await expect(sender.forward('holder', post)).resolves.toBe('ok');
    await expect(sender.forward('holder', { ...post, secret: 'x', close: 1000 })).resolves.toBe('unknown');
    expect(received).toEqual([post, { ...post, secret: 'x', close: 1000 }]);
  });

  it('resolves unavailable when the bus refuses, timeout when nobody answers, closing after close()', async () => {
    await expect(
      cluster({ failSends: true })
        .node('a', () => 'ok')
        .forward('b', post),
    ).resolves.toBe('unavailable');

    vi.useFakeTimers();
    const sender = cluster().node('a', () => 'ok');
    const pending = sender.forward('nowhere', post);
    await vi.advanceTimersByTimeAsync(3_000);
    await expect(pending).resolves.toBe('timeout');

    const waiting = sender.forward('nowhere', post);
    sender.close();
    await expect(waiting).resolves.toBe('closing');
    await expect(sender.forward('nowhere', post)).resolves.toBe('closing');
    expect(vi.getTimerCount()).toBe(0);
  });
});
