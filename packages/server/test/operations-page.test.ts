import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBus, type NodeReport } from '../src/index.js';
import { startNode, type TestNode, waitForState } from './harness.js';

const nodes: TestNode[] = [];
afterEach(async () => {
  for (const node of nodes.splice(0)) await node.close();
});

const ADMIN = { 'x-admin': 'yes' };
const operations = {
  authorize: async (req: { headers: Record<string, unknown> }) => req.headers['x-admin'] === 'yes',
  intervalMs: 100,
};

/** Reads a plain EventSource stream until `until` accepts an event's data; then hangs up. */
function readEvents(url: string, headers: Record<string, string>, until: (data: unknown) => boolean) {
  return new Promise<{ status: number; type: string | undefined; data: unknown }>((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], data: undefined });
        return;
      }
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const line = event.split('\n').find((l) => l.startsWith('data: '));
          if (!event.includes('event: nodes') || !line) continue;
          const data: unknown = JSON.parse(line.slice(6));
          if (until(data)) {
            resolve({ status: 200, type: res.headers['content-type'], data });
            req.destroy();
            return;
          }
        }
      });
    });
    req.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err);
    });
    req.end();
  });
}

describe('the operations page', () => {
  it('is off by default', async () => {
    const n = await startNode({});
    nodes.push(n);
    const res = await fetch(`${n.url}/operations`);
    expect(res.status).toBe(404);
  });

  it('refuses without the app’s auth check and serves the page and live data with it', async () => {
    const bus = new MemoryBus();
    const a = await startNode({ bus, operations });
    const b = await startNode({ bus, operations });
    nodes.push(a, b);

    const refused = await fetch(`${a.url}/operations`);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('FORBIDDEN');
    expect((await readEvents(`${a.url}/operations/events`, {}, () => true)).status).toBe(403);

    const page = await fetch(`${a.url}/operations`, { headers: ADMIN });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toContain("new EventSource('operations/events')");

    // A client on node b: node a's stream shows both nodes, b with its connection.
    const client = b.client();
    await waitForState(client, 'open');
    const stream = await readEvents(`${a.url}/operations/events`, ADMIN, (data) => {
      const reports = data as NodeReport[];
      return reports.length === 2 && reports.some((r) => r.metrics.connections.total === 1);
    });
    expect(stream.type).toMatch(/text\/event-stream/);
    const reports = stream.data as NodeReport[];
    expect(reports.map((r) => r.nodeId).sort()).toEqual([a.tether.nodeId, b.tether.nodeId].sort());
    const fromB = reports.find((r) => r.nodeId === b.tether.nodeId)!;
    expect(fromB).toMatchObject({ ready: true, bus: 'up', closing: false });
    expect(fromB.rates).toHaveProperty('messagesIn');
  });
});
