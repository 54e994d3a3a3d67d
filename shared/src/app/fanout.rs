//! Stateless fan-out: look up a user's connections, push to each, forget the ones that are gone.

use futures_util::future::join_all;

use crate::domain::{ConnectionId, UserId};
use crate::ports::{ConnectionRegistry, Notifier, PushError};

/// Pushes frames to every live connection of some users.
#[derive(Clone, Copy)]
pub struct Fanout<'a> {
    pub registry: &'a dyn ConnectionRegistry,
    pub notifier: &'a dyn Notifier,
}

impl std::fmt::Debug for Fanout<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fanout")
    }
}

/// How a fan-out went, per target user (in the order given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FanoutReport {
    /// Connections that accepted the frame, per target.
    pub delivered: Vec<usize>,
    /// Connections found gone (410) and removed.
    pub gone: usize,
    /// Pushes or look-ups that failed otherwise (logged).
    pub failed: usize,
}

impl Fanout<'_> {
    /// Pushes `payload` to every connection of each target user, except `skip` (the sender's own
    /// connection). Look-ups run concurrently, then all pushes run concurrently. Failures are
    /// logged and counted, never returned: the message is already stored and reachable by sync.
    pub async fn push(&self, targets: &[UserId], skip: Option<&ConnectionId>, payload: &[u8]) -> FanoutReport {
        let lookups = join_all(targets.iter().map(|u| self.registry.connections_of(*u))).await;
        let mut report = FanoutReport { delivered: vec![0; targets.len()], ..FanoutReport::default() };
        let mut pushes = Vec::new();
        for (index, lookup) in lookups.into_iter().enumerate() {
            match lookup {
                Ok(connections) => {
                    pushes.extend(connections.into_iter().filter(|c| Some(c) != skip).map(|c| (index, c)))
                }
                Err(error) => {
                    report.failed += 1;
                    tracing::warn!(user = %targets[index], %error, "connection look-up failed; delivery falls back to sync");
                }
            }
        }
        let results = join_all(pushes.iter().map(|(_, c)| self.notifier.push(c, payload))).await;
        let mut gone = Vec::new();
        for ((index, connection), result) in pushes.iter().zip(results) {
            match result {
                Ok(()) => report.delivered[*index] += 1,
                Err(PushError::Gone) => gone.push(connection),
                Err(PushError::Failed(error)) => {
                    report.failed += 1;
                    tracing::warn!(%connection, %error, "push failed; delivery falls back to sync");
                }
            }
        }
        report.gone = gone.len();
        for (connection, removed) in gone.iter().zip(join_all(gone.iter().map(|c| self.registry.remove(c))).await) {
            if let Err(error) = removed {
                tracing::warn!(%connection, %error, "could not remove a gone connection; its TTL will");
            }
        }
        report
    }
}
