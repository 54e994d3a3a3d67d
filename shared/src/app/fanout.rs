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

/// A user's connections as the registry answered.
pub type Lookup = Result<Vec<ConnectionId>, crate::ports::PortError>;

/// One batched look-up's answer as one [`Lookup`] per user (a failure fails each).
pub fn split_lookup(answer: Result<Vec<Vec<ConnectionId>>, crate::ports::PortError>, users: usize) -> Vec<Lookup> {
    match answer {
        Ok(each) => each.into_iter().map(Ok).collect(),
        Err(error) => {
            use crate::ports::PortError::{Internal, Unavailable};
            let text = error.to_string();
            let each = |_| match error {
                Unavailable(_) => Err(Unavailable(text.clone().into())),
                Internal(_) => Err(Internal(text.clone().into())),
            };
            (0..users).map(each).collect()
        }
    }
}

/// How the fan-out to one user went.
#[derive(Debug, Default)]
struct UserOutcome {
    delivered: usize,
    gone: usize,
    failed: usize,
}

impl Fanout<'_> {
    /// Pushes `payload` to every connection of each target user, except `skip` (the sender's own
    /// connection). Failures are logged and counted, never returned: the message is already
    /// stored and reachable by sync. One look-up finds every target's connections; then all the
    /// pushes run concurrently.
    pub async fn push(&self, targets: &[UserId], skip: Option<&ConnectionId>, payload: &[u8]) -> FanoutReport {
        let lookups = split_lookup(self.registry.connections_of_each(targets).await, targets.len());
        let outcomes = join_all(
            targets.iter().zip(lookups).map(|(user, lookup)| self.push_user(*user, Some(lookup), skip, payload)),
        )
        .await;
        let mut report = FanoutReport::default();
        for outcome in outcomes {
            report.delivered.push(outcome.delivered);
            report.gone += outcome.gone;
            report.failed += outcome.failed;
        }
        report
    }

    /// As [`Fanout::push`] to one user, whose connections are already looked up when `known` is
    /// `Some` (a caller starts a look-up early to overlap it with other work). Returns how many
    /// connections took the frame.
    pub async fn push_looked_up(
        &self,
        user: UserId,
        known: Option<Lookup>,
        skip: Option<&ConnectionId>,
        payload: &[u8],
    ) -> usize {
        self.push_user(user, known, skip, payload).await.delivered
    }

    async fn push_user(
        &self,
        user: UserId,
        known: Option<Lookup>,
        skip: Option<&ConnectionId>,
        payload: &[u8],
    ) -> UserOutcome {
        let lookup = match known {
            Some(lookup) => lookup,
            None => self.registry.connections_of(user).await,
        };
        let connections = match lookup {
            Ok(connections) => connections.into_iter().filter(|c| Some(c) != skip).collect::<Vec<_>>(),
            Err(error) => {
                tracing::warn!(%user, %error, "connection look-up failed; delivery falls back to sync");
                return UserOutcome { failed: 1, ..UserOutcome::default() };
            }
        };
        let results = join_all(connections.iter().map(|c| self.notifier.push(c, payload))).await;
        let mut outcome = UserOutcome::default();
        let mut gone = Vec::new();
        for (connection, result) in connections.iter().zip(results) {
            match result {
                Ok(()) => outcome.delivered += 1,
                Err(PushError::Gone) => gone.push(connection),
                Err(PushError::Failed(error)) => {
                    outcome.failed += 1;
                    tracing::warn!(%connection, %error, "push failed; delivery falls back to sync");
                }
            }
        }
        outcome.gone = gone.len();
        for (connection, removed) in gone.iter().zip(join_all(gone.iter().map(|c| self.registry.remove(user, c))).await)
        {
            if let Err(error) = removed {
                tracing::warn!(%connection, %error, "could not remove a gone connection; its TTL will");
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::PortError;

    #[test]
    fn a_failed_batched_look_up_fails_each_user_with_its_kind() {
        let each = split_lookup(Err(PortError::Unavailable("throttled".into())), 2);
        assert_eq!(each.len(), 2);
        assert!(
            each.iter().all(|l| matches!(l, Err(PortError::Unavailable(e)) if e.to_string().contains("throttled")))
        );
        let each = split_lookup(Err(PortError::Internal("no such table".into())), 1);
        assert!(matches!(each.as_slice(), [Err(PortError::Internal(_))]));
        let found = split_lookup(Ok(vec![vec![ConnectionId::new("a")], vec![]]), 2);
        assert!(matches!(found.as_slice(), [Ok(a), Ok(b)] if a.len() == 1 && b.is_empty()));
    }
}
