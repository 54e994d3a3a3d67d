//! The error body shared by WebSocket acks and REST responses.

use serde::{Deserialize, Serialize};

/// Stable, documented error codes (`docs/protocol.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    ValidationError,
    Unauthorized,
    Forbidden,
    NotFound,
    ChatRateLimitExceeded,
    PayloadTooLarge,
    UnknownAction,
    ServiceUnavailable,
    InternalError,
}

impl ErrorCode {
    /// The HTTP status this code answers with on the HTTP API.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::ValidationError | ErrorCode::UnknownAction => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::ChatRateLimitExceeded => 429,
            ErrorCode::InternalError => 500,
            ErrorCode::ServiceUnavailable => 503,
        }
    }
}

/// `{"code": ..., "message": ..., "retryAfter": 30}` (`retryAfter` only where it applies).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retry_after: None }
    }
}

/// The REST error response body: `{"status":"error","error":{...}}`, the same shape as an error ack.
#[derive(Debug, Serialize)]
pub struct RestError<'a> {
    pub status: &'static str,
    pub error: &'a ErrorBody,
}
