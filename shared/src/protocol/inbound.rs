//! Inbound WebSocket frames (JSON, tagged by `action`).

use serde::Deserialize;
use serde_json::Value;

/// A client's `requestId` is echoed in its ack; longer ones are refused.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// `message:send`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendMessageFrame {
    pub conversation_id: String,
    pub content: String,
    #[serde(default)]
    pub client_message_id: Option<String>,
}

/// `typing:start` / `typing:stop`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypingFrame {
    pub conversation_id: String,
}

/// `message:mark_read`: everything from the other participant up to `upToSeq` (default: all).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkReadFrame {
    pub conversation_id: String,
    #[serde(default)]
    pub up_to_seq: Option<i64>,
}

/// `conversation:sync`: messages with `seq > afterSeq`, at most `limit` of them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncFrame {
    pub conversation_id: String,
    pub after_seq: i64,
    #[serde(default)]
    pub limit: Option<i64>,
}

/// A parsed client frame. Fields are raw here; use cases parse them into domain types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    SendMessage(SendMessageFrame),
    TypingStart(TypingFrame),
    TypingStop(TypingFrame),
    MarkRead(MarkReadFrame),
    Sync(SyncFrame),
    Ping,
}

impl ClientFrame {
    /// The `action` this frame was sent with.
    pub fn action(&self) -> &'static str {
        match self {
            ClientFrame::SendMessage(_) => "message:send",
            ClientFrame::TypingStart(_) => "typing:start",
            ClientFrame::TypingStop(_) => "typing:stop",
            ClientFrame::MarkRead(_) => "message:mark_read",
            ClientFrame::Sync(_) => "conversation:sync",
            ClientFrame::Ping => "ping",
        }
    }
}

/// What was wrong with a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameErrorKind {
    /// Not a JSON object.
    Malformed(String),
    /// A JSON object whose `action` is missing or names no route.
    UnknownAction(Option<String>),
    /// A known action with missing or mistyped fields.
    Invalid(String),
}

/// A frame that could not be parsed, with the `requestId` when one could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    pub request_id: Option<String>,
    pub kind: FrameErrorKind,
}

