//! `chat-bench`, the load generator: drives the WebSocket and HTTP APIs (chat-local, or a
//! deployed API Gateway stage) with open-loop schedules and measures what users would see.
//!
//! # Layout
//! - [`cli`]: the scenarios and their options (clap).
//! - [`scenario`]: each scenario: set-up, phases, targets.
//! - [`schedule`]: Poisson and burst arrival times, senders and typists, from a seed.
//! - [`fleet`]: the connections (a reader and a writer task each) and the phases over them.
//! - [`ledger`]: attributing every frame read, and what that adds up to (lost, duplicated...).
//! - [`stats`]: HdrHistogram recorders, summaries, percentile curves, per-second timelines.
//! - [`rest`]: open-loop HTTP requests, and filling conversations for the HTTP rows.
//! - [`api`]: the HTTP API client (hyper, rustls) and the TLS settings.
//! - [`tokens`]: dev tokens from a secret, or a token file.
//! - [`pg`]: the PostgreSQL cross-check, and the optional direct load.
//! - [`procfs`]: VmRSS and CPU of the server's processes, and of the machine.
//! - [`stalls`]: the machine's wake-up delay, from a thread that only sleeps.
//! - [`report`], [`svg`]: Markdown, JSON and the plots.
//!
//! A run owns its users (`bench-<run>-<n>`, or the token file's) and tags its messages with
//! `clientMessageId` `b<run>-<n>`, so runs never mix, even against a shared database.

pub mod api;
pub mod cli;
pub mod fleet;
pub mod ledger;
pub mod pg;
pub mod procfs;
pub mod report;
pub mod rest;
pub mod scenario;
pub mod schedule;
pub mod stalls;
pub mod stats;
pub mod svg;
pub mod tokens;

use std::io::IsTerminal;
use std::time::Duration;

use chat_shared::auth::{JwtAlgorithm, JwtConfig, KeySource};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use uuid::Uuid;

use crate::Error;
use api::Api;
use cli::{Cli, Common, Population, Scenario};
use fleet::{ConnectReport, Endpoint, Fleet, PhaseRun};
use ledger::{SendOutcomes, Topology};
use procfs::{CpuWatch, Watched};
use report::{PhaseReport, RunReport};
use tokens::{Tokens, User};

/// Retries of failed connections during set-up.
const RECONNECT_ATTEMPTS: u32 = 3;

/// A finished run: the report, and the phase whose plots go next to the JSON.
#[derive(Debug)]
pub struct Outcome {
    pub report: RunReport,
    pub plot_phase: Option<String>,
}

/// Runs the scenario `cli` names.
///
/// # Errors
/// Bad options, a service that cannot be reached, set-up that fails (connections or
/// conversations that cannot be made). Missed targets are not errors: see
/// [`RunReport::missed`].
pub async fn run(cli: &Cli) -> Result<Outcome, Error> {
    let mut context = Context::new(cli.scenario.name(), cli.scenario.common())?;
    let plot_phase = match &cli.scenario {
        Scenario::Delivery(args) => scenario::delivery(&mut context, args).await?,
        Scenario::Connections(args) => scenario::connections(&mut context, args).await?,
        Scenario::Typing(args) => scenario::typing(&mut context, args).await?,
        Scenario::Burst(args) => scenario::burst(&mut context, args).await?,
        Scenario::Knee(args) => scenario::knee(&mut context, args).await?,
        Scenario::Idle(args) => scenario::idle(&mut context, args).await?,
        Scenario::History(args) => scenario::history(&mut context, args).await?,
        Scenario::ConversationList(args) => scenario::conversation_list(&mut context, args).await?,
        Scenario::Search(args) => scenario::search(&mut context, args).await?,
        Scenario::R10(args) => scenario::r10(&mut context, args).await?,
    };
    context.cross_check().await?;
    Ok(Outcome { report: context.report, plot_phase })
}

