//! `message:send`: store, push, mark delivered, ack.

use crate::config::OnLimiterFailure;
use crate::domain::{
    ClientMessageId, ConnectionId, ConversationId, Message, MessageContent, MessageId, MessageStatus, UserId,
};
use crate::ports::{AppendOutcome, Clock, Limit, MessageStore, NewMessage, RateLimiter, TypingTracker};
use crate::protocol::{MessageDto, PushEvent, SendMessageFrame};

use super::fanout::split_lookup;
use super::{AppError, Fanout, KnownParticipants, rate_limit};

/// What sending needs.
#[derive(Debug, Clone, Copy)]
pub struct SendMessageDeps<'a> {
    pub messages: &'a dyn MessageStore,
    pub fanout: Fanout<'a>,
    pub clock: &'a dyn Clock,
    pub limiter: &'a dyn RateLimiter,
    pub on_limiter_failure: OnLimiterFailure,
    pub typing: &'a dyn TypingTracker,
    /// Participants of conversations this process has stored messages in.
    pub participants: &'a KnownParticipants,
}

/// A validated `message:send`.
#[derive(Debug, Clone)]
pub struct SendMessage {
    pub conversation_id: ConversationId,
    pub content: MessageContent,
    pub client_message_id: Option<ClientMessageId>,
}

impl TryFrom<SendMessageFrame> for SendMessage {
    type Error = AppError;

    fn try_from(frame: SendMessageFrame) -> Result<Self, AppError> {
        let invalid = |e: &dyn std::fmt::Display| AppError::Validation(e.to_string());
        Ok(Self {
            conversation_id: frame.conversation_id.parse().map_err(|e| invalid(&e))?,
            content: MessageContent::parse(&frame.content).map_err(|e| invalid(&e))?,
            client_message_id: frame.client_message_id.as_deref().map(ClientMessageId::parse).transpose().map_err(
                |_| {
                    AppError::Validation(format!(
                        "clientMessageId must be 1 to {} visible ASCII characters",
                        ClientMessageId::MAX_LEN
                    ))
                },
            )?,
        })
    }
}

