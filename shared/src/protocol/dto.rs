//! JSON shapes of messages and conversations (camelCase; RFC 3339 UTC with milliseconds).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::timestamp;
use crate::domain::{ConversationSummary, Message};

/// A message on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageDto {
    pub id: String,
    pub conversation_id: String,
    pub seq: i64,
    pub sender_id: String,
    pub recipient_id: String,
    pub content: String,
    pub status: String,
    #[serde(with = "timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "timestamp::option")]
    pub delivered_at: Option<DateTime<Utc>>,
    #[serde(with = "timestamp::option")]
    pub read_at: Option<DateTime<Utc>>,
    pub client_message_id: Option<String>,
}

impl From<&Message> for MessageDto {
    fn from(m: &Message) -> Self {
        Self {
            id: m.id.to_string(),
            conversation_id: m.conversation_id.to_string(),
            seq: m.seq,
            sender_id: m.sender_id.to_string(),
            recipient_id: m.recipient_id.to_string(),
            content: m.content.as_str().to_owned(),
            status: m.status.as_str().to_owned(),
            created_at: m.created_at,
            delivered_at: m.delivered_at,
            read_at: m.read_at,
            client_message_id: m.client_message_id.as_ref().map(|c| c.as_str().to_owned()),
        }
    }
}

/// The other participant of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantDto {
    pub id: String,
    pub display_name: String,
}

/// A conversation as the caller sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationDto {
    pub id: String,
    pub participant_ids: [String; 2],
    pub other_participant: ParticipantDto,
    pub last_message: Option<MessageDto>,
    pub last_seq: i64,
    pub unread_count: i64,
    #[serde(with = "timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "timestamp")]
    pub updated_at: DateTime<Utc>,
}

impl From<&ConversationSummary> for ConversationDto {
    fn from(s: &ConversationSummary) -> Self {
        let c = &s.conversation;
        Self {
            id: c.id.to_string(),
            participant_ids: [c.participants.first().to_string(), c.participants.second().to_string()],
            other_participant: ParticipantDto {
                id: s.other_participant.id.to_string(),
                display_name: s.other_participant.display_name.clone(),
            },
            last_message: s.last_message.as_ref().map(MessageDto::from),
            last_seq: c.last_seq,
            unread_count: s.unread_count,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A page of a list: `{items, nextCursor, hasMore}`; `nextCursor` is `null` on the last page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageDto<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

/// A search hit: the message, its rank (higher is better; comparable within one result list
/// only) and an HTML snippet in which `<mark>...</mark>` wraps each match and all content is
/// escaped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchHitDto {
    pub message: MessageDto,
    pub snippet: String,
    pub rank: f32,
}

impl From<&crate::app::SearchResult> for SearchHitDto {
    fn from(r: &crate::app::SearchResult) -> Self {
        Self { message: MessageDto::from(&r.message), snippet: r.snippet.clone(), rank: r.rank }
    }
}

/// `POST /conversations/{conversationId}/read` body (optional).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkReadRequest {
    #[serde(default)]
    pub up_to_seq: Option<i64>,
}

/// `POST /conversations` body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateConversationRequest {
    pub participant_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ClientMessageId, ConversationId, MessageContent, MessageId, MessageStatus, UserId};
    use chrono::TimeZone;
    use uuid::Uuid;

    fn message() -> Message {
        Message {
            id: MessageId::new_v7(),
            conversation_id: ConversationId::new_v7(),
            seq: 7,
            sender_id: UserId::from_uuid(Uuid::from_u128(1)),
            recipient_id: UserId::from_uuid(Uuid::from_u128(2)),
            content: MessageContent::parse("hello <b>").unwrap(),
            status: MessageStatus::Delivered,
            created_at: Utc.timestamp_millis_opt(1_764_000_000_123).unwrap(),
            delivered_at: Some(Utc.timestamp_millis_opt(1_764_000_000_456).unwrap()),
            read_at: None,
            client_message_id: Some(ClientMessageId::parse("c-1").unwrap()),
        }
    }

    #[test]
    fn a_message_serializes_in_the_documented_shape() {
        let json = serde_json::to_value(MessageDto::from(&message())).unwrap();
        assert_eq!(json["seq"], 7);
        assert_eq!(json["status"], "delivered");
        assert_eq!(json["createdAt"], "2025-11-24T16:00:00.123Z");
        assert_eq!(json["readAt"], serde_json::Value::Null);
        assert_eq!(json["clientMessageId"], "c-1");
        assert_eq!(json["content"], "hello <b>");
    }

    #[test]
    fn fields_keep_their_documented_order_inside_an_ack() {
        let data = serde_json::to_value(MessageDto::from(&message())).unwrap();
        let ack = serde_json::to_string(&crate::protocol::Ack::success(None, data)).unwrap();
        assert!(ack.contains(r#""data":{"id":"#), "{ack}");
        assert!(ack.ends_with(r#""clientMessageId":"c-1"}}"#), "{ack}");
    }

    #[test]
    fn a_message_round_trips() {
        let dto = MessageDto::from(&message());
        let back: MessageDto = serde_json::from_str(&serde_json::to_string(&dto).unwrap()).unwrap();
        assert_eq!(back, dto);
    }
}
