//! One-on-one conversations and their canonical participant order.

use chrono::{DateTime, Utc};

use super::{ConversationId, Message, UserId};

/// The two participants of a conversation, in canonical order (`first < second`), so that
/// (alice, bob) and (bob, alice) are the same pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Participants {
    first: UserId,
    second: UserId,
}

impl Participants {
    /// `None` when both are the same user: nobody has a conversation with themselves.
    pub fn new(a: UserId, b: UserId) -> Option<Self> {
        match a.cmp(&b) {
            std::cmp::Ordering::Less => Some(Self { first: a, second: b }),
            std::cmp::Ordering::Greater => Some(Self { first: b, second: a }),
            std::cmp::Ordering::Equal => None,
        }
    }

    pub fn first(&self) -> UserId {
        self.first
    }

    pub fn second(&self) -> UserId {
        self.second
    }

    pub fn contains(&self, user: UserId) -> bool {
        self.first == user || self.second == user
    }

    /// The participant who is not `user` (`None` when `user` is not a participant).
    pub fn other(&self, user: UserId) -> Option<UserId> {
        if user == self.first {
            Some(self.second)
        } else if user == self.second {
            Some(self.first)
        } else {
            None
        }
    }
}

/// A user as the chat knows them (upserted from token claims).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserProfile {
    pub id: UserId,
    pub display_name: String,
}

/// A conversation row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub id: ConversationId,
    pub participants: Participants,
    pub last_seq: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A conversation as one participant sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSummary {
    pub conversation: Conversation,
    pub other_participant: UserProfile,
    pub last_message: Option<Message>,
    pub unread_count: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn user(n: u128) -> UserId {
        UserId::from_uuid(Uuid::from_u128(n))
    }

    #[test]
    fn order_of_arguments_does_not_matter() {
        assert_eq!(Participants::new(user(1), user(2)), Participants::new(user(2), user(1)));
        let p = Participants::new(user(2), user(1)).unwrap();
        assert!(p.first() < p.second());
    }

    #[test]
    fn nobody_talks_to_themselves() {
        assert!(Participants::new(user(1), user(1)).is_none());
    }

    #[test]
    fn other_names_the_counterpart() {
        let p = Participants::new(user(1), user(2)).unwrap();
        assert_eq!(p.other(user(1)), Some(user(2)));
        assert_eq!(p.other(user(2)), Some(user(1)));
        assert_eq!(p.other(user(3)), None);
    }
}
