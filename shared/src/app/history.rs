//! `GET /conversations` and `GET /conversations/{id}/messages`: keyset-paged reads.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use crate::domain::{ConversationId, ConversationSummary, Message, UserId};
use crate::ports::{ConversationStore, HistorySlice, ListCursor, MessageStore, Scoped};

use super::AppError;

/// Page sizes: the conversation list (default, max) and history (default, max).
pub const LIST_LIMITS: (i64, i64) = (20, 100);
pub const HISTORY_LIMITS: (i64, i64) = (50, 100);

/// A page of results. `next_cursor` is `None` on the last page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

/// Parses a `limit` query parameter: `(default, max)` applies.
///
/// # Errors
/// `Validation` when it is not a whole number from 1 to `max`.
pub fn parse_limit(raw: Option<&str>, (default, max): (i64, i64)) -> Result<i64, AppError> {
    match raw {
        None => Ok(default),
        Some(raw) => match raw.trim().parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(AppError::Validation(format!("limit must be a whole number from 1 to {max}"))),
        },
    }
}

fn parse_conversation(raw: &str) -> Result<ConversationId, AppError> {
    raw.parse().map_err(|e: crate::domain::IdError| AppError::Validation(e.to_string()))
}

/// A list cursor on the wire: base64url of `<microseconds>.<conversation id>`, opaque to clients.
fn encode_list_cursor(cursor: ListCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", cursor.updated_at.timestamp_micros(), cursor.id))
}

fn decode_list_cursor(raw: &str) -> Result<ListCursor, AppError> {
    let invalid = || AppError::Validation("cursor is not valid".into());
    let text = URL_SAFE_NO_PAD.decode(raw.trim()).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(invalid)?;
    let (micros, id) = text.split_once('.').ok_or_else(invalid)?;
    let updated_at = micros.parse::<i64>().ok().and_then(DateTime::<Utc>::from_timestamp_micros).ok_or_else(invalid)?;
    Ok(ListCursor { updated_at, id: id.parse().map_err(|_| invalid())? })
}

/// The viewer's conversations, most recent activity first.
///
/// # Errors
/// `Validation` for a bad limit or cursor; `Unavailable`.
pub async fn list_conversations(
    conversations: &dyn ConversationStore,
    viewer: UserId,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<Page<ConversationSummary>, AppError> {
    let limit = parse_limit(limit, LIST_LIMITS)?;
    let after = cursor.map(decode_list_cursor).transpose()?;
    let mut items = conversations.list_conversations(viewer, after, limit + 1).await?;
    let has_more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_cursor = has_more
        .then(|| items.last())
        .flatten()
        .map(|s| encode_list_cursor(ListCursor { updated_at: s.conversation.updated_at, id: s.conversation.id }));
    Ok(Page { items, next_cursor, has_more })
}

fn parse_seq(name: &str, raw: &str) -> Result<i64, AppError> {
    match raw.trim().parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n),
        _ => Err(AppError::Validation(format!("{name} must be a whole number >= 0"))),
    }
}

/// A conversation's messages by `seq`, always in ascending order within a page. Without
/// `before`/`after`: the newest page; `nextCursor` is then the `before` of the next older page.
/// With `after`: the page after it; `nextCursor` is the next `after`.
///
/// # Errors
/// `Validation` for a bad id, limit, `before`/`after` (or both); `NotFound` for an unknown
/// conversation; `Forbidden` when the viewer is not in it; `Unavailable`.
pub async fn history(
    messages: &dyn MessageStore,
    viewer: UserId,
    conversation_id: &str,
    limit: Option<&str>,
    before: Option<&str>,
    after: Option<&str>,
) -> Result<Page<Message>, AppError> {
    let conversation = parse_conversation(conversation_id)?;
    let limit = parse_limit(limit, HISTORY_LIMITS)?;
    let slice = match (before, after) {
        (None, None) => HistorySlice::Latest,
        (Some(b), None) => HistorySlice::Before(parse_seq("before", b)?),
        (None, Some(a)) => HistorySlice::After(parse_seq("after", a)?),
        (Some(_), Some(_)) => return Err(AppError::Validation("give before or after, not both".into())),
    };
    let mut items = match messages.history(conversation, viewer, slice, limit + 1).await? {
        Scoped::Found(items) => items,
        Scoped::ConversationNotFound => {
            return Err(AppError::NotFound(format!("conversation {conversation} not found")));
        }
        Scoped::NotParticipant => {
            return Err(AppError::Forbidden("you are not a participant of this conversation".into()));
        }
    };
    let has_more = items.len() as i64 > limit;
    let next_cursor = if !has_more {
        None
    } else if let HistorySlice::After(_) = slice {
        items.truncate(limit as usize);
        items.last().map(|m| m.seq.to_string())
    } else {
        // The extra row is the oldest one.
        items.remove(0);
        items.first().map(|m| m.seq.to_string())
    };
    Ok(Page { items, next_cursor, has_more })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_cursors_round_trip_and_garbage_is_refused() {
        let cursor = ListCursor {
            updated_at: DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap(),
            id: ConversationId::new_v7(),
        };
        assert_eq!(decode_list_cursor(&encode_list_cursor(cursor)).unwrap(), cursor);
        for bad in ["", "!!", "bm9wZQ", &URL_SAFE_NO_PAD.encode("12.not-a-uuid"), &URL_SAFE_NO_PAD.encode("x.y")] {
            assert!(matches!(decode_list_cursor(bad), Err(AppError::Validation(_))), "{bad}");
        }
    }

    #[tokio::test]
    async fn list_pages_carry_a_cursor_until_the_last() {
        let store = crate::app::fakes::FakeStore::default();
        let alice = store.add_user("alice");
        for n in 0..5 {
            let friend = store.add_user(&format!("friend{n}"));
            store.add_conversation(alice, friend);
        }
        let (mut seen, mut cursor) = (Vec::new(), None);
        loop {
            let page = list_conversations(&store, alice, Some("2"), cursor.as_deref()).await.unwrap();
            assert_eq!(page.has_more, page.next_cursor.is_some());
            seen.extend(page.items.iter().map(|s| s.conversation.id));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!((seen.len(), unique.len()), (5, 5));
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(parse_limit(None, LIST_LIMITS).unwrap(), 20);
        assert_eq!(parse_limit(Some("100"), LIST_LIMITS).unwrap(), 100);
        for bad in ["0", "101", "-1", "ten", ""] {
            assert!(parse_limit(Some(bad), LIST_LIMITS).is_err(), "{bad}");
        }
    }
}
