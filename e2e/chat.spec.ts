/**
 * The chat example in Chromium: two people talking, a network cut while messages are sent, a
 * server restart, and a network that blocks WebSocket.
 */
import { expect, messageTexts, say, signIn, test } from './examples.js';

test('two people chat: messages, acks, presence and typing', async ({ startChat, newPage }) => {
  const chat = await startChat();
  const alice = await newPage();
  const bob = await newPage();
  await signIn(alice, chat.url, 'alice');
  await signIn(bob, chat.url, 'bob');

  // Presence: each sees both in #general.
  for (const page of [alice, bob]) {
    await expect(page.locator('#online li[data-name="alice"]')).toBeVisible();
    await expect(page.locator('#online li[data-name="bob"]')).toBeVisible();
  }

  // Typing is a volatile emit, shown on the other side only.
  await bob.locator('#text').pressSequentially('hel');
  await expect(alice.locator('#typing')).toHaveText('bob is typing…');

  await say(alice, 'hello bob');
  await expect(bob.locator('#messages li.msg .text')).toHaveText(['hello bob']);
  // The sender sees the message acknowledged (its request was answered).
  await expect(alice.locator('#messages li.msg.mine')).toHaveAttribute('data-status', 'sent');

  await say(bob, 'hi alice');
  await expect(alice.locator('#messages li.msg .text')).toHaveText(['hello bob', 'hi alice']);
  await expect(bob.locator('#messages li.msg .text')).toHaveText(['hello bob', 'hi alice']);

  // A message in another room shows up as unread there.
  await bob.locator('#rooms li[data-room="random"] .room').click();
  await say(bob, 'over here');
  await expect(alice.locator('#rooms li[data-room="random"] .badge')).toHaveText('1');
  await alice.locator('#rooms li[data-room="random"] .room').click();
  await expect(alice.locator('#messages li.msg .text')).toHaveText(['over here']);
  await expect(alice.locator('#rooms li[data-room="random"] .badge')).toHaveCount(0);

  // History on join: a third person sees what was said before they came.
  const carol = await newPage();
  await signIn(carol, chat.url, 'carol');
  await expect(carol.locator('#messages li.msg .text')).toHaveText(['hello bob', 'hi alice']);
  expect(await messageTexts(carol)).toEqual(['hello bob', 'hi alice']);

  // A reload keeps the name and the rooms (this tab's sessionStorage); the room resumes from the
  // stored position and the history is merged with it, so nothing shows twice.
  await say(bob, 'in random again');
  await expect(alice.locator('#messages li.msg .text')).toHaveText(['over here', 'in random again']);
  await alice.reload();
  await expect(alice.locator('#conn')).toHaveAttribute('data-state', 'open');
  await expect(alice.locator('#me')).toHaveText('alice');
  await expect(alice.locator('#messages li.msg .text')).toHaveText(['hello bob', 'hi alice']);
  await alice.locator('#rooms li[data-room="random"] .room').click();
  await expect(alice.locator('#messages li.msg .text')).toHaveText(['over here', 'in random again']);
});

