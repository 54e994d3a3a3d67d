//! Ports: the capabilities use cases need, one small trait per capability.
//! Adapters in `adapters/` implement them; unit tests use in-memory fakes.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{
    ClientMessageId, ConnectionId, ConversationId, ConversationSummary, Message, MessageContent, MessageId,
    Participants, UserId, UserProfile,
};

/// A boxed error from a driver, kept for the logs.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a port call failed.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The backing service could not be reached or timed out; retrying later may work.
    #[error("service unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// Anything else (a bug, a schema mismatch, corrupt data).
    #[error("internal: {0}")]
    Internal(#[source] Cause),
}

/// Users, upserted from token claims.
#[async_trait]
pub trait UserStore: Send + Sync + std::fmt::Debug {
    /// Creates the user or refreshes their display name.
    async fn upsert_user(&self, user: &UserProfile) -> Result<(), PortError>;
}

/// The outcome of a get-or-create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetOrCreate {
    Created(ConversationSummary),
    Found(ConversationSummary),
    /// The other participant is not a known user.
    UnknownUser,
}

/// Conversations.
#[async_trait]
pub trait ConversationStore: Send + Sync + std::fmt::Debug {
    /// Returns the pair's conversation, creating it if needed (race-safe), as `viewer` sees it.
    async fn get_or_create_conversation(
        &self,
        participants: Participants,
        viewer: UserId,
    ) -> Result<GetOrCreate, PortError>;
}

/// A message to append.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub sender_id: UserId,
    pub content: MessageContent,
    pub client_message_id: Option<ClientMessageId>,
}

/// The outcome of appending a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Stored now, with the next `seq`.
    Stored(Message),
    /// The sender already sent this `clientMessageId`; this is the first message, unchanged.
    Duplicate(Message),
    ConversationNotFound,
    NotParticipant,
}

/// Messages.
#[async_trait]
pub trait MessageStore: Send + Sync + std::fmt::Debug {
    /// Appends a message in one transaction (next gap-free `seq`, idempotent on `clientMessageId`).
    async fn append_message(&self, message: NewMessage) -> Result<AppendOutcome, PortError>;

    /// Moves a message from `sent` to `delivered`; returns the message as it now is
    /// (unchanged if it was already delivered or read).
    async fn mark_delivered(&self, id: MessageId, at: DateTime<Utc>) -> Result<Message, PortError>;
}

/// A live WebSocket connection of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub connection_id: ConnectionId,
    pub user_id: UserId,
    pub connected_at: DateTime<Utc>,
    /// When the mapping expires (the table's TTL attribute).
    pub expires_at: DateTime<Utc>,
}

/// The connection map (connection id <-> user).
#[async_trait]
pub trait ConnectionRegistry: Send + Sync + std::fmt::Debug {
    async fn register(&self, connection: &Connection) -> Result<(), PortError>;
    async fn remove(&self, connection_id: &ConnectionId) -> Result<(), PortError>;
    /// The user's live connections.
    async fn connections_of(&self, user: UserId) -> Result<Vec<ConnectionId>, PortError>;
}

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The connection no longer exists (HTTP 410); its mapping should be removed.
    #[error("connection gone")]
    Gone,
    #[error(transparent)]
    Failed(#[from] PortError),
}

/// Pushes frames to connections (the API Gateway Management API).
#[async_trait]
pub trait Notifier: Send + Sync + std::fmt::Debug {
    async fn push(&self, connection_id: &ConnectionId, payload: &[u8]) -> Result<(), PushError>;
}

/// The time, injectable for tests.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
