//! End to end: generate small datasets into fresh PostgreSQL databases and check them in SQL.
//!
//! Needs a PostgreSQL whose user may create databases: `DATABASE_URL` (its database name is
//! replaced) or `postgres://postgres:postgres@127.0.0.1:5432/postgres`.

use chat_bench::plan::Params;
use chat_bench::summary::Summary;
use chat_bench::{Target, generate};
use chat_tests::with_database;
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

const SMALL: Params = Params { users: 200, conversations: 1000, messages: 10_000, seed: 42, end_ms: 1_793_491_200_000 };

/// A database of its own, dropped afterwards.
struct Database {
    name: String,
    url: String,
    admin_url: String,
}

fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
}

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("connect to PostgreSQL (is it running? see local/services.sh)");
    tokio::spawn(connection);
    client
}

impl Database {
    async fn create() -> Database {
        let admin_url = admin_url();
        let name = format!("chat_test_{}", Uuid::new_v4().simple());
        connect(&admin_url).await.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create database");
        Database { url: with_database(&admin_url, &name), name, admin_url }
    }

    fn target(&self, reset: bool) -> Target {
        Target::Database { url: self.url.clone(), reset }
    }

    async fn sql(&self) -> Client {
        connect(&self.url).await
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime; clean up on a thread with its own runtime.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async move {
                if let Ok((client, connection)) = tokio_postgres::connect(&admin, NoTls).await {
                    tokio::spawn(connection);
                    let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

async fn scalar(client: &Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

/// md5 of every table's rows in a fixed order, all columns (NULLs made visible).
async fn fingerprint(client: &Client) -> Vec<String> {
    let tables = [
        ("users", "concat_ws('|', id, display_name, created_at, updated_at)", "id"),
        (
            "conversations",
            "concat_ws('|', id, participant1_id, participant2_id, last_seq, created_at, updated_at)",
            "id",
        ),
        (
            "conversation_members",
            "concat_ws('|', conversation_id, user_id, last_read_seq, last_delivered_seq)",
            "conversation_id, user_id",
        ),
        (
            "messages",
            "concat_ws('|', id, conversation_id, seq, sender_id, content, status, created_at, \
             coalesce(delivered_at::text, '-'), coalesce(read_at::text, '-'), coalesce(client_message_id, '-'))",
            "id",
        ),
    ];
    let mut hashes = Vec::new();
    for (table, row, order) in tables {
        let sql = format!("SELECT md5(string_agg({row}, E'\\n' ORDER BY {order})) FROM {table}");
        hashes.push(client.query_one(&sql, &[]).await.expect("fingerprint").get(0));
    }
    hashes
}

#[tokio::test]
async fn a_small_dataset_is_consistent() {
    let db = Database::create().await;
    let summary: Summary = generate(&SMALL, &db.target(false)).await.expect("generate");
    let sql = db.sql().await;

    // Exact counts, in the summary and in the tables.
    assert_eq!((summary.users, summary.conversations, summary.messages), (200, 1000, 10_000));
    for (table, n) in [("users", 200), ("conversations", 1000), ("conversation_members", 2000), ("messages", 10_000)] {
        assert_eq!(scalar(&sql, &format!("SELECT count(*) FROM {table}")).await, n, "{table}");
    }

    // Gap-free seqs: 1..n per conversation, n = last_seq (0 for conversations without messages).
    let bad = "SELECT count(*) FROM conversations c \
               LEFT JOIN (SELECT conversation_id, count(*) n, min(seq) lo, max(seq) hi FROM messages GROUP BY 1) m \
                 ON m.conversation_id = c.id \
               WHERE c.last_seq <> coalesce(m.n, 0) OR coalesce(m.hi, 0) <> coalesce(m.n, 0) OR coalesce(m.lo, 1) <> 1";
    assert_eq!(scalar(&sql, bad).await, 0, "seqs are gap-free and match last_seq");
    assert!(scalar(&sql, "SELECT count(*) FROM conversations WHERE last_seq = 0").await < 100);

    // Times and UUIDv7 ids increase with seq; the conversation's times frame its messages.
    let bad = "SELECT count(*) FROM (SELECT id, created_at, lag(id) OVER w AS prev_id, lag(created_at) OVER w AS prev_at \
                 FROM messages WINDOW w AS (PARTITION BY conversation_id ORDER BY seq)) x \
               WHERE id <= prev_id OR created_at <= prev_at";
    assert_eq!(scalar(&sql, bad).await, 0, "ids and times increase with seq");
    let bad = "SELECT count(*) FROM conversations c JOIN (SELECT conversation_id, min(created_at) first, \
                 max(created_at) last FROM messages GROUP BY 1) m ON m.conversation_id = c.id \
               WHERE c.created_at >= m.first OR c.updated_at <> m.last";
    assert_eq!(scalar(&sql, bad).await, 0, "created before the first message, updated at the last");
    assert_eq!(
        scalar(&sql, "SELECT count(*) FROM conversations WHERE last_seq = 0 AND updated_at <> created_at").await,
        0
    );
    let versions = "SELECT count(*) FROM messages WHERE substr(id::text, 15, 1) <> '7'";
    assert_eq!(scalar(&sql, versions).await, 0, "message ids are UUIDv7");

    // Canonical pairs (uuid order, as Rust's Uuid orders them) and both members present.
    let rows = sql.query("SELECT participant1_id, participant2_id FROM conversations", &[]).await.unwrap();
    assert!(rows.iter().all(|r| r.get::<_, Uuid>(0) < r.get::<_, Uuid>(1)));
    let bad = "SELECT count(*) FROM conversations c WHERE ARRAY[c.participant1_id, c.participant2_id] <> \
                 (SELECT array_agg(user_id ORDER BY user_id) FROM conversation_members WHERE conversation_id = c.id)";
    assert_eq!(scalar(&sql, bad).await, 0, "members are the participants");
    let bad = "SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id \
               WHERE m.sender_id NOT IN (c.participant1_id, c.participant2_id)";
    assert_eq!(scalar(&sql, bad).await, 0, "senders are participants");

    // Positions: read <= delivered <= last_seq; each message's status follows its recipient's.
    let bad = "SELECT count(*) FROM conversation_members cm JOIN conversations c ON c.id = cm.conversation_id \
               WHERE cm.last_read_seq > cm.last_delivered_seq OR cm.last_delivered_seq > c.last_seq";
    assert_eq!(scalar(&sql, bad).await, 0);
    let bad = "SELECT count(*) FROM messages m \
               JOIN conversation_members r ON r.conversation_id = m.conversation_id AND r.user_id <> m.sender_id \
               WHERE m.status <> CASE WHEN m.seq <= r.last_read_seq THEN 'read' \
                                      WHEN m.seq <= r.last_delivered_seq THEN 'delivered' ELSE 'sent' END \
                  OR (m.delivered_at IS NOT NULL AND m.delivered_at < m.created_at) \
                  OR (m.read_at IS NOT NULL AND m.read_at < m.delivered_at)";
    assert_eq!(scalar(&sql, bad).await, 0, "statuses follow the recipients' positions");
    for status in ["sent", "delivered", "read"] {
        let n = scalar(&sql, &format!("SELECT count(*) FROM messages WHERE status = '{status}'")).await;
        assert!(n > 0, "some messages are {status}");
    }

    // Unread counts as the application computes them match the statuses and the summary.
    let bad = "SELECT count(*) FROM conversation_members cm \
               WHERE (SELECT count(*) FROM messages x WHERE x.conversation_id = cm.conversation_id \
                        AND x.sender_id <> cm.user_id AND x.seq > cm.last_read_seq) \
                  <> (SELECT count(*) FROM messages x WHERE x.conversation_id = cm.conversation_id \
                        AND x.sender_id <> cm.user_id AND x.status <> 'read')";
    assert_eq!(scalar(&sql, bad).await, 0, "unread counts match statuses");
    let unread = "SELECT count(*) FROM messages m \
                  JOIN conversation_members r ON r.conversation_id = m.conversation_id AND r.user_id <> m.sender_id \
                  WHERE m.seq > r.last_read_seq";
    let unread = scalar(&sql, unread).await;
    assert!(unread > 0);
    assert_eq!(u64::try_from(unread).unwrap(), summary.unread_messages);
    let with_unread = "SELECT count(*) FROM conversation_members cm JOIN conversations c ON c.id = cm.conversation_id \
                       WHERE cm.last_read_seq < c.last_seq";
    assert_eq!(u64::try_from(scalar(&sql, with_unread).await).unwrap(), summary.unread_members);

    // Skewed degrees: the top user is in a quarter of all users' conversations or more.
    let degrees = "SELECT max(n) FROM (SELECT user_id, count(*) n FROM conversation_members GROUP BY 1) d";
    let top = scalar(&sql, degrees).await;
    assert!(top >= 50, "top degree {top}");
    assert_eq!(i64::from(summary.power_users[0].conversations), top);
    let top_conversation = &summary.largest_conversations[0];
    let n = sql
        .query_one("SELECT last_seq FROM conversations WHERE id = $1", &[&top_conversation.id])
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(n, i64::from(top_conversation.messages));

    // The summary's document frequencies are PostgreSQL's (the vocabulary has one stem per word).
    let terms = &summary.terms;
    assert!(!terms.very_common.is_empty() && !terms.typical.is_empty() && !terms.rare.is_empty());
    assert!(terms.very_common.iter().any(|t| t.term == "ok"));
    for term in terms.very_common.iter().chain(terms.typical.iter().take(5)).chain(terms.rare.iter().take(3)) {
        let n: i64 = sql
            .query_one(
                "SELECT count(*) FROM messages WHERE search_vector @@ plainto_tsquery('english', $1)",
                &[&term.term],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(u64::try_from(n).unwrap(), term.documents, "documents with {:?}", term.term);
    }
    let client_ids = scalar(&sql, "SELECT count(*) FROM messages WHERE client_message_id IS NOT NULL").await;
    assert_eq!(u64::try_from(client_ids).unwrap(), summary.messages_with_client_message_id);

    // A second run refuses to write without --reset, and with it reproduces the same data.
    let before = fingerprint(&sql).await;
    let refused = generate(&SMALL, &db.target(false)).await.expect_err("refuses a non-empty database");
    assert!(refused.to_string().contains("--reset"), "{refused}");
    assert_eq!(fingerprint(&sql).await, before);
    generate(&SMALL, &db.target(true)).await.expect("regenerate with reset");
    assert_eq!(fingerprint(&sql).await, before);
}

#[tokio::test]
async fn the_same_seed_gives_the_same_data_and_another_seed_other_data() {
    let (a, b, c) = (Database::create().await, Database::create().await, Database::create().await);
    let other_seed = Params { seed: 43, ..SMALL };
    let (ta, tb, tc) = (a.target(false), b.target(false), c.target(false));
    let (first, second, third) = tokio::join!(generate(&SMALL, &ta), generate(&SMALL, &tb), generate(&other_seed, &tc));
    let (first, second) = (first.expect("first"), second.expect("second"));
    third.expect("other seed");
    let hash_a = fingerprint(&a.sql().await).await;
    let hash_b = fingerprint(&b.sql().await).await;
    let hash_c = fingerprint(&c.sql().await).await;
    assert_eq!(hash_a, hash_b, "same seed, same rows");
    assert!(hash_a.iter().zip(&hash_c).all(|(x, y)| x != y), "another seed changes every table");
    assert_eq!(serde_json::to_string(&first.power_users).unwrap(), serde_json::to_string(&second.power_users).unwrap());
    assert_eq!(serde_json::to_string(&first.terms).unwrap(), serde_json::to_string(&second.terms).unwrap());
}
