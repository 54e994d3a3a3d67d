//! In-memory fakes of the ports, for unit tests of use cases only.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};

use crate::domain::*;
use crate::ports::*;

fn down() -> PortError {
    PortError::Unavailable("fake store is down".into())
}

#[derive(Debug, Default)]
struct StoreState {
    down: bool,
    read: HashMap<(ConversationId, UserId), i64>,
    users: HashMap<UserId, String>,
    conversations: HashMap<ConversationId, Conversation>,
    messages: Vec<Message>,
}

#[derive(Debug, Default)]
pub struct FakeStore(Mutex<StoreState>);

impl FakeStore {
    pub fn add_user(&self, name: &str) -> UserId {
        let id = UserId::from_subject(name);
        self.0.lock().unwrap().users.insert(id, name.to_owned());
        id
    }

    pub fn has_user(&self, id: UserId) -> bool {
        self.0.lock().unwrap().users.contains_key(&id)
    }

    pub fn add_conversation(&self, a: UserId, b: UserId) -> ConversationId {
        let id = ConversationId::new_v7();
        let now = Utc::now();
        let conversation = Conversation {
            id,
            participants: Participants::new(a, b).unwrap(),
            last_seq: 0,
            created_at: now,
            updated_at: now,
        };
        self.0.lock().unwrap().conversations.insert(id, conversation);
        id
    }

    pub fn message_count(&self) -> usize {
        self.0.lock().unwrap().messages.len()
    }

    pub fn set_down(&self, down: bool) {
        self.0.lock().unwrap().down = down;
    }
}

#[async_trait]
impl UserStore for FakeStore {
    async fn upsert_user(&self, user: &UserProfile) -> Result<(), PortError> {
        let mut s = self.0.lock().unwrap();
        if s.down {
            return Err(down());
        }
        s.users.insert(user.id, user.display_name.clone());
        Ok(())
    }
}

#[async_trait]
impl ConversationStore for FakeStore {
    async fn participants(&self, id: ConversationId) -> Result<Option<Participants>, PortError> {
        let s = self.0.lock().unwrap();
        if s.down {
            return Err(down());
        }
        Ok(s.conversations.get(&id).map(|c| c.participants))
    }

    async fn list_conversations(
        &self,
        viewer: UserId,
        after: Option<ListCursor>,
        limit: i64,
    ) -> Result<Vec<ConversationSummary>, PortError> {
        let s = self.0.lock().unwrap();
        let mut mine: Vec<&Conversation> = s
            .conversations
            .values()
            .filter(|c| c.participants.contains(viewer))
            .filter(|c| after.is_none_or(|a| (c.updated_at, c.id) < (a.updated_at, a.id)))
            .collect();
        mine.sort_by_key(|c| std::cmp::Reverse((c.updated_at, c.id)));
        Ok(mine
            .into_iter()
            .take(limit as usize)
            .map(|c| {
                let other = c.participants.other(viewer).unwrap();
                ConversationSummary {
                    conversation: c.clone(),
                    other_participant: UserProfile { id: other, display_name: s.users[&other].clone() },
                    last_message: None,
                    unread_count: 0,
                }
            })
            .collect())
    }

    async fn get_or_create_conversation(
        &self,
        participants: Participants,
        viewer: UserId,
    ) -> Result<GetOrCreate, PortError> {
        let mut s = self.0.lock().unwrap();
        if s.down {
            return Err(down());
        }
        let other = participants.other(viewer).expect("viewer is a participant");
        let Some(other_name) = s.users.get(&other).cloned() else {
            return Ok(GetOrCreate::UnknownUser);
        };
        let summary = |conversation: Conversation| ConversationSummary {
            conversation,
            other_participant: UserProfile { id: other, display_name: other_name.clone() },
            last_message: None,
            unread_count: 0,
        };
        if let Some(c) = s.conversations.values().find(|c| c.participants == participants) {
            return Ok(GetOrCreate::Found(summary(c.clone())));
        }
        let now = Utc::now();
        let c =
            Conversation { id: ConversationId::new_v7(), participants, last_seq: 0, created_at: now, updated_at: now };
        s.conversations.insert(c.id, c.clone());
        Ok(GetOrCreate::Created(summary(c)))
    }
}

