// The demo web client in a real browser: Debian's headless Chromium driven by playwright-core,
// one browser profile per user (alice and bob), against a running chat-local.
//
//   CHAT_WEB_URL     the client's URL (chat-local's HTTP API), e.g. http://127.0.0.1:3000
//   BROWSER_TEST_OUT where the screenshots go (created)
//   CHROMIUM         the browser (default /usr/bin/chromium)
//
// Run by tests/browser/run.sh, which starts chat-local. The steps depend on each other and
// run in order; each asserts what a person would see.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

const BASE = process.env.CHAT_WEB_URL ?? 'http://127.0.0.1:3000';
const OUT = path.resolve(process.env.BROWSER_TEST_OUT ?? 'browser-test-output');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
  '--disable-quic',
];
/** Waits are for a local server; anything slower is a failure. */
const WAIT_MS = 15_000;
/** The client's history page size (local/web/app.js PAGE_SIZE). */
const PAGE_SIZE = 25;

// Fresh names per run, so reruns against the same database start from nothing.
const suffix = randomBytes(3).toString('hex');
const ALICE = `alice-${suffix}`;
const BOB = `bob-${suffix}`;

const HELLO = 'Hello bob! Shall we meet for pineapple pizza on Friday?';
const XSS = 'Look: <img src=x onerror=alert(1)> renders as text';
const AWAY = 'Are you there? I sent this while you were offline.';

/** @type {Record<string, User>} */
const users = {};

/**
 * A user: their own browser profile (a fresh --user-data-dir, as launchPersistentContext
 * requires), one page, and what the page reported.
 * @typedef {{name: string, dir: string, context: import('playwright-core').BrowserContext,
 *   page: import('playwright-core').Page, dialogs: string[], errors: string[],
 *   network: {offline: boolean, socket: ?{page: any, server: any}}}} User
 */
