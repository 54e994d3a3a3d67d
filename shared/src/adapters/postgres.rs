//! PostgreSQL (tokio-postgres behind a deadpool pool): users, conversations, messages.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, Row};
use uuid::Uuid;

use super::pg_tls;
use crate::config::DatabaseTls;
use crate::domain::{
    ClientMessageId, Conversation, ConversationId, ConversationSummary, Message, MessageContent, MessageId,
    MessageStatus, Participants, UserId, UserProfile,
};
use crate::ports::{
    AppendOutcome, Cause, ConversationStore, GetOrCreate, HIGHLIGHT_START, HIGHLIGHT_STOP, HistorySlice, ListCursor,
    MessageSearch, MessageStore, NewMessage, PortError, ReadReceipt, Scoped, SearchHit, SearchRequest, SearchResults,
    SyncBatch, UserStore,
};

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationReport {
    /// The migrations this run applied, in order (`V3__participant_search`); empty when the
    /// database was up to date.
    pub applied: Vec<String>,
    /// The newest migration the database has now.
    pub current: Option<String>,
}

/// Applies the migrations in `migrations/` that the database does not have yet, each in its
/// own transaction (idempotent; refinery records them in `refinery_schema_history` and refuses
/// to run when an applied migration was changed since).
///
/// # Errors
/// The database cannot be reached or a migration fails.
pub async fn migrate(database_url: &str) -> Result<MigrationReport, Cause> {
    migrate_with_tls(database_url, &DatabaseTls::Disable).await
}

/// [`migrate`] over TLS as `tls` says.
///
/// # Errors
/// As [`migrate`], and a TLS setting that cannot be honoured.
pub async fn migrate_with_tls(database_url: &str, tls: &DatabaseTls) -> Result<MigrationReport, Cause> {
    let mut config: tokio_postgres::Config = database_url.parse()?;
    config.connect_timeout(Duration::from_secs(10));
    let mut client = match pg_tls::client_config(tls)? {
        None => {
            let (client, connection) = config.connect(NoTls).await?;
            tokio::spawn(connection);
            client
        }
        Some(rustls) => {
            config.ssl_mode(SslMode::Require);
            let (client, connection) = config.connect(pg_tls::MakeRustls::new(rustls)).await?;
            tokio::spawn(connection);
            client
        }
    };
    let runner = embedded::migrations::runner();
    let report = runner.run_async(&mut client).await?;
    let applied: Vec<String> = report.applied_migrations().iter().map(ToString::to_string).collect();
    for m in &applied {
        tracing::info!(migration = %m, "applied");
    }
    let current = runner.get_last_applied_migration_async(&mut client).await?.map(|m| m.to_string());
    Ok(MigrationReport { applied, current })
}

/// The PostgreSQL store; cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// Bound on a whole store operation, established connections included.
    timeout: Duration,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("status", &self.pool.status()).finish()
    }
}

const MESSAGE_COLUMNS: &str = "m.id, m.conversation_id, m.seq, m.sender_id, m.content, m.status, m.created_at, \
     m.delivered_at, m.read_at, m.client_message_id, \
     CASE WHEN c.participant1_id = m.sender_id THEN c.participant2_id ELSE c.participant1_id END AS recipient_id";

impl PgStore {
    /// Builds the pool. Connections are opened lazily, on first use, and each wait for a
    /// connection, each connect and each recycle is bounded by `timeout`.
    ///
    /// # Errors
    /// A malformed `database_url`.
    pub fn new(database_url: &str, pool_size: usize, timeout: Duration) -> Result<Self, Cause> {
        Self::with_tls(database_url, pool_size, timeout, &DatabaseTls::Disable)
    }

