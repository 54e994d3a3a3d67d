// The demo web client: sign in with a dev token, list conversations, chat, search.
//
// Everything shown that comes from the server or a user is set with textContent or text
// nodes, never parsed as HTML. The HTTP API is this page's own origin; the WebSocket URL
// comes with the dev token.

import { Connection, RequestError } from './connection.js';
import { TICKS, Thread, parseSnippet } from './model.js';

/** Messages per history page. */
const PAGE_SIZE = 25;
/** Larger pages when walking back to a search hit. */
const JUMP_PAGE_SIZE = 100;
/** A typing indicator is over this long after the last `typing:start` (docs/protocol.md). */
const TYPING_SHOWN_MS = 3000;
/** Send `typing:start` at most this often while the user types. */
const TYPING_REFRESH_MS = 1500;
/** Send `typing:stop` after this long without a keystroke. */
const TYPING_IDLE_MS = 2500;
/** Within this many pixels of the top, older history loads. */
const LOAD_OLDER_MARGIN_PX = 120;
const SESSION_KEY = 'chat-demo-session';

const $ = (id) => document.getElementById(id);

/** `<tag class=...>` with text children (strings become text nodes, never HTML). */
function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children.filter((c) => c != null));
  return node;
}

const state = {
  /** {userId, displayName, token, wsUrl} */
  session: null,
  connection: null,
  /** conversationId -> Conversation (docs/protocol.md) */
  conversations: new Map(),
  /** conversationId -> Thread, for conversations whose history is loaded */
  threads: new Map(),
  openId: null,
  /** Own messages not yet acknowledged, in sending order: {clientMessageId, conversationId, content, status, error} */
  outbox: [],
  flushing: false,
  /** conversationId -> {userId, until, timer}: who is typing there */
  typing: new Map(),
  /** Our own typing in the open conversation. */
  myTyping: { conversationId: null, lastStart: 0, idleTimer: null },
  /** The history page being loaded, if any (one at a time). */
  olderLoad: null,
};

// ------------------------------------------------------------------ HTTP API

async function api(path, { method = 'GET', body, auth = true } = {}) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (auth) headers.authorization = `Bearer ${state.session.token}`;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await response.json().catch(() => ({}));
  if (response.ok) return data;
  if (auth && (response.status === 401 || response.status === 403) && !data.error) {
    // API Gateway's own answer: the token is no longer accepted (e.g. it expired).
    signOut('Your session ended; sign in again.');
  }
  throw new RequestError(data.error ?? { code: `HTTP_${response.status}`, message: data.message ?? response.statusText });
}

function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// ---------------------------------------------------------------- signing in

async function signIn(name) {
  const session = await api('/dev/token', { method: 'POST', body: { user: name }, auth: false });
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  start(session);
}

function signOut(message = '') {
  state.connection?.stop();
  sessionStorage.removeItem(SESSION_KEY);
  sessionStorage.setItem(`${SESSION_KEY}-notice`, message);
  location.reload();
}

function start(session) {
  state.session = session;
  $('sign-in-view').hidden = true;
  $('chat-view').hidden = false;
  $('me').hidden = false;
  $('sign-out').hidden = false;
  $('me-name').textContent = session.displayName;
  document.title = `${session.displayName} · Chat (local demo)`;
  state.connection = new Connection({
    url: session.wsUrl,
    token: session.token,
    onEvent: handleEvent,
    onState: (connectionState, detail) => {
      showConnectionState(connectionState, detail);
      // A token the server no longer takes (expired, or chat-local's secret changed) fails
      // every handshake, which a browser cannot tell from a network error: ask the HTTP API.
      if (connectionState === 'reconnecting' && detail.inMs && detail.attempt % 3 === 0) checkSession();
    },
    onOnline: resync,
  });
  state.connection.start();
  refreshConversations();
}

/** Signs out (in `api`) if the HTTP API refuses the token; a network error says nothing. */
function checkSession() {
  api('/conversations?limit=1').catch(() => {});
}

