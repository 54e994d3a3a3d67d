//! `chat-bench`'s command line: one subcommand per scenario, each with its own documented
//! options and defaults (those of the headline figures and of the R10 table).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use super::procfs::{Watched, parse_watched};

/// Load generator for the chat backend: drives a WebSocket API (chat-local, or a deployed API
/// Gateway stage) with open-loop schedules and measures delivery, ack, typing, connect and HTTP
/// latencies with HdrHistogram, counts errors by code and lost or duplicated messages, and
/// checks the stored messages against PostgreSQL: every acknowledged one once, no refused one.
///
/// Latency is counted from each operation's *scheduled* instant (Poisson arrivals computed in
/// advance), so a stalled server cannot hide delay. Prints a Markdown summary, writes
/// `<out>/<scenario>.json` and, for the headline phase, `<out>/<scenario>-percentiles.svg` and
/// `<out>/<scenario>-timeline.svg`. Exits with 1 when a target is missed, 2 on errors.
///
/// `bench/load.sh <scenario> [options]` starts the services and chat-local with the rate limits
/// raised, and runs this against it (`ulimit -n` raised: every connection is a file descriptor).
#[derive(Debug, Parser)]
#[command(name = "chat-bench", version)]
pub struct Cli {
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// The scenarios.
#[derive(Debug, Subcommand)]
pub enum Scenario {
    /// The headline: N users paired into conversations send `message:send` at R msg/s
    /// (Poisson) for T seconds; delivery (send -> recipient's `message:received`) and ack
    /// latency, loss and duplicates, PostgreSQL cross-check. Targets: delivery and ack
    /// p99 <= --p99-ms, nothing lost or duplicated, delivery p95 < 1 s (R10).
    Delivery(DeliveryArgs),
    /// Open N connections (R10: 1,000 concurrent), ping each once, hold them: connect latency,
    /// success, ping latency, and whether all are still open at the end.
    Connections(ConnectionsArgs),
    /// `typing:start` at R events/s (Poisson, each user at most once per push interval):
    /// latency to the partner's `typing:start` push. Targets: p99 <= --p99-ms, R10 < 500 ms.
    Typing(TypingArgs),
    /// Bursts: B messages at the same instant every P seconds (R10: 100 msg/s burst handling).
    /// Targets: nothing lost, delivery p95 < 1 s.
    Burst(BurstArgs),
    /// Knee search: steps of rising rates on the same connections until delivery or ack p99
    /// exceeds --p99-ms or anything is lost or refused; reports the last good rate and the CPU
    /// of the watched processes per step. Target: >= 1,000 msg/s.
    Knee(KneeArgs),
    /// Hold N idle connections for S seconds: connect rate over the ramp, connect latency, and
    /// with --server-pid the server's VmRSS per connection. Targets: >= 2,000 connects/s,
    /// <= 8 KB per connection.
    Idle(IdleArgs),
    /// History (R10: 50 messages < 2 s): `GET /conversations/{id}/messages?limit=50`, newest
    /// and deeper pages, on a conversation filled first.
    History(HistoryArgs),
    /// Conversation list (R10: 100 conversations < 1 s): `GET /conversations?limit=100` for a
    /// user with 100 conversations, each with a message.
    ConversationList(ConversationListArgs),
    /// Search (R10: 10k messages < 3 s): `GET /messages/search?q=` over a conversation of 10,000
    /// messages, common and rare words, phrases.
    Search(SearchArgs),
    /// Every row of the specification's R10 table in one run, printed target against measured.
    R10(R10Args),
}

/// Where to connect, who to be, and where to write: the options every scenario takes.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// WebSocket API URL, without the token (ws:// or wss://; `?token=` is appended).
    #[arg(long, env = "CHAT_BENCH_WS_URL", default_value = "ws://127.0.0.1:3001/local")]
    pub ws_url: String,

    /// HTTP API base URL (http:// or https://).
    #[arg(long, env = "CHAT_BENCH_HTTP_URL", default_value = "http://127.0.0.1:3000")]
    pub http_url: String,

