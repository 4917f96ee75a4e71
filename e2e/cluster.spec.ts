/**
 * The chat example on two nodes sharing a RedisBus, as `examples/cluster.mjs` runs it: a page
 * moves to the other node when its node shuts down, and gets what was said meanwhile.
 */
import { expect, messageTexts, say, signIn, test } from './examples.js';

test('two nodes on Redis: chat across nodes, and a page moves to the survivor without losing messages', async ({
  redis,
  startChat,
  startProxy,
  newPage,
}) => {
  const nodeA = await startChat({ redisUrl: redis.url, nodeName: 'chat-a' });
  const nodeB = await startChat({ redisUrl: redis.url, nodeName: 'chat-b' });
  const a = { host: '127.0.0.1', port: nodeA.port };
  const b = { host: '127.0.0.1', port: nodeB.port };
  // Alice goes through a load balancer the test steers; Bob talks to node A directly.
  const lb = await startProxy({ target: b });
  const alice = await newPage();
  const bob = await newPage();
  await signIn(alice, lb.url('/'), 'alice');
  await signIn(bob, nodeA.url, 'bob');
  await expect(alice.locator('#node')).toHaveText('chat-b');
  await expect(bob.locator('#node')).toHaveText('chat-a');

  // Across nodes: messages both ways, presence of both.
  await say(bob, 'from node a');
  await say(alice, 'from node b');
  for (const page of [alice, bob]) {
    await expect(page.locator('#messages li.msg .text')).toHaveText(['from node a', 'from node b']);
    await expect(page.locator('#online li[data-name="alice"]')).toBeVisible();
    await expect(page.locator('#online li[data-name="bob"]')).toBeVisible();
  }

  // Node B goes away while nothing can reach node A yet; Bob keeps writing.
  lb.pause();
  await nodeB.close();
  await expect(alice.locator('#conn')).toHaveAttribute('data-state', 'reconnecting');
  await say(bob, 'while you moved 1');
  await say(bob, 'while you moved 2');
  await expect(bob.locator('#messages li.msg.mine').last()).toHaveAttribute('data-status', 'sent');

  lb.setTarget(a);
  lb.resume();
  await expect(alice.locator('#conn')).toHaveAttribute('data-state', 'open', { timeout: 15_000 });
  await expect(alice.locator('#node')).toHaveText('chat-a');
  const expected = ['from node a', 'from node b', 'while you moved 1', 'while you moved 2'];
  // Recovered from the room's history in Redis: once each, in order, no "could not recover".
  await expect(alice.locator('#messages li.msg .text')).toHaveText(expected);
  await expect(alice.locator('#notice')).toBeHidden();

  await say(alice, 'made it');
  await expect(bob.locator('#messages li.msg .text')).toHaveText([...expected, 'made it']);
  expect(await messageTexts(alice)).toEqual([...expected, 'made it']);
});