    /// [`PgStore::new`] over TLS as `tls` says: with `require` or `verify-full` a server that
    /// does not speak TLS is refused, never used in plain text.
    ///
    /// # Errors
    /// A malformed `database_url`, or a CA file that cannot be used.
    pub fn with_tls(database_url: &str, pool_size: usize, timeout: Duration, tls: &DatabaseTls) -> Result<Self, Cause> {
        let mut pg: tokio_postgres::Config = database_url.parse()?;
        pg.connect_timeout(timeout);
        let config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let manager = match pg_tls::client_config(tls)? {
            None => Manager::from_config(pg, NoTls, config),
            Some(rustls) => {
                pg.ssl_mode(SslMode::Require);
                Manager::from_config(pg, pg_tls::MakeRustls::new(rustls), config)
            }
        };
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts { wait: Some(timeout), create: Some(timeout), recycle: Some(timeout) })
            .build()?;
        Ok(Self { pool, timeout })
    }

    /// Runs one store operation within the outbound timeout: the pool bounds getting a
    /// connection, this bounds a query stalled on an established one.
    async fn bounded<T>(&self, operation: impl Future<Output = Result<T, PortError>>) -> Result<T, PortError> {
        tokio::time::timeout(self.timeout, operation)
            .await
            .unwrap_or_else(|elapsed| Err(PortError::Unavailable(Box::new(elapsed))))
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, PortError> {
        self.pool.get().await.map_err(|e| PortError::Unavailable(Box::new(e)))
    }

    async fn load_summary(
        &self,
        client: &deadpool_postgres::Object,
        id: Uuid,
        viewer: UserId,
    ) -> Result<ConversationSummary, PortError> {
        let sql = summaries_sql("(SELECT * FROM conversations WHERE id = $1) c");
        let stmt = client.prepare_cached(&sql).await.map_err(pg_error)?;
        let row = client.query_one(&stmt, &[&id, &viewer.as_uuid()]).await.map_err(pg_error)?;
        summary_from_row(&row)
    }
}

/// Conversation summaries as the viewer (`$2`) sees them, over `source`: a relation aliased `c`
/// with the columns of `conversations`. The last message is found by its `seq` (= `last_seq`),
/// the unread count by the `(conversation_id, seq)` index from the viewer's read position.
fn summaries_sql(source: &str) -> String {
    format!(
        "SELECT c.id, c.participant1_id, c.participant2_id, c.last_seq, c.created_at, c.updated_at, \
                u.id AS other_id, u.display_name AS other_name, \
                (SELECT count(*) FROM messages x \
                  WHERE x.conversation_id = c.id AND x.seq > cm.last_read_seq AND x.sender_id <> $2) AS unread, \
                lm.* \
           FROM {source} \
           JOIN conversation_members cm ON cm.conversation_id = c.id AND cm.user_id = $2 \
           JOIN users u ON u.id = CASE WHEN c.participant1_id = $2 THEN c.participant2_id ELSE c.participant1_id END \
           LEFT JOIN LATERAL (SELECT {MESSAGE_COLUMNS} FROM messages m \
                               WHERE m.conversation_id = c.id AND m.seq = c.last_seq) lm ON true"
    )
}

/// Reads a row of [`summaries_sql`].
fn summary_from_row(row: &Row) -> Result<ConversationSummary, PortError> {
    let conversation = Conversation {
        id: ConversationId::from_uuid(row.try_get("id").map_err(pg_error)?),
        participants: Participants::new(
            UserId::from_uuid(row.try_get("participant1_id").map_err(pg_error)?),
            UserId::from_uuid(row.try_get("participant2_id").map_err(pg_error)?),
        )
        .ok_or_else(|| corrupt("conversation with identical participants"))?,
        last_seq: row.try_get("last_seq").map_err(pg_error)?,
        created_at: row.try_get("created_at").map_err(pg_error)?,
        updated_at: row.try_get("updated_at").map_err(pg_error)?,
    };
    // The last message's columns start after the nine conversation columns; all NULL when none.
    let last_seq: Option<i64> = row.try_get("seq").map_err(pg_error)?;
    let last_message = last_seq.map(|_| message_from_row(row, 9)).transpose()?;
    Ok(ConversationSummary {
        conversation,
        other_participant: UserProfile {
            id: UserId::from_uuid(row.try_get("other_id").map_err(pg_error)?),
            display_name: row.try_get("other_name").map_err(pg_error)?,
        },
        last_message,
        unread_count: row.try_get("unread").map_err(pg_error)?,
    })
}

