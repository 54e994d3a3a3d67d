// The web client's pure logic (local/web/model.js) in plain Node: snippet parsing, backoff,
// and the per-conversation message store.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BACKOFF, Thread, backoffDelay, laterStatus, parseSnippet } from '../../local/web/model.js';

test('a snippet splits into text runs at the mark tags, entities decoded, nothing else interpreted', () => {
  assert.deepEqual(parseSnippet('&lt;b&gt;&amp;&quot;&#39;<mark>meet</mark> at &lt;script&gt;'), [
    { text: '<b>&"\'', highlighted: false },
    { text: 'meet', highlighted: true },
    { text: ' at <script>', highlighted: false },
  ]);
  assert.deepEqual(parseSnippet('<mark>a</mark><mark>b</mark>'), [
    { text: 'a', highlighted: true },
    { text: 'b', highlighted: true },
  ]);
  // Markup that is not a mark tag stays text: it could only come from a broken server.
  assert.deepEqual(parseSnippet('<img src=x onerror=alert(1)> &amp;lt;'), [
    { text: '<img src=x onerror=alert(1)> &lt;', highlighted: false },
  ]);
  assert.deepEqual(parseSnippet(''), []);
});

test('reconnect delays grow exponentially, are capped at 10 s, and are jittered', () => {
  assert.equal(backoffDelay(0, () => 0), BACKOFF.baseMs / 2);
  assert.equal(backoffDelay(0, () => 1), BACKOFF.baseMs);
  assert.equal(backoffDelay(3, () => 1), BACKOFF.baseMs * 8);
  assert.equal(backoffDelay(50, () => 1), 10_000);
  assert.equal(backoffDelay(50, () => 0), 5_000);
  const delays = new Set(Array.from({ length: 20 }, () => backoffDelay(4)));
  assert.ok(delays.size > 1, 'random jitter');
  for (const delay of delays) assert.ok(delay >= 4_000 && delay <= 8_000, `${delay}`);
});

test('a status never moves backwards', () => {
  assert.equal(laterStatus('read', 'delivered'), 'read');
  assert.equal(laterStatus('sent', 'delivered'), 'delivered');
  assert.equal(laterStatus('sending', 'sent'), 'sent');
});

const msg = (seq, senderId, status = 'sent') => ({ id: `m${seq}`, conversationId: 'c', seq, senderId, status, content: `#${seq}` });

test('a thread keeps messages once, in seq order, and reports gaps', () => {
  const thread = new Thread('c');
  assert.equal(thread.add(msg(2, 'a')).gap, false, 'the first message is no gap');
  assert.equal(thread.add(msg(1, 'b')).gap, false, 'an older page is no gap');
  assert.equal(thread.add(msg(3, 'a')).gap, false);
  assert.equal(thread.add(msg(5, 'b')).gap, true, '4 is missing');
  thread.add(msg(3, 'a'));
  assert.deepEqual(thread.messages().map((m) => m.seq), [1, 2, 3, 5]);
  assert.equal(thread.oldestSeq, 1);
  assert.equal(thread.newestSeq, 5);
  assert.equal(thread.newestReceivedBy('a'), 5);
  assert.equal(thread.newestReceivedBy('b'), 3);
});

test('receipts move one\'s own messages forward, never back', () => {
  const thread = new Thread('c');
  for (const m of [msg(1, 'a'), msg(2, 'b'), msg(3, 'a'), msg(4, 'a')]) thread.add(m);
  assert.deepEqual(thread.advance('a', 3, 'delivered').map((m) => m.seq), [1, 3]);
  assert.deepEqual(thread.advance('a', 1, 'read').map((m) => m.seq), [1]);
  assert.deepEqual(thread.advance('a', 4, 'delivered').map((m) => m.seq), [4]);
  assert.equal(thread.bySeq.get(1).status, 'read');
  assert.equal(thread.bySeq.get(2).status, 'sent', 'the other participant\'s message is untouched');
  // A stale copy (e.g. a later sync page) does not undo a receipt.
  assert.equal(thread.add(msg(1, 'a', 'delivered')).message.status, 'read');
});
