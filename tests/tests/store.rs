//! The PostgreSQL store against a real PostgreSQL: ordering, idempotency, races, outages.

use std::time::Duration;

use chat_shared::adapters::postgres::PgStore;
use chat_shared::domain::{
    ClientMessageId, ConversationId, MessageContent, MessageId, MessageStatus, Participants, UserId, UserProfile,
};
use chat_shared::ports::{
    AppendOutcome, ConversationStore, GetOrCreate, HistorySlice, MessageSearch, MessageStore, NewMessage, PortError,
    ReadReceipt, Scoped, SearchRequest, UserStore,
};
use chat_tests::TestWorld;
use futures_util::future::join_all;

async fn user(world: &TestWorld, name: &str) -> UserId {
    let id = UserId::from_subject(name);
    world.store.upsert_user(&UserProfile { id, display_name: name.into() }).await.expect("upsert user");
    id
}

async fn conversation(world: &TestWorld, a: UserId, b: UserId) -> ConversationId {
    match world.store.get_or_create_conversation(Participants::new(a, b).expect("two users"), a).await {
        Ok(GetOrCreate::Created(s) | GetOrCreate::Found(s)) => s.conversation.id,
        other => panic!("get-or-create failed: {other:?}"),
    }
}

fn new_message(conversation: ConversationId, sender: UserId, text: &str, client_id: Option<&str>) -> NewMessage {
    NewMessage {
        id: MessageId::new_v7(),
        conversation_id: conversation,
        sender_id: sender,
        content: MessageContent::parse(text).expect("valid content"),
        client_message_id: client_id.map(|c| ClientMessageId::parse(c).expect("valid client id")),
    }
}

/// Concurrent sends into one conversation get the seqs 1..=n, with no gap and no repeat.
#[tokio::test]
async fn concurrent_appends_get_gap_free_sequence_numbers() {
    let world = TestWorld::new().await;
    let (alice, bob) = (user(&world, "alice").await, user(&world, "bob").await);
    let c = conversation(&world, alice, bob).await;

    let outcomes = join_all((0..30).map(|i| {
        let sender = if i % 2 == 0 { alice } else { bob };
        world.store.append_message(new_message(c, sender, &format!("m{i}"), None))
    }))
    .await;
    let mut seqs: Vec<i64> = outcomes
        .into_iter()
        .map(|o| match o.expect("append") {
            AppendOutcome::Stored(m) => m.seq,
            other => panic!("expected Stored, got {other:?}"),
        })
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=30).collect::<Vec<_>>());

    let row = world
        .sql()
        .await
        .query_one("SELECT last_seq FROM conversations WHERE id = $1", &[&c.as_uuid()])
        .await
        .expect("query");
    assert_eq!(row.get::<_, i64>(0), 30);
}