/// Reads a message from `row`, whose message columns start at index `at` in [`MESSAGE_COLUMNS`] order.
fn message_from_row(row: &Row, at: usize) -> Result<Message, PortError> {
    let status: String = row.try_get(at + 5).map_err(pg_error)?;
    let content: String = row.try_get(at + 4).map_err(pg_error)?;
    let client_id: Option<String> = row.try_get(at + 9).map_err(pg_error)?;
    Ok(Message {
        id: MessageId::from_uuid(row.try_get(at).map_err(pg_error)?),
        conversation_id: ConversationId::from_uuid(row.try_get(at + 1).map_err(pg_error)?),
        seq: row.try_get(at + 2).map_err(pg_error)?,
        sender_id: UserId::from_uuid(row.try_get(at + 3).map_err(pg_error)?),
        recipient_id: UserId::from_uuid(row.try_get(at + 10).map_err(pg_error)?),
        content: MessageContent::parse(&content).map_err(|e| corrupt(&format!("stored content: {e}")))?,
        status: MessageStatus::parse(&status).ok_or_else(|| corrupt("unknown status"))?,
        created_at: row.try_get(at + 6).map_err(pg_error)?,
        delivered_at: row.try_get(at + 7).map_err(pg_error)?,
        read_at: row.try_get(at + 8).map_err(pg_error)?,
        client_message_id: client_id
            .map(|c| ClientMessageId::parse(&c).map_err(|e| corrupt(&e.to_string())))
            .transpose()?,
    })
}

fn corrupt(what: &str) -> PortError {
    PortError::Internal(format!("corrupt row: {what}").into())
}

/// Connection-level failures are `Unavailable` (retryable); everything else is `Internal`.
fn pg_error(e: tokio_postgres::Error) -> PortError {
    let unavailable = e.is_closed()
        || e.code().is_some_and(|c| {
            let c = c.code();
            c.starts_with("08") || c.starts_with("53") || c.starts_with("57P") || c == "40001" || c == "40P01"
        })
        || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
    if unavailable { PortError::Unavailable(Box::new(e)) } else { PortError::Internal(Box::new(e)) }
}

fn is_unique_violation(e: &tokio_postgres::Error, constraint: &str) -> bool {
    e.as_db_error().is_some_and(|d| *d.code() == SqlState::UNIQUE_VIOLATION && d.constraint() == Some(constraint))
}