async function launch(name) {
  const dir = mkdtempSync(path.join(tmpdir(), 'chat-browser-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1100, height: 720 },
    locale: 'en-GB',
  });
  const user = { name, dir, context, page: null, dialogs: [], errors: [], network: { offline: false, socket: null } };
  // Every WebSocket goes through here, so a test can drop the page's latest one (the client
  // has one at a time) and refuse new ones for a while.
  await context.routeWebSocket(/.*/, (ws) => {
    if (user.network.offline) {
      ws.close({ code: 1006, reason: 'offline' });
      return;
    }
    user.network.socket = { page: ws, server: ws.connectToServer() };
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(WAIT_MS);
  page.on('dialog', (dialog) => {
    user.dialogs.push(dialog.message());
    dialog.dismiss().catch(() => {});
  });
  page.on('pageerror', (error) => user.errors.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    // Refused WebSocket handshakes while "offline" are expected; anything else is not
    // (CSP violations and failed loads are reported here).
    if (message.type() === 'error' && !(user.network.offline && message.text().includes('WebSocket'))) {
      user.errors.push(`console: ${message.text()}`);
    }
  });
  user.page = page;
  return user;
}

async function screenshot(user, name) {
  await user.page.screenshot({ path: path.join(OUT, `${name}.png`) });
}

async function signIn(user) {
  const response = await user.page.goto(BASE);
  assert.equal(response.status(), 200);
  const policy = response.headers()['content-security-policy'];
  assert.match(policy, /script-src 'self';/);
  assert.doesNotMatch(policy, /unsafe/);
  await user.page.getByLabel('Your name').fill(user.name);
  await user.page.keyboard.press('Enter');
  await waitForConnection(user, 'Online');
  await user.page.getByText(`Signed in as ${user.name}`).waitFor();
}

async function waitForConnection(user, text) {
  await user.page.locator('#connection-text', { hasText: text }).waitFor();
}

function message(user, text) {
  return user.page.locator('#messages li.message', { has: user.page.locator('p.text', { hasText: text }) });
}

/** The statuses each of the page's own messages went through, in order (see recordStatuses). */
async function statusHistory(user, text) {
  return user.page.evaluate((t) => window.__statusHistory?.[t] ?? [], text);
}

/**
 * Records every status each message shows, keyed by its text: a status that lasts only a
 * moment (delivered, just before read) is still seen.
 */
async function recordStatuses(user) {
  await user.page.evaluate(() => {
    window.__statusHistory = {};
    const record = () => {
      for (const node of document.querySelectorAll('#messages li.message.mine')) {
        const text = node.querySelector('p.text').textContent;
        const seen = (window.__statusHistory[text] ??= []);
        if (seen.at(-1) !== node.dataset.status) seen.push(node.dataset.status);
      }
    };
    new MutationObserver(record).observe(document.getElementById('messages'), {
      childList: true,
      subtree: true,
      attributes: true,
      attributeFilter: ['data-status'],
    });
  });
}

async function send(user, text) {
  const composer = user.page.getByLabel('Message', { exact: true });
  await composer.fill(text);
  await composer.press('Enter');
}

function assertInOrder(history, expected, what) {
  let at = -1;
  for (const status of expected) {
    const found = history.indexOf(status, at + 1);
    assert.ok(found > at, `${what}: expected ${expected.join(' -> ')} in order, saw ${history.join(' -> ')}`);
    at = found;
  }
}

before(async () => {
  mkdirSync(OUT, { recursive: true });
  users.alice = await launch(ALICE);
  users.bob = await launch(BOB);
});

after(async () => {
  for (const user of Object.values(users)) {
    await user.context.close().catch(() => {});
    rmSync(user.dir, { recursive: true, force: true });
  }
});

test('both users sign in with a name and see the connection online', async () => {
  const { alice, bob } = users;
  await alice.page.goto(BASE);
  await alice.page.getByLabel('Your name').waitFor();
  await screenshot(alice, 'sign-in');
  await signIn(bob);
  await signIn(alice);
  await alice.page.getByText('No conversations yet').waitFor();
});

test('alice starts a conversation with bob and sends with the keyboard; the ack shows delivered', async () => {
  const { alice } = users;
  await alice.page.getByLabel('Start a conversation with').fill(BOB);
  await alice.page.getByRole('button', { name: 'Start', exact: true }).click();
  await alice.page.locator('#chat-title', { hasText: BOB }).waitFor();
  await recordStatuses(alice);
  await send(alice, HELLO);
  // Bob is connected, so the push reached him before the ack: delivered at once.
  await message(alice, HELLO).and(alice.page.locator('[data-status="delivered"]')).waitFor();
  await message(alice, HELLO).locator('.tick', { hasText: 'Delivered' }).waitFor();
});

test('bob sees the conversation with an unread badge; opening it marks it read for alice', async () => {
  const { alice, bob } = users;
  const entry = bob.page.locator('#conversations button', { hasText: ALICE });
  await entry.locator('.badge', { hasText: '1' }).waitFor();
  await entry.getByText(HELLO).waitFor();
  assert.equal(await entry.locator('.badge').textContent(), '1 unread', 'the badge says what the number means');
  await screenshot(bob, 'conversation-list');

  await entry.click();
  await message(bob, HELLO).waitFor();
  await entry.locator('.badge').waitFor({ state: 'detached' });
  await message(alice, HELLO).and(alice.page.locator('[data-status="read"]')).waitFor();
  await message(alice, HELLO).locator('.tick', { hasText: 'Read' }).waitFor();
  assertInOrder(await statusHistory(alice, HELLO), ['delivered', 'read'], 'alice\'s first message');
});

test('bob sees alice typing, and markup in a message is shown as text', async () => {
  const { alice, bob } = users;
  const composer = alice.page.getByLabel('Message', { exact: true });
  await composer.pressSequentially('Let me show you something', { delay: 20 });
  await bob.page.locator('#typing', { hasText: `${ALICE} is typing…` }).waitFor();
  await bob.page.locator('#conversations button', { hasText: ALICE }).getByText('typing…').waitFor();
  await screenshot(bob, 'typing');

  await send(alice, XSS);
  await message(bob, XSS).waitFor();
  // Sending ends typing (the message clears the indicator).
  await bob.page.locator('#typing', { hasText: 'typing' }).waitFor({ state: 'detached' });
  for (const user of [alice, bob]) {
    assert.equal(await message(user, XSS).locator('p.text').textContent(), XSS, `${user.name} shows the text as sent`);
    assert.equal(await user.page.locator('#messages img').count(), 0, `${user.name}: no element was made from the text`);
  }
  assert.deepEqual([...alice.dialogs, ...bob.dialogs], []);
});

test('bob replies while alice sees him typing (the chat view screenshot)', async () => {
  const { alice, bob } = users;
  await send(bob, 'Friday works! And yes, the tag shows up as plain text.');
  await message(alice, 'Friday works!').waitFor();
  await message(bob, 'Friday works!').and(bob.page.locator('[data-status="read"]')).waitFor();
  await send(alice, 'Great, see you at 7.');
  await message(alice, 'Great, see you at 7.').and(alice.page.locator('[data-status="read"]')).waitFor();
  await bob.page.getByLabel('Message', { exact: true }).pressSequentially('Shall I book a ta', { delay: 20 });
  await alice.page.locator('#typing', { hasText: `${BOB} is typing…` }).waitFor();
  await screenshot(alice, 'chat');
  await bob.page.getByLabel('Message', { exact: true }).fill('');
  await alice.page.locator('#typing', { hasText: 'typing' }).waitFor({ state: 'detached' });
});

test('older history loads while scrolling up, page by page', async () => {
  const { alice, bob } = users;
  const count = PAGE_SIZE + 10;
  for (let i = 1; i <= count; i += 1) await send(alice, `Filler message ${i} of ${count}`);
  await message(alice, `Filler message ${count} of ${count}`).and(alice.page.locator('[data-status="read"]')).waitFor();

  // A fresh page load (the session survives it) with only the newest page loaded.
  await bob.page.reload();
  await waitForConnection(bob, 'Online');
  await bob.page.locator('#conversations button', { hasText: ALICE }).click();
  await message(bob, `Filler message ${count} of ${count}`).waitFor();
  const messages = bob.page.locator('#messages li.message');
  assert.equal(await messages.count(), PAGE_SIZE);
  assert.equal(await message(bob, HELLO).count(), 0, 'the oldest message is not loaded yet');

  const list = bob.page.locator('#messages');
  for (let i = 0; i < 5 && (await message(bob, HELLO).count()) === 0; i += 1) {
    await list.evaluate((node) => {
      node.scrollTop = 0;
    });
    await bob.page.waitForFunction((n) => document.querySelectorAll('#messages li.message').length > n, await messages.count()).catch(() => {});
  }
  await message(bob, HELLO).waitFor();
  await bob.page.getByText('This is the start of the conversation').waitFor();
  const seqs = await messages.evaluateAll((nodes) => nodes.map((n) => Number(n.dataset.seq)));
  assert.deepEqual(seqs, seqs.map((_, i) => i + 1), 'every message once, in order, no gap');
});

test('search highlights the hits from the markers, escapes the rest, and jumps to the message', async () => {
  const { bob } = users;
  await bob.page.reload();
  await waitForConnection(bob, 'Online');
  await bob.page.getByLabel('Search messages').fill('renders');
  await bob.page.getByLabel('Search messages').press('Enter');
  const xssHit = bob.page.locator('#search-list button.hit');
  await xssHit.first().waitFor();
  assert.equal(await xssHit.count(), 1);
  assert.equal(await xssHit.locator('.snippet').textContent(), XSS, 'the tag shows as text');
  assert.equal(await xssHit.locator('mark').textContent(), 'renders');
  assert.equal(await bob.page.locator('#search-results img').count(), 0);

  await bob.page.getByLabel('Search messages').fill('pineapple');
  await bob.page.getByRole('button', { name: 'Search', exact: true }).click();
  const hit = bob.page.locator('#search-list button.hit', { hasText: 'Friday' });
  await hit.waitFor();
  assert.equal(await hit.locator('mark').textContent(), 'pineapple');
  assert.equal(await bob.page.locator('#search-list button.hit').count(), 1);
  await hit.click();
  // The hit is the oldest message: the client pages back to it and shows it.
  const found = message(bob, HELLO);
  await found.and(bob.page.locator('.found')).waitFor();
  await bob.page.waitForFunction(() => {
    const node = document.querySelector('#messages .found');
    const list = document.getElementById('messages').getBoundingClientRect();
    const box = node?.getBoundingClientRect();
    return box && box.top >= list.top && box.bottom <= list.bottom;
  });
  await screenshot(bob, 'search');
});

test('when the socket drops, the client says so, reconnects with backoff and syncs what it missed', async () => {
  const { alice, bob } = users;
  await bob.page.getByRole('button', { name: 'Close' }).click();
  bob.network.offline = true;
  const { page, server } = bob.network.socket;
  // The browser's WebSocket.close() takes 1000 or 3000-4999 only; the page sees 1006, as
  // when a network goes away.
  await server.close({ code: 4000, reason: 'test drops the network' });
  await page.close({ code: 1006, reason: 'network gone' });
  await waitForConnection(bob, 'Reconnecting');
  await screenshot(bob, 'reconnecting');

  await send(alice, AWAY);
  // Nobody took the push: stored and acknowledged as sent.
  await message(alice, AWAY).and(alice.page.locator(':not([data-status="sending"])')).waitFor();
  assert.deepEqual(await statusHistory(alice, AWAY), ['sending', 'sent']);
  await message(alice, AWAY).locator('.tick', { hasText: 'Sent' }).waitFor();
  assert.equal(await message(bob, AWAY).count(), 0);

  bob.network.offline = false;
  await waitForConnection(bob, 'Online');
  await message(bob, AWAY).waitFor();
  // Bob's sync delivered it (alice is told), and his open conversation then read it.
  await message(alice, AWAY).and(alice.page.locator('[data-status="read"]')).waitFor();
  assertInOrder(await statusHistory(alice, AWAY), ['sent', 'delivered', 'read'], 'the message sent while bob was away');
});

test('nothing tried to run: no dialog, no page error, no policy violation', async () => {
  for (const user of Object.values(users)) {
    assert.deepEqual(user.dialogs, [], `${user.name}: dialogs`);
    assert.deepEqual(user.errors, [], `${user.name}: errors`);
  }
});
