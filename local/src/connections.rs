//! The open WebSocket connections: what the socket tasks and the management API share.
//!
//! Each connection has one task, the only one that reads or writes its socket, and one
//! [`Outbox`]: the frames queued for it (acks and pushes, written whole and in the order they
//! were queued) and a close request, made at most once: by the management API's `DELETE`, by
//! shutdown, or never (the client went away). Removing a connection from the table is what
//! makes the management API answer 410 for it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::extract::ws::Message;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use tokio::sync::{Notify, Semaphore};

use crate::events::WsConnection;

/// Why a connection ended: `disconnectStatusCode` and `disconnectReason` of `$disconnect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    pub code: u16,
    pub reason: String,
}

impl CloseReason {
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        Self { code, reason: reason.into() }
    }

    /// The gateway closes the connection (shutdown, idle timeout, maximum duration).
    pub fn going_away() -> Self {
        Self::new(1001, "Going away")
    }

    /// The management API deleted the connection.
    pub fn deleted() -> Self {
        Self::new(1000, "Connection closed by the management API")
    }
}

/// What is known about one connection for its whole life.
///
/// Kept small: an idle connection costs chat-local its task, its socket and this record
/// (docs/benchmarks.md, "Load"). The authorizer's context is kept as JSON text, one allocation
/// instead of a map of strings, and read back for each event.
#[derive(Debug)]
pub(crate) struct ConnectionState {
    /// What every event of this connection shares.
    pub event: WsConnection,
    /// `requestContext.authorizer` of every event (the authorizer's context), a JSON object.
    authorizer: Box<str>,
    /// Last inbound or outbound frame, epoch milliseconds.
    last_active_ms: AtomicI64,
    /// What the connection's task is to write, and whether to close.
    pub outbox: Outbox,
}

impl ConnectionState {
    pub fn new(event: WsConnection, authorizer: &Map<String, Value>, outbox_capacity: usize) -> Self {
        let connected = event.connected_at.timestamp_millis();
        Self {
            event,
            authorizer: Value::Object(authorizer.clone()).to_string().into_boxed_str(),
            last_active_ms: AtomicI64::new(connected),
            outbox: Outbox::new(outbox_capacity),
        }
    }

    pub fn id(&self) -> &str {
        &self.event.connection_id
    }

    /// The authorizer's context, for an event.
    pub fn authorizer(&self) -> Map<String, Value> {
        // Written by `new` from a map, so it reads back as one.
        serde_json::from_str(&self.authorizer).unwrap_or_default()
    }

    /// Records activity now.
    pub fn touch(&self) {
        self.last_active_ms.store(Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    pub fn last_active(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.last_active_ms.load(Ordering::Relaxed)).unwrap_or(self.event.connected_at)
    }
}

/// Why a frame could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    /// The connection is closing or closed.
    Closed,
    /// The queue stayed full for the whole wait: the client is not reading.
    Full,
}

/// What one connection's task is to do besides reading: frames to write, in order, and
/// possibly a request to close.
///
/// Bounded: a frame waits for room when `capacity` frames are queued. Its queue allocates
/// nothing until the first frame, and the whole outbox lives in the connection's record: an
/// idle connection pays no channel (tokio's mpsc allocated 32 slots and its shared state up
/// front, about 0.8 kB).
#[derive(Debug)]
pub(crate) struct Outbox {
    inner: Mutex<OutboxInner>,
    /// Free places in the queue.
    room: Semaphore,
}

#[derive(Debug, Default)]
struct OutboxInner {
    frames: VecDeque<Message>,
    /// Set once; taken by the connection's task.
    close: Option<CloseReason>,
    /// No more frames are taken (the socket is closing).
    sealed: bool,
    /// The connection's task, waiting for a frame or a close request.
    waker: Option<Waker>,
}

impl OutboxInner {
    fn wait(&mut self, cx: &Context<'_>) {
        if !self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            self.waker = Some(cx.waker().clone());
        }
    }
}

/// What [`Outbox::poll_next`] found.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Frame(Message),
    Close(CloseReason),
}

impl Outbox {
    pub fn new(capacity: usize) -> Self {
        Self { inner: Mutex::default(), room: Semaphore::new(capacity) }
    }