#[async_trait]
impl UserStore for PgStore {
    async fn upsert_user(&self, user: &UserProfile) -> Result<(), PortError> {
        self.bounded(async move {
            let client = self.client().await?;
            // Every `$connect` runs this, and nearly always for a user who is already there under
            // the same name. That case must write nothing: `ON CONFLICT DO UPDATE` locks the row
            // even when its WHERE is false, and a lock takes a transaction id, a WAL record and a
            // commit that waits for the disk. So the INSERT is only tried when the row is missing
            // or differs; when it is there as it is, the statement reads one index entry and
            // commits nothing.
            let stmt = client
                .prepare_cached(
                    "INSERT INTO users (id, display_name) SELECT $1::uuid, $2::text \
                 WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = $1 AND display_name = $2) \
                 ON CONFLICT (id) DO UPDATE SET display_name = EXCLUDED.display_name, updated_at = now() \
                 WHERE users.display_name IS DISTINCT FROM EXCLUDED.display_name",
                )
                .await
                .map_err(pg_error)?;
            client.execute(&stmt, &[&user.id.as_uuid(), &user.display_name]).await.map_err(pg_error)?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl ConversationStore for PgStore {
    async fn participants(&self, id: ConversationId) -> Result<Option<Participants>, PortError> {
        self.bounded(async move { participants_of(&*self.client().await?, id).await }).await
    }

    async fn list_conversations(
        &self,
        viewer: UserId,
        after: Option<ListCursor>,
        limit: i64,
    ) -> Result<Vec<ConversationSummary>, PortError> {
        self.bounded(async move {
            let client = self.client().await?;
            // Each side of the pair is read in order from its own index and cut at `limit`;
            // the merge keeps the first `limit`. The first page starts after a cursor that
            // sorts before everything, so one plan serves every page.
            let side = |column: &str| {
                format!(
                    "(SELECT * FROM conversations WHERE {column} = $2 AND (updated_at, id) < ($1, $3) \
                      ORDER BY updated_at DESC, id DESC LIMIT $4)"
                )
            };
            let source = format!(
                "(SELECT * FROM ({} UNION ALL {}) both_sides ORDER BY updated_at DESC, id DESC LIMIT $4) c",
                side("participant1_id"),
                side("participant2_id")
            );
            let sql = format!("{} ORDER BY c.updated_at DESC, c.id DESC", summaries_sql(&source));
            let stmt = client.prepare_cached(&sql).await.map_err(pg_error)?;
            let (at, id) = match after {
                Some(cursor) => (cursor.updated_at, cursor.id.as_uuid()),
                None => (chrono::TimeZone::with_ymd_and_hms(&Utc, 9999, 12, 31, 23, 59, 59).unwrap(), Uuid::max()),
            };
            let rows = client.query(&stmt, &[&at, &viewer.as_uuid(), &id, &limit]).await.map_err(pg_error)?;
            rows.iter().map(summary_from_row).collect()
        })
        .await
    }

    async fn get_or_create_conversation(
        &self,
        participants: Participants,
        viewer: UserId,
    ) -> Result<GetOrCreate, PortError> {
        self.bounded(async move {
            let other = participants.other(viewer).ok_or_else(|| corrupt("viewer is not a participant"))?;
            let client = self.client().await?;
            // One statement creates the conversation and both member rows, or finds the existing one.
            // Under a concurrent insert of the same pair, ON CONFLICT DO NOTHING returns nothing and the
            // committed row may be invisible to this statement's snapshot: then the loop tries again.
            let stmt = client
                .prepare_cached(
                    "WITH ins AS ( \
                    INSERT INTO conversations (id, participant1_id, participant2_id) \
                    SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM users WHERE id = $4) \
                    ON CONFLICT ON CONSTRAINT conversations_pair_key DO NOTHING \
                    RETURNING id), \
                 members AS ( \
                    INSERT INTO conversation_members (conversation_id, user_id) \
                    SELECT ins.id, u.id FROM ins CROSS JOIN (VALUES ($2::uuid), ($3::uuid)) AS u(id)) \
                 SELECT id, true AS created FROM ins \
                 UNION ALL \
                 SELECT id, false FROM conversations WHERE participant1_id = $2 AND participant2_id = $3",
                )
                .await
                .map_err(pg_error)?;
            for _ in 0..3 {
                let new_id = ConversationId::new_v7().as_uuid();
                let rows = client
                    .query(
                        &stmt,
                        &[&new_id, &participants.first().as_uuid(), &participants.second().as_uuid(), &other.as_uuid()],
                    )
                    .await
                    .map_err(pg_error)?;
                if let Some(row) = rows.first() {
                    let id: Uuid = row.get(0);
                    let created: bool = row.get(1);
                    let summary = self.load_summary(&client, id, viewer).await?;
                    return Ok(if created { GetOrCreate::Created(summary) } else { GetOrCreate::Found(summary) });
                }
                let known = client
                    .query_opt("SELECT 1 FROM users WHERE id = $1", &[&other.as_uuid()])
                    .await
                    .map_err(pg_error)?;
                if known.is_none() {
                    return Ok(GetOrCreate::UnknownUser);
                }
            }
            Err(PortError::Internal("get-or-create did not settle after 3 attempts".into()))
        })
        .await
    }
}

#[async_trait]
impl MessageStore for PgStore {
    async fn append_message(&self, new: NewMessage) -> Result<AppendOutcome, PortError> {
        self.bounded(async move {
        let client = self.client().await?;
        // Happy path in one statement (one round trip, one implicit transaction): bump the
        // conversation's last_seq under its row lock, insert with that seq. Nothing is returned
        // when the conversation is missing, the sender is not in it, or the clientMessageId was
        // used before; the slow path below tells those apart.
        let append = client
            .prepare_cached(
                "WITH existing AS ( \
                    SELECT 1 FROM messages WHERE sender_id = $2 AND client_message_id = $5), \
                 conv AS ( \
                    UPDATE conversations c SET last_seq = c.last_seq + 1, updated_at = now() \
                     WHERE c.id = $1 AND $2 IN (c.participant1_id, c.participant2_id) \
                       AND NOT EXISTS (SELECT 1 FROM existing) \
                    RETURNING c.id, c.last_seq, c.participant1_id, c.participant2_id, \
                      CASE WHEN c.participant1_id = $2 THEN c.participant2_id ELSE c.participant1_id END AS recipient_id), \
                 ins AS ( \
                    INSERT INTO messages (id, conversation_id, seq, sender_id, content, client_message_id, \
                                          participant_ids) \
                    SELECT $3, conv.id, conv.last_seq, $2, $4, $5, ARRAY[conv.participant1_id, conv.participant2_id] \
                      FROM conv \
                    RETURNING id, conversation_id, seq, sender_id, content, status, created_at, delivered_at, \
                              read_at, client_message_id) \
                 SELECT ins.*, conv.recipient_id FROM ins CROSS JOIN conv",
            )
            .await
            .map_err(pg_error)?;
        let client_id = new.client_message_id.as_ref().map(ClientMessageId::as_str);
        for _ in 0..3 {
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] = [
                &new.conversation_id.as_uuid(),
                &new.sender_id.as_uuid(),
                &new.id.as_uuid(),
                &new.content.as_str(),
                &client_id,
            ];
            match client.query_opt(&append, &params).await {
                Ok(Some(row)) => return Ok(AppendOutcome::Stored(message_from_row(&row, 0)?)),
                Ok(None) => {}
                // A concurrent retry with the same clientMessageId committed first.
                Err(e) if is_unique_violation(&e, "messages_sender_client_message_id_key") => continue,
                Err(e) => return Err(pg_error(e)),
            }
            if let Some(client_id) = client_id {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN conversations c ON c.id = m.conversation_id \
                      WHERE m.sender_id = $1 AND m.client_message_id = $2"
                );
                let stmt = client.prepare_cached(&sql).await.map_err(pg_error)?;
                if let Some(row) =
                    client.query_opt(&stmt, &[&new.sender_id.as_uuid(), &client_id]).await.map_err(pg_error)?
                {
                    return Ok(AppendOutcome::Duplicate(message_from_row(&row, 0)?));
                }
            }
            let conversation = client
                .query_opt(
                    "SELECT participant1_id, participant2_id FROM conversations WHERE id = $1",
                    &[&new.conversation_id.as_uuid()],
                )
                .await
                .map_err(pg_error)?;
            match conversation {
                None => return Ok(AppendOutcome::ConversationNotFound),
                Some(row) => {
                    let (p1, p2): (Uuid, Uuid) = (row.get(0), row.get(1));
                    if new.sender_id.as_uuid() != p1 && new.sender_id.as_uuid() != p2 {
                        return Ok(AppendOutcome::NotParticipant);
                    }
                }
            }
            // A participant with no duplicate: a concurrent duplicate was deleted between
            // statements, which cannot happen today; try again rather than guess.
        }
        Err(PortError::Internal("append did not settle after 3 attempts".into()))
        })
        .await
    }

    async fn mark_delivered(&self, id: MessageId, at: DateTime<Utc>) -> Result<Message, PortError> {
        self.bounded(async move {
        let client = self.client().await?;
        // The only write of a send whose commit does not wait for the WAL flush
        // (`synchronous_commit` off for this statement's transaction alone): a database crash in
        // the next few hundred milliseconds can only turn the message back to `sent`, and sync
        // then delivers it again (clients de-duplicate by id). The message itself was committed
        // durably before it was pushed.
        let sql = format!(
            "UPDATE messages m SET status = 'delivered', delivered_at = $2 \
               FROM conversations c, (SELECT set_config('synchronous_commit', 'off', true)) AS relaxed \
              WHERE m.id = $1 AND m.status = 'sent' AND c.id = m.conversation_id \
             RETURNING {MESSAGE_COLUMNS}"
        );
        let stmt = client.prepare_cached(&sql).await.map_err(pg_error)?;
        if let Some(row) = client.query_opt(&stmt, &[&id.as_uuid(), &at]).await.map_err(pg_error)? {
            return message_from_row(&row, 0);
        }
        // Already delivered or read: return it as it is.
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.id = $1"
        );
        let stmt = client.prepare_cached(&sql).await.map_err(pg_error)?;
        let row = client.query_one(&stmt, &[&id.as_uuid()]).await.map_err(pg_error)?;
        message_from_row(&row, 0)
        })
        .await
    }

    async fn history(
        &self,
        conversation: ConversationId,
        viewer: UserId,
        slice: HistorySlice,
        limit: i64,
    ) -> Result<Scoped<Vec<Message>>, PortError> {
        self.bounded(async move {
            let client = self.client().await?;
            let Some(participants) = participants_of(&client, conversation).await? else {
                return Ok(Scoped::ConversationNotFound);
            };
            if !participants.contains(viewer) {
                return Ok(Scoped::NotParticipant);
            }
            // Keyset on the (conversation_id, seq) unique index: any depth costs the same.
            let (condition, order, bound) = match slice {
                HistorySlice::Latest => ("m.seq <= $2", "DESC", i64::MAX),
                HistorySlice::Before(seq) => ("m.seq < $2", "DESC", seq),
                HistorySlice::After(seq) => ("m.seq > $2", "ASC", seq),
            };
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN conversations c ON c.id = m.conversation_id \
                  WHERE m.conversation_id = $1 AND {condition} ORDER BY m.seq {order} LIMIT $3"
            );
            let stmt = client.prepare_cached(&sql).await.map_err(pg_error)?;
            let rows = client.query(&stmt, &[&conversation.as_uuid(), &bound, &limit]).await.map_err(pg_error)?;
            let mut messages = rows.iter().map(|row| message_from_row(row, 0)).collect::<Result<Vec<_>, _>>()?;
            messages.sort_by_key(|m| m.seq);
            Ok(Scoped::Found(messages))
        })
        .await
    }

