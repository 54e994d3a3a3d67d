//! `chat-query-bench`: runs every read path many times on the benchmark dataset and prints
//! p50/p95/p99, through the store (the use cases the Lambda handlers call, on a `PgStore`) and
//! over HTTP through an in-process `chat-local` (authorizer, rate limit, handler). See
//! `docs/benchmarks.md`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chat_bench::Error;
use chat_bench::query::{Case, Measured, markdown};
use chat_shared::adapters::postgres::PgStore;
use chat_shared::app;
use chat_shared::config::Config;
use chat_shared::domain::UserId;
use clap::Parser;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use serde_json::Value;
use tokio_postgres::NoTls;
use uuid::Uuid;

/// Benchmark the read paths (history, conversation list, search) on the dataset loaded by
/// `chat-dataset`, and print a Markdown table of latencies.
///
/// Exits with 1 when a store-level target of the table is missed.
#[derive(Debug, Parser)]
#[command(name = "chat-query-bench", version)]
struct Args {
    /// The database loaded by `chat-dataset`.
    #[arg(long, value_name = "URL", default_value = "postgres://postgres@127.0.0.1:5432/chat_bench")]
    database_url: String,

    /// The summary `chat-dataset` wrote (search terms by frequency).
    #[arg(long, value_name = "PATH", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/dataset-summary.json"))]
    summary: PathBuf,

    /// Timed calls per case at the store level.
    #[arg(long, default_value_t = 1000)]
    iterations: usize,

    /// Timed requests per case over HTTP (0 skips the HTTP level).
    #[arg(long, default_value_t = 300)]
    http_iterations: usize,

    /// Untimed calls per case and level before timing.
    #[arg(long, default_value_t = 50)]
    warmup: usize,

    /// Redis for chat-local's rate limiter (keys under `chat-query-bench:`).
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,

    /// Seed of the parameter choices.
    #[arg(long, default_value_t = 7)]
    seed: u64,

    /// Also write the results as JSON here.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
}

/// One call's parameters; the same request runs at either level.
#[derive(Debug, Clone)]
enum Request {
    History { viewer: Uuid, conversation: Uuid, before: Option<i64> },
    List { viewer: Uuid, cursor: Option<String> },
    Search { viewer: Uuid, q: String, conversation: Option<Uuid> },
}

impl Request {
    fn viewer(&self) -> Uuid {
        match self {
            Request::History { viewer, .. } | Request::List { viewer, .. } | Request::Search { viewer, .. } => *viewer,
        }
    }
}

/// What the parameters are drawn from.
#[derive(Debug)]
struct Population {
    /// (id, first participant, last seq) of conversations with 100+ messages.
    conversations: Vec<(Uuid, Uuid, i64)>,
    users_100: Vec<Uuid>,
    users_200: Vec<Uuid>,
    heaviest: (Uuid, i64),
    typical: Vec<String>,
    very_common: Vec<String>,
    /// Second-page cursors, computed once per user (untimed).
    second_page: HashMap<Uuid, String>,
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[(rng.next_u64() % items.len() as u64) as usize]
}

fn terms(summary: &Value, kind: &str) -> Result<Vec<String>, Error> {
    let list = summary["terms"][kind].as_array().ok_or_else(|| format!("summary has no terms.{kind}"))?;
    Ok(list.iter().filter_map(|t| t["term"].as_str().or(t.as_str()).map(str::to_owned)).collect())
}

impl Population {
    async fn load(pg: &tokio_postgres::Client, summary: &Value) -> Result<Population, Error> {
        let conversations = pg
            .query("SELECT id, participant1_id, last_seq FROM conversations WHERE last_seq >= 100 ORDER BY id", &[])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect::<Vec<_>>();
        let users = |min: i64| {
            format!(
                "SELECT user_id, count(*) FROM conversation_members GROUP BY user_id HAVING count(*) >= {min} \
                 ORDER BY user_id"
            )
        };
        let users_100: Vec<(Uuid, i64)> =
            pg.query(&users(100), &[]).await?.iter().map(|r| (r.get(0), r.get(1))).collect();
        let users_200: Vec<Uuid> = pg.query(&users(200), &[]).await?.iter().map(|r| r.get(0)).collect();
        let heaviest = users_100.iter().max_by_key(|(id, n)| (*n, std::cmp::Reverse(*id))).copied();
        let population = Population {
            conversations,
            users_100: users_100.iter().map(|(id, _)| *id).collect(),
            users_200,
            heaviest: heaviest.ok_or("no user has 100+ conversations: is the dataset loaded?")?,
            typical: terms(summary, "typical")?,
            very_common: terms(summary, "very_common")?,
            second_page: HashMap::new(),
        };
        if population.conversations.is_empty() || population.users_200.is_empty() || population.typical.is_empty() {
            return Err("the dataset is too small for the benchmark (see docs/dataset.md)".into());
        }
        Ok(population)
    }