function showConnectionState(connectionState, { inMs, attempt }) {
  const text = {
    connecting: 'Connecting…',
    online: 'Online',
    offline: 'Offline',
    reconnecting: inMs
      ? `Reconnecting in ${Math.ceil(inMs / 1000)} s (attempt ${attempt})…`
      : `Reconnecting… (attempt ${attempt})`,
  }[connectionState];
  $('connection').dataset.state = connectionState;
  $('connection-text').textContent = text;
}

/** After (re)connecting: sync every loaded conversation, refresh the list, resend the outbox. */
async function resync() {
  flushOutbox();
  await Promise.all([...state.threads.keys()].map((id) => syncThread(id)));
  await refreshConversations();
  markOpenConversationRead();
}

// ------------------------------------------------------------- conversations

async function refreshConversations() {
  try {
    const page = await api('/conversations?limit=100');
    for (const conversation of page.items) state.conversations.set(conversation.id, conversation);
    renderConversations();
  } catch (error) {
    console.warn('could not list conversations', error);
  }
}

function sortedConversations() {
  const activity = (c) => c.lastMessage?.createdAt ?? c.updatedAt;
  return [...state.conversations.values()].sort((a, b) => activity(b).localeCompare(activity(a)));
}

function renderConversations() {
  const list = $('conversations');
  const focusedId = document.activeElement?.dataset?.conversationId;
  const items = sortedConversations().map((conversation) => {
    const name = conversation.otherParticipant.displayName;
    const typing = isTyping(conversation.id);
    const last = conversation.lastMessage;
    const preview = typing
      ? el('span', 'preview typing-note', 'typing…')
      : el('span', 'preview', last ? `${last.senderId === state.session.userId ? 'You: ' : ''}${last.content}` : 'No messages yet');
    const button = el('button', 'conversation', el('span', 'name', name), preview);
    button.type = 'button';
    button.dataset.conversationId = conversation.id;
    if (conversation.id === state.openId) button.setAttribute('aria-current', 'true');
    if (last) button.append(el('time', 'when', formatTime(last.createdAt)));
    if (conversation.unreadCount > 0) {
      button.append(el('span', 'badge', String(conversation.unreadCount), el('span', 'visually-hidden', ' unread')));
    }
    button.addEventListener('click', () => openConversation(conversation.id).catch(showChatError));
    return el('li', null, button);
  });
  list.replaceChildren(...items);
  $('conversations-empty').hidden = items.length > 0;
  if (focusedId) list.querySelector(`[data-conversation-id="${CSS.escape(focusedId)}"]`)?.focus();
}

async function startConversation(name) {
  const user = await api(`/dev/users/${encodeURIComponent(name)}`, { auth: false });
  let conversation;
  try {
    conversation = await api('/conversations', { method: 'POST', body: { participantId: user.userId } });
  } catch (error) {
    if (error.code === 'NOT_FOUND') {
      throw new Error(`Nobody called ${user.displayName} has signed in yet.`);
    }
    throw error;
  }
  state.conversations.set(conversation.id, conversation);
  renderConversations();
  await openConversation(conversation.id);
}

// -------------------------------------------------------------------- chat view

async function openConversation(id) {
  stopTyping();
  state.openId = id;
  const conversation = state.conversations.get(id);
  $('chat-title').textContent = conversation.otherParticipant.displayName;
  $('chat-empty').hidden = true;
  $('messages').hidden = false;
  $('composer').hidden = false;
  $('composer-error').textContent = '';
  renderConversations();
  renderTyping();
  if (!state.threads.has(id)) {
    $('messages').replaceChildren(el('li', 'history-note', 'Loading…'));
    // In the map before the history request, so that messages pushed meanwhile are kept.
    const thread = new Thread(id);
    state.threads.set(id, thread);
    let page;
    try {
      page = await api(`/conversations/${id}/messages?limit=${PAGE_SIZE}`);
    } catch (error) {
      state.threads.delete(id);
      throw error;
    }
    for (const message of page.items) thread.add(message);
    thread.olderCursor = page.nextCursor;
    thread.loaded = true;
    if (state.openId !== id) return;
  }
  renderThread();
  scrollToBottom();
  await fillViewport();
  markOpenConversationRead();
  $('composer-text').focus();
}

