//! Benchmark tooling for the chat backend.
//!
//! `chat-dataset` ([`generate`]) fills the PostgreSQL database with a deterministic synthetic
//! dataset: the same seed and size give byte-identical rows, ids included. It runs in phases:
//! 1. [`plan`]: users, conversation pairs, message counts, times, senders and read state, all in
//!    memory (about 40 bytes per message);
//! 2. [`load`]: one transaction that streams every table with `COPY FROM STDIN`, generating
//!    message ids and content ([`text`], [`vocab`]) on the fly ([`rows`]);
//! 3. [`summary`]: ids and search terms for the query benchmarks.
//!
//! `chat-query-bench` ([`query`]) times the read paths on that dataset.
//!
//! `chat-coldstart` ([`coldstart`]) measures each Lambda function's zip size, init time and
//! first and warm invocations from its release binary, under a fake Lambda Runtime API.
//!
//! `chat-bench` ([`loadgen`]) is the load generator: open-loop scenarios against the WebSocket
//! and HTTP APIs (chat-local or a deployed stage), one per row of the specification's R10 table.
//!
//! Every phase draws from its own ChaCha8 stream of the seed ([`rng`]).

pub mod coldstart;
pub mod load;
pub mod loadgen;
pub mod plan;
pub mod query;
pub mod rng;
pub mod rows;
pub mod summary;
pub mod text;
pub mod vocab;
pub mod zipf;

use std::time::Instant;

use crate::plan::{Params, Plan};
use crate::rows::MessageRows;
use crate::summary::{LoadSummary, Summary};
use crate::text::TextGenerator;
use crate::vocab::Vocabulary;

/// Errors end the run with a message.
pub type Error = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The vocabulary size.
pub const VOCABULARY_SIZE: usize = 20_000;

/// Where to load, and how.
#[derive(Debug, Clone)]
pub enum Target {
    /// Migrate the database and load it; `reset` truncates the tables when they hold data.
    Database { url: String, reset: bool },
    /// Generate everything and compute the summary without touching a database.
    DryRun,
}

/// Generates the dataset for `params` and loads it into `target`; progress goes to stderr.
///
/// # Errors
/// Invalid parameters, a database with data and no `reset`, or a database failure.
pub async fn generate(params: &Params, target: &Target) -> Result<Summary, Error> {
    params.validate()?;
    let started = Instant::now();
    if let Target::Database { url, .. } = target {
        chat_shared::adapters::postgres::migrate(url).await.map_err(|e| format!("migrations: {e}"))?;
        eprintln!("migrations applied");
    }

    let phase = Instant::now();
    let plan = Plan::generate(params);
    let text = TextGenerator::new(Vocabulary::new(VOCABULARY_SIZE, params.seed));
    eprintln!(
        "planned {} users, {} conversations, {} messages in {:.1} s",
        plan.users.len(),
        plan.conversations.len(),
        plan.messages.len(),
        phase.elapsed().as_secs_f64()
    );

    let summary = match target {
        Target::DryRun => {
            let mut rows = MessageRows::new(&plan, &text);
            let mut buffer = String::new();
            for i in 0..plan.messages.len() {
                rows.write(i, &mut buffer);
                buffer.clear();
            }
            Summary::new(&plan, text.vocabulary(), &rows.into_stats())
        }
        Target::Database { url, reset } => {
            let mut client = load::connect(url).await?;
            let (stats, timings) = load::load(&mut client, &plan, &text, *reset).await?;
            let mut summary = Summary::new(&plan, text.vocabulary(), &stats);
            summary.load = Some(LoadSummary::new(&timings, started.elapsed().as_secs_f64()));
            summary
        }
    };
    eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(summary)
}