    /// The parameters of one call of `case`.
    async fn draw(&mut self, case: Case, rng: &mut ChaCha8Rng, store: &PgStore) -> Result<Request, Error> {
        let conversation = *pick(rng, &self.conversations);
        let user = *pick(rng, &self.users_100);
        let typical = pick(rng, &self.typical).clone();
        Ok(match case {
            Case::HistoryNewest => {
                Request::History { viewer: conversation.1, conversation: conversation.0, before: None }
            }
            Case::HistoryDeep => {
                let before = 51 + (rng.next_u64() % (conversation.2 - 50) as u64) as i64;
                Request::History { viewer: conversation.1, conversation: conversation.0, before: Some(before) }
            }
            Case::ListFirstPage => Request::List { viewer: user, cursor: None },
            Case::ListSecondPage => {
                let viewer = *pick(rng, &self.users_200);
                if let std::collections::hash_map::Entry::Vacant(slot) = self.second_page.entry(viewer) {
                    let first = app::list_conversations(store, UserId::from_uuid(viewer), Some("100"), None).await?;
                    slot.insert(first.next_cursor.ok_or("a user with 200+ conversations has one page")?);
                }
                Request::List { viewer, cursor: self.second_page.get(&viewer).cloned() }
            }
            Case::SearchTypical => Request::Search { viewer: user, q: typical, conversation: None },
            Case::SearchTypicalHeaviest => Request::Search { viewer: self.heaviest.0, q: typical, conversation: None },
            Case::SearchVeryCommon => {
                Request::Search { viewer: user, q: pick(rng, &self.very_common).clone(), conversation: None }
            }
            Case::SearchVeryCommonHeaviest => {
                Request::Search { viewer: self.heaviest.0, q: pick(rng, &self.very_common).clone(), conversation: None }
            }
            Case::SearchTwoTerms => {
                let q = format!("{} {typical}", pick(rng, &self.very_common));
                Request::Search { viewer: user, q, conversation: None }
            }
            Case::SearchOneConversation => {
                Request::Search { viewer: conversation.1, q: typical, conversation: Some(conversation.0) }
            }
        })
    }
}

/// Runs `request` through the use case its Lambda calls; returns the number of items.
async fn call_store(store: &PgStore, request: &Request) -> Result<usize, Error> {
    let viewer = UserId::from_uuid(request.viewer());
    Ok(match request {
        Request::History { conversation, before, .. } => {
            let before = before.map(|b| b.to_string());
            app::history(store, viewer, &conversation.to_string(), Some("50"), before.as_deref(), None)
                .await?
                .items
                .len()
        }
        Request::List { cursor, .. } => {
            app::list_conversations(store, viewer, Some("100"), cursor.as_deref()).await?.items.len()
        }
        Request::Search { q, conversation, .. } => {
            let conversation = conversation.map(|c| c.to_string());
            app::search(store, viewer, Some(q), conversation.as_deref(), None, None).await?.items.len()
        }
    })
}

/// Sends `request` to chat-local's HTTP API; returns the number of items.
async fn call_http(http: &reqwest::Client, base: &str, token: &str, request: &Request) -> Result<usize, Error> {
    let builder = match request {
        Request::History { conversation, before, .. } => {
            let mut query = vec![("limit", "50".to_owned())];
            query.extend(before.map(|b| ("before", b.to_string())));
            http.get(format!("{base}/conversations/{conversation}/messages")).query(&query)
        }
        Request::List { cursor, .. } => {
            let mut query = vec![("limit", "100".to_owned())];
            query.extend(cursor.clone().map(|c| ("cursor", c)));
            http.get(format!("{base}/conversations")).query(&query)
        }
        Request::Search { q, conversation, .. } => {
            let mut query = vec![("q", q.clone())];
            query.extend(conversation.map(|c| ("conversationId", c.to_string())));
            http.get(format!("{base}/messages/search")).query(&query)
        }
    };
    let response = builder.bearer_auth(token).send().await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if !status.is_success() {
        return Err(format!("{request:?}: HTTP {status}: {body}").into());
    }
    Ok(body["items"].as_array().map_or(0, Vec::len))
}