    async fn mark_read(
        &self,
        conversation: ConversationId,
        reader: UserId,
        up_to_seq: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<Scoped<ReadReceipt>, PortError> {
        self.bounded(async move {
            let client = self.client().await?;
            // Read first, without a lock: a receipt that moves nothing (a client marks a
            // conversation read each time it is shown) costs one read and no transaction; locking
            // the member row to find that out took a transaction id and wrote WAL.
            let position = client
                .prepare_cached(
                    "SELECT c.participant1_id, c.participant2_id, \
                            least(coalesce($2, c.last_seq), c.last_seq), cm.last_read_seq \
                       FROM conversations c \
                       LEFT JOIN conversation_members cm ON cm.conversation_id = c.id AND cm.user_id = $3 \
                      WHERE c.id = $1",
                )
                .await
                .map_err(pg_error)?;
            let Some(row) = client
                .query_opt(&position, &[&conversation.as_uuid(), &up_to_seq, &reader.as_uuid()])
                .await
                .map_err(pg_error)?
            else {
                return Ok(Scoped::ConversationNotFound);
            };
            let participants = Participants::new(UserId::from_uuid(row.get(0)), UserId::from_uuid(row.get(1)))
                .ok_or_else(|| corrupt("conversation with identical participants"))?;
            let Some(other) = participants.other(reader) else {
                return Ok(Scoped::NotParticipant);
            };
            let target: i64 = row.get(2);
            let last_read: i64 =
                row.get::<_, Option<i64>>(3).ok_or_else(|| corrupt("participant without a member row"))?;
            if target <= last_read {
                return Ok(Scoped::Found(ReadReceipt { other, last_read_seq: last_read, read_at: None }));
            }
            // One statement, so one transaction: the read position moves only forward (the
            // condition is checked again under the member row's lock, so of two concurrent
            // receipts the lower one moves nothing), and only when it moved do the other
            // participant's messages up to it become read. `target` is at most the last seq read
            // above, so every message it covers is in this statement's snapshot.
            let advance = client
                .prepare_cached(
                    "WITH moved AS ( \
                        UPDATE conversation_members SET last_read_seq = $3 \
                         WHERE conversation_id = $1 AND user_id = $2 AND last_read_seq < $3 \
                        RETURNING 1), \
                     marked AS ( \
                        UPDATE messages SET status = 'read', read_at = $5, delivered_at = coalesce(delivered_at, $5) \
                         WHERE conversation_id = $1 AND sender_id = $4 AND seq <= $3 AND read_at IS NULL \
                           AND EXISTS (SELECT 1 FROM moved)) \
                     SELECT EXISTS (SELECT 1 FROM moved)",
                )
                .await
                .map_err(pg_error)?;
            let moved: bool = client
                .query_one(&advance, &[&conversation.as_uuid(), &reader.as_uuid(), &target, &other.as_uuid(), &at])
                .await
                .map_err(pg_error)?
                .get(0);
            if !moved {
                // A concurrent receipt moved it as far or further first.
                let row = client
                    .query_one(
                        "SELECT last_read_seq FROM conversation_members WHERE conversation_id = $1 AND user_id = $2",
                        &[&conversation.as_uuid(), &reader.as_uuid()],
                    )
                    .await
                    .map_err(pg_error)?;
                return Ok(Scoped::Found(ReadReceipt { other, last_read_seq: row.get(0), read_at: None }));
            }
            Ok(Scoped::Found(ReadReceipt { other, last_read_seq: target, read_at: Some(at) }))
        })
        .await
    }

    async fn sync(
        &self,
        conversation: ConversationId,
        reader: UserId,
        after_seq: i64,
        limit: i64,
        at: DateTime<Utc>,
    ) -> Result<Scoped<SyncBatch>, PortError> {
        self.bounded(async move {
            let client = self.client().await?;
            let Some(participants) = participants_of(&client, conversation).await? else {
                return Ok(Scoped::ConversationNotFound);
            };
            let Some(other) = participants.other(reader) else {
                return Ok(Scoped::NotParticipant);
            };
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN conversations c ON c.id = m.conversation_id \
              WHERE m.conversation_id = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3"
            );
            let stmt = client.prepare_cached(&sql).await.map_err(pg_error)?;
            let rows =
                client.query(&stmt, &[&conversation.as_uuid(), &after_seq, &(limit + 1)]).await.map_err(pg_error)?;
            let has_more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
            let mut messages = rows
                .iter()
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .map(|row| message_from_row(row, 0))
                .collect::<Result<Vec<_>, _>>()?;
            let pending: Vec<Uuid> = messages
                .iter()
                .filter(|m| m.recipient_id == reader && m.status == MessageStatus::Sent)
                .map(|m| m.id.as_uuid())
                .collect();
            let mut newly_delivered = Vec::new();
            if !pending.is_empty() {
                let stmt = client
                    .prepare_cached(
                        "UPDATE messages SET status = 'delivered', delivered_at = $2 \
                      WHERE id = ANY($1) AND status = 'sent' RETURNING id, seq",
                    )
                    .await
                    .map_err(pg_error)?;
                let updated = client.query(&stmt, &[&pending, &at]).await.map_err(pg_error)?;
                newly_delivered =
                    updated.iter().map(|r| (MessageId::from_uuid(r.get(0)), r.get::<_, i64>(1))).collect();
                newly_delivered.sort_by_key(|(_, seq)| *seq);
                for m in &mut messages {
                    if newly_delivered.iter().any(|(id, _)| *id == m.id) {
                        m.status = MessageStatus::Delivered;
                        m.delivered_at = Some(at);
                    }
                }
            }
            Ok(Scoped::Found(SyncBatch { messages, has_more, other, newly_delivered }))
        })
        .await
    }
}

