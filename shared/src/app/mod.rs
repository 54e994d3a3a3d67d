//! Use cases. Each takes the ports it needs, never a concrete adapter.

mod connect;
mod create_conversation;
mod error;
mod fanout;
mod history;
mod participants;
pub mod rate_limit;
mod receipts;
mod search;
mod send_message;
mod sync;
mod typing;

pub use connect::{ConnectDeps, connect, disconnect};
pub use create_conversation::{Created, create_conversation};
pub use error::AppError;
pub use fanout::{Fanout, FanoutReport};
pub use history::{HISTORY_LIMITS, LIST_LIMITS, Page, history, list_conversations, parse_limit};
pub use participants::KnownParticipants;
pub use receipts::mark_read;
pub use search::{SEARCH_LIMITS, SEARCH_QUERY_MAX_CHARS, SEARCH_WINDOW, SearchResult, search, snippet_html};
pub use send_message::{SendMessage, SendMessageDeps, send_message};
pub use sync::{SYNC_DEFAULT_LIMIT, SYNC_MAX_LIMIT, sync};
pub use typing::{TypingDeps, typing};

/// A pushed event's bytes: `{"event": name, "data": data}` (the shape of
/// [`crate::protocol::PushEvent`]), serialised in one pass, without an intermediate `Value`.
pub(crate) fn event_payload(name: &str, data: &impl serde::Serialize) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Event<'a, T> {
        event: &'a str,
        data: &'a T,
    }
    serde_json::to_vec(&Event { event: name, data }).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use crate::protocol::PushEvent;

    #[test]
    fn an_event_payload_is_a_push_event() {
        let bytes = super::event_payload(PushEvent::TYPING_START, &serde_json::json!({"userId": "u"}));
        let event: PushEvent = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(event, PushEvent::new(PushEvent::TYPING_START, serde_json::json!({"userId": "u"})));
        assert_eq!(std::str::from_utf8(&bytes).unwrap(), r#"{"event":"typing:start","data":{"userId":"u"}}"#);
    }
}

#[cfg(test)]
pub(crate) mod fakes;