    /// HS256 secret to sign dev tokens for users `bench-<run>-<n>` (the server's JWT_SECRET).
    /// Ignored when --token-file is given.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true, value_name = "SECRET")]
    pub jwt_secret: Option<String>,

    /// `iss` of the signed tokens, when the server checks it (its JWT_ISSUER).
    #[arg(long, env = "JWT_ISSUER", value_name = "ISS")]
    pub jwt_issuer: Option<String>,

    /// `aud` of the signed tokens, when the server checks it (its JWT_AUDIENCE).
    #[arg(long, env = "JWT_AUDIENCE", value_name = "AUD")]
    pub jwt_audience: Option<String>,

    /// Ready-made tokens, one user per line as `name<TAB>token` (`#` comments allowed), for
    /// stacks whose secret you do not hold; users are taken in order, each once per run.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// PostgreSQL of the server, for the cross-check of stored messages (and --fill sql).
    /// Without it the cross-check is skipped, and the report says so.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// The server's process id (chat-local): its VmRSS is reported by `idle`, and its CPU per
    /// phase by every scenario.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,

    /// Another process whose CPU (with its direct children) is reported per phase, as
    /// NAME=PID; repeatable (e.g. `--watch-pid postgres=1234 --watch-pid moto=5678`).
    #[arg(long = "watch-pid", value_name = "NAME=PID", value_parser = parse_watched)]
    pub watch_pids: Vec<Watched>,

    /// Directory for `<scenario>.json` and the SVG plots.
    #[arg(long, value_name = "DIR", default_value = "target/chat-bench")]
    pub out: PathBuf,

    /// Seed of every random choice (arrival times, senders, typists, request parameters).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// WebSocket handshakes (and set-up HTTP requests) in flight at once.
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    pub concurrency: u64,

    /// After the last send, wait until everything owed has arrived, or until nothing has
    /// arrived for this many seconds; what is missing then is lost.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0, value_parser = seconds)]
    pub drain: f64,

    /// No progress bars (they are also hidden when stderr is not a terminal).
    #[arg(long, short)]
    pub quiet: bool,
}

/// Users and their connections.
#[derive(Debug, Clone, Copy, Args)]
pub struct Population {
    /// Users, paired into conversations (user 2k with 2k+1), so an even number.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(2..))]
    pub users: u32,

    /// Connections per user (1 or 2). With 2, each message is also pushed to the sender's
    /// other device, and that copy is owed too.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=2))]
    pub devices: u32,
}

#[derive(Debug, Clone, Args)]
pub struct DeliveryArgs {
    #[command(flatten)]
    pub population: Population,

    /// Messages per second, over all users (Poisson arrivals, uniformly random senders).
    #[arg(long, default_value_t = 100.0, value_parser = positive)]
    pub rate: f64,

    /// Seconds of measured sending.
    #[arg(long, default_value_t = 60.0, value_parser = positive)]
    pub duration: f64,

    /// Seconds of sending at the same rate before the measured window: accounted (loss,
    /// duplicates, PostgreSQL) but not timed.
    #[arg(long, default_value_t = 5.0, value_parser = seconds)]
    pub warmup: f64,

    /// Target: delivery and ack p99 at most this many milliseconds (the issue: 10 ms).
    #[arg(long, value_name = "MS", default_value_t = 10.0, value_parser = positive)]
    pub p99_ms: f64,

    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Args)]
pub struct ConnectionsArgs {
    #[command(flatten)]
    pub population: Population,

    /// Seconds to hold the connections after the ping round, before checking they are all open.
    #[arg(long, default_value_t = 10.0, value_parser = seconds)]
    pub hold: f64,

    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Args)]
pub struct TypingArgs {
    #[command(flatten)]
    pub population: Population,

    /// `typing:start` events per second, over all users.
    #[arg(long, default_value_t = 200.0, value_parser = positive)]
    pub rate: f64,

    /// Seconds of measured typing.
    #[arg(long, default_value_t = 30.0, value_parser = positive)]
    pub duration: f64,

    /// Seconds of untimed typing first.
    #[arg(long, default_value_t = 3.0, value_parser = seconds)]
    pub warmup: f64,

