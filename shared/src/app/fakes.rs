//! In-memory fakes of the ports, for unit tests of use cases only.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

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
pub struct FakeRegistry(Mutex<Vec<Connection>>);

impl FakeRegistry {
    pub fn connections_of_sync(&self, user: UserId) -> Vec<ConnectionId> {
        self.0.lock().unwrap().iter().filter(|c| c.user_id == user).map(|c| c.connection_id.clone()).collect()
    }
}

#[async_trait]
impl ConnectionRegistry for FakeRegistry {
    async fn register(&self, connection: &Connection) -> Result<(), PortError> {
        self.0.lock().unwrap().push(connection.clone());
        Ok(())
    }

    async fn remove(&self, connection_id: &ConnectionId) -> Result<(), PortError> {
        self.0.lock().unwrap().retain(|c| &c.connection_id != connection_id);
        Ok(())
    }

    async fn connections_of(&self, user: UserId) -> Result<Vec<ConnectionId>, PortError> {
        Ok(self.connections_of_sync(user))
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
