//! Use cases. Each takes the ports it needs, never a concrete adapter.

mod connect;
mod create_conversation;
mod error;
mod fanout;
mod history;
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
pub use receipts::mark_read;
pub use search::{SEARCH_LIMITS, SEARCH_QUERY_MAX_CHARS, SEARCH_WINDOW, SearchResult, search, snippet_html};
pub use send_message::{SendMessage, SendMessageDeps, send_message};
pub use sync::{SYNC_DEFAULT_LIMIT, SYNC_MAX_LIMIT, sync};
pub use typing::{TypingDeps, typing};

/// A pushed event's bytes: `{"event": name, "data": data}`.
pub(crate) fn event_payload(name: &str, data: &impl serde::Serialize) -> Vec<u8> {
    let event = crate::protocol::PushEvent::new(name, serde_json::to_value(data).unwrap_or_default());
    serde_json::to_vec(&event).unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod fakes;