/// The command line as one string, for the report.
fn command_line() -> String {
    std::env::args()
        .map(|a| if a.contains(char::is_whitespace) || a.is_empty() { format!("'{a}'") } else { a })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a run's scenarios share.
#[derive(Debug)]
pub struct Context {
    pub common: Common,
    pub endpoint: Endpoint,
    pub api: Api,
    tokens: Tokens,
    watch: CpuWatch,
    /// `clientMessageId` prefix of this run.
    prefix: String,
    /// Every user of a paired fleet, and how each message of the run ended, for the
    /// cross-check.
    senders: Vec<Uuid>,
    sends: Vec<SendOutcomes>,
    pub report: RunReport,
}

impl Context {
    /// # Errors
    /// No way to get tokens, an unreadable token file, bad URLs.
    pub fn new(scenario: &str, common: &Common) -> Result<Context, Error> {
        let run_id: String = Uuid::new_v4().simple().to_string().chars().take(8).collect();
        let tokens = match (&common.token_file, &common.jwt_secret) {
            (Some(path), _) => {
                Tokens::from_file_text(&std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?)?
            }
            (None, Some(secret)) if !secret.is_empty() => Tokens::issued(
                JwtConfig {
                    algorithm: JwtAlgorithm::Hs256,
                    key: KeySource::Secret(secret.clone()),
                    issuer: common.jwt_issuer.clone(),
                    audience: common.jwt_audience.clone(),
                    leeway_seconds: 0,
                },
                &run_id,
            ),
            _ => return Err("no tokens: give --jwt-secret (or JWT_SECRET) or --token-file".into()),
        };
        let mut watched: Vec<Watched> = common.watch_pids.clone();
        if let Some(pid) = common.server_pid {
            watched.insert(0, Watched { name: "server".to_owned(), pid });
        }
        let report = RunReport {
            scenario: scenario.to_owned(),
            run_id: run_id.clone(),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            machine: crate::coldstart::machine(),
            command: command_line(),
            ws_url: common.ws_url.clone(),
            http_url: common.http_url.clone(),
            notes: Vec::new(),
            phases: Vec::new(),
            cross_check: None,
            cross_check_skipped: None,
            server_memory: None,
            knee: None,
            targets: Vec::new(),
        };
        Ok(Context {
            endpoint: Endpoint::new(&common.ws_url)?,
            api: Api::new(&common.http_url)?,
            common: common.clone(),
            tokens,
            watch: CpuWatch::new(watched),
            prefix: format!("b{run_id}-"),
            senders: Vec::new(),
            sends: Vec::new(),
            report,
        })
    }

    /// A progress bar for `label` (hidden with --quiet or when stderr is not a terminal).
    pub fn bar(&self, label: &str) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        if self.common.quiet || !std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        let style = ProgressStyle::with_template("{prefix:>18} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(label.to_owned());
        bar
    }

    /// A line on stderr (not with --quiet).
    pub fn say(&self, line: &str) {
        if !self.common.quiet {
            eprintln!("chat-bench: {line}");
        }
    }

    /// Something a reader of the report must know (how data was made...).
    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        self.say(&note);
        self.report.notes.push(note);
    }

    pub fn drain(&self) -> Duration {
        Duration::from_secs_f64(self.common.drain)
    }

    /// The next `n` users of the run.
    ///
    /// # Errors
    /// See [`Tokens::take`].
    pub fn users(&mut self, n: usize) -> Result<Vec<User>, Error> {
        self.tokens.take(n)
    }

    /// Connects `population` (paired into conversations when `paired`) and records the ramp.
    /// With `require_all`, a connection that fails is an error.
    ///
    /// # Errors
    /// Bad population, a connection that failed (with `require_all`), pairing failed.
    pub async fn fleet(&mut self, population: Population, paired: bool, require_all: bool) -> Result<Fleet, Error> {
        let topology = Topology::new(population.users, population.devices, paired)?;
        let users = self.users(population.users as usize)?;
        self.say(&format!("connecting {} connections of {} users", topology.connections(), population.users));
        let bar = self.bar("connect");
        let before = self.watch.sample();
        let concurrency = self.common.concurrency as usize;
        let (mut fleet, connect) =
            Fleet::connect(&self.endpoint, users, topology, &self.prefix, concurrency, &bar).await?;
        bar.finish_and_clear();
        self.connect_phase("connect", &connect, &before);
        if require_all {
            // Connections are set-up here: retry the failed ones (the ramp above stays as measured).
            for attempt in 1..=RECONNECT_ATTEMPTS {
                if fleet.missing().is_empty() {
                    break;
                }
                let bar = self.bar("reconnect");
                let retried = fleet.reconnect_missing(&self.endpoint, concurrency, &bar).await?;
                bar.finish_and_clear();
                self.note(format!(
                    "set-up: {} failed connections retried (attempt {attempt}): {} connected, failures {:?}",
                    retried.attempted, retried.connected, retried.failures
                ));
            }
            let missing = fleet.missing().len();
            if missing > 0 {
                return Err(format!(
                    "{missing} of {} connections could not be made: {:?}",
                    connect.attempted, connect.failures
                )
                .into());
            }
        }
        if paired {
            let bar = self.bar("pair");
            bar.set_length(u64::from(population.users / 2));
            fleet.pair(&self.api, concurrency, &bar).await?;
            bar.finish_and_clear();
            self.senders.extend(fleet.users().iter().map(|u| u.id));
        }
        Ok(fleet)
    }

    fn connect_phase(&mut self, name: &str, connect: &ConnectReport, before: &procfs::CpuSample) {
        let mut phase = PhaseReport::from_connect(name, connect);
        self.measure_cpu(&mut phase, before);
        self.say(&format!(
            "{name}: {} of {} in {:.2} s ({:.0}/s), p99 {:.1} ms{}",
            connect.connected,
            connect.attempted,
            connect.elapsed.as_secs_f64(),
            connect.rate(),
            phase.metric("connect").p99_ms,
            if connect.failures.is_empty() { String::new() } else { format!(", failures {:?}", connect.failures) }
        ));
        self.report.phases.push(phase);
    }

    /// Records a message phase (its successful acks count towards the cross-check).
    pub fn message_phase(
        &mut self,
        name: &str,
        rate: f64,
        duration_s: f64,
        run: &PhaseRun,
        cpu: &procfs::CpuSample,
    ) -> PhaseReport {
        self.sends.extend(run.sends.clone());
        self.phase(name, "message:send", rate, duration_s, run, cpu)
    }

    /// Records a phase over the fleet and returns a copy of its report.
    pub fn phase(
        &mut self,
        name: &str,
        operation: &str,
        rate: f64,
        duration_s: f64,
        run: &PhaseRun,
        cpu: &procfs::CpuSample,
    ) -> PhaseReport {
        let mut phase = PhaseReport::from_run(name, operation, rate, duration_s, run);
        self.measure_cpu(&mut phase, cpu);
        let headline =
            ["delivery", "typing", "ping"].iter().find_map(|m| phase.latency.get(*m)).copied().unwrap_or_default();
        let c = &phase.counts;
        self.say(&format!(
            "{name}: sent {} of {} ({:.1}/s), p99 {:.2} ms, lost {}, duplicated {}, errors {}, unanswered {}",
            c.sent,
            c.scheduled,
            phase.achieved_rate,
            headline.p99_ms,
            c.lost,
            c.duplicated,
            c.error_total(),
            c.unanswered
        ));
        self.report.phases.push(phase.clone());
        phase
    }

    /// The processes' and the machine's CPU from `before` to now, into `phase`.
    fn measure_cpu(&self, phase: &mut PhaseReport, before: &procfs::CpuSample) {
        let now = self.watch.sample();
        phase.cpu = self.watch.usage(before, &now);
        phase.machine = self.watch.machine_usage(before, &now);
        phase.stalls = CpuWatch::stalls(before, &now);
    }

    /// A CPU sample to pass to [`Context::phase`] at its end.
    pub fn cpu(&self) -> procfs::CpuSample {
        self.watch.sample()
    }

    /// Records an HTTP phase.
    pub fn request_phase(&mut self, phase: PhaseReport, cpu: &procfs::CpuSample) -> PhaseReport {
        let mut phase = phase;
        self.measure_cpu(&mut phase, cpu);
        let request = phase.metric("request");
        self.say(&format!(
            "{}: {} of {} answered as expected, p50 {:.2} ms, p99 {:.2} ms, errors {:?}",
            phase.name,
            phase.counts.answered_ok,
            phase.counts.scheduled,
            request.p50_ms,
            request.p99_ms,
            phase.counts.errors
        ));
        self.report.phases.push(phase.clone());
        phase
    }

    /// Holds the run's messages in PostgreSQL against how each send ended (when the run had a
    /// message phase); an acknowledged message missing or a refused one stored becomes a missed
    /// target.
    async fn cross_check(&mut self) -> Result<(), Error> {
        if self.sends.is_empty() {
            return Ok(());
        }
        let Some(url) = self.common.database_url.clone().filter(|u| !u.is_empty()) else {
            self.report.cross_check_skipped = Some("no --database-url (DATABASE_URL)".to_owned());
            return Ok(());
        };
        let check = pg::cross_check(&url, &self.senders, &self.prefix, &self.sends).await?;
        self.report.targets.push(report::TargetCheck::new(
            "issue",
            "PostgreSQL holds every acknowledged message once, and no refused one",
            check.summary(),
            Some(check.passed()),
        ));
        self.say(&format!("PostgreSQL cross-check: {}", check.summary()));
        self.report.cross_check = Some(check);
        Ok(())
    }
}
