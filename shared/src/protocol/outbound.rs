//! What the server sends: acks (route responses) and pushed events.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ErrorBody;

/// `success` or `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AckStatus {
    Success,
    Error,
}

/// The answer to a client frame:
/// `{"status":"success","requestId":...,"data":...}` or `{"status":"error","requestId":...,"error":{...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ack {
    pub status: AckStatus,
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl Ack {
    pub fn success(request_id: Option<String>, data: Value) -> Self {
        Self { status: AckStatus::Success, request_id, data: Some(data), error: None }
    }

    pub fn error(request_id: Option<String>, error: ErrorBody) -> Self {
        Self { status: AckStatus::Error, request_id, data: None, error: Some(error) }
    }
}

/// A pushed event: `{"event":"message:received","data":{...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushEvent {
    pub event: String,
    pub data: Value,
}

impl PushEvent {
    pub const MESSAGE_RECEIVED: &'static str = "message:received";
    pub const MESSAGE_DELIVERED: &'static str = "message:delivered";
    pub const MESSAGES_READ: &'static str = "messages:read";
    pub const TYPING_START: &'static str = "typing:start";
    pub const TYPING_STOP: &'static str = "typing:stop";

    pub fn new(event: &str, data: Value) -> Self {
        Self { event: event.to_owned(), data }
    }
}

/// `message:delivered`: messages of the recipient's that reached them after the send's ack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveredEvent {
    pub conversation_id: String,
    pub message_ids: Vec<String>,
    pub up_to_seq: i64,
    #[serde(with = "super::timestamp")]
    pub delivered_at: chrono::DateTime<chrono::Utc>,
}

/// `messages:read`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadEvent {
    pub conversation_id: String,
    pub up_to_seq: i64,
    #[serde(with = "super::timestamp")]
    pub read_at: chrono::DateTime<chrono::Utc>,
    pub reader_id: String,
}

/// `typing:start` / `typing:stop`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypingEvent {
    pub conversation_id: String,
    pub user_id: String,
}

/// The data of a `conversation:sync` ack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncPage {
    pub messages: Vec<super::MessageDto>,
    pub has_more: bool,
}

/// The data of a `ping` ack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pong {
    pub pong: bool,
    #[serde(with = "super::timestamp")]
    pub server_time: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorCode;

    #[test]
    fn an_error_ack_has_the_documented_shape() {
        let mut body = ErrorBody::new(ErrorCode::ChatRateLimitExceeded, "slow down");
        body.retry_after = Some(30);
        let json = serde_json::to_value(Ack::error(Some("r1".into()), body)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"status":"error","requestId":"r1","error":{"code":"CHAT_RATE_LIMIT_EXCEEDED","message":"slow down","retryAfter":30}})
        );
    }

    #[test]
    fn a_success_ack_round_trips() {
        let ack = Ack::success(None, serde_json::json!({"x": 1}));
        let json = serde_json::to_string(&ack).unwrap();
        assert_eq!(json, r#"{"status":"success","requestId":null,"data":{"x":1}}"#);
        assert_eq!(serde_json::from_str::<Ack>(&json).unwrap(), ack);
    }
}
