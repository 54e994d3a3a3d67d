//! AppError -> error body: the one mapping from failures to codes. Bad input is not logged as
//! an error; outages and bugs are logged here, once, with their cause chain.

use crate::app::AppError;
use crate::protocol::{ErrorBody, ErrorCode};

/// The client-facing body for `error`. Internal causes stay in the logs.
pub fn error_body(error: &AppError) -> ErrorBody {
    match error {
        AppError::Validation(m) => ErrorBody::new(ErrorCode::ValidationError, m.clone()),
        AppError::Forbidden(m) => ErrorBody::new(ErrorCode::Forbidden, m.clone()),
        AppError::NotFound(m) => ErrorBody::new(ErrorCode::NotFound, m.clone()),
        AppError::RateLimited { retry_after_secs } => {
            let mut body = ErrorBody::new(
                ErrorCode::ChatRateLimitExceeded,
                "You are sending too quickly. Please wait before trying again.",
            );
            body.retry_after = Some(*retry_after_secs);
            body
        }
        AppError::Unavailable(cause) => {
            tracing::warn!(error = %chain(cause), "a backing service is unavailable");
            let mut body =
                ErrorBody::new(ErrorCode::ServiceUnavailable, "the service is temporarily unavailable; retry shortly");
            body.retry_after = Some(1);
            body
        }
        AppError::Internal(cause) => {
            tracing::error!(error = %chain(cause), "internal error");
            ErrorBody::new(ErrorCode::InternalError, "internal error")
        }
    }
}

/// `error: cause: cause ...`, for one log line.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