    fn lock(&self) -> MutexGuard<'_, OutboxInner> {
        // Every holder leaves the queue consistent: each operation is one push or pop.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a frame, waiting for room at most `wait` (without limit when `None`).
    pub async fn push(&self, frame: Message, wait: Option<Duration>) -> Result<(), PushError> {
        let permit = match wait {
            Some(wait) => tokio::time::timeout(wait, self.room.acquire()).await.map_err(|_| PushError::Full)?,
            None => self.room.acquire().await,
        };
        // The semaphore is closed with the outbox.
        permit.map_err(|_| PushError::Closed)?.forget();
        let waker = {
            let mut inner = self.lock();
            if inner.sealed {
                return Err(PushError::Closed);
            }
            inner.frames.push_back(frame);
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Asks the connection's task to close with this reason. Only the first request counts.
    pub fn request_close(&self, reason: CloseReason) {
        let waker = {
            let mut inner = self.lock();
            if inner.close.is_some() || inner.sealed {
                return;
            }
            inner.close = Some(reason);
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Refuses frames from now on; the ones already queued can still be taken.
    pub fn seal(&self) {
        self.lock().sealed = true;
        self.room.close();
    }

    /// The next thing to do: a close request first, then the oldest frame. `Ready(None)` when
    /// the outbox is sealed and empty.
    pub fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Outgoing>> {
        let mut inner = self.lock();
        if let Some(reason) = inner.close.take() {
            return Poll::Ready(Some(Outgoing::Close(reason)));
        }
        if let Some(frame) = inner.frames.pop_front() {
            drop(inner);
            self.room.add_permits(1);
            return Poll::Ready(Some(Outgoing::Frame(frame)));
        }
        if inner.sealed {
            return Poll::Ready(None);
        }
        inner.wait(cx);
        Poll::Pending
    }

    /// A close request, if one was made; else the task is woken by the next request (or frame).
    /// For a task that cannot take frames now (the socket is full) but must still close.
    pub fn poll_close(&self, cx: &mut Context<'_>) -> Poll<CloseReason> {
        let mut inner = self.lock();
        match inner.close.take() {
            Some(reason) => Poll::Ready(reason),
            None => {
                inner.wait(cx);
                Poll::Pending
            }
        }
    }
}

#[derive(Debug, Default)]
struct Table {
    open: HashMap<String, Arc<ConnectionState>>,
    /// Set at shutdown: no connection may join any more.
    sealed: bool,
}

/// The open connections by id.
#[derive(Debug, Default)]
pub(crate) struct ConnectionTable {
    inner: Mutex<Table>,
}

impl ConnectionTable {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // The table stays consistent even if a holder panicked: every operation is one map call.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a connection. `false` if the gateway is shutting down.
    pub fn insert(&self, connection: Arc<ConnectionState>) -> bool {
        let mut table = self.lock();
        if table.sealed {
            return false;
        }
        table.open.insert(connection.id().to_owned(), connection);
        true
    }

    /// The connection, if it is open.
    pub fn get(&self, id: &str) -> Option<Arc<ConnectionState>> {
        self.lock().open.get(id).cloned()
    }

    /// Forgets a connection (it is closing); later management calls answer 410.
    pub fn remove(&self, id: &str) {
        self.lock().open.remove(id);
    }

    /// Forgets a connection and asks its task to close it. `false` if it was not open.
    pub fn close(&self, id: &str, reason: CloseReason) -> bool {
        let Some(connection) = self.lock().open.remove(id) else {
            return false;
        };
        // The task may have ended on its own meanwhile; then there is nothing to close.
        connection.outbox.request_close(reason);
        true
    }

    /// Closes every connection and refuses new ones (shutdown).
    pub fn close_all_and_seal(&self, reason: &CloseReason) {
        let open = {
            let mut table = self.lock();
            table.sealed = true;
            std::mem::take(&mut table.open)
        };
        for (_, connection) in open {
            connection.outbox.request_close(reason.clone());
        }
    }

    pub fn len(&self) -> usize {
        self.lock().open.len()
    }
}

/// Counts the connection tasks still running (including their `$disconnect`), so shutdown can
/// wait for them.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    running: AtomicUsize,
    idle: Notify,
}

/// Held by a running connection task; dropping it marks the task done.
#[derive(Debug)]
pub(crate) struct Tracked(Arc<Tracker>);

impl Tracker {
    pub fn track(self: &Arc<Self>) -> Tracked {
        self.running.fetch_add(1, Ordering::SeqCst);
        Tracked(self.clone())
    }

    /// Resolves when no tracked task is running.
    pub async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.running.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(id: &str) -> Arc<ConnectionState> {
        let mut authorizer = Map::new();
        authorizer.insert("userId".into(), Value::from("u1"));
        authorizer.insert("integrationLatency".into(), Value::from(3));
        Arc::new(ConnectionState::new(
            WsConnection {
                connection_id: id.into(),
                connected_at: Utc::now(),
                domain_name: "d".into(),
                stage: "local".into(),
                api_id: "a".into(),
                source_ip: "127.0.0.1".into(),
                user_agent: None,
            },
            &authorizer,
            2,
        ))
    }

    fn next(outbox: &Outbox) -> Poll<Option<Outgoing>> {
        outbox.poll_next(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn the_authorizer_context_reads_back_in_order() {
        let context = state("c1").authorizer();
        assert_eq!(context.keys().collect::<Vec<_>>(), ["userId", "integrationLatency"]);
        assert_eq!(context["integrationLatency"], 3);
    }

    #[test]
    fn closing_removes_the_connection_and_asks_its_task_once() {
        let table = ConnectionTable::default();
        let connection = state("c1");
        assert!(table.insert(connection.clone()));
        assert!(table.get("c1").is_some());
        assert!(table.close("c1", CloseReason::deleted()));
        assert!(table.get("c1").is_none());
        assert!(!table.close("c1", CloseReason::deleted()));
        assert!(
            matches!(next(&connection.outbox), Poll::Ready(Some(Outgoing::Close(r))) if r == CloseReason::deleted())
        );
        assert!(next(&connection.outbox).is_pending());
    }

    #[test]
    fn a_sealed_table_refuses_new_connections() {
        let table = ConnectionTable::default();
        let first = state("c1");
        assert!(table.insert(first.clone()));
        table.close_all_and_seal(&CloseReason::going_away());
        assert_eq!(table.len(), 0);
        assert!(matches!(next(&first.outbox), Poll::Ready(Some(Outgoing::Close(r))) if r == CloseReason::going_away()));
        assert!(!table.insert(state("c2")));
    }

    #[tokio::test]
    async fn the_outbox_keeps_order_waits_for_room_and_refuses_once_sealed() {
        let connection = state("c1");
        let outbox = &connection.outbox;
        assert!(next(outbox).is_pending());
        outbox.push(Message::text("1"), None).await.expect("room");
        outbox.push(Message::text("2"), None).await.expect("room");
        // Full (capacity 2): a bounded wait gives up, an unbounded one waits for room.
        let wait = Some(Duration::from_millis(20));
        assert_eq!(outbox.push(Message::text("x"), wait).await, Err(PushError::Full));
        let third = tokio::spawn({
            let connection = connection.clone();
            async move { connection.outbox.push(Message::text("3"), None).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!third.is_finished());
        assert!(matches!(next(outbox), Poll::Ready(Some(Outgoing::Frame(m))) if m == Message::text("1")));
        third.await.expect("no panic").expect("room made");
        // Sealed: nothing more is taken, what is queued still comes out, then the end.
        outbox.seal();
        assert_eq!(outbox.push(Message::text("4"), None).await, Err(PushError::Closed));
        assert!(matches!(next(outbox), Poll::Ready(Some(Outgoing::Frame(m))) if m == Message::text("2")));
        assert!(matches!(next(outbox), Poll::Ready(Some(Outgoing::Frame(m))) if m == Message::text("3")));
        assert!(matches!(next(outbox), Poll::Ready(None)));
    }

    #[tokio::test]
    async fn the_tracker_is_idle_once_every_task_is_done() {
        let tracker = Arc::new(Tracker::default());
        tracker.idle().await;
        let a = tracker.track();
        let b = tracker.track();
        let waiter = tokio::spawn({
            let tracker = tracker.clone();
            async move { tracker.idle().await }
        });
        drop(a);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiter.is_finished());
        drop(b);
        tokio::time::timeout(Duration::from_secs(1), waiter).await.expect("idle").expect("no panic");
    }
}
