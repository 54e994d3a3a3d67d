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