test('a cut connection misses nothing: every message once, in order, after it comes back', async ({
  startChat,
  startProxy,
  newPage,
}) => {
  const chat = await startChat();
  // Alice reaches the server through a proxy the test can cut; Bob connects directly.
  const proxy = await startProxy({ target: { host: '127.0.0.1', port: chat.port } });
  const alice = await newPage();
  const bob = await newPage();
  await signIn(alice, proxy.url('/'), 'alice');
  await signIn(bob, chat.url, 'bob');

  await say(bob, 'before the cut');
  await expect(alice.locator('#messages li.msg .text')).toHaveText(['before the cut']);

  // Reset every connection and refuse new ones: Alice's page is offline (setOffline would not
  // drop the open WebSocket).
  proxy.pause();
  await expect(alice.locator('#conn')).toHaveAttribute('data-state', 'reconnecting');

  const missed = ['missed 1', 'missed 2', 'missed 3', 'missed 4', 'missed 5'];
  for (const text of missed) {
    await say(bob, text);
    await expect(bob.locator('#messages li.msg.mine').last()).toHaveAttribute('data-status', 'sent');
  }
  // Alice writes while offline: her message waits, marked as not yet acknowledged.
  await say(alice, 'written offline');
  await expect(alice.locator('#messages li.msg.mine')).toHaveAttribute('data-status', 'sending');
  await expect(bob.locator('#messages li.msg .text')).toHaveText(['before the cut', ...missed]);

  proxy.resume();
  await expect(alice.locator('#conn')).toHaveAttribute('data-state', 'open', { timeout: 15_000 });

  // Everything Bob said while Alice was away appears once, in order, then Alice's own message.
  const expected = ['before the cut', ...missed, 'written offline'];
  await expect(alice.locator('#messages li.msg .text')).toHaveText(expected);
  await expect(alice.locator('#messages li.divider')).toHaveText('5 new since you went offline');
  await expect(alice.locator('#messages li.msg.mine')).toHaveAttribute('data-status', 'sent');
  await expect(bob.locator('#messages li.msg .text')).toHaveText(expected);
  // No late duplicates: anything still on its way would arrive before a message Bob sends now.
  await say(bob, 'fence');
  await expect(alice.locator('#messages li.msg .text')).toHaveText([...expected, 'fence']);
  await expect(bob.locator('#messages li.msg .text')).toHaveText([...expected, 'fence']);
  expect(await messageTexts(alice)).toEqual([...expected, 'fence']);
  expect(await messageTexts(bob)).toEqual([...expected, 'fence']);
  expect(proxy.totalConnections).toBeGreaterThan(1);
});

test('a server restart on the same port: pages reconnect, see the reset, and chat again', async ({
  startChat,
  newPage,
}) => {
  let chat = await startChat();
  const port = chat.port;
  const alice = await newPage();
  const bob = await newPage();
  await signIn(alice, chat.url, 'alice');
  await signIn(bob, chat.url, 'bob');
  await say(alice, 'before the restart');
  await expect(bob.locator('#messages li.msg .text')).toHaveText(['before the restart']);

  await chat.close();
  await expect(alice.locator('#conn')).not.toHaveAttribute('data-state', 'open');
  chat = await startChat({ port });

  for (const page of [alice, bob]) {
    await expect(page.locator('#conn')).toHaveAttribute('data-state', 'open', { timeout: 15_000 });
    // The new server has a fresh in-memory history: the page is told recovery was not possible
    // and reloads the (empty) history; what it showed before stays, marked as older.
    await expect(page.locator('#notice')).toContainText('could not be recovered');
    await expect(page.locator('#online li[data-name="alice"]')).toBeVisible();
    await expect(page.locator('#online li[data-name="bob"]')).toBeVisible();
  }

  await say(bob, 'after the restart');
  await expect(alice.locator('#messages li.msg .text')).toHaveText([
    'before the restart',
    'after the restart',
  ]);
  await expect(bob.locator('#messages li.msg.mine')).toHaveAttribute('data-status', 'sent');
});

test('WebSocket blocked on the way: the page works over SSE', async ({ startChat, startProxy, newPage }) => {
  const chat = await startChat();
  const proxy = await startProxy({ target: { host: '127.0.0.1', port: chat.port } });
  // Upgrades are reset at the proxy; plain HTTP (the page, SSE, POSTs) passes.
  proxy.blockUpgrades(true);
  const alice = await newPage();
  const bob = await newPage();
  await signIn(alice, proxy.url('/'), 'alice');
  await signIn(bob, chat.url, 'bob');
  await expect(alice.locator('#conn')).toHaveAttribute('data-transport', 'sse');
  await expect(bob.locator('#conn')).toHaveAttribute('data-transport', 'websocket');

  await say(alice, 'from behind a strict proxy');
  await expect(bob.locator('#messages li.msg .text')).toHaveText(['from behind a strict proxy']);
  await expect(alice.locator('#messages li.msg.mine')).toHaveAttribute('data-status', 'sent');
  await say(bob, 'loud and clear');
  await expect(alice.locator('#messages li.msg .text')).toHaveText([
    'from behind a strict proxy',
    'loud and clear',
  ]);
  await expect(alice.locator('#online li[data-name="bob"]')).toBeVisible();
});