/// Ranked search (see migration V3 for the index). The window is the `$5` newest matches no
/// newer than `$4`, found by intersecting the viewer's and the terms' posting lists in one GIN
/// index; only the window is ranked, and only the page gets a headline.
///
/// Headlines: a message of up to [`WHOLE_SNIPPET_MAX_CHARS`] characters is its own snippet,
/// every match highlighted (`HighlightAll` keeps the text exactly); a longer one is cut to at
/// most two fragments around the matches, where PostgreSQL's parser drops HTML-like tags and
/// punctuation at the fragment edges.
const SEARCH_SQL: &str = "WITH candidates AS ( \
        SELECT m.id, m.search_vector FROM messages m \
         WHERE m.participant_ids @> ARRAY[$1::uuid] \
           AND m.search_vector @@ websearch_to_tsquery('english', $2) \
           AND ($3::uuid IS NULL OR m.conversation_id = $3) \
           AND m.id <= $4 \
         ORDER BY m.id DESC LIMIT $5), \
     ranked AS ( \
        SELECT id, ts_rank_cd(search_vector, websearch_to_tsquery('english', $2), 1) AS rank FROM candidates), \
     page AS ( \
        SELECT id, rank FROM ranked WHERE (rank, id) < ($6, $7) ORDER BY rank DESC, id DESC LIMIT $8) \
     SELECT {MESSAGE_COLUMNS}, p.rank, (SELECT max_id FROM (SELECT id AS max_id FROM candidates ORDER BY id DESC LIMIT 1) n) AS newest, \
            ts_headline('english', translate(m.content, $9, ''), websearch_to_tsquery('english', $2), \
                        CASE WHEN char_length(m.content) <= $11 THEN $10 || ', HighlightAll=true' \
                             ELSE $10 || ', MaxWords=24, MinWords=8, MaxFragments=2, FragmentDelimiter=\" … \"' END) \
              AS snippet \
       FROM page p JOIN messages m ON m.id = p.id JOIN conversations c ON c.id = m.conversation_id \
      ORDER BY p.rank DESC, p.id DESC";

