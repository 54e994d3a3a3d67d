//! Use cases. Each takes the ports it needs, never a concrete adapter.

mod connect;
mod create_conversation;
mod error;
mod fanout;
mod send_message;

pub use connect::{connect, disconnect};
pub use create_conversation::{Created, create_conversation};
pub use error::AppError;
pub use fanout::{Fanout, FanoutReport};
pub use send_message::{SendMessage, send_message};

#[cfg(test)]
pub(crate) mod fakes;