/// Sends a message: one transaction stores it (acknowledged only after commit), then it is pushed
/// as `message:received` to every connection of the recipient and to the sender's other
/// connections; if at least one recipient connection took it, it is marked delivered.
///
/// A retry with the same `clientMessageId` returns the first message and stores nothing; if that
/// message is still only `sent`, the push is tried again (clients de-duplicate by `id`).
///
/// The sender's typing state is cleared with the send (the message itself tells the recipient).
///
/// # Errors
/// `RateLimited` over the per-user message limit (nothing stored), `Forbidden` if the sender
/// is not a participant, `NotFound` for an unknown conversation, `Unavailable` if PostgreSQL is
/// down (nothing stored, nothing pushed).
pub async fn send_message(
    deps: SendMessageDeps<'_>,
    sender: UserId,
    sender_connection: Option<&ConnectionId>,
    command: SendMessage,
) -> Result<Message, AppError> {
    let SendMessageDeps { messages, fanout, clock, .. } = deps;
    let started = std::time::Instant::now();
    // One look-up reads nothing the send changes, so it runs from the start, while the rate
    // limit is checked and the message stored: the sender's other devices and, when this
    // process knows the conversation, the recipient's. It is wasted only when the send is
    // refused; nothing is pushed before the append succeeds.
    let early_recipient = deps.participants.other(command.conversation_id, sender);
    let users: Vec<UserId> = std::iter::once(sender).chain(early_recipient).collect();
    let lookup = timed(fanout.registry.connections_of_each(&users), started);
    let store = async {
        rate_limit::enforce(deps.limiter, deps.on_limiter_failure, Limit::Messages, sender).await?;
        let limited = started.elapsed();
        let new = NewMessage {
            id: MessageId::new_v7(),
            conversation_id: command.conversation_id,
            sender_id: sender,
            content: command.content,
            client_message_id: command.client_message_id,
        };
        let (appended, appended_at) = timed(messages.append_message(new), started).await;
        Ok::<_, AppError>((appended?, limited, appended_at))
    };
    // A refusal (rate limit, storage) returns at once and drops the look-up in flight.
    let ((appended, limited, appended_at), (looked_up, looked_up_at)) =
        tokio::try_join!(store, async { Ok(lookup.await) })?;
    let message = match appended {
        AppendOutcome::Stored(m) => m,
        AppendOutcome::Duplicate(m) if m.status != MessageStatus::Sent => return Ok(m),
        AppendOutcome::Duplicate(m) => m,
        AppendOutcome::ConversationNotFound => {
            return Err(AppError::NotFound(format!("conversation {} not found", command.conversation_id)));
        }
        AppendOutcome::NotParticipant => {
            return Err(AppError::Forbidden("you are not a participant of this conversation".into()));
        }
    };
    let stored = started.elapsed();
    deps.participants.remember(message.conversation_id, message.sender_id, message.recipient_id);
    let mut lookups = split_lookup(looked_up, users.len()).into_iter();
    let sender_connections = lookups.next();
    let recipient_connections = lookups.next().filter(|_| early_recipient == Some(message.recipient_id));

    let payload = super::event_payload(PushEvent::MESSAGE_RECEIVED, &MessageDto::from(&message));
    // Two pipelines: the recipient's push, then the delivered mark; and the sender's other
    // devices. The answer waits for both.
    let deliver = async {
        let (delivered, typing) = tokio::join!(
            fanout.push_looked_up(message.recipient_id, recipient_connections, sender_connection, &payload),
            deps.typing.stopped(message.conversation_id, sender)
        );
        if let Err(error) = typing {
            tracing::debug!(%error, "could not clear the sender's typing state; it expires by itself");
        }
        let pushed = started.elapsed();
        if delivered == 0 {
            return (None, pushed);
        }
        match messages.mark_delivered(message.id, clock.now()).await {
            Ok(updated) => (Some(updated), pushed),
            Err(error) => {
                // Stored and pushed; only the status lags. Sync will deliver it again.
                tracing::warn!(message = %message.id, %error, "could not mark a pushed message delivered");
                (None, pushed)
            }
        }
    };
    // The sender's other devices, alongside.
    let to_other_devices = fanout.push_looked_up(sender, sender_connections, sender_connection, &payload);
    let ((delivered, pushed), _) = tokio::join!(deliver, to_other_devices);
    // Where a send's time goes (RUST_LOG=chat_shared::app::send_message=debug): a profile of
    // the send path that costs nothing when the level is off. `lookup_us` (the connections'
    // look-up) counts from the start, the others from the end of the stage before; `push_us` is the
    // recipient's push.
    tracing::debug!(
        limit_us = limited.as_micros() as u64,
        store_us = (stored - limited).as_micros() as u64,
        append_us = (appended_at - limited).as_micros() as u64,
        lookup_us = looked_up_at.as_micros() as u64,
        push_us = (pushed - stored).as_micros() as u64,
        mark_us = (started.elapsed().saturating_sub(pushed)).as_micros() as u64,
        "message:send timings"
    );
    Ok(delivered.unwrap_or(message))
}

