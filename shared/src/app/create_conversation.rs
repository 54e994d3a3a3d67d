//! `POST /conversations`: get or create the caller's conversation with another user.

use crate::auth::Identity;
use crate::domain::{ConversationSummary, Participants, UserId, UserProfile};
use crate::ports::{ConversationStore, GetOrCreate, UserStore};

use super::AppError;

/// A conversation and whether this call created it (`201`) or found it (`200`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub conversation: ConversationSummary,
    pub created: bool,
}

/// Returns the conversation between the caller and `participant_id`, creating it if needed.
/// Two concurrent calls for the same pair return the same conversation.
///
/// # Errors
/// `Validation` for a malformed id or the caller's own id; `NotFound` for an unknown user;
/// `Unavailable` when PostgreSQL is down.
pub async fn create_conversation(
    users: &dyn UserStore,
    conversations: &dyn ConversationStore,
    caller: &Identity,
    participant_id: &str,
) -> Result<Created, AppError> {
    let other: UserId = participant_id
        .parse()
        .map_err(|e: crate::domain::IdError| AppError::Validation(e.to_string().replace("userId", "participantId")))?;
    let participants = Participants::new(caller.user_id, other)
        .ok_or_else(|| AppError::Validation("participantId must be another user, not yourself".into()))?;
    // The caller may never have connected over WebSocket; make sure they exist.
    users.upsert_user(&UserProfile { id: caller.user_id, display_name: caller.display_name.clone() }).await?;
    match conversations.get_or_create_conversation(participants, caller.user_id).await? {
        GetOrCreate::Created(conversation) => Ok(Created { conversation, created: true }),
        GetOrCreate::Found(conversation) => Ok(Created { conversation, created: false }),
        GetOrCreate::UnknownUser => Err(AppError::NotFound(format!("user {other} not found"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::fakes::FakeStore;

    fn identity(name: &str) -> Identity {
        Identity { user_id: UserId::from_subject(name), display_name: name.into() }
    }

    #[tokio::test]
    async fn the_second_call_finds_what_the_first_created() {
        let store = FakeStore::default();
        store.add_user("bob");
        let bob = UserId::from_subject("bob").to_string();
        let first = create_conversation(&store, &store, &identity("alice"), &bob).await.unwrap();
        let second = create_conversation(&store, &store, &identity("alice"), &bob).await.unwrap();
        assert!(first.created);
        assert!(!second.created);
        assert_eq!(first.conversation.conversation.id, second.conversation.conversation.id);
    }

    #[tokio::test]
    async fn a_conversation_with_yourself_is_a_validation_error() {
        let store = FakeStore::default();
        let me = UserId::from_subject("alice").to_string();
        let err = create_conversation(&store, &store, &identity("alice"), &me).await.unwrap_err();
        assert!(matches!(err, AppError::Validation(_)), "{err:?}");
    }

    #[tokio::test]
    async fn an_unknown_user_is_not_found() {
        let store = FakeStore::default();
        let nobody = UserId::from_subject("nobody").to_string();
        let err = create_conversation(&store, &store, &identity("alice"), &nobody).await.unwrap_err();
        assert!(matches!(err, AppError::NotFound(_)), "{err:?}");
    }

    #[tokio::test]
    async fn a_malformed_participant_id_is_a_validation_error() {
        let store = FakeStore::default();
        let err = create_conversation(&store, &store, &identity("alice"), "bob").await.unwrap_err();
        assert!(matches!(err, AppError::Validation(m) if m.contains("participantId")));
    }
}
