//! The participants of conversations this process has stored messages in.
//!
//! A conversation's two participants never change, so once a message in it has been stored,
//! its other participant is known for good: the next send can look up that user's connections
//! while the message is being stored, instead of after. Only look-ups start early; nothing is
//! pushed before the store confirms the message and its recipient.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::{ConversationId, UserId};

/// Conversations remembered before the memory starts over (about 64 bytes each).
const CAPACITY: usize = 10_000;

/// Per-process memory of `conversation -> participants`, bounded by [`CAPACITY`] entries.
#[derive(Debug, Default)]
pub struct KnownParticipants {
    // A std Mutex: held for one map operation, never across an await.
    map: Mutex<HashMap<ConversationId, [UserId; 2]>>,
}

impl KnownParticipants {
    /// The participant of `conversation` other than `user`, if this process has seen it and
    /// `user` is one of its participants.
    pub fn other(&self, conversation: ConversationId, user: UserId) -> Option<UserId> {
        let map = self.map.lock().ok()?;
        match map.get(&conversation)? {
            [a, b] if *a == user => Some(*b),
            [a, b] if *b == user => Some(*a),
            _ => None,
        }
    }

    /// Remembers the participants of `conversation`, as the store reported them.
    pub fn remember(&self, conversation: ConversationId, a: UserId, b: UserId) {
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= CAPACITY && !map.contains_key(&conversation) {
                map.clear();
            }
            map.insert(conversation, [a, b]);
        }
    }

    /// Conversations remembered.
    pub fn len(&self) -> usize {
        self.map.lock().map_or(0, |m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn id<T>(make: fn(Uuid) -> T) -> T {
        make(Uuid::new_v4())
    }

    #[test]
    fn the_other_participant_is_known_only_to_a_participant() {
        let known = KnownParticipants::default();
        let (conversation, alice, bob, eve) =
            (id(ConversationId::from_uuid), id(UserId::from_uuid), id(UserId::from_uuid), id(UserId::from_uuid));
        assert_eq!(known.other(conversation, alice), None, "nothing remembered yet");
        known.remember(conversation, alice, bob);
        assert_eq!(known.other(conversation, alice), Some(bob));
        assert_eq!(known.other(conversation, bob), Some(alice));
        assert_eq!(known.other(conversation, eve), None, "eve is not in the conversation");
        assert_eq!(known.other(id(ConversationId::from_uuid), alice), None);
    }

    #[test]
    fn the_memory_is_bounded() {
        let known = KnownParticipants::default();
        for _ in 0..CAPACITY + 5 {
            known.remember(id(ConversationId::from_uuid), id(UserId::from_uuid), id(UserId::from_uuid));
        }
        assert!(known.len() <= CAPACITY, "{} entries", known.len());
        assert!(!known.is_empty());
    }
}
