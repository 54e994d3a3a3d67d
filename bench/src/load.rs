//! Loading into PostgreSQL: migrations, the emptiness check, and one transaction that truncates
//! the four tables and streams every row with `COPY ... FROM STDIN (FREEZE)` in ~1 MiB chunks
//! (users, conversations, members, messages), then the GIN pending list is flushed and the
//! tables analyzed. The schema is never altered.
//!
//! `FREEZE` is allowed because the tables are truncated in the same transaction: rows are
//! written frozen and the pages marked all-visible, so the benchmarks start from a settled
//! state (index-only scans work, no hint-bit writes on first read, nothing for VACUUM to do).

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::SinkExt;
use tokio_postgres::{Client, NoTls, Transaction};

use crate::Error;
use crate::plan::Plan;
use crate::rows::{
    CONVERSATIONS_COPY, ContentStats, MEMBERS_COPY, MESSAGES_COPY, MessageRows, USERS_COPY, conversation_row,
    member_rows, user_row,
};
use crate::text::TextGenerator;

/// The tables the generator owns, in load order.
pub const TABLES: [&str; 4] = ["users", "conversations", "conversation_members", "messages"];

const CHUNK_BYTES: usize = 1 << 20;

/// Connects, driving the connection on a task.
///
/// # Errors
/// The database cannot be reached.
pub async fn connect(database_url: &str) -> Result<Client, Error> {
    let (client, connection) = tokio_postgres::connect(database_url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("database connection: {e}");
        }
    });
    Ok(client)
}

/// How long each step took and how many rows it wrote.
#[derive(Debug, Clone, Default)]
pub struct LoadTimings {
    /// (table, rows, time) per COPY.
    pub copies: Vec<(&'static str, u64, Duration)>,
    /// Flushing the GIN pending list and ANALYZE.
    pub finish: Duration,
}

/// Truncates the tables and loads `plan` in one transaction, then analyzes.
///
/// # Errors
/// The tables hold rows and `reset` is false, or the database fails.
pub async fn load(
    client: &mut Client,
    plan: &Plan,
    text: &TextGenerator,
    reset: bool,
) -> Result<(ContentStats, LoadTimings), Error> {
    let tx = client.transaction().await?;
    let occupied = occupied_tables(&tx).await?;
    if !occupied.is_empty() {
        if !reset {
            return Err(format!(
                "the database already has data ({}); pass --reset to replace it",
                occupied.iter().map(|(t, n)| format!("{t}: {n} rows")).collect::<Vec<_>>().join(", ")
            )
            .into());
        }
        eprintln!("--reset: truncating {}", TABLES.join(", "));
    }
    // Always truncate (a no-op on empty tables): it is what makes COPY FREEZE legal.
    let cascade = if reset { " CASCADE" } else { "" };
    tx.batch_execute(&format!("TRUNCATE {}{cascade}", TABLES.join(", "))).await?;

    let mut timings = LoadTimings::default();
    let users = plan.users.len();
    let conversations = plan.conversations.len();
    let started = Instant::now();
    let n = copy(&tx, USERS_COPY, users, |i, out| user_row(plan, i, out), "users").await?;
    timings.copies.push(("users", n, started.elapsed()));

    let started = Instant::now();
    let n =
        copy(&tx, CONVERSATIONS_COPY, conversations, |i, out| conversation_row(plan, i, out), "conversations").await?;
    timings.copies.push(("conversations", n, started.elapsed()));

    let started = Instant::now();
    let n = copy(&tx, MEMBERS_COPY, conversations, |i, out| member_rows(plan, i, out), "conversation_members").await?;
    timings.copies.push(("conversation_members", n, started.elapsed()));

    let started = Instant::now();
    let mut rows = MessageRows::new(plan, text);
    let n = copy(&tx, MESSAGES_COPY, plan.messages.len(), |i, out| rows.write(i, out), "messages").await?;
    timings.copies.push(("messages", n, started.elapsed()));
    let stats = rows.into_stats();

    let started = Instant::now();
    tx.commit().await?;
    eprintln!("committed in {:.1} s", started.elapsed().as_secs_f64());

    let started = Instant::now();
    client.batch_execute("SELECT gin_clean_pending_list('messages_participant_search_idx')").await?;
    client.batch_execute(&format!("ANALYZE {}", TABLES.join(", "))).await?;
    timings.finish = started.elapsed();
    eprintln!("flushed the GIN pending list and analyzed in {:.1} s", timings.finish.as_secs_f64());
    Ok((stats, timings))
}

/// The generator's tables that hold rows, with a row count.
async fn occupied_tables(tx: &Transaction<'_>) -> Result<Vec<(&'static str, i64)>, Error> {
    let mut occupied = Vec::new();
    for table in TABLES {
        let row = tx.query_one(&format!("SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 1000000) t"), &[]).await?;
        let n: i64 = row.get(0);
        if n > 0 {
            occupied.push((table, n));
        }
    }
    Ok(occupied)
}

/// Streams `rows` rows written by `write_row` into `COPY <statement> (FREEZE)`.
async fn copy(
    tx: &Transaction<'_>,
    statement: &str,
    rows: usize,
    mut write_row: impl FnMut(usize, &mut String),
    label: &str,
) -> Result<u64, Error> {
    let started = Instant::now();
    let sink = tx.copy_in::<_, Bytes>(&format!("{statement} (FREEZE)")).await?;
    let mut sink = std::pin::pin!(sink);
    let mut buffer = String::with_capacity(CHUNK_BYTES + 64 * 1024);
    let step = (rows / 10).max(1);
    for i in 0..rows {
        write_row(i, &mut buffer);
        if buffer.len() >= CHUNK_BYTES {
            let chunk = std::mem::replace(&mut buffer, String::with_capacity(CHUNK_BYTES + 64 * 1024));
            sink.send(Bytes::from(chunk.into_bytes())).await?;
        }
        if rows >= 500_000 && (i + 1) % step == 0 && i + 1 < rows {
            let secs = started.elapsed().as_secs_f64();
            eprintln!("  {label}: {}/{rows} rows, {secs:.1} s, {:.0} rows/s", i + 1, (i + 1) as f64 / secs);
        }
    }
    if !buffer.is_empty() {
        sink.send(Bytes::from(buffer.into_bytes())).await?;
    }
    if rows >= 500_000 {
        // Foreign keys are checked by after-row triggers, queued until the end of the statement.
        eprintln!(
            "  {label}: all rows sent in {:.1} s; PostgreSQL checks the foreign keys",
            started.elapsed().as_secs_f64()
        );
    }
    let written = sink.as_mut().finish().await?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!("{label}: {written} rows in {secs:.1} s ({:.0} rows/s)", written as f64 / secs.max(1e-9));
    Ok(written)
}
