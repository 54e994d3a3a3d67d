//! `$connect` and `$disconnect`.

use std::time::Duration;

use crate::auth::Identity;
use crate::config::OnLimiterFailure;
use crate::domain::{ConnectionId, UserId, UserProfile};
use crate::ports::{Clock, Connection, ConnectionRegistry, Limit, RateLimiter, UserStore};

use super::{AppError, rate_limit};

/// What connecting needs.
#[derive(Debug, Clone, Copy)]
pub struct ConnectDeps<'a> {
    pub users: &'a dyn UserStore,
    pub registry: &'a dyn ConnectionRegistry,
    pub clock: &'a dyn Clock,
    pub limiter: &'a dyn RateLimiter,
    pub on_limiter_failure: OnLimiterFailure,
    /// Lifetime of a connection in the registry (API Gateway's maximum connection duration).
    pub ttl: Duration,
}

/// Records a new connection: upserts the user from the token's claims and maps the connection
/// id to the user, with an expiry (`ttl`) matching API Gateway's maximum connection duration.
///
/// # Errors
/// `RateLimited` over the per-user connect limit; [`AppError::Unavailable`] when PostgreSQL or
/// DynamoDB cannot be reached. Either way the handshake is refused.
pub async fn connect(
    deps: ConnectDeps<'_>,
    identity: &Identity,
    connection_id: ConnectionId,
) -> Result<Connection, AppError> {
    let ConnectDeps { users, registry, clock, ttl, .. } = deps;
    rate_limit::enforce(deps.limiter, deps.on_limiter_failure, Limit::Connects, identity.user_id).await?;
    let now = clock.now();
    let connection = Connection {
        connection_id,
        user_id: identity.user_id,
        connected_at: now,
        expires_at: now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(2)),
    };
    let profile = UserProfile { id: identity.user_id, display_name: identity.display_name.clone() };
    let (user, registered) = tokio::join!(users.upsert_user(&profile), registry.register(&connection));
    user?;
    registered?;
    Ok(connection)
}

/// Forgets a connection of `user`. Removing an unknown id is not an error.
///
/// # Errors
/// [`AppError::Unavailable`] when DynamoDB cannot be reached (the first push to the connection
/// then answers `410 Gone`, which forgets it).
pub async fn disconnect(
    registry: &dyn ConnectionRegistry,
    user: UserId,
    connection_id: &ConnectionId,
) -> Result<(), AppError> {
    registry.remove(user, connection_id).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::fakes::{FakeLimiter, FakeRegistry, FakeStore, FixedClock};

    #[tokio::test]
    async fn connecting_registers_the_connection_and_the_user() {
        let (store, registry, clock) = (FakeStore::default(), FakeRegistry::default(), FixedClock::default());
        let identity = Identity { user_id: UserId::from_subject("alice"), display_name: "alice".into() };
        let limiter = FakeLimiter::allowing();
        let deps = ConnectDeps {
            users: &store,
            registry: &registry,
            clock: &clock,
            limiter: &limiter,
            on_limiter_failure: OnLimiterFailure::Allow,
            ttl: Duration::from_secs(7200),
        };
        let c = connect(deps, &identity, ConnectionId::new("c1")).await.unwrap();
        assert_eq!((c.expires_at - c.connected_at).num_seconds(), 7200);
        assert_eq!(registry.connections_of_sync(identity.user_id), vec![ConnectionId::new("c1")]);
        assert!(store.has_user(identity.user_id));

        disconnect(&registry, identity.user_id, &ConnectionId::new("c1")).await.unwrap();
        assert!(registry.connections_of_sync(identity.user_id).is_empty());
    }
}
