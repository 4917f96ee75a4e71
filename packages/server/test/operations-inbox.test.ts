// The operations page's inbox routes: a user's pending notifications and the redrive of a dead
// letter, over real HTTP, behind the page's `authorize`.
import { afterEach, describe, expect, it } from 'vitest';
import { startNode, type TestNode, waitForState } from './harness.js';

const nodes: TestNode[] = [];
afterEach(async () => {
  for (const node of nodes.splice(0)) await node.close();
});

const ADMIN = { 'x-admin': 'yes' };
const REDRIVE = { ...ADMIN, 'x-tether-operations': 'redrive' };

async function setUp(): Promise<TestNode> {
  const n = await startNode({
    operations: { authorize: (req) => req.headers['x-admin'] === 'yes', intervalMs: 100 },
    authenticate: (_req, auth) => auth as { userId: string },
    notifications: { maxAttempts: 1, ackTimeoutMs: 60, offlineAfterMs: 60_000 },
  });
  nodes.push(n);
  return n;
}

describe('the operations page: inbox and redrive', () => {
  it("shows a user's pending notifications in delivery order, to an authorized caller only", async () => {
    const n = await setUp();
    await n.tether.user('bob').notify('feed', { n: 1 }, { id: 'f-1' });
    await n.tether.user('bob').notify('feed', { n: 2 }, { id: 'f-2' });
    await n.tether.user('bob').notify('alarm', { n: 3 }, { id: 'a-1', urgent: true });
    expect((await fetch(`${n.url}/operations/inbox?user=bob`)).status).toBe(403);
    expect((await fetch(`${n.url}/operations/inbox`, { headers: ADMIN })).status).toBe(400);
    const res = await fetch(`${n.url}/operations/inbox?user=bob`, { headers: ADMIN });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { user: string; notifications: Array<{ id: string; data: unknown }> };
    expect(body.user).toBe('bob');
    expect(body.notifications.map((note) => note.id)).toEqual(['a-1', 'f-1', 'f-2']);
    expect(body.notifications[1]).toMatchObject({
      event: 'feed',
      data: { n: 1 },
      urgent: false,
      attempts: 0,
    });
    const page = await (await fetch(`${n.url}/operations`, { headers: ADMIN })).text();
    expect(page).toContain('<table id="inbox">');
  });

  it('redrives a dead letter on a POST with the operations header, once', async () => {
    const n = await setUp();
    const deadLettered = new Promise<void>((resolve) => n.tether.on('undelivered', () => resolve()));
    const client = n.client({ auth: { userId: 'ada' } });
    client.on('error', () => {});
    client.on('invoice', () => {
      throw new Error('cannot show it');
    });
    await waitForState(client, 'open');
    await n.tether.user('ada').notify('invoice', { n: 1 }, { id: 'inv-1' });
    await deadLettered;
    client.close();
    await waitForState(client, 'closed');

    const url = `${n.url}/operations/redrive?id=inv-1`;
    expect((await fetch(url, { method: 'POST' })).status).toBe(403);
    // An admin's cookie alone (a cross-site form) is not enough: the header is required.
    expect((await fetch(url, { method: 'POST', headers: ADMIN })).status).toBe(403);
    expect((await fetch(url, { headers: REDRIVE })).status).toBe(405);
    const done = await fetch(url, { method: 'POST', headers: REDRIVE });
    expect(await done.json()).toEqual({ id: 'inv-1', redriven: true });
    expect(await (await fetch(url, { method: 'POST', headers: REDRIVE })).json()).toEqual({
      id: 'inv-1',
      redriven: false,
    });
    expect(await n.tether.deadLetters.list({ userId: 'ada' })).toEqual([]);
    const inbox = (await (await fetch(`${n.url}/operations/inbox?user=ada`, { headers: ADMIN })).json()) as {
      notifications: Array<{ id: string; attempts: number }>;
    };
    expect(inbox.notifications).toMatchObject([{ id: 'inv-1', attempts: 0 }]);
  });
});
