// The WebSocket connection: acks matched to requests, pushed events handed on, keep-alive
// pings, and reconnection with jittered exponential backoff when the socket drops.

import { backoffDelay } from './model.js';

/** API Gateway closes a connection idle for 10 minutes; ping well inside that. */
const PING_INTERVAL_MS = 4 * 60 * 1000;

/** An ack that has not come by then counts as lost (the socket is then likely dead too). */
const ACK_TIMEOUT_MS = 15_000;

/** A request refused by the server: `code` is the documented error code. */
export class RequestError extends Error {
  constructor(error) {
    super(error.message);
    this.code = error.code;
    this.retryAfter = error.retryAfter;
  }
}

/**
 * One logical connection that survives socket drops.
 *
 * States (reported through `onState(state, detail)`): `connecting` (first attempt),
 * `online` (a ping was answered, so frames reach the functions), `reconnecting`
 * (`detail.inMs`, `detail.attempt`) and `offline` (stopped). `onOnline()` runs every time
 * the connection becomes usable again, so the caller can sync what it missed.
 */
export class Connection {
  constructor({ url, token, onEvent, onState, onOnline }) {
    this.url = `${url}?token=${encodeURIComponent(token)}`;
    this.onEvent = onEvent;
    this.onState = onState;
    this.onOnline = onOnline;
    this.socket = null;
    this.state = 'offline';
    this.attempt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.nextRequestId = 1;
    /** requestId -> {resolve, reject, timer} */
    this.pending = new Map();
    this.stopped = true;
    this.onBrowserOnline = () => {
      if (this.state === 'reconnecting') this.retryNow();
    };
  }

  start() {
    this.stopped = false;
    window.addEventListener('online', this.onBrowserOnline);
    this.setState('connecting');
    this.open();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onBrowserOnline);
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.socket) this.socket.close(1000, 'signed out');
    this.failPending('signed out');
    this.setState('offline');
  }

  get online() {
    return this.state === 'online';
  }

  /** Sends a frame and resolves with the ack's `data`; rejects with a RequestError or on loss. */
  request(frame) {
    return new Promise((resolve, reject) => {
      if (!this.socket || this.socket.readyState !== WebSocket.OPEN) {
        reject(new Error('not connected'));
        return;
      }
      const requestId = `r${this.nextRequestId++}`;
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new Error('no answer in time'));
        // An unanswered request on an open socket: treat the socket as dead.
        this.socket?.close(4000, 'ack timeout');
      }, ACK_TIMEOUT_MS);
      this.pending.set(requestId, { resolve, reject, timer });
      this.socket.send(JSON.stringify({ ...frame, requestId }));
    });
  }

  /** Sends a frame that is answered only on error (typing); false when not connected. */
  notify(frame) {
    if (!this.online) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  open() {
    if (this.attempt > 0) this.setState('reconnecting', { inMs: 0, attempt: this.attempt });
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener('open', () => this.confirm(socket));
    socket.addEventListener('message', (event) => this.receive(event.data));
    socket.addEventListener('close', () => {
      if (this.socket === socket) this.dropped();
    });
  }

  /** The socket is open; it counts as online once a ping comes back through the functions. */
  async confirm(socket) {
    try {
      await this.request({ action: 'ping' });
    } catch {
      return; // The close handler takes it from here.
    }
    if (this.socket !== socket || this.stopped) return;
    this.attempt = 0;
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => this.request({ action: 'ping' }).catch(() => {}), PING_INTERVAL_MS);
    this.setState('online');
    this.onOnline();
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      console.warn('ignoring a frame that is not JSON');
      return;
    }
    if (frame.event) {
      this.onEvent(frame.event, frame.data);
      return;
    }
    const waiting = frame.requestId != null && this.pending.get(frame.requestId);
    if (!waiting) {
      if (frame.status === 'error') console.warn('server error', frame.error);
      return;
    }
    this.pending.delete(frame.requestId);
    clearTimeout(waiting.timer);
    if (frame.status === 'success') waiting.resolve(frame.data);
    else waiting.reject(new RequestError(frame.error ?? { code: 'INTERNAL_ERROR', message: 'no error body' }));
  }

  dropped() {
    clearInterval(this.pingTimer);
    this.socket = null;
    this.failPending('connection lost');
    if (this.stopped) return;
    const inMs = backoffDelay(this.attempt);
    this.attempt += 1;
    this.setState('reconnecting', { inMs, attempt: this.attempt });
    this.retryTimer = setTimeout(() => this.open(), inMs);
  }

  retryNow() {
    clearTimeout(this.retryTimer);
    this.open();
  }

  failPending(reason) {
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new Error(reason));
    }
    this.pending.clear();
  }

  setState(state, detail = {}) {
    this.state = state;
    this.onState(state, detail);
  }
}