/** Loads older pages until the list can scroll (so scrolling up can load more) or all is loaded. */
async function fillViewport() {
  const list = $('messages');
  const thread = state.threads.get(state.openId);
  while (thread && thread.olderCursor && list.scrollHeight <= list.clientHeight) {
    if (!(await loadOlder(PAGE_SIZE))) break;
  }
}

function renderThread() {
  const thread = state.threads.get(state.openId);
  const list = $('messages');
  const nodes = thread.messages().map(messageNode);
  for (const item of state.outbox) {
    if (item.conversationId === state.openId) nodes.push(messageNode(pendingMessage(item)));
  }
  list.replaceChildren(historyNote(thread), ...nodes);
}

function historyNote(thread) {
  const text = thread.olderCursor ? 'Scroll up for older messages' : 'This is the start of the conversation';
  return el('li', 'history-note', text);
}

/** An outbox item shaped like a message, for display. */
function pendingMessage(item) {
  return {
    id: `pending-${item.clientMessageId}`,
    conversationId: item.conversationId,
    clientMessageId: item.clientMessageId,
    senderId: state.session.userId,
    content: item.content,
    status: item.status,
    error: item.error,
    createdAt: item.createdAt,
  };
}

function messageNode(message) {
  const mine = message.senderId === state.session.userId;
  const meta = el('span', 'meta', el('time', null, formatTime(message.createdAt)));
  if (mine) {
    const tick = TICKS[message.status] ?? TICKS.sent;
    const label = message.error ? `${tick.label}: ${message.error}` : tick.label;
    meta.append(el('span', 'tick', el('span', 'glyph', tick.glyph), ` ${label}`));
  }
  const node = el('li', `message ${mine ? 'mine' : 'theirs'}`, el('p', 'text', message.content), meta);
  node.id = `message-${message.id}`;
  node.dataset.status = message.status;
  if (message.seq != null) node.dataset.seq = String(message.seq);
  if (message.clientMessageId) node.dataset.clientMessageId = message.clientMessageId;
  node.tabIndex = -1;
  return node;
}

/**
 * Puts a message on screen: replaces its node, or inserts it in seq order (stored messages)
 * or at the end (pending ones, which have no seq). A stored message replaces the pending
 * node of its clientMessageId. A new message scrolls the list down if it is one's own or the
 * reader was at the bottom anyway; an update (a receipt) never moves the list.
 */
function showMessage(message) {
  if (message.conversationId !== state.openId) return;
  const list = $('messages');
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const node = messageNode(message);
  const pending =
    message.clientMessageId &&
    list.querySelector(`li.message:not([data-seq])[data-client-message-id="${CSS.escape(message.clientMessageId)}"]`);
  const existing = document.getElementById(`message-${message.id}`) ?? pending;
  if (existing) {
    existing.replaceWith(node);
    if (pending && pending !== existing) pending.remove();
    return;
  }
  if (message.seq == null) {
    list.append(node);
  } else {
    const later = [...list.querySelectorAll('li[data-seq]')].find((n) => Number(n.dataset.seq) > message.seq);
    const firstPending = list.querySelector('li.message:not([data-seq])');
    list.insertBefore(node, later ?? firstPending ?? null);
  }
  if (nearBottom || message.senderId === state.session.userId) scrollToBottom();
}

function scrollToBottom() {
  const list = $('messages');
  list.scrollTop = list.scrollHeight;
}

/**
 * Loads the page just older than the loaded messages of the open conversation. Resolves to
 * false when there was nothing (more) to load. While a page is loading, a second call waits
 * for it instead of loading the same page again.
 */
async function loadOlder(limit) {
  if (state.olderLoad) {
    await state.olderLoad.catch(() => {});
    return true;
  }
  const id = state.openId;
  const thread = state.threads.get(id);
  if (!thread || !thread.olderCursor) return false;
  state.olderLoad = loadOlderPage(id, thread, limit);
  try {
    return await state.olderLoad;
  } finally {
    state.olderLoad = null;
  }
}