#[async_trait]
impl MessageStore for FakeStore {
    async fn append_message(&self, new: NewMessage) -> Result<AppendOutcome, PortError> {
        let mut s = self.0.lock().unwrap();
        if s.down {
            return Err(down());
        }
        if let Some(client_id) = &new.client_message_id
            && let Some(m) = s
                .messages
                .iter()
                .find(|m| m.sender_id == new.sender_id && m.client_message_id.as_ref() == Some(client_id))
        {
            return Ok(AppendOutcome::Duplicate(m.clone()));
        }
        let Some(conversation) = s.conversations.get_mut(&new.conversation_id) else {
            return Ok(AppendOutcome::ConversationNotFound);
        };
        let Some(recipient) = conversation.participants.other(new.sender_id) else {
            return Ok(AppendOutcome::NotParticipant);
        };
        conversation.last_seq += 1;
        let message = Message {
            id: new.id,
            conversation_id: new.conversation_id,
            seq: conversation.last_seq,
            sender_id: new.sender_id,
            recipient_id: recipient,
            content: new.content,
            status: MessageStatus::Sent,
            created_at: Utc::now(),
            delivered_at: None,
            read_at: None,
            client_message_id: new.client_message_id,
        };
        s.messages.push(message.clone());
        Ok(AppendOutcome::Stored(message))
    }

    async fn history(
        &self,
        conversation: ConversationId,
        viewer: UserId,
        slice: HistorySlice,
        limit: i64,
    ) -> Result<Scoped<Vec<Message>>, PortError> {
        let s = self.0.lock().unwrap();
        let Some(c) = s.conversations.get(&conversation) else { return Ok(Scoped::ConversationNotFound) };
        if !c.participants.contains(viewer) {
            return Ok(Scoped::NotParticipant);
        }
        let mut all: Vec<Message> = s.messages.iter().filter(|m| m.conversation_id == conversation).cloned().collect();
        all.sort_by_key(|m| m.seq);
        let mut page: Vec<Message> = match slice {
            HistorySlice::Latest => all.into_iter().rev().take(limit as usize).collect(),
            HistorySlice::Before(seq) => all.into_iter().rev().filter(|m| m.seq < seq).take(limit as usize).collect(),
            HistorySlice::After(seq) => all.into_iter().filter(|m| m.seq > seq).take(limit as usize).collect(),
        };
        page.sort_by_key(|m| m.seq);
        Ok(Scoped::Found(page))
    }

    async fn mark_read(
        &self,
        conversation: ConversationId,
        reader: UserId,
        up_to_seq: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<Scoped<ReadReceipt>, PortError> {
        let mut s = self.0.lock().unwrap();
        let Some(c) = s.conversations.get(&conversation).cloned() else { return Ok(Scoped::ConversationNotFound) };
        let Some(other) = c.participants.other(reader) else { return Ok(Scoped::NotParticipant) };
        let target = up_to_seq.unwrap_or(c.last_seq).min(c.last_seq);
        let last_read = s.read.get(&(conversation, reader)).copied().unwrap_or(0);
        if target <= last_read {
            return Ok(Scoped::Found(ReadReceipt { other, last_read_seq: last_read, read_at: None }));
        }
        s.read.insert((conversation, reader), target);
        for m in s
            .messages
            .iter_mut()
            .filter(|m| m.conversation_id == conversation && m.sender_id == other && m.seq <= target)
        {
            if m.read_at.is_none() {
                m.status = MessageStatus::Read;
                m.read_at = Some(at);
                m.delivered_at.get_or_insert(at);
            }
        }
        Ok(Scoped::Found(ReadReceipt { other, last_read_seq: target, read_at: Some(at) }))
    }

    async fn sync(
        &self,
        conversation: ConversationId,
        reader: UserId,
        after_seq: i64,
        limit: i64,
        at: DateTime<Utc>,
    ) -> Result<Scoped<SyncBatch>, PortError> {
        let mut s = self.0.lock().unwrap();
        let Some(c) = s.conversations.get(&conversation).cloned() else { return Ok(Scoped::ConversationNotFound) };
        let Some(other) = c.participants.other(reader) else { return Ok(Scoped::NotParticipant) };
        let mut page: Vec<&mut Message> =
            s.messages.iter_mut().filter(|m| m.conversation_id == conversation && m.seq > after_seq).collect();
        page.sort_by_key(|m| m.seq);
        let has_more = page.len() > limit as usize;
        let mut newly_delivered = Vec::new();
        let mut messages = Vec::new();
        for m in page.into_iter().take(limit as usize) {
            if m.recipient_id == reader && m.status == MessageStatus::Sent {
                m.status = MessageStatus::Delivered;
                m.delivered_at = Some(at);
                newly_delivered.push((m.id, m.seq));
            }
            messages.push(m.clone());
        }
        Ok(Scoped::Found(SyncBatch { messages, has_more, other, newly_delivered }))
    }

    async fn mark_delivered(&self, id: MessageId, at: DateTime<Utc>) -> Result<Message, PortError> {
        let mut s = self.0.lock().unwrap();
        let m =
            s.messages.iter_mut().find(|m| m.id == id).ok_or_else(|| PortError::Internal("no such message".into()))?;
        if m.status == MessageStatus::Sent {
            m.status = MessageStatus::Delivered;
            m.delivered_at = Some(at);
        }
        Ok(m.clone())
    }
}

#[derive(Debug, Default)]
pub struct FakeRegistry {
    connections: Mutex<Vec<Connection>>,
    /// Users whose look-ups wait for a [`FakeRegistry::release`] (each release lets one through).
    held: Mutex<HashMap<UserId, Arc<tokio::sync::Semaphore>>>,
    /// Look-up round trips made (each `connections_of_each` call).
    lookups: Mutex<usize>,
}

impl FakeRegistry {
    pub fn connections_of_sync(&self, user: UserId) -> Vec<ConnectionId> {
        self.connections.lock().unwrap().iter().filter(|c| c.user_id == user).map(|c| c.connection_id.clone()).collect()
    }

