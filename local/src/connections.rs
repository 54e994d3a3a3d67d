//! The open WebSocket connections: what the socket tasks and the management API share.
//!
//! Each connection has one writer task fed by an mpsc channel ([`Outbound`]), so acks and
//! pushes are written whole and in the order they were queued, and one close signal (a
//! oneshot), fired at most once: by the management API's `DELETE`, by shutdown, or never (the
//! client went away). Removing a connection from the table is what makes the management API
//! answer 410 for it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::ws::{CloseFrame, Message};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::events::WsConnection;

/// Something for a connection's writer task to do.
///
/// Both payloads are boxed: the channel allocates its first block of 32 slots when the
/// connection opens, and a 16-byte slot instead of a 48-byte one saves an idle connection 1 kB.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// Send this frame.
    Frame(Box<Message>),
    /// Send this close frame (if any), close the socket and stop.
    Close(Option<Box<CloseFrame>>),
}

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
#[derive(Debug)]
pub(crate) struct ConnectionState {
    /// What every event of this connection shares.
    pub event: WsConnection,
    /// `requestContext.authorizer` of every event (the authorizer's context).
    pub authorizer: Map<String, Value>,
    /// Last inbound or outbound frame, epoch milliseconds.
    last_active_ms: AtomicI64,
}

impl ConnectionState {
    pub fn new(event: WsConnection, authorizer: Map<String, Value>) -> Self {
        let connected = event.connected_at.timestamp_millis();
        Self { event, authorizer, last_active_ms: AtomicI64::new(connected) }
    }

    pub fn id(&self) -> &str {
        &self.event.connection_id
    }

    /// Records activity now.
    pub fn touch(&self) {
        self.last_active_ms.store(Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    pub fn last_active(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.last_active_ms.load(Ordering::Relaxed)).unwrap_or(self.event.connected_at)
    }
}

/// One open connection, as the table holds it.
#[derive(Debug)]
pub(crate) struct OpenConnection {
    pub state: Arc<ConnectionState>,
    pub outbound: mpsc::Sender<Outbound>,
    pub close: oneshot::Sender<CloseReason>,
}

#[derive(Debug, Default)]
struct Table {
    open: HashMap<String, OpenConnection>,
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

    /// Adds a connection. Gives it back if the gateway is shutting down.
    pub fn insert(&self, connection: OpenConnection) -> Result<(), OpenConnection> {
        let mut table = self.lock();
        if table.sealed {
            return Err(connection);
        }
        table.open.insert(connection.state.id().to_owned(), connection);
        Ok(())
    }

    /// The connection's state and writer channel, if it is open.
    pub fn get(&self, id: &str) -> Option<(Arc<ConnectionState>, mpsc::Sender<Outbound>)> {
        self.lock().open.get(id).map(|c| (c.state.clone(), c.outbound.clone()))
    }

    /// Forgets a connection (it is closing); later management calls answer 410.
    pub fn remove(&self, id: &str) {
        self.lock().open.remove(id);
    }

    /// Forgets a connection and tells its socket task to close it. `false` if it was not open.
    pub fn close(&self, id: &str, reason: CloseReason) -> bool {
        let Some(connection) = self.lock().open.remove(id) else {
            return false;
        };
        // The socket task may have ended on its own meanwhile; then there is nothing to close.
        let _ = connection.close.send(reason);
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
            let _ = connection.close.send(reason.clone());
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
    use std::time::Duration;

    fn state(id: &str) -> Arc<ConnectionState> {
        Arc::new(ConnectionState::new(
            WsConnection {
                connection_id: id.into(),
                connected_at: Utc::now(),
                domain_name: "d".into(),
                stage: "local".into(),
                api_id: "a".into(),
                source_ip: "127.0.0.1".into(),
                user_agent: None,
                headers: Vec::new(),
                query: Vec::new(),
            },
            Map::new(),
        ))
    }

    fn open(id: &str) -> (OpenConnection, oneshot::Receiver<CloseReason>) {
        let (outbound, _) = mpsc::channel(1);
        let (close, closed) = oneshot::channel();
        (OpenConnection { state: state(id), outbound, close }, closed)
    }

    #[test]
    fn closing_removes_the_connection_and_signals_its_task_once() {
        let table = ConnectionTable::default();
        let (connection, mut closed) = open("c1");
        assert!(table.insert(connection).is_ok());
        assert!(table.get("c1").is_some());
        assert!(table.close("c1", CloseReason::deleted()));
        assert!(table.get("c1").is_none());
        assert!(!table.close("c1", CloseReason::deleted()));
        assert_eq!(closed.try_recv().ok(), Some(CloseReason::deleted()));
    }

    #[test]
    fn a_sealed_table_refuses_new_connections() {
        let table = ConnectionTable::default();
        let (first, mut closed) = open("c1");
        assert!(table.insert(first).is_ok());
        table.close_all_and_seal(&CloseReason::going_away());
        assert_eq!(table.len(), 0);
        assert_eq!(closed.try_recv().ok(), Some(CloseReason::going_away()));
        assert!(table.insert(open("c2").0).is_err());
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