    /// The server's TYPING_PUSH_INTERVAL_MS: a user types again only after this plus 500 ms,
    /// so every event is owed a push.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub push_interval_ms: u64,

    /// Target: typing p99 at most this many milliseconds (the issue: 10 ms).
    #[arg(long, value_name = "MS", default_value_t = 10.0, value_parser = positive)]
    pub p99_ms: f64,

    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Args)]
pub struct BurstArgs {
    #[command(flatten)]
    pub population: Population,

    /// Messages sent at the same instant in each burst.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub size: u32,

    /// Seconds between bursts.
    #[arg(long, default_value_t = 1.0, value_parser = positive)]
    pub every: f64,

    /// Seconds of bursts.
    #[arg(long, default_value_t = 30.0, value_parser = positive)]
    pub duration: f64,

    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Args)]
pub struct KneeArgs {
    #[command(flatten)]
    pub population: Population,

    /// The rates to try, in order, messages per second.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "100,200,400,600,800,1000,1200,1500,2000,2500,3000,4000,5000",
        value_parser = positive
    )]
    pub rates: Vec<f64>,

    /// Seconds of measured sending per step.
    #[arg(long, default_value_t = 10.0, value_parser = positive)]
    pub duration: f64,

    /// Seconds of untimed sending at the start of each step.
    #[arg(long, default_value_t = 2.0, value_parser = seconds)]
    pub warmup: f64,

    /// A step is good while delivery and ack p99 stay at or below this, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 50.0, value_parser = positive)]
    pub p99_ms: f64,

    /// Target: the last good rate is at least this many messages per second (the issue: 1,000).
    #[arg(long, value_name = "MSG_PER_S", default_value_t = 1000.0, value_parser = positive)]
    pub target: f64,

    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Args)]
pub struct IdleArgs {
    /// Connections to open, one user each.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,

    /// Seconds to hold them, idle, after the ramp.
    #[arg(long, default_value_t = 30.0, value_parser = seconds)]
    pub hold: f64,

    /// Target: at least this many connects per second over the ramp.
    #[arg(long, value_name = "PER_S", default_value_t = 2000.0, value_parser = positive)]
    pub connect_rate_target: f64,

    /// Target: the server's VmRSS grows by at most this many kB per connection (needs --server-pid).
    #[arg(long, value_name = "KB", default_value_t = 8.0, value_parser = positive)]
    pub rss_target_kb: f64,

    #[command(flatten)]
    pub common: Common,
}

/// How a row's data is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Fill {
    /// Through the WebSocket API, as clients would (64 messages in flight).
    Api,
    /// Inserted into PostgreSQL directly in one transaction (needs --database-url); the report
    /// says so.
    Sql,
}

/// The pace of an HTTP scenario.
#[derive(Debug, Clone, Copy, Args)]
pub struct RequestPace {
    /// Requests per second (Poisson arrivals).
    #[arg(long, default_value_t = 20.0, value_parser = positive)]
    pub rate: f64,

    /// Seconds of measured requests.
    #[arg(long, default_value_t = 20.0, value_parser = positive)]
    pub duration: f64,

    /// Seconds of untimed requests first.
    #[arg(long, default_value_t = 2.0, value_parser = seconds)]
    pub warmup: f64,
}

#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// Messages in the conversation read (pages of 50 at random depths below the newest).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(50..))]
    pub messages: u32,

    /// How the conversation is filled.
    #[arg(long, value_enum, default_value_t = Fill::Api)]
    pub fill: Fill,

    #[command(flatten)]
    pub pace: RequestPace,

    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Args)]
pub struct ConversationListArgs {
    /// Conversations of the listing user, each with one message.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub conversations: u32,

    #[command(flatten)]
    pub pace: RequestPace,

    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// Messages in the searching user's conversation.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(100..))]
    pub messages: u32,

    /// How the conversation is filled.
    #[arg(long, value_enum, default_value_t = Fill::Api)]
    pub fill: Fill,

    #[command(flatten)]
    pub pace: RequestPace,

    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Args)]
pub struct R10Args {
    #[command(flatten)]
    pub population: Population,