    /// How many look-up round trips were made.
    pub fn lookups(&self) -> usize {
        *self.lookups.lock().unwrap()
    }

    /// From now on, look-ups of `user` wait until released.
    pub fn hold(&self, user: UserId) {
        self.held.lock().unwrap().insert(user, Arc::new(tokio::sync::Semaphore::new(0)));
    }

    /// Lets one held look-up of `user` through.
    pub fn release(&self, user: UserId) {
        if let Some(gate) = self.held.lock().unwrap().get(&user) {
            gate.add_permits(1);
        }
    }
}

#[async_trait]
impl ConnectionRegistry for FakeRegistry {
    async fn register(&self, connection: &Connection) -> Result<(), PortError> {
        self.connections.lock().unwrap().push(connection.clone());
        Ok(())
    }

    async fn remove(&self, user: UserId, connection_id: &ConnectionId) -> Result<(), PortError> {
        self.connections.lock().unwrap().retain(|c| !(c.user_id == user && &c.connection_id == connection_id));
        Ok(())
    }

    async fn connections_of_each(&self, users: &[UserId]) -> Result<Vec<Vec<ConnectionId>>, PortError> {
        *self.lookups.lock().unwrap() += 1;
        for user in users {
            let gate = self.held.lock().unwrap().get(user).cloned();
            if let Some(gate) = gate {
                gate.acquire().await.expect("never closed").forget();
            }
        }
        Ok(users.iter().map(|u| self.connections_of_sync(*u)).collect())
    }
}

#[derive(Debug, Default)]
pub struct FakeNotifier {
    gone: Mutex<HashSet<String>>,
    pushed: Mutex<Vec<String>>,
}

impl FakeNotifier {
    pub fn mark_gone(&self, id: &str) {
        self.gone.lock().unwrap().insert(id.to_owned());
    }

    pub fn pushed_to(&self) -> Vec<String> {
        self.pushed.lock().unwrap().clone()
    }
}

#[async_trait]
impl Notifier for FakeNotifier {
    async fn push(&self, connection_id: &ConnectionId, _payload: &[u8]) -> Result<(), PushError> {
        if self.gone.lock().unwrap().contains(connection_id.as_str()) {
            return Err(PushError::Gone);
        }
        self.pushed.lock().unwrap().push(connection_id.as_str().to_owned());
        Ok(())
    }
}

#[derive(Debug)]
pub struct FixedClock(DateTime<Utc>);

impl Default for FixedClock {
    fn default() -> Self {
        Self(Utc.timestamp_millis_opt(1_764_000_000_000).unwrap())
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

#[derive(Debug)]
pub struct FakeLimiter(Option<Option<std::time::Duration>>);

impl FakeLimiter {
    pub fn allowing() -> Self {
        Self(Some(None))
    }

    pub fn limited(retry_after: std::time::Duration) -> Self {
        Self(Some(Some(retry_after)))
    }

    pub fn down() -> Self {
        Self(None)
    }
}

#[async_trait]
impl RateLimiter for FakeLimiter {
    async fn check(&self, _limit: Limit, _user: UserId) -> Result<RateDecision, PortError> {
        match self.0 {
            None => Err(PortError::Unavailable("fake limiter is down".into())),
            Some(None) => Ok(RateDecision::Allowed),
            Some(Some(retry_after)) => Ok(RateDecision::Limited { retry_after }),
        }
    }
}

#[derive(Debug, Default)]
pub struct FakeTyping(Mutex<HashSet<(ConversationId, UserId)>>);

impl FakeTyping {
    pub fn set(&self, conversation: ConversationId, user: UserId) {
        self.0.lock().unwrap().insert((conversation, user));
    }

    pub fn is_typing(&self, conversation: ConversationId, user: UserId) -> bool {
        self.0.lock().unwrap().contains(&(conversation, user))
    }
}

#[async_trait]
impl TypingTracker for FakeTyping {
    async fn started(&self, conversation: ConversationId, user: UserId) -> Result<bool, PortError> {
        Ok(self.0.lock().unwrap().insert((conversation, user)))
    }

    async fn stopped(&self, conversation: ConversationId, user: UserId) -> Result<bool, PortError> {
        Ok(self.0.lock().unwrap().remove(&(conversation, user)))
    }
}
