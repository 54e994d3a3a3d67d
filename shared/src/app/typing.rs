//! `typing:start` / `typing:stop`: best effort, throttled, pushed to the other participant only.

use crate::config::OnLimiterFailure;
use crate::domain::{ConversationId, UserId};
use crate::ports::{ConversationStore, Limit, RateLimiter, TypingTracker};
use crate::protocol::{PushEvent, TypingEvent};

use super::{AppError, Fanout, rate_limit};

/// What a typing event needs.
#[derive(Debug, Clone, Copy)]
pub struct TypingDeps<'a> {
    pub conversations: &'a dyn ConversationStore,
    pub tracker: &'a dyn TypingTracker,
    pub limiter: &'a dyn RateLimiter,
    pub on_limiter_failure: OnLimiterFailure,
    pub fanout: Fanout<'a>,
}

/// Records that `user` started (`typing = true`) or stopped typing and tells the other
/// participant. A start within the push interval of the last pushed one only refreshes the
/// state; a stop is pushed only if the user was typing. If Redis is down, the event is dropped
/// (logged): typing is best effort.
///
/// # Errors
/// `Validation` for a bad id, `NotFound`/`Forbidden` as for sending, `RateLimited`.
pub async fn typing(deps: TypingDeps<'_>, user: UserId, conversation_id: &str, typing: bool) -> Result<(), AppError> {
    // Bad input is refused before it can spend any of the rate limit.
    let conversation: ConversationId =
        conversation_id.parse().map_err(|e: crate::domain::IdError| AppError::Validation(e.to_string()))?;
    rate_limit::enforce(deps.limiter, deps.on_limiter_failure, Limit::Typing, user).await?;
    let participants = deps
        .conversations
        .participants(conversation)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("conversation {conversation} not found")))?;
    let other = participants
        .other(user)
        .ok_or_else(|| AppError::Forbidden("you are not a participant of this conversation".into()))?;
    let changed = if typing {
        deps.tracker.started(conversation, user).await
    } else {
        deps.tracker.stopped(conversation, user).await
    };
    let push = match changed {
        Ok(push) => push,
        Err(error) => {
            tracing::warn!(%error, "typing state unavailable; typing event dropped");
            return Ok(());
        }
    };
    if push {
        let name = if typing { PushEvent::TYPING_START } else { PushEvent::TYPING_STOP };
        let data = TypingEvent { conversation_id: conversation.to_string(), user_id: user.to_string() };
        deps.fanout.push(&[other], None, &super::event_payload(name, &data)).await;
    }
    Ok(())
}