/// A gateway on free ports over the dataset, with a REST limit the benchmark cannot reach.
async fn start_gateway(args: &Args) -> Result<(chat_local::LocalGateway, Config), Error> {
    let vars: HashMap<&str, String> = [
        ("DATABASE_URL", args.database_url.clone()),
        ("DATABASE_POOL_SIZE", "2".to_owned()),
        ("REDIS_URL", args.redis_url.clone()),
        ("REDIS_KEY_PREFIX", "chat-query-bench:".to_owned()),
        ("RATE_LIMIT_REST_PER_MINUTE", "1000000000".to_owned()),
        ("JWT_SECRET", format!("chat-query-bench-{}", Uuid::new_v4())),
        ("AWS_REGION", "us-east-1".to_owned()),
    ]
    .into_iter()
    .collect();
    let config = Config::from_lookup(|k| vars.get(k).cloned())?;
    let options = chat_local::Options {
        ws_addr: "127.0.0.1:0".parse()?,
        http_addr: "127.0.0.1:0".parse()?,
        ..chat_local::Options::default()
    };
    let gateway = chat_local::LocalGateway::start(config.clone(), options).await?;
    Ok((gateway, config))
}

async fn run(args: &Args) -> Result<Vec<Measured>, Error> {
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(&args.summary).map_err(|e| {
        format!(
            "{}: {e} (chat-dataset writes it; `chat-dataset --dry-run` rewrites it without loading)",
            args.summary.display()
        )
    })?)?;
    let (pg, connection) = tokio_postgres::connect(&args.database_url, NoTls).await?;
    tokio::spawn(connection);
    let counts = pg
        .query_one(
            "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM conversations), \
                    (SELECT count(*) FROM messages), version()",
            &[],
        )
        .await?;
    eprintln!(
        "dataset: {} users, {} conversations, {} messages; {}",
        counts.get::<_, i64>(0),
        counts.get::<_, i64>(1),
        counts.get::<_, i64>(2),
        counts.get::<_, String>(3)
    );
    let mut population = Population::load(&pg, &summary).await?;
    eprintln!(
        "population: {} conversations with 100+ messages, {} users with 100+ conversations, heaviest user {} ({} conversations)",
        population.conversations.len(),
        population.users_100.len(),
        population.heaviest.0,
        population.heaviest.1
    );
    // One connection, as a Lambda container uses one at a time.
    let store = PgStore::new(&args.database_url, 1, Duration::from_secs(10))?;
    let mut results = Vec::new();

    for case in Case::ALL {
        let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
        for _ in 0..args.warmup {
            let request = population.draw(case, &mut rng, &store).await?;
            call_store(&store, &request).await?;
        }
        let (mut latencies, mut items) = (Vec::with_capacity(args.iterations), 0);
        for _ in 0..args.iterations {
            let request = population.draw(case, &mut rng, &store).await?;
            let started = Instant::now();
            items += call_store(&store, &request).await?;
            latencies.push(started.elapsed());
        }
        let measured = Measured::new(case, "store", latencies, items);
        eprintln!("store {:60} p95 {:.2} ms", case.label(), measured.p95_ms);
        results.push(measured);
    }

    if args.http_iterations > 0 {
        let (gateway, config) = start_gateway(args).await?;
        let base = gateway.http_url();
        let http = reqwest::Client::new();
        let mut tokens: HashMap<Uuid, String> = HashMap::new();
        for case in Case::ALL {
            let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
            let (mut latencies, mut items) = (Vec::with_capacity(args.http_iterations), 0);
            for n in 0..args.warmup + args.http_iterations {
                let request = population.draw(case, &mut rng, &store).await?;
                let viewer = request.viewer();
                if let std::collections::hash_map::Entry::Vacant(slot) = tokens.entry(viewer) {
                    let ttl = Duration::from_secs(3600);
                    slot.insert(chat_shared::auth::issue_dev_token(&config.jwt, &viewer.to_string(), ttl)?.1);
                }
                let token = &tokens[&viewer];
                let started = Instant::now();
                let count = call_http(&http, &base, token, &request).await?;
                if n >= args.warmup {
                    latencies.push(started.elapsed());
                    items += count;
                }
            }
            let measured = Measured::new(case, "http", latencies, items);
            eprintln!("http  {:60} p95 {:.2} ms", case.label(), measured.p95_ms);
            results.push(measured);
        }
    }
    Ok(results)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let results = match run(&args).await {
        Ok(results) => results,
        Err(e) => {
            eprintln!("chat-query-bench: {e}");
            return ExitCode::from(2);
        }
    };
    print!("{}", markdown(&results));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&results).unwrap_or_default();
        if let Err(e) = std::fs::write(path, json) {
            eprintln!("chat-query-bench: {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if results.iter().any(|r| r.meets_target == Some(false)) {
        eprintln!("chat-query-bench: a target was missed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
