//! Applying a rate limit, including the policy for when the limiter itself is down.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::OnLimiterFailure;
use crate::domain::UserId;
use crate::ports::{Limit, RateDecision, RateLimiter};

use super::AppError;

/// Requests let through because the limiter could not answer (since process start).
static FAILED_OPEN: AtomicU64 = AtomicU64::new(0);

/// How many requests were let through unchecked because Redis was down.
pub fn failed_open_count() -> u64 {
    FAILED_OPEN.load(Ordering::Relaxed)
}

/// Counts one request of `user` against `limit`.
///
/// # Errors
/// `RateLimited` (with whole seconds to wait, rounded up) when over the limit; `Unavailable`
/// when the limiter is down and the policy is [`OnLimiterFailure::Deny`].
pub async fn enforce(
    limiter: &dyn RateLimiter,
    on_failure: OnLimiterFailure,
    limit: Limit,
    user: UserId,
) -> Result<(), AppError> {
    match limiter.check(limit, user).await {
        Ok(RateDecision::Allowed) => Ok(()),
        Ok(RateDecision::Limited { retry_after }) => {
            let millis = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX);
            Err(AppError::RateLimited { retry_after_secs: millis.div_ceil(1000).max(1) })
        }
        Err(error) => match on_failure {
            OnLimiterFailure::Allow => {
                let count = FAILED_OPEN.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(limit = limit.name(), %error, failed_open_total = count, "rate limiter unavailable; letting the request through");
                Ok(())
            }
            OnLimiterFailure::Deny => Err(error.into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::fakes::FakeLimiter;
    use std::time::Duration;

    #[tokio::test]
    async fn retry_after_is_rounded_up_to_whole_seconds() {
        let limiter = FakeLimiter::limited(Duration::from_millis(1200));
        let err = enforce(&limiter, OnLimiterFailure::Allow, Limit::Messages, UserId::from_subject("a")).await;
        assert!(matches!(err, Err(AppError::RateLimited { retry_after_secs: 2 })), "{err:?}");
    }

    #[tokio::test]
    async fn a_down_limiter_lets_requests_through_by_default_and_counts_them() {
        let before = failed_open_count();
        let limiter = FakeLimiter::down();
        assert!(enforce(&limiter, OnLimiterFailure::Allow, Limit::Typing, UserId::from_subject("a")).await.is_ok());
        assert!(failed_open_count() > before);
        let denied = enforce(&limiter, OnLimiterFailure::Deny, Limit::Typing, UserId::from_subject("a")).await;
        assert!(matches!(denied, Err(AppError::Unavailable(_))));
    }
}
