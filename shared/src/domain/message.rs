//! A stored message and its delivery status.

use chrono::{DateTime, Utc};

use super::{ClientMessageId, ConversationId, MessageContent, MessageId, UserId};

/// Delivery status. It only moves forward: sent -> delivered -> read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageStatus {
    Sent,
    Delivered,
    Read,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Read => "read",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sent" => Some(MessageStatus::Sent),
            "delivered" => Some(MessageStatus::Delivered),
            "read" => Some(MessageStatus::Read),
            _ => None,
        }
    }

    /// The status after an event that would move it to `next`: never backwards.
    pub fn advance(self, next: MessageStatus) -> MessageStatus {
        self.max(next)
    }
}

/// A message as stored. `seq` is gap-free per conversation and is the only ordering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub seq: i64,
    pub sender_id: UserId,
    pub recipient_id: UserId,
    pub content: MessageContent,
    pub status: MessageStatus,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
    pub client_message_id: Option<ClientMessageId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_never_moves_backwards() {
        assert_eq!(MessageStatus::Sent.advance(MessageStatus::Delivered), MessageStatus::Delivered);
        assert_eq!(MessageStatus::Read.advance(MessageStatus::Delivered), MessageStatus::Read);
        assert_eq!(MessageStatus::Delivered.advance(MessageStatus::Sent), MessageStatus::Delivered);
    }

    #[test]
    fn status_round_trips_its_stored_form() {
        for s in [MessageStatus::Sent, MessageStatus::Delivered, MessageStatus::Read] {
            assert_eq!(MessageStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(MessageStatus::parse("lost"), None);
    }
}