async function loadOlderPage(id, thread, limit) {
  const list = $('messages');
  list.firstElementChild.textContent = 'Loading older messages…';
  const page = await api(`/conversations/${id}/messages?limit=${limit}&before=${encodeURIComponent(thread.olderCursor)}`);
  for (const message of page.items) thread.add(message);
  thread.olderCursor = page.nextCursor;
  if (state.openId !== id) return true;
  // Keep what is on screen where it is while the older messages go in above it.
  const fromBottom = list.scrollHeight - list.scrollTop;
  list.firstElementChild.after(...page.items.map(messageNode));
  list.firstElementChild.replaceWith(historyNote(thread));
  list.scrollTop = list.scrollHeight - fromBottom;
  return page.items.length > 0;
}

/** Sync one loaded conversation from its newest message, page by page. */
async function syncThread(id) {
  const thread = state.threads.get(id);
  // Still loading its history, which will hold everything up to now.
  if (!thread?.loaded) return;
  try {
    for (;;) {
      const page = await state.connection.request({ action: 'conversation:sync', conversationId: id, afterSeq: thread.newestSeq, limit: 100 });
      for (const message of page.messages) storeMessage(message);
      if (!page.hasMore || page.messages.length === 0) break;
    }
  } catch (error) {
    console.warn('sync failed; the next reconnect retries', error);
  }
}

// ------------------------------------------------------------------- messages

/** Keeps a stored message (ack, push, sync) in its thread and the conversation list. */
function storeMessage(message) {
  const thread = state.threads.get(message.conversationId);
  if (thread) {
    const { message: kept, gap } = thread.add(message);
    showMessage(kept);
    if (gap) syncThread(message.conversationId);
  }
  const conversation = state.conversations.get(message.conversationId);
  if (conversation && message.seq >= conversation.lastSeq) {
    conversation.lastSeq = message.seq;
    conversation.lastMessage = message;
    conversation.updatedAt = message.createdAt;
  }
}

function sendMessage(content) {
  const item = {
    clientMessageId: randomId(),
    conversationId: state.openId,
    content,
    status: 'sending',
    error: null,
    createdAt: new Date().toISOString(),
  };
  state.outbox.push(item);
  showMessage(pendingMessage(item));
  stopTyping(false);
  flushOutbox();
}

/**
 * Sends the outbox in order, one ack at a time. A message stays in the outbox until it is
 * acknowledged; retries reuse its clientMessageId, so the server stores it once.
 */
async function flushOutbox() {
  if (state.flushing) return;
  state.flushing = true;
  try {
    while (state.outbox.length > 0 && state.connection.online) {
      const item = state.outbox[0];
      let stored;
      try {
        stored = await state.connection.request({
          action: 'message:send',
          conversationId: item.conversationId,
          content: item.content,
          clientMessageId: item.clientMessageId,
        });
      } catch (error) {
        if (!(error instanceof RequestError)) return; // Connection lost: resent after reconnecting.
        if (error.code === 'CHAT_RATE_LIMIT_EXCEEDED' || error.code === 'SERVICE_UNAVAILABLE') {
          setTimeout(flushOutbox, (error.retryAfter ?? 1) * 1000);
          return;
        }
        state.outbox.shift();
        item.status = 'failed';
        item.error = error.message;
        showMessage(pendingMessage(item));
        continue;
      }
      state.outbox.shift();
      storeMessage(stored);
      renderConversations();
    }
  } finally {
    state.flushing = false;
  }
}

// ------------------------------------------------------------- receipts

function markOpenConversationRead() {
  const id = state.openId;
  const thread = id && state.threads.get(id);
  if (!thread || document.visibilityState !== 'visible' || !state.connection.online) return;
  const upToSeq = thread.newestReceivedBy(state.session.userId);
  if (upToSeq <= thread.readSentUpTo) return;
  thread.readSentUpTo = upToSeq;
  state.connection
    .request({ action: 'message:mark_read', conversationId: id, upToSeq })
    .then(() => {
      const conversation = state.conversations.get(id);
      if (conversation) conversation.unreadCount = 0;
      renderConversations();
    })
    .catch((error) => {
      thread.readSentUpTo = 0; // Tried again on the next occasion.
      console.warn('mark_read failed', error);
    });
}

