//! `conversation:sync`: the messages a client missed, by `seq`.

use crate::domain::{ConversationId, Message, UserId};
use crate::ports::{Clock, MessageStore, Scoped};
use crate::protocol::{DeliveredEvent, PushEvent};

use super::{AppError, Fanout};

/// Default and maximum page size of a sync.
pub const SYNC_DEFAULT_LIMIT: i64 = 100;
pub const SYNC_MAX_LIMIT: i64 = 500;

/// Returns up to `limit` messages after `after_seq` in `seq` order, and whether more follow.
/// The caller's received messages in the page become `delivered`, and their sender gets
/// `message:delivered`.
///
/// # Errors
/// `Validation` for a bad id, a negative `afterSeq` or a `limit` outside 1..=500; `NotFound`,
/// `Forbidden`, `Unavailable`.
pub async fn sync(
    messages: &dyn MessageStore,
    fanout: Fanout<'_>,
    clock: &dyn Clock,
    reader: UserId,
    conversation_id: &str,
    after_seq: i64,
    limit: Option<i64>,
) -> Result<(Vec<Message>, bool), AppError> {
    let conversation: ConversationId =
        conversation_id.parse().map_err(|e: crate::domain::IdError| AppError::Validation(e.to_string()))?;
    if after_seq < 0 {
        return Err(AppError::Validation("afterSeq must not be negative".into()));
    }
    let limit = limit.unwrap_or(SYNC_DEFAULT_LIMIT);
    if !(1..=SYNC_MAX_LIMIT).contains(&limit) {
        return Err(AppError::Validation(format!("limit must be from 1 to {SYNC_MAX_LIMIT}")));
    }
    let now = clock.now();
    let batch = match messages.sync(conversation, reader, after_seq, limit, now).await? {
        Scoped::Found(batch) => batch,
        Scoped::ConversationNotFound => {
            return Err(AppError::NotFound(format!("conversation {conversation} not found")));
        }
        Scoped::NotParticipant => {
            return Err(AppError::Forbidden("you are not a participant of this conversation".into()));
        }
    };
    if let Some((_, up_to_seq)) = batch.newly_delivered.last() {
        let event = DeliveredEvent {
            conversation_id: conversation.to_string(),
            message_ids: batch.newly_delivered.iter().map(|(id, _)| id.to_string()).collect(),
            up_to_seq: *up_to_seq,
            delivered_at: now,
        };
        fanout.push(&[batch.other], None, &super::event_payload(PushEvent::MESSAGE_DELIVERED, &event)).await;
    }
    Ok((batch.messages, batch.has_more))
}