impl ClientFrame {
    /// Parses a frame body. Returns the frame and the client's `requestId`.
    ///
    /// # Errors
    /// [`FrameError`] for malformed JSON, an unknown action, or invalid fields.
    pub fn parse(body: &str) -> Result<(ClientFrame, Option<String>), FrameError> {
        let value: Value = serde_json::from_str(body).map_err(|e| FrameError {
            request_id: None,
            kind: FrameErrorKind::Malformed(format!("body is not valid JSON: {e}")),
        })?;
        let Value::Object(ref object) = value else {
            return Err(FrameError {
                request_id: None,
                kind: FrameErrorKind::Malformed("body must be a JSON object".into()),
            });
        };
        let request_id = match object.get("requestId") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.len() <= MAX_REQUEST_ID_LEN => Some(s.clone()),
            Some(_) => {
                return Err(FrameError {
                    request_id: None,
                    kind: FrameErrorKind::Invalid(format!(
                        "requestId must be a string of at most {MAX_REQUEST_ID_LEN} bytes"
                    )),
                });
            }
        };
        let fail = |kind| FrameError { request_id: request_id.clone(), kind };
        let action = match object.get("action") {
            Some(Value::String(a)) => a.as_str(),
            _ => return Err(fail(FrameErrorKind::UnknownAction(None))),
        };
        fn fields<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, FrameErrorKind> {
            T::deserialize(value).map_err(|e| FrameErrorKind::Invalid(e.to_string()))
        }
        let frame = match action {
            "message:send" => fields(&value).map(ClientFrame::SendMessage),
            "typing:start" => fields(&value).map(ClientFrame::TypingStart),
            "typing:stop" => fields(&value).map(ClientFrame::TypingStop),
            "message:mark_read" => fields(&value).map(ClientFrame::MarkRead),
            "conversation:sync" => fields(&value).map(ClientFrame::Sync),
            "ping" => Ok(ClientFrame::Ping),
            other => Err(FrameErrorKind::UnknownAction(Some(other.to_owned()))),
        }
        .map_err(fail)?;
        Ok((frame, request_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_send_frame_parses_with_its_request_id() {
        let (frame, rid) = ClientFrame::parse(
            r#"{"action":"message:send","conversationId":"c","content":"hi","clientMessageId":"m1","requestId":"r1"}"#,
        )
        .unwrap();
        assert_eq!(rid.as_deref(), Some("r1"));
        assert_eq!(
            frame,
            ClientFrame::SendMessage(SendMessageFrame {
                conversation_id: "c".into(),
                content: "hi".into(),
                client_message_id: Some("m1".into()),
            })
        );
    }

    #[test]
    fn malformed_json_is_malformed() {
        let err = ClientFrame::parse("{not json").unwrap_err();
        assert!(matches!(err.kind, FrameErrorKind::Malformed(_)));
        assert!(matches!(ClientFrame::parse("[1]").unwrap_err().kind, FrameErrorKind::Malformed(_)));
    }

    #[test]
    fn unknown_actions_keep_the_request_id() {
        let err = ClientFrame::parse(r#"{"action":"dance","requestId":"r9"}"#).unwrap_err();
        assert_eq!(err.request_id.as_deref(), Some("r9"));
        assert_eq!(err.kind, FrameErrorKind::UnknownAction(Some("dance".into())));
        assert_eq!(ClientFrame::parse(r#"{"x":1}"#).unwrap_err().kind, FrameErrorKind::UnknownAction(None));
    }

    #[test]
    fn every_action_parses_into_its_frame() {
        let cases = [
            (r#"{"action":"typing:start","conversationId":"c"}"#, "typing:start"),
            (r#"{"action":"typing:stop","conversationId":"c"}"#, "typing:stop"),
            (r#"{"action":"message:mark_read","conversationId":"c","upToSeq":4}"#, "message:mark_read"),
            (r#"{"action":"message:mark_read","conversationId":"c"}"#, "message:mark_read"),
            (r#"{"action":"conversation:sync","conversationId":"c","afterSeq":0,"limit":50}"#, "conversation:sync"),
            (r#"{"action":"ping"}"#, "ping"),
        ];
        for (body, action) in cases {
            let (frame, _) = ClientFrame::parse(body).unwrap_or_else(|e| panic!("{body}: {e:?}"));
            assert_eq!(frame.action(), action);
        }
        assert_eq!(
            ClientFrame::parse(r#"{"action":"conversation:sync","conversationId":"c","afterSeq":"0"}"#)
                .unwrap_err()
                .kind,
            FrameErrorKind::Invalid("invalid type: string \"0\", expected i64".into())
        );
    }

    #[test]
    fn wrong_types_are_invalid() {
        let err = ClientFrame::parse(r#"{"action":"message:send","conversationId":5,"content":"hi"}"#).unwrap_err();
        assert!(matches!(err.kind, FrameErrorKind::Invalid(_)));
        let err = ClientFrame::parse(r#"{"action":"message:send","conversationId":"c"}"#).unwrap_err();
        assert!(matches!(err.kind, FrameErrorKind::Invalid(_)));
        let err = ClientFrame::parse(r#"{"action":"message:send","requestId":7}"#).unwrap_err();
        assert!(matches!(err.kind, FrameErrorKind::Invalid(_)));
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(body in ".{0,200}") {
            let _ = ClientFrame::parse(&body);
        }

        #[test]
        fn arbitrary_send_fields_round_trip(cid in ".{0,40}", content in ".{0,200}", rid in "[a-z0-9]{0,20}") {
            let body = serde_json::json!({"action":"message:send","conversationId":cid,"content":content,"requestId":rid}).to_string();
            let (frame, got) = ClientFrame::parse(&body).unwrap();
            prop_assert_eq!(got, Some(rid));
            let ClientFrame::SendMessage(f) = frame else { panic!("a send frame") };
            prop_assert_eq!(f.conversation_id, cid);
            prop_assert_eq!(f.content, content);
        }
    }
}
