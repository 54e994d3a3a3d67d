//! `chat-dataset`: fills a PostgreSQL database with a deterministic synthetic chat dataset for
//! benchmarks (see `docs/dataset.md`), and writes a summary of it for the query benchmarks.

use std::path::PathBuf;
use std::process::ExitCode;

use chat_bench::plan::Params;
use chat_bench::{Error, Target, generate};
use chrono::{DateTime, Utc};
use clap::Parser;

/// Fill a PostgreSQL database with a deterministic synthetic chat dataset.
///
/// Applies the migrations, then loads users, conversations, their members and messages with
/// COPY in one transaction, and analyzes the tables. The same seed and sizes always produce
/// identical rows (ids included). Progress goes to stderr; the summary (ids of power users and
/// long conversations, search terms by document frequency) goes to stdout and to --summary.
#[derive(Debug, Parser)]
#[command(name = "chat-dataset", version)]
struct Args {
    /// PostgreSQL URL of the database to fill (created beforehand; migrated here).
    #[arg(long, env = "DATABASE_URL", value_name = "URL", required_unless_present = "dry_run")]
    database_url: Option<String>,

    /// Number of users.
    #[arg(long, default_value_t = 10_000)]
    users: u32,

    /// Number of conversations (distinct pairs of users).
    #[arg(long, default_value_t = 100_000)]
    conversations: u32,

    /// Number of messages, exactly, spread over the conversations with a skewed distribution.
    #[arg(long, default_value_t = 1_000_000)]
    messages: u32,

    /// Seed of every random choice: the same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    seed: u64,

    /// End of the generated activity, which spans the 365 days before it (RFC 3339). Fixed by
    /// default, so the data does not depend on when it is generated.
    #[arg(long, value_name = "TIME", default_value = "2026-11-01T00:00:00Z")]
    end_time: DateTime<Utc>,

    /// Replace existing data: TRUNCATE users, conversations, conversation_members and messages
    /// (CASCADE) first. Without it, a database whose tables hold rows is refused.
    #[arg(long)]
    reset: bool,

    /// Generate the data and print the summary without touching a database.
    #[arg(long)]
    dry_run: bool,

    /// Where to write the summary as JSON.
    #[arg(long, value_name = "PATH", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/dataset-summary.json"))]
    summary: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat-dataset: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Error> {
    let params = Params {
        users: args.users,
        conversations: args.conversations,
        messages: args.messages,
        seed: args.seed,
        end_ms: args.end_time.timestamp_millis(),
    };
    let target = match (args.dry_run, args.database_url) {
        (false, Some(url)) => Target::Database { url, reset: args.reset },
        _ => Target::DryRun,
    };
    let summary = generate(&params, &target).await?;
    let json = serde_json::to_string_pretty(&summary)?;
    println!("{json}");
    std::fs::write(&args.summary, format!("{json}\n"))
        .map_err(|e| format!("writing the summary to {}: {e}", args.summary.display()))?;
    eprintln!("summary written to {}", args.summary.display());
    Ok(())
}
