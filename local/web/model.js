// The client's pure logic: no DOM, no network, so `tests/browser/model.test.mjs` runs it in
// plain Node.

/** Message statuses in the order they happen; a status never moves backwards. */
export const STATUS_ORDER = ['sending', 'sent', 'delivered', 'read'];

/** What each status of one's own message shows: a glyph and the words for it. */
export const TICKS = {
  sending: { glyph: '…', label: 'Sending' },
  sent: { glyph: '✓', label: 'Sent' },
  delivered: { glyph: '✓✓', label: 'Delivered' },
  read: { glyph: '✓✓', label: 'Read' },
  failed: { glyph: '!', label: 'Not sent' },
};

/** The later of two statuses. */
export function laterStatus(a, b) {
  return STATUS_ORDER.indexOf(b) > STATUS_ORDER.indexOf(a) ? b : a;
}

/** Reconnect delays: exponential from 0.5 s, capped at 10 s, with jitter. */
export const BACKOFF = { baseMs: 500, capMs: 10_000 };

/**
 * How long to wait before reconnect attempt `attempt` (0 for the first retry): a random
 * delay between half and all of min(cap, base * 2^attempt), so clients that lost the
 * same server do not all come back at the same instant.
 */
export function backoffDelay(attempt, random = Math.random) {
  const ceiling = Math.min(BACKOFF.capMs, BACKOFF.baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

const ENTITIES = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" };

/**
 * Splits a search snippet into text runs. The server escapes the content (`& < > " '` as
 * entities) and wraps each match in `<mark>...</mark>`, its only markup (docs/protocol.md).
 * The runs are plain text, to be shown with text nodes and `<mark>` elements: nothing is
 * ever parsed as HTML, so even a snippet that broke that promise could not inject markup.
 */
export function parseSnippet(snippet) {
  const runs = [];
  let highlighted = false;
  for (const part of String(snippet).split(/(<mark>|<\/mark>)/)) {
    if (part === '<mark>') {
      highlighted = true;
    } else if (part === '</mark>') {
      highlighted = false;
    } else if (part !== '') {
      runs.push({ text: part.replace(/&(?:amp|lt|gt|quot|#39);/g, (e) => ENTITIES[e]), highlighted });
    }
  }
  return runs;
}

/**
 * The loaded messages of one conversation: a contiguous run of `seq`s from `oldestSeq` up to
 * the newest known, plus one's own messages still waiting for their ack (no `seq` yet).
 */
export class Thread {
  constructor(conversationId) {
    this.conversationId = conversationId;
    /** seq -> message, for the contiguous loaded run. */
    this.bySeq = new Map();
    /** Whether the newest history page has arrived (until then it holds only pushed messages). */
    this.loaded = false;
    /** `before` cursor of the next older page; null once the start is loaded. */
    this.olderCursor = null;
    /** Highest seq of the other participant's messages that this client marked read. */
    this.readSentUpTo = 0;
  }

  get newestSeq() {
    let newest = 0;
    for (const seq of this.bySeq.keys()) newest = Math.max(newest, seq);
    return newest;
  }

  get oldestSeq() {
    let oldest = Infinity;
    for (const seq of this.bySeq.keys()) oldest = Math.min(oldest, seq);
    return oldest === Infinity ? 0 : oldest;
  }

  /** Messages in seq order. */
  messages() {
    return [...this.bySeq.values()].sort((a, b) => a.seq - b.seq);
  }

  /**
   * Adds or updates a stored message (from history, sync, a push or an ack). Returns
   * `{message, gap}`: the message as kept (its status never moves backwards) and whether
   * messages between the newest loaded one and this one are missing (sync to fill them).
   */
  add(message) {
    const known = this.bySeq.get(message.seq);
    if (known) {
      const status = laterStatus(known.status, message.status);
      const merged = { ...known, ...message, status };
      this.bySeq.set(message.seq, merged);
      return { message: merged, gap: false };
    }
    const newest = this.newestSeq;
    const gap = this.bySeq.size > 0 && message.seq > newest + 1;
    this.bySeq.set(message.seq, message);
    return { message, gap };
  }

  /**
   * Moves `userId`'s messages up to `upToSeq` forward to `status` (`delivered` or `read`).
   * Returns the messages that changed.
   */
  advance(userId, upToSeq, status) {
    const changed = [];
    for (const message of this.bySeq.values()) {
      if (message.senderId !== userId || message.seq > upToSeq) continue;
      const next = laterStatus(message.status, status);
      if (next !== message.status) {
        message.status = next;
        changed.push(message);
      }
    }
    return changed;
  }

  /** The highest seq among the messages not sent by `userId` (0 if none). */
  newestReceivedBy(userId) {
    let newest = 0;
    for (const message of this.bySeq.values()) {
      if (message.senderId !== userId) newest = Math.max(newest, message.seq);
    }
    return newest;
  }
}
