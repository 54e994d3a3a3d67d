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

/// Whether the caller may act on a conversation, and the answer when they may.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scoped<T> {
    Found(T),
    ConversationNotFound,
    NotParticipant,
}

/// Conversations.
#[async_trait]
pub trait ConversationStore: Send + Sync + std::fmt::Debug {
    /// The conversation's participants (`None` if it does not exist).
    async fn participants(&self, id: ConversationId) -> Result<Option<Participants>, PortError>;

    /// The viewer's conversations, most recent activity first, strictly after `after` in that
    /// order (keyset), at most `limit`.
    async fn list_conversations(
        &self,
        viewer: UserId,
        after: Option<ListCursor>,
        limit: i64,
    ) -> Result<Vec<ConversationSummary>, PortError>;

    /// Returns the pair's conversation, creating it if needed (race-safe), as `viewer` sees it.
    async fn get_or_create_conversation(
        &self,
        participants: Participants,
        viewer: UserId,
    ) -> Result<GetOrCreate, PortError>;
}

/// A position in a conversation list: (last activity, id), descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListCursor {
    pub updated_at: DateTime<Utc>,
    pub id: ConversationId,
}

/// Which slice of a conversation's history to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistorySlice {
    /// The newest messages.
    Latest,
    /// Messages with `seq` below this, newest first.
    Before(i64),
    /// Messages with `seq` above this, oldest first.
    After(i64),
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

    /// Up to `limit` messages of `slice`, in ascending `seq` order, if `viewer` may read them.
    async fn history(
        &self,
        conversation: ConversationId,
        viewer: UserId,
        slice: HistorySlice,
        limit: i64,
    ) -> Result<Scoped<Vec<Message>>, PortError>;

    /// Marks the other participant's messages up to `up_to_seq` (default: the last) read by
    /// `reader`, in one transaction. Never moves backwards; marking again changes nothing.
    async fn mark_read(
        &self,
        conversation: ConversationId,
        reader: UserId,
        up_to_seq: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<Scoped<ReadReceipt>, PortError>;

    /// Up to `limit` messages with `seq > after_seq`, in `seq` order; the reader's received
    /// messages among them that were only `sent` become `delivered` (and are returned so).
    async fn sync(
        &self,
        conversation: ConversationId,
        reader: UserId,
        after_seq: i64,
        limit: i64,
        at: DateTime<Utc>,
    ) -> Result<Scoped<SyncBatch>, PortError>;
}

/// What a `mark_read` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadReceipt {
    /// The participant whose messages were read (to notify).
    pub other: UserId,
    /// The reader's read position after the call.
    pub last_read_seq: i64,
    /// `Some(at)` when this call moved something, `None` when it changed nothing.
    pub read_at: Option<DateTime<Utc>>,
}

/// A page of `sync`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncBatch {
    pub messages: Vec<Message>,
    pub has_more: bool,
    /// The participant who is not the reader.
    pub other: UserId,
    /// Messages this call moved from `sent` to `delivered` (in `seq` order).
    pub newly_delivered: Vec<(MessageId, i64)>,
}

/// A full-text search over the messages of the viewer's conversations.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// The query in web-search syntax (`"quoted phrase"`, `or`, `-word`), validated: 1 to 200
    /// characters, no control characters.
    pub query: String,
    /// Only this conversation (the viewer must be in it).
    pub conversation: Option<ConversationId>,
    /// Ranking looks at the `window` most recent matches only (newest first by id), never at an
    /// unbounded set.
    pub window: i64,
    /// Continue after this hit; `None` for the first page.
    pub after: Option<SearchCursor>,
    pub limit: i64,
}

/// A position in a ranked result list. `newest` pins the match window of the first page, so
/// later pages rank the same messages even while new ones arrive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchCursor {
    pub rank: f32,
    pub id: MessageId,
    pub newest: MessageId,
}

/// One search result: the message, its rank (higher is better) and a fragment of its content
/// in which matches are wrapped in [`HIGHLIGHT_START`] and [`HIGHLIGHT_STOP`] (content never
/// contains these two characters: they are removed before highlighting).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub message: Message,
    pub rank: f32,
    pub snippet: String,
}

/// Marks the start of a highlighted match in [`SearchHit::snippet`] (U+E000, private use).
pub const HIGHLIGHT_START: char = '\u{E000}';
/// Marks the end of a highlighted match in [`SearchHit::snippet`] (U+E001, private use).
pub const HIGHLIGHT_STOP: char = '\u{E001}';

/// A page of hits, best first, and the newest message of the match window (for the cursor).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResults {
    pub hits: Vec<SearchHit>,
    pub newest: Option<MessageId>,
}

/// Ranked full-text search.
#[async_trait]
pub trait MessageSearch: Send + Sync + std::fmt::Debug {
    /// Up to `limit` hits after `request.after`, by rank, then newest first, only from
    /// conversations `viewer` is in. Scoped when `request.conversation` is set.
    async fn search(&self, viewer: UserId, request: &SearchRequest) -> Result<Scoped<SearchResults>, PortError>;
}

/// Typing state, kept with a TTL (Redis).
#[async_trait]
pub trait TypingTracker: Send + Sync + std::fmt::Debug {
    /// Records (or refreshes) that `user` is typing. Returns whether to push `typing:start`:
    /// true unless one was pushed for this typist within the push interval.
    async fn started(&self, conversation: ConversationId, user: UserId) -> Result<bool, PortError>;

    /// Records that `user` stopped typing. Returns whether they were typing.
    async fn stopped(&self, conversation: ConversationId, user: UserId) -> Result<bool, PortError>;
}

/// Which per-user limit a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    Messages,
    Typing,
    Connects,
    Rest,
}

impl Limit {
    pub fn name(self) -> &'static str {
        match self {
            Limit::Messages => "messages",
            Limit::Typing => "typing",
            Limit::Connects => "connects",
            Limit::Rest => "rest",
        }
    }
}

/// A rate limiter's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allowed,
    Limited { retry_after: std::time::Duration },
}

/// Per-user rate limits, checked and counted atomically.
#[async_trait]
pub trait RateLimiter: Send + Sync + std::fmt::Debug {
    /// Counts one request of `user` against `limit` if it fits.
    async fn check(&self, limit: Limit, user: UserId) -> Result<RateDecision, PortError>;
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

/// The connection map: each user's live connections.
#[async_trait]
pub trait ConnectionRegistry: Send + Sync + std::fmt::Debug {
    /// Adds a connection to its user's; once this returns, every look-up sees it.
    async fn register(&self, connection: &Connection) -> Result<(), PortError>;
    /// Removes a connection of `user`. Removing an unknown one is not an error.
    async fn remove(&self, user: UserId, connection_id: &ConnectionId) -> Result<(), PortError>;
    /// The live connections of each of `users`, in the order given, read in one round trip
    /// where the store allows it.
    async fn connections_of_each(&self, users: &[UserId]) -> Result<Vec<Vec<ConnectionId>>, PortError>;
    /// One user's live connections.
    async fn connections_of(&self, user: UserId) -> Result<Vec<ConnectionId>, PortError> {
        Ok(self.connections_of_each(&[user]).await?.pop().unwrap_or_default())
    }
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
