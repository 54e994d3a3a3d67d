//! Pure domain types and rules: identifiers, message content, status, participants.
//! No async, no I/O, no AWS, SQL or Redis types.

mod content;
mod conversation;
mod ids;
mod message;

pub use content::{ContentError, MAX_CONTENT_CHARS, MessageContent};
pub use conversation::{Conversation, ConversationSummary, Participants, UserProfile};
pub use ids::{ClientMessageId, ConnectionId, ConversationId, IdError, MessageId, UserId};
pub use message::{Message, MessageStatus};
