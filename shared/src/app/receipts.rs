//! `message:mark_read` (and `POST /conversations/{id}/read`): read receipts.

use crate::domain::{ConnectionId, ConversationId, UserId};
use crate::ports::{Clock, MessageStore, ReadReceipt, Scoped};
use crate::protocol::{PushEvent, ReadEvent};

use super::{AppError, Fanout};

/// Marks the other participant's messages read up to `up_to_seq` (default: all). Idempotent,
/// never backwards. When something changed, `messages:read` goes to the other participant's
/// connections and to the reader's other connections.
///
/// # Errors
/// `Validation` for a bad id or a negative `upToSeq`, `NotFound`, `Forbidden`, `Unavailable`.
pub async fn mark_read(
    messages: &dyn MessageStore,
    fanout: Fanout<'_>,
    clock: &dyn Clock,
    reader: UserId,
    reader_connection: Option<&ConnectionId>,
    conversation_id: &str,
    up_to_seq: Option<i64>,
) -> Result<ReadReceipt, AppError> {
    let conversation: ConversationId =
        conversation_id.parse().map_err(|e: crate::domain::IdError| AppError::Validation(e.to_string()))?;
    if up_to_seq.is_some_and(|s| s < 0) {
        return Err(AppError::Validation("upToSeq must not be negative".into()));
    }
    let receipt = match messages.mark_read(conversation, reader, up_to_seq, clock.now()).await? {
        Scoped::Found(receipt) => receipt,
        Scoped::ConversationNotFound => {
            return Err(AppError::NotFound(format!("conversation {conversation} not found")));
        }
        Scoped::NotParticipant => {
            return Err(AppError::Forbidden("you are not a participant of this conversation".into()));
        }
    };
    if let Some(read_at) = receipt.read_at {
        let event = ReadEvent {
            conversation_id: conversation.to_string(),
            up_to_seq: receipt.last_read_seq,
            read_at,
            reader_id: reader.to_string(),
        };
        fanout
            .push(&[receipt.other, reader], reader_connection, &super::event_payload(PushEvent::MESSAGES_READ, &event))
            .await;
    }
    Ok(receipt)
}