/** A receipt for one's own messages: `status` is `delivered` or `read`. */
function advanceMine(conversationId, upToSeq, status) {
  const thread = state.threads.get(conversationId);
  if (thread) {
    for (const message of thread.advance(state.session.userId, upToSeq, status)) showMessage(message);
  }
}

// --------------------------------------------------------------------- typing

function isTyping(conversationId) {
  const typing = state.typing.get(conversationId);
  return typing != null && typing.until > Date.now();
}

function setTyping(conversationId, userId, typing) {
  clearTimeout(state.typing.get(conversationId)?.timer);
  if (typing) {
    const timer = setTimeout(() => setTyping(conversationId, userId, false), TYPING_SHOWN_MS);
    state.typing.set(conversationId, { userId, until: Date.now() + TYPING_SHOWN_MS, timer });
  } else {
    state.typing.delete(conversationId);
  }
  renderTyping();
  renderConversations();
}

function renderTyping() {
  const name = state.conversations.get(state.openId)?.otherParticipant.displayName;
  $('typing').textContent = isTyping(state.openId) ? `${name} is typing…` : '';
}

function noteKeystroke() {
  const typing = state.myTyping;
  const now = Date.now();
  if ($('composer-text').value.trim() === '') {
    stopTyping();
    return;
  }
  if (typing.conversationId !== state.openId || now - typing.lastStart > TYPING_REFRESH_MS) {
    if (state.connection.notify({ action: 'typing:start', conversationId: state.openId })) {
      typing.conversationId = state.openId;
      typing.lastStart = now;
    }
  }
  clearTimeout(typing.idleTimer);
  typing.idleTimer = setTimeout(() => stopTyping(), TYPING_IDLE_MS);
}

/** Ends our typing; `tell` is false when sending a message, which ends it on the server anyway. */
function stopTyping(tell = true) {
  const typing = state.myTyping;
  clearTimeout(typing.idleTimer);
  if (typing.conversationId && tell) state.connection?.notify({ action: 'typing:stop', conversationId: typing.conversationId });
  typing.conversationId = null;
  typing.lastStart = 0;
}

// --------------------------------------------------------------------- events

function handleEvent(event, data) {
  switch (event) {
    case 'message:received': {
      const known = state.conversations.has(data.conversationId);
      if (data.senderId !== state.session.userId) {
        setTyping(data.conversationId, data.senderId, false);
        const conversation = state.conversations.get(data.conversationId);
        const seen = state.threads.get(data.conversationId)?.bySeq.has(data.seq);
        if (conversation && !seen && !(data.conversationId === state.openId && document.visibilityState === 'visible')) {
          conversation.unreadCount += 1;
        }
      }
      storeMessage(data);
      if (known) renderConversations();
      else refreshConversations(); // A conversation someone else started.
      if (data.conversationId === state.openId) markOpenConversationRead();
      break;
    }
    case 'message:delivered':
      advanceMine(data.conversationId, data.upToSeq, 'delivered');
      break;
    case 'messages:read':
      if (data.readerId === state.session.userId) {
        // Read on another of our devices.
        const conversation = state.conversations.get(data.conversationId);
        if (conversation) conversation.unreadCount = 0;
      } else {
        advanceMine(data.conversationId, data.upToSeq, 'read');
      }
      renderConversations();
      break;
    case 'typing:start':
    case 'typing:stop':
      if (data.userId !== state.session.userId) setTyping(data.conversationId, data.userId, event === 'typing:start');
      break;
    default:
      console.warn('unknown event', event);
  }
}

// --------------------------------------------------------------------- search

async function search(query) {
  const page = await api(`/messages/search?q=${encodeURIComponent(query)}&limit=20`);
  const results = $('search-results');
  results.hidden = false;
  $('search-summary').textContent =
    page.items.length === 0 ? 'No messages match.' : `${page.items.length}${page.hasMore ? '+' : ''} found, best first.`;
  $('search-list').replaceChildren(...page.items.map(searchHit));
}