/// Ten concurrent retries with one clientMessageId store one row and all return that message.
#[tokio::test]
async fn concurrent_retries_with_one_client_message_id_store_one_message() {
    let world = TestWorld::new().await;
    let (alice, bob) = (user(&world, "alice").await, user(&world, "bob").await);
    let c = conversation(&world, alice, bob).await;

    let outcomes =
        join_all((0..10).map(|_| world.store.append_message(new_message(c, alice, "once", Some("k-1"))))).await;
    let messages: Vec<_> = outcomes
        .into_iter()
        .map(|o| match o.expect("append") {
            AppendOutcome::Stored(m) | AppendOutcome::Duplicate(m) => m,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert!(messages.iter().all(|m| m.id == messages[0].id && m.seq == 1));

    let sql = world.sql().await;
    let count: i64 = sql.query_one("SELECT count(*) FROM messages", &[]).await.expect("count").get(0);
    assert_eq!(count, 1);
    let last_seq: i64 = sql.query_one("SELECT last_seq FROM conversations", &[]).await.expect("seq").get(0);
    assert_eq!(last_seq, 1, "a refused duplicate must not burn a seq");
}

/// Concurrent get-or-create calls for one pair, from both sides, return one conversation.
#[tokio::test]
async fn concurrent_get_or_create_returns_one_conversation() {
    let world = TestWorld::new().await;
    let (alice, bob) = (user(&world, "alice").await, user(&world, "bob").await);
    let pair = Participants::new(alice, bob).expect("pair");

    let results =
        join_all((0..12).map(|i| world.store.get_or_create_conversation(pair, if i % 2 == 0 { alice } else { bob })))
            .await;
    let mut created = 0;
    let ids: Vec<_> = results
        .into_iter()
        .map(|r| match r.expect("get-or-create") {
            GetOrCreate::Created(s) => {
                created += 1;
                s.conversation.id
            }
            GetOrCreate::Found(s) => s.conversation.id,
            GetOrCreate::UnknownUser => panic!("both users exist"),
        })
        .collect();
    assert_eq!(created, 1);
    assert!(ids.iter().all(|id| *id == ids[0]));
    let count: i64 =
        world.sql().await.query_one("SELECT count(*) FROM conversations", &[]).await.expect("count").get(0);
    assert_eq!(count, 1);
}

/// A conversation with a user the chat has never seen is refused, and nothing is created.
#[tokio::test]
async fn get_or_create_with_an_unknown_user_creates_nothing() {
    let world = TestWorld::new().await;
    let alice = user(&world, "alice").await;
    let ghost = UserId::from_subject("ghost");
    let outcome = world
        .store
        .get_or_create_conversation(Participants::new(alice, ghost).expect("pair"), alice)
        .await
        .expect("query");
    assert_eq!(outcome, GetOrCreate::UnknownUser);
    let count: i64 =
        world.sql().await.query_one("SELECT count(*) FROM conversations", &[]).await.expect("count").get(0);
    assert_eq!(count, 0);
}

/// Every `$connect` upserts its user. Reconnecting under the same name leaves the row as it was:
/// not even locked (a lock sets the row's `xmax`, takes a transaction id and makes the commit
/// wait for the WAL to reach the disk). A new name is written.
#[tokio::test]
async fn upserting_an_unchanged_user_writes_nothing_and_a_new_name_is_written() {
    let world = TestWorld::new().await;
    let carol = user(&world, "carol").await;
    let sql = world.sql().await;
    let row_of = async |sql: &tokio_postgres::Client| {
        let row = sql
            .query_one(
                "SELECT xmin::text, xmax::text, display_name, updated_at FROM users WHERE id = $1",
                &[&carol.as_uuid()],
            )
            .await
            .expect("the user's row");
        (
            row.get::<_, String>(0),
            row.get::<_, String>(1),
            row.get::<_, String>(2),
            row.get::<_, chrono::DateTime<chrono::Utc>>(3),
        )
    };
    let before = row_of(&sql).await;

    for _ in 0..3 {
        world.store.upsert_user(&UserProfile { id: carol, display_name: "carol".into() }).await.expect("upsert");
    }
    assert_eq!(row_of(&sql).await, before, "an unchanged profile must leave the row untouched");

    world.store.upsert_user(&UserProfile { id: carol, display_name: "Carol C.".into() }).await.expect("rename");
    let (xmin, _, name, updated_at) = row_of(&sql).await;
    assert_eq!(name, "Carol C.");
    assert_ne!(xmin, before.0, "a new name is a new row version");
    assert!(updated_at >= before.3);
}

/// The summary shows the other participant, the last message and the viewer's unread count.
#[tokio::test]
async fn a_found_conversation_carries_its_last_message_and_unread_count() {
    let world = TestWorld::new().await;
    let (alice, bob) = (user(&world, "alice").await, user(&world, "bob").await);
    let c = conversation(&world, alice, bob).await;
    for text in ["one", "two"] {
        world.store.append_message(new_message(c, alice, text, None)).await.expect("append");
    }
    let GetOrCreate::Found(summary) =
        world.store.get_or_create_conversation(Participants::new(alice, bob).expect("pair"), bob).await.expect("found")
    else {
        panic!("expected Found");
    };
    assert_eq!(summary.other_participant.display_name, "alice");
    assert_eq!(summary.unread_count, 2);
    assert_eq!(summary.conversation.last_seq, 2);
    let last = summary.last_message.expect("a last message");
    assert_eq!((last.seq, last.content.as_str(), last.recipient_id), (2, "two", bob));
}

/// Someone outside the conversation cannot append to it; an unknown conversation is not found.
#[tokio::test]
async fn strangers_and_unknown_conversations_are_refused_without_writing() {
    let world = TestWorld::new().await;
    let (alice, bob, carol) = (user(&world, "alice").await, user(&world, "bob").await, user(&world, "carol").await);
    let c = conversation(&world, alice, bob).await;

    let stranger = world.store.append_message(new_message(c, carol, "hi", Some("k"))).await.expect("query");
    assert_eq!(stranger, AppendOutcome::NotParticipant);
    let missing =
        world.store.append_message(new_message(ConversationId::new_v7(), alice, "hi", None)).await.expect("query");
    assert_eq!(missing, AppendOutcome::ConversationNotFound);

    let sql = world.sql().await;
    let count: i64 = sql.query_one("SELECT count(*) FROM messages", &[]).await.expect("count").get(0);
    assert_eq!(count, 0);
    let seq: i64 = sql.query_one("SELECT last_seq FROM conversations", &[]).await.expect("seq").get(0);
    assert_eq!(seq, 0);
}

/// Delivery moves sent -> delivered once; a second mark keeps the first timestamp.
#[tokio::test]
async fn marking_delivered_is_idempotent() {
    let world = TestWorld::new().await;
    let (alice, bob) = (user(&world, "alice").await, user(&world, "bob").await);
    let c = conversation(&world, alice, bob).await;
    let AppendOutcome::Stored(m) = world.store.append_message(new_message(c, alice, "hi", None)).await.expect("append")
    else {
        panic!("stored");
    };
    assert_eq!(m.status, MessageStatus::Sent);
    let first = world.store.mark_delivered(m.id, chrono::Utc::now()).await.expect("mark");
    let second =
        world.store.mark_delivered(m.id, chrono::Utc::now() + chrono::Duration::seconds(5)).await.expect("mark");
    assert_eq!(first.status, MessageStatus::Delivered);
    assert_eq!(first.delivered_at, second.delivered_at);
}

/// Every read names a message's recipient as the participant who did not send it, in both
/// directions of a conversation: the append, the retry's look-up, both delivered marks, history,
/// sync, the conversation list and search (each computes it in its own SQL).
#[tokio::test]
async fn every_read_names_the_participant_who_did_not_send_as_recipient() {
    let world = TestWorld::new().await;
    let (alice, bob) = (user(&world, "alice").await, user(&world, "bob").await);
    let c = conversation(&world, alice, bob).await;
    let other = |sender: UserId| if sender == alice { bob } else { alice };
    let recipients = |messages: &[chat_shared::domain::Message]| {
        messages.iter().map(|m| (m.seq, m.recipient_id)).collect::<Vec<_>>()
    };
    let expected = vec![(1, bob), (2, alice)];

    let mut sent = Vec::new();
    for (sender, text, key) in [(alice, "hello from alice", "a-1"), (bob, "hello from bob", "b-1")] {
        let AppendOutcome::Stored(m) =
            world.store.append_message(new_message(c, sender, text, Some(key))).await.expect("append")
        else {
            panic!("stored");
        };
        let AppendOutcome::Duplicate(again) =
            world.store.append_message(new_message(c, sender, text, Some(key))).await.expect("retry")
        else {
            panic!("a retry finds the first message");
        };
        assert_eq!((m.recipient_id, again.recipient_id), (other(sender), other(sender)));
        sent.push(m);
    }
    assert_eq!(recipients(&sent), expected);

    // The delivered mark that moves the message, and the one that finds it moved.
    for m in &sent {
        let first = world.store.mark_delivered(m.id, chrono::Utc::now()).await.expect("mark");
        let second = world.store.mark_delivered(m.id, chrono::Utc::now()).await.expect("mark again");
        assert_eq!((first.recipient_id, second.recipient_id), (m.recipient_id, m.recipient_id));
    }

    for viewer in [alice, bob] {
        let Scoped::Found(history) = world.store.history(c, viewer, HistorySlice::Latest, 10).await.expect("history")
        else {
            panic!("history of a participant");
        };
        assert_eq!(recipients(&history), expected);
        let Scoped::Found(batch) = world.store.sync(c, viewer, 0, 10, chrono::Utc::now()).await.expect("sync") else {
            panic!("sync of a participant");
        };
        assert_eq!(recipients(&batch.messages), expected);
        let listed = world.store.list_conversations(viewer, None, 10).await.expect("list");
        let last = listed[0].last_message.as_ref().expect("the last message");
        assert_eq!((last.seq, last.recipient_id), (2, alice));
        let request = SearchRequest { query: "hello".into(), conversation: None, window: 100, after: None, limit: 10 };
        let Scoped::Found(results) = world.store.search(viewer, &request).await.expect("search") else {
            panic!("search");
        };
        let mut hits: Vec<_> = results.hits.into_iter().map(|hit| hit.message).collect();
        hits.sort_by_key(|m| m.seq);
        assert_eq!(recipients(&hits), expected);
    }
}

/// Appends `n` messages from `sender` into `c` (seqs 1..=n).
async fn append_n(world: &TestWorld, c: ConversationId, sender: UserId, n: usize) {
    for i in 0..n {
        let outcome = world.store.append_message(new_message(c, sender, &format!("m{i}"), None)).await;
        assert!(matches!(outcome, Ok(AppendOutcome::Stored(_))), "append: {outcome:?}");
    }
}

/// The seqs of `c`'s messages that are read, in order.
async fn read_seqs(world: &TestWorld, c: ConversationId) -> Vec<i64> {
    let rows = world
        .sql()
        .await
        .query(
            "SELECT seq FROM messages WHERE conversation_id = $1 AND status = 'read' AND read_at IS NOT NULL ORDER BY seq",
            &[&c.as_uuid()],
        )
        .await
        .expect("read messages");
    rows.iter().map(|r| r.get(0)).collect()
}

/// A receipt moves the reader's position forward and marks the other's messages read; one that
/// moves nothing (lower or equal) answers the current position and leaves the member row
/// untouched: no lock, no new row version (it used to lock the row to find that out).
#[tokio::test]
async fn a_read_receipt_moves_only_forward_and_one_that_moves_nothing_writes_nothing() {
    let world = TestWorld::new().await;
    let (alice, bob, carol) = (user(&world, "alice").await, user(&world, "bob").await, user(&world, "carol").await);
    let c = conversation(&world, alice, bob).await;
    append_n(&world, c, alice, 3).await;
    let sql = world.sql().await;
    let member_row = async |sql: &tokio_postgres::Client| {
        let row = sql
            .query_one(
                "SELECT xmin::text, xmax::text, last_read_seq FROM conversation_members \
                  WHERE conversation_id = $1 AND user_id = $2",
                &[&c.as_uuid(), &bob.as_uuid()],
            )
            .await
            .expect("bob's member row");
        (row.get::<_, String>(0), row.get::<_, String>(1), row.get::<_, i64>(2))
    };

    let at = chrono::Utc::now();
    let moved = world.store.mark_read(c, bob, Some(2), at).await.expect("mark read");
    assert_eq!(moved, Scoped::Found(ReadReceipt { other: alice, last_read_seq: 2, read_at: Some(at) }));
    assert_eq!(read_seqs(&world, c).await, [1, 2]);

    let before = member_row(&sql).await;
    for up_to in [Some(1), Some(2)] {
        let unchanged = world.store.mark_read(c, bob, up_to, chrono::Utc::now()).await.expect("mark read");
        assert_eq!(unchanged, Scoped::Found(ReadReceipt { other: alice, last_read_seq: 2, read_at: None }));
    }
    assert_eq!(member_row(&sql).await, before, "a receipt that moves nothing must not touch the row");
    assert_eq!(read_seqs(&world, c).await, [1, 2]);

    // Past the end is the end; no position reads everything.
    let at = chrono::Utc::now();
    let to_end = world.store.mark_read(c, bob, Some(99), at).await.expect("mark read");
    assert_eq!(to_end, Scoped::Found(ReadReceipt { other: alice, last_read_seq: 3, read_at: Some(at) }));
    assert_eq!(read_seqs(&world, c).await, [1, 2, 3]);
    // Alice's own position does not mark her own messages read by anyone.
    let own = world.store.mark_read(c, alice, None, chrono::Utc::now()).await.expect("mark read");
    assert!(matches!(own, Scoped::Found(ReadReceipt { other, last_read_seq: 3, .. }) if other == bob));

    let stranger = world.store.mark_read(c, carol, None, chrono::Utc::now()).await.expect("query");
    assert_eq!(stranger, Scoped::NotParticipant);
    let missing = world.store.mark_read(ConversationId::new_v7(), bob, None, chrono::Utc::now()).await.expect("query");
    assert_eq!(missing, Scoped::ConversationNotFound);
}

/// Concurrent receipts up to 1..=10 end at 10 with every message read; each answers a position at
/// least its own, and a receipt overtaken by a higher one moves nothing.
#[tokio::test]
async fn concurrent_read_receipts_end_at_the_highest() {
    let world = TestWorld::new().await;
    let (alice, bob) = (user(&world, "alice").await, user(&world, "bob").await);
    let c = conversation(&world, alice, bob).await;
    append_n(&world, c, alice, 10).await;

    let receipts = join_all((1..=10).map(|up_to| {
        let store = &world.store;
        async move { (up_to, store.mark_read(c, bob, Some(up_to), chrono::Utc::now()).await.expect("mark read")) }
    }))
    .await;
    for (up_to, receipt) in &receipts {
        let Scoped::Found(receipt) = receipt else { panic!("found: {receipt:?}") };
        assert!(receipt.last_read_seq >= *up_to, "receipt up to {up_to} answered {}", receipt.last_read_seq);
    }
    let last_read: i64 = world
        .sql()
        .await
        .query_one(
            "SELECT last_read_seq FROM conversation_members WHERE conversation_id = $1 AND user_id = $2",
            &[&c.as_uuid(), &bob.as_uuid()],
        )
        .await
        .expect("member row")
        .get(0);
    assert_eq!(last_read, 10);
    assert_eq!(read_seqs(&world, c).await, (1..=10).collect::<Vec<_>>());
}

/// A receipt overtaken while it waits for the member row's lock moves nothing and answers the
/// position the other receipt left: it read 0, the other committed 5 meanwhile, so its 3 must
/// neither move the position back nor mark anything read.
#[tokio::test]
async fn a_read_receipt_overtaken_under_the_lock_answers_the_newer_position() {
    let world = TestWorld::new().await;
    let (alice, bob) = (user(&world, "alice").await, user(&world, "bob").await);
    let c = conversation(&world, alice, bob).await;
    append_n(&world, c, alice, 5).await;
    let mut sql = world.sql().await;
    let other = sql.transaction().await.expect("begin");
    other
        .execute(
            "UPDATE conversation_members SET last_read_seq = 5 WHERE conversation_id = $1 AND user_id = $2",
            &[&c.as_uuid(), &bob.as_uuid()],
        )
        .await
        .expect("the other receipt's update");

    let (receipt, ()) = tokio::join!(world.store.mark_read(c, bob, Some(3), chrono::Utc::now()), async {
        // Long enough for the receipt to read 0 and wait for the row.
        tokio::time::sleep(Duration::from_millis(300)).await;
        other.commit().await.expect("commit");
    });
    assert_eq!(
        receipt.expect("mark read"),
        Scoped::Found(ReadReceipt { other: alice, last_read_seq: 5, read_at: None })
    );
    assert_eq!(read_seqs(&world, c).await, Vec::<i64>::new(), "an overtaken receipt marks nothing read");
}

/// With PostgreSQL unreachable, calls fail fast as Unavailable (retryable), never hang.
#[tokio::test]
async fn an_unreachable_database_is_unavailable_quickly() {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let store =
        PgStore::new(&format!("postgres://postgres@127.0.0.1:{closed_port}/chat"), 2, Duration::from_millis(500))
            .expect("pool");
    let started = std::time::Instant::now();
    let err = store
        .upsert_user(&UserProfile { id: UserId::from_subject("a"), display_name: "a".into() })
        .await
        .expect_err("must fail");
    assert!(matches!(err, PortError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
}

/// Ranking is bounded: a search sees the newest `SEARCH_WINDOW` matches, and paging walks
/// exactly those, each once.
#[tokio::test]
async fn search_ranks_only_the_newest_window_of_matches() {
    let world = TestWorld::new().await;
    let (alice, bob) = (user(&world, "alice").await, user(&world, "bob").await);
    let c = conversation(&world, alice, bob).await;
    let total = chat_shared::app::SEARCH_WINDOW + 100;
    for n in 1..=total {
        let text = if n % 10 == 0 { format!("window window {n}") } else { format!("window {n}") };
        world.store.append_message(new_message(c, alice, &text, None)).await.expect("append");
    }
    let (mut seqs, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let page = chat_shared::app::search(&world.store, bob, Some("window"), None, Some("50"), cursor.as_deref())
            .await
            .expect("search");
        seqs.extend(page.items.iter().map(|hit| hit.message.seq));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (total - chat_shared::app::SEARCH_WINDOW + 1..=total).collect::<Vec<_>>());
}