    /// Delivery row: messages per second (the R10 load test's 100 users/s).
    #[arg(long, default_value_t = 100.0, value_parser = positive)]
    pub rate: f64,

    /// Seconds of each timed phase (delivery, burst, typing, and each HTTP row).
    #[arg(long, default_value_t = 30.0, value_parser = positive)]
    pub duration: f64,

    /// Seconds of untimed sending before the delivery phase.
    #[arg(long, default_value_t = 5.0, value_parser = seconds)]
    pub warmup: f64,

    /// Typing row: events per second.
    #[arg(long, default_value_t = 200.0, value_parser = positive)]
    pub typing_rate: f64,

    /// The server's TYPING_PUSH_INTERVAL_MS (see `typing --help`).
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub push_interval_ms: u64,

    /// HTTP rows: requests per second.
    #[arg(long, default_value_t = 20.0, value_parser = positive)]
    pub request_rate: f64,

    /// Search row: messages in the conversation searched.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(100..))]
    pub search_messages: u32,

    /// How the history and search conversations are filled.
    #[arg(long, value_enum, default_value_t = Fill::Api)]
    pub fill: Fill,

    #[command(flatten)]
    pub common: Common,
}

impl Scenario {
    /// The subcommand's name (file names of the outputs).
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Delivery(_) => "delivery",
            Scenario::Connections(_) => "connections",
            Scenario::Typing(_) => "typing",
            Scenario::Burst(_) => "burst",
            Scenario::Knee(_) => "knee",
            Scenario::Idle(_) => "idle",
            Scenario::History(_) => "history",
            Scenario::ConversationList(_) => "conversation-list",
            Scenario::Search(_) => "search",
            Scenario::R10(_) => "r10",
        }
    }

    pub fn common(&self) -> &Common {
        match self {
            Scenario::Delivery(a) => &a.common,
            Scenario::Connections(a) => &a.common,
            Scenario::Typing(a) => &a.common,
            Scenario::Burst(a) => &a.common,
            Scenario::Knee(a) => &a.common,
            Scenario::Idle(a) => &a.common,
            Scenario::History(a) => &a.common,
            Scenario::ConversationList(a) => &a.common,
            Scenario::Search(a) => &a.common,
            Scenario::R10(a) => &a.common,
        }
    }
}

fn positive(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("expected a positive number, got {text:?}")),
    }
}

fn seconds(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("expected seconds (zero or more), got {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_headline_command_parses_with_its_defaults() {
        let cli =
            Cli::try_parse_from(["chat-bench", "delivery", "--users", "1000", "--rate", "100", "--duration", "60"])
                .unwrap();
        let Scenario::Delivery(args) = &cli.scenario else { panic!("not delivery: {cli:?}") };
        assert_eq!((args.population.users, args.population.devices), (1000, 1));
        assert_eq!((args.rate, args.duration, args.p99_ms), (100.0, 60.0, 10.0));
        assert_eq!(args.common.ws_url, "ws://127.0.0.1:3001/local");
        assert_eq!(cli.scenario.name(), "delivery");
    }

    #[test]
    fn bad_values_are_refused() {
        for argv in [
            vec!["chat-bench", "delivery", "--devices", "3"],
            vec!["chat-bench", "delivery", "--rate", "0"],
            vec!["chat-bench", "knee", "--rates", "100,-5"],
            vec!["chat-bench", "idle", "--watch-pid", "moto"],
            vec!["chat-bench", "history", "--fill", "csv"],
        ] {
            assert!(Cli::try_parse_from(&argv).is_err(), "{argv:?}");
        }
    }

    #[test]
    fn lists_and_repeated_options_parse() {
        let cli = Cli::try_parse_from([
            "chat-bench",
            "knee",
            "--rates",
            "200,400",
            "--watch-pid",
            "moto=12",
            "--watch-pid",
            "postgres=34",
            "--server-pid",
            "56",
        ])
        .unwrap();
        let Scenario::Knee(args) = cli.scenario else { panic!("not knee") };
        assert_eq!(args.rates, vec![200.0, 400.0]);
        assert_eq!(args.common.watch_pids.len(), 2);
        assert_eq!(args.common.server_pid, Some(56));
    }
}