function searchHit(hit) {
  const message = hit.message;
  const conversation = state.conversations.get(message.conversationId);
  const who = message.senderId === state.session.userId ? 'You' : (conversation?.otherParticipant.displayName ?? 'Someone');
  const where = conversation ? ` to ${conversation.otherParticipant.displayName}` : '';
  const snippet = el('span', 'snippet');
  for (const run of parseSnippet(hit.snippet)) {
    snippet.append(run.highlighted ? el('mark', null, run.text) : document.createTextNode(run.text));
  }
  const heading = message.senderId === state.session.userId ? `${who}${where}` : who;
  const button = el('button', 'hit', el('span', 'hit-head', heading, ' · ', el('time', null, formatTime(message.createdAt))), snippet);
  button.type = 'button';
  button.addEventListener('click', () => jumpTo(message).catch(showChatError));
  return el('li', null, button);
}

/** Opens the message's conversation, loads history back to it, and shows it. */
async function jumpTo(message) {
  if (!state.conversations.has(message.conversationId)) await refreshConversations();
  await openConversation(message.conversationId);
  const thread = state.threads.get(message.conversationId);
  while (!thread.bySeq.has(message.seq) && thread.olderCursor) {
    if (!(await loadOlder(JUMP_PAGE_SIZE))) break;
  }
  const node = document.getElementById(`message-${message.id}`);
  if (!node) return;
  document.querySelectorAll('.message.found').forEach((n) => n.classList.remove('found'));
  node.classList.add('found');
  node.scrollIntoView({ block: 'center' });
  node.focus({ preventScroll: true });
}

// ---------------------------------------------------------------------- misc

function showChatError(error) {
  $('composer-error').textContent = error.message;
}

function formatTime(iso) {
  if (!iso) return '';
  const at = new Date(iso);
  const today = new Date().toDateString() === at.toDateString();
  const time = at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return today ? time : `${at.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`;
}

/** Runs `action` for a form, showing its error (if any) in `errorId`. */
function onSubmit(formId, errorId, action) {
  $(formId).addEventListener('submit', async (event) => {
    event.preventDefault();
    $(errorId).textContent = '';
    const button = $(formId).querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      await action();
    } catch (error) {
      $(errorId).textContent = error.message;
    } finally {
      button.disabled = false;
    }
  });
}

function wireUp() {
  onSubmit('sign-in-form', 'sign-in-error', async () => {
    const name = $('sign-in-name').value.trim();
    if (!name) throw new Error('Enter a name.');
    await signIn(name);
  });
  onSubmit('start-form', 'start-error', async () => {
    const name = $('start-name').value.trim();
    if (!name) throw new Error('Enter the name of who to chat with.');
    await startConversation(name);
    $('start-name').value = '';
  });
  onSubmit('search-form', 'search-error', async () => {
    const query = $('search-query').value.trim();
    if (!query) throw new Error('Enter words to search for.');
    await search(query);
  });
  onSubmit('composer', 'composer-error', async () => {
    const text = $('composer-text');
    const content = text.value.trim();
    if (!content) return;
    text.value = '';
    sendMessage(content);
  });
  $('composer-text').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $('composer').requestSubmit();
    }
  });
  $('composer-text').addEventListener('input', noteKeystroke);
  $('search-close').addEventListener('click', () => {
    $('search-results').hidden = true;
    $('search-query').focus();
  });
  $('messages').addEventListener('scroll', () => {
    if ($('messages').scrollTop < LOAD_OLDER_MARGIN_PX) loadOlder(PAGE_SIZE).catch(showChatError);
  });
  $('sign-out').addEventListener('click', () => signOut());
  document.addEventListener('visibilitychange', markOpenConversationRead);
}

wireUp();
const notice = sessionStorage.getItem(`${SESSION_KEY}-notice`);
sessionStorage.removeItem(`${SESSION_KEY}-notice`);
if (notice) $('sign-in-error').textContent = notice;
const saved = sessionStorage.getItem(SESSION_KEY);
if (saved) start(JSON.parse(saved));
else $('sign-in-name').focus();