/// Messages up to this long are shown whole in search results.
const WHOLE_SNIPPET_MAX_CHARS: i32 = 300;

#[async_trait]
impl MessageSearch for PgStore {
    async fn search(&self, viewer: UserId, request: &SearchRequest) -> Result<Scoped<SearchResults>, PortError> {
        self.bounded(async move {
            let client = self.client().await?;
            if let Some(conversation) = request.conversation {
                match participants_of(&client, conversation).await? {
                    None => return Ok(Scoped::ConversationNotFound),
                    Some(p) if !p.contains(viewer) => return Ok(Scoped::NotParticipant),
                    Some(_) => {}
                }
            }
            let stmt = client
                .prepare_cached(&SEARCH_SQL.replace("{MESSAGE_COLUMNS}", MESSAGE_COLUMNS))
                .await
                .map_err(pg_error)?;
            let markers = format!("{HIGHLIGHT_START}{HIGHLIGHT_STOP}");
            let markers_option = format!("StartSel={HIGHLIGHT_START}, StopSel={HIGHLIGHT_STOP}");
            let (rank, after, newest) = match request.after {
                Some(c) => (c.rank, c.id.as_uuid(), c.newest.as_uuid()),
                None => (f32::INFINITY, Uuid::max(), Uuid::max()),
            };
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 11] = [
                &viewer.as_uuid(),
                &request.query,
                &request.conversation.map(|c| c.as_uuid()),
                &newest,
                &request.window,
                &rank,
                &after,
                &request.limit,
                &markers,
                &markers_option,
                &WHOLE_SNIPPET_MAX_CHARS,
            ];
            let rows = client.query(&stmt, &params).await.map_err(pg_error)?;
            let mut newest = None;
            let mut hits = Vec::with_capacity(rows.len());
            for row in &rows {
                let message = message_from_row(row, 0)?;
                let newest_id: Option<Uuid> = row.try_get("newest").map_err(pg_error)?;
                newest = newest_id.map(MessageId::from_uuid);
                hits.push(SearchHit {
                    message,
                    rank: row.try_get("rank").map_err(pg_error)?,
                    snippet: row.try_get("snippet").map_err(pg_error)?,
                });
            }
            Ok(Scoped::Found(SearchResults { hits, newest }))
        })
        .await
    }
}

/// The participants of `conversation` (`None` if it does not exist).
async fn participants_of(
    client: &deadpool_postgres::ClientWrapper,
    conversation: ConversationId,
) -> Result<Option<Participants>, PortError> {
    let stmt = client
        .prepare_cached("SELECT participant1_id, participant2_id FROM conversations WHERE id = $1")
        .await
        .map_err(pg_error)?;
    let row = client.query_opt(&stmt, &[&conversation.as_uuid()]).await.map_err(pg_error)?;
    row.map(|row| {
        Participants::new(UserId::from_uuid(row.get(0)), UserId::from_uuid(row.get(1)))
            .ok_or_else(|| corrupt("conversation with identical participants"))
    })
    .transpose()
}
