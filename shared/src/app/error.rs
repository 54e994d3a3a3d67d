//! The one error type use cases return. `edge` maps it to codes and statuses.

use crate::ports::PortError;

/// Why a use case refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad input; nothing changed.
    #[error("{0}")]
    Validation(String),
    /// The caller is not a participant.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// Over a rate limit; nothing was done. Retry after this many seconds.
    #[error("rate limited for {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// A backing service is down; the client may retry.
    #[error("service unavailable")]
    Unavailable(#[source] PortError),
    /// A bug or corrupt state; opaque to the client, logged once with its cause.
    #[error("internal error")]
    Internal(#[source] PortError),
}

impl From<PortError> for AppError {
    fn from(e: PortError) -> Self {
        match e {
            PortError::Unavailable(_) => AppError::Unavailable(e),
            PortError::Internal(_) => AppError::Internal(e),
        }
    }
}