/// `future`'s output, and when it finished counted from `since` (for the send timings).
async fn timed<F: Future>(future: F, since: std::time::Instant) -> (F::Output, std::time::Duration) {
    let output = future.await;
    (output, since.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::fakes::{FakeLimiter, FakeNotifier, FakeRegistry, FakeStore, FakeTyping, FixedClock};
    use crate::ports::{Connection, ConnectionRegistry};

    struct World {
        store: FakeStore,
        registry: FakeRegistry,
        notifier: FakeNotifier,
        clock: FixedClock,
        limiter: FakeLimiter,
        typing: FakeTyping,
        participants: KnownParticipants,
        alice: UserId,
        bob: UserId,
        conversation: ConversationId,
    }

    impl World {
        fn new() -> Self {
            let store = FakeStore::default();
            let (alice, bob) = (store.add_user("alice"), store.add_user("bob"));
            let conversation = store.add_conversation(alice, bob);
            Self {
                store,
                registry: FakeRegistry::default(),
                notifier: FakeNotifier::default(),
                clock: FixedClock::default(),
                limiter: FakeLimiter::allowing(),
                typing: FakeTyping::default(),
                participants: KnownParticipants::default(),
                alice,
                bob,
                conversation,
            }
        }

        async fn connect(&self, user: UserId, id: &str) {
            let now = chrono::Utc::now();
            self.registry
                .register(&Connection {
                    connection_id: ConnectionId::new(id),
                    user_id: user,
                    connected_at: now,
                    expires_at: now,
                })
                .await
                .unwrap();
        }

        async fn send(
            &self,
            from: UserId,
            conn: &str,
            conversation: ConversationId,
            text: &str,
            client_id: Option<&str>,
        ) -> Result<Message, AppError> {
            let command = SendMessage {
                conversation_id: conversation,
                content: MessageContent::parse(text).unwrap(),
                client_message_id: client_id.map(|c| ClientMessageId::parse(c).unwrap()),
            };
            let deps = SendMessageDeps {
                messages: &self.store,
                fanout: Fanout { registry: &self.registry, notifier: &self.notifier },
                clock: &self.clock,
                limiter: &self.limiter,
                on_limiter_failure: OnLimiterFailure::Allow,
                typing: &self.typing,
                participants: &self.participants,
            };
            send_message(deps, from, Some(&ConnectionId::new(conn)), command).await
        }
    }

    #[tokio::test]
    async fn an_online_recipient_gets_the_message_and_it_is_delivered() {
        let w = World::new();
        w.connect(w.alice, "a1").await;
        w.connect(w.alice, "a2").await;
        w.connect(w.bob, "b1").await;
        let m = w.send(w.alice, "a1", w.conversation, "hi", None).await.unwrap();
        assert_eq!(m.status, MessageStatus::Delivered);
        assert_eq!(m.seq, 1);
        let mut pushed = w.notifier.pushed_to();
        pushed.sort();
        assert_eq!(pushed, vec!["a2".to_owned(), "b1".to_owned()], "sender's own connection is skipped");
    }

    #[tokio::test]
    async fn a_send_in_a_known_conversation_looks_up_both_users_in_one_round_trip() {
        let w = World::new();
        w.connect(w.alice, "a2").await;
        w.connect(w.bob, "b1").await;
        w.send(w.alice, "a1", w.conversation, "first", None).await.unwrap();
        let before = w.registry.lookups();
        let second = w.send(w.alice, "a1", w.conversation, "second", None).await.unwrap();
        assert_eq!(second.status, MessageStatus::Delivered);
        assert_eq!(w.registry.lookups() - before, 1, "the sender's devices and the recipient's, together");
        let mut pushed = w.notifier.pushed_to()[2..].to_vec();
        pushed.sort();
        assert_eq!(pushed, ["a2".to_owned(), "b1".to_owned()]);
    }

    #[tokio::test]
    async fn the_look_up_runs_while_the_message_is_stored() {
        let w = World::new();
        w.connect(w.bob, "b1").await;
        w.registry.hold(w.alice);
        let send = w.send(w.alice, "a1", w.conversation, "hi", None);
        let watch = async {
            // The message is stored while the look-up is still held; then let it through.
            while w.store.message_count() == 0 {
                tokio::task::yield_now().await;
            }
            assert!(w.notifier.pushed_to().is_empty(), "nothing is pushed before the look-up is in");
            w.registry.release(w.alice);
        };
        let (sent, ()) = tokio::time::timeout(std::time::Duration::from_secs(5), async { tokio::join!(send, watch) })
            .await
            .expect("the store waited for the look-up");
        assert_eq!(sent.unwrap().status, MessageStatus::Delivered);
        assert_eq!(w.notifier.pushed_to(), ["b1".to_owned()]);
    }

    #[tokio::test]
    async fn an_offline_recipient_leaves_the_message_sent() {
        let w = World::new();
        w.connect(w.alice, "a1").await;
        let m = w.send(w.alice, "a1", w.conversation, "hi", None).await.unwrap();
        assert_eq!(m.status, MessageStatus::Sent);
        assert_eq!(w.store.message_count(), 1);
    }

    #[tokio::test]
    async fn a_gone_connection_is_removed() {
        let w = World::new();
        w.connect(w.bob, "b-stale").await;
        w.notifier.mark_gone("b-stale");
        let m = w.send(w.alice, "a1", w.conversation, "hi", None).await.unwrap();
        assert_eq!(m.status, MessageStatus::Sent);
        assert!(w.registry.connections_of_sync(w.bob).is_empty());
    }

    #[tokio::test]
    async fn the_same_client_message_id_stores_one_message() {
        let w = World::new();
        let first = w.send(w.alice, "a1", w.conversation, "hi", Some("k1")).await.unwrap();
        let second = w.send(w.alice, "a1", w.conversation, "hi again", Some("k1")).await.unwrap();
        assert_eq!(first, second);
        assert_eq!(w.store.message_count(), 1);
    }

    #[tokio::test]
    async fn seqs_are_gap_free() {
        let w = World::new();
        for n in 1..=5 {
            let m = w.send(w.alice, "a1", w.conversation, "x", None).await.unwrap();
            assert_eq!(m.seq, n);
        }
    }

    #[tokio::test]
    async fn a_stranger_is_forbidden_and_nothing_is_pushed() {
        let w = World::new();
        let carol = w.store.add_user("carol");
        w.connect(w.bob, "b1").await;
        let err = w.send(carol, "c1", w.conversation, "hi", None).await.unwrap_err();
        assert!(matches!(err, AppError::Forbidden(_)));
        assert_eq!(w.store.message_count(), 0);
        assert!(w.notifier.pushed_to().is_empty());
    }

    #[tokio::test]
    async fn a_conversation_the_process_knows_still_pushes_only_after_storing() {
        let w = World::new();
        w.connect(w.bob, "b1").await;
        w.send(w.alice, "a1", w.conversation, "first", None).await.unwrap();
        assert_eq!(w.participants.other(w.conversation, w.alice), Some(w.bob), "remembered from the store");

        let second = w.send(w.alice, "a1", w.conversation, "second", None).await.unwrap();
        assert_eq!(second.status, MessageStatus::Delivered, "bob's connection was looked up early");
        assert_eq!(w.notifier.pushed_to(), vec!["b1".to_owned(), "b1".to_owned()]);

        w.store.set_down(true);
        let err = w.send(w.alice, "a1", w.conversation, "third", None).await.unwrap_err();
        assert!(matches!(err, AppError::Unavailable(_)));
        assert_eq!(w.notifier.pushed_to().len(), 2, "an early look-up never pushes an unstored message");
    }

    #[tokio::test]
    async fn a_stranger_in_a_known_conversation_is_forbidden_and_nothing_is_pushed() {
        let w = World::new();
        w.connect(w.bob, "b1").await;
        w.send(w.alice, "a1", w.conversation, "hi", None).await.unwrap();
        let carol = w.store.add_user("carol");
        let err = w.send(carol, "c1", w.conversation, "let me in", None).await.unwrap_err();
        assert!(matches!(err, AppError::Forbidden(_)));
        assert_eq!(w.store.message_count(), 1);
        assert_eq!(w.notifier.pushed_to(), vec!["b1".to_owned()]);
    }

    #[tokio::test]
    async fn an_unknown_conversation_is_not_found() {
        let w = World::new();
        let err = w.send(w.alice, "a1", ConversationId::new_v7(), "hi", None).await.unwrap_err();
        assert!(matches!(err, AppError::NotFound(_)));
    }

    #[tokio::test]
    async fn a_store_outage_is_unavailable_and_nothing_is_pushed() {
        let w = World::new();
        w.connect(w.bob, "b1").await;
        w.store.set_down(true);
        let err = w.send(w.alice, "a1", w.conversation, "hi", None).await.unwrap_err();
        assert!(matches!(err, AppError::Unavailable(_)));
        assert!(w.notifier.pushed_to().is_empty());
    }

    #[tokio::test]
    async fn over_the_limit_nothing_is_stored_or_pushed_and_the_wait_is_reported() {
        let mut w = World::new();
        w.connect(w.bob, "b1").await;
        w.send(w.alice, "a1", w.conversation, "first", None).await.unwrap();
        w.limiter = FakeLimiter::limited(std::time::Duration::from_millis(5500));
        // The conversation is known, so both look-ups start with the limit check.
        let err = w.send(w.alice, "a1", w.conversation, "hi", None).await.unwrap_err();
        assert!(matches!(err, AppError::RateLimited { retry_after_secs: 6 }), "{err:?}");
        assert_eq!(w.store.message_count(), 1);
        assert_eq!(w.notifier.pushed_to(), vec!["b1".to_owned()], "only the first message was pushed");
    }

    #[tokio::test]
    async fn sending_clears_the_senders_typing_state() {
        let w = World::new();
        w.typing.set(w.conversation, w.alice);
        w.send(w.alice, "a1", w.conversation, "hi", None).await.unwrap();
        assert!(!w.typing.is_typing(w.conversation, w.alice));
    }

    #[test]
    fn frames_are_validated_into_commands() {
        let frame = |cid: &str, content: &str, client: Option<&str>| SendMessageFrame {
            conversation_id: cid.into(),
            content: content.into(),
            client_message_id: client.map(Into::into),
        };
        let id = ConversationId::new_v7().to_string();
        assert!(SendMessage::try_from(frame(&id, "hi", Some("k"))).is_ok());
        assert!(SendMessage::try_from(frame("nope", "hi", None)).is_err());
        assert!(SendMessage::try_from(frame(&id, "  ", None)).is_err());
        assert!(SendMessage::try_from(frame(&id, &"x".repeat(5001), None)).is_err());
        assert!(SendMessage::try_from(frame(&id, "hi", Some(""))).is_err());
    }
}
