//! The benchmark's WebSocket connections and the open-loop phases run over them.
//!
//! Each connection has a reader task, which timestamps every frame on arrival and hands it to
//! the phase's [`Ledger`], and a writer task fed by an unbounded channel: the scheduler never
//! waits on a socket, a server, or an answer. A phase computes every send's instant up front,
//! and the scheduler sleeps until each one and hands the frame over (the lag of that hand-off
//! is itself measured, as `dispatch`, so a generator that falls behind is visible). After the
//! last send the phase drains: it waits until every answer and push it is owed has arrived, or
//! until nothing has arrived for the drain period, and whatever is missing then is lost.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use indicatif::ProgressBar;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

use super::api::{Api, tls_config};
use super::ledger::{
    Attribution, Counts, Ledger, MessageLedger, PingLedger, SendOutcomes, Tag, Topology, TypingLedger,
};
use super::stats::Recorder;
use super::tokens::User;
use crate::Error;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Bound on one WebSocket handshake (TCP, TLS, upgrade, authorizer and `$connect`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Time between computing a phase's schedule and its first send.
const LEAD: Duration = Duration::from_millis(200);

/// How often the progress bar's message is refreshed.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Where the WebSocket API is.
#[derive(Debug, Clone)]
pub struct Endpoint {
    url: String,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Endpoint {
    /// `url` is `ws://...` or `wss://...`, without the token.
    ///
    /// # Errors
    /// Another scheme, or TLS settings that cannot be built.
    pub fn new(url: &str) -> Result<Endpoint, Error> {
        let tls = match url.split_once("://").map(|(scheme, _)| scheme) {
            Some("ws") => None,
            Some("wss") => Some(tls_config(true)?),
            _ => return Err(format!("the WebSocket URL must start with ws:// or wss://, got {url:?}").into()),
        };
        Ok(Endpoint { url: url.to_owned(), tls })
    }

    fn url_for(&self, token: &str) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{separator}token={token}", self.url)
    }

    /// Opens one connection; the error is the failure's class, for counting.
    pub(crate) async fn open(&self, token: &str) -> Result<Socket, String> {
        // Small buffers: the frames are small, and the idle scenario holds 10,000 connections.
        let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
        let connector = self.tls.clone().map(Connector::Rustls);
        let handshake =
            tokio_tungstenite::connect_async_tls_with_config(self.url_for(token), Some(config), true, connector);
        match tokio::time::timeout(CONNECT_TIMEOUT, handshake).await {
            Err(_) => Err("TIMEOUT".to_owned()),
            Ok(Ok((socket, _))) => Ok(socket),
            Ok(Err(tungstenite::Error::Http(response))) => Err(format!("HTTP {}", response.status().as_u16())),
            Ok(Err(tungstenite::Error::Io(error))) if error.raw_os_error() == Some(24) => {
                Err("EMFILE (too many open files: raise ulimit -n)".to_owned())
            }
            Ok(Err(tungstenite::Error::Io(error))) => Err(format!("IO {:?}", error.kind())),
            Ok(Err(error)) => Err(format!("WS {error}")),
        }
    }
}

/// A frame for a connection's writer.
#[derive(Debug)]
enum Outgoing {
    Frame { tag: Tag, text: String },
    Close,
}

/// What every connection task shares.
#[derive(Debug)]
struct Shared {
    attribution: Attribution,
    ledger: Mutex<Ledger>,
    open: AtomicUsize,
    /// Why connections ended before the fleet closed them.
    closes: Mutex<BTreeMap<String, u64>>,
}

impl Shared {
    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // A panic elsewhere cannot leave the ledger half-updated in a way that matters here.
        self.ledger.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How the connection ramp went.
#[derive(Debug)]
pub struct ConnectReport {
    pub attempted: u64,
    pub connected: u64,
    /// Failures by class (`HTTP 429`, `TIMEOUT`, `EMFILE ...`).
    pub failures: BTreeMap<String, u64>,
    /// Handshake latency of each successful connection, by start time since the ramp began.
    pub latency: Recorder,
    /// First handshake started to last one finished.
    pub elapsed: Duration,
}

impl ConnectReport {
    /// Successful connections per second over the ramp.
    pub fn rate(&self) -> f64 {
        self.connected as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// One phase's results.
#[derive(Debug)]
pub struct PhaseRun {
    pub counts: Counts,
    /// Latencies by metric (`delivery`, `ack`, `typing`, `ping`), plus `dispatch`: how late
    /// the scheduler handed each frame to its writer.
    pub recorders: Vec<(&'static str, Recorder)>,
    /// First to last hand-off.
    pub send_span: Duration,
    /// The phase's length including the drain.
    pub elapsed: Duration,
    /// How each `message:send` ended (message phases only), for the PostgreSQL cross-check.
    pub sends: Option<SendOutcomes>,
}

impl PhaseRun {
    /// Frames handed over per second between the first and the last.
    pub fn achieved_rate(&self) -> f64 {
        if self.counts.sent < 2 {
            return self.counts.sent as f64;
        }
        (self.counts.sent - 1) as f64 / self.send_span.as_secs_f64().max(1e-9)
    }
}

/// Users connected (with one or two devices each) and, when paired, in conversations.
#[derive(Debug)]
pub struct Fleet {
    shared: Arc<Shared>,
    users: Vec<User>,
    writers: Vec<Option<mpsc::UnboundedSender<Outgoing>>>,
    /// Per user, their conversation (set by [`Fleet::pair`]).
    conversations: Vec<Uuid>,
    next_message: u64,
}

impl Fleet {
    /// Connects every device of every user, `concurrency` handshakes at a time; connections
    /// that fail are reported and left out (see [`Fleet::reconnect_missing`]).
    ///
    /// # Errors
    /// The topology does not fit the users.
    pub async fn connect(
        endpoint: &Endpoint,
        users: Vec<User>,
        topology: Topology,
        prefix: &str,
        concurrency: usize,
        bar: &ProgressBar,
    ) -> Result<(Fleet, ConnectReport), Error> {
        if users.len() != topology.users() as usize {
            return Err(format!("{} users for a topology of {}", users.len(), topology.users()).into());
        }
        let attribution = Attribution {
            users: users.iter().enumerate().map(|(i, u)| (u.id, i as u32)).collect(),
            prefix: prefix.to_owned(),
            topology,
        };
        let connections = attribution.topology.connections();
        let shared = Arc::new(Shared {
            attribution,
            ledger: Mutex::new(Ledger::Idle),
            open: AtomicUsize::new(0),
            closes: Mutex::new(BTreeMap::new()),
        });
        let conversations = vec![Uuid::nil(); users.len()];
        let writers = (0..connections).map(|_| None).collect();
        let mut fleet = Fleet { shared, users, writers, conversations, next_message: 0 };
        let report = fleet.open(endpoint, (0..connections).collect(), concurrency, bar).await?;
        Ok((fleet, report))
    }

    /// Connections whose handshake failed.
    pub fn missing(&self) -> Vec<u32> {
        (0..self.writers.len() as u32).filter(|c| self.writers[*c as usize].is_none()).collect()
    }

    /// Tries the connections that failed again (set-up only: the first ramp is what is reported).
    ///
    /// # Errors
    /// A connection task panicked.
    pub async fn reconnect_missing(
        &mut self,
        endpoint: &Endpoint,
        concurrency: usize,
        bar: &ProgressBar,
    ) -> Result<ConnectReport, Error> {
        let missing = self.missing();
        self.open(endpoint, missing, concurrency, bar).await
    }

    async fn open(
        &mut self,
        endpoint: &Endpoint,
        connections: Vec<u32>,
        concurrency: usize,
        bar: &ProgressBar,
    ) -> Result<ConnectReport, Error> {
        let permits = Arc::new(Semaphore::new(concurrency.max(1)));
        let started = Instant::now();
        let mut tasks = JoinSet::new();
        let attempted = connections.len() as u64;
        for c in connections {
            let token = self.users[self.topology().user_of(c) as usize].token.clone();
            let (endpoint, permits, shared) = (endpoint.clone(), permits.clone(), self.shared.clone());
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let began = Instant::now();
                let socket = endpoint.open(&token).await;
                let done = Instant::now();
                (c, socket.map(|s| spawn_connection(c, s, shared)), began, done)
            });
        }
        let mut report = ConnectReport {
            attempted,
            connected: 0,
            failures: BTreeMap::new(),
            latency: Recorder::new(),
            elapsed: Duration::ZERO,
        };
        let mut last = started;
        while let Some(joined) = tasks.join_next().await {
            let (c, outcome, began, done) = joined?;
            last = last.max(done);
            match outcome {
                Ok(writer) => {
                    self.writers[c as usize] = Some(writer);
                    report.connected += 1;
                    report.latency.record((began - started).as_secs_f64(), done - began);
                }
                Err(class) => *report.failures.entry(class).or_default() += 1,
            }
            bar.inc(1);
        }
        report.elapsed = last - started;
        Ok(report)
    }

    /// Connections open right now.
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::Relaxed)
    }

    /// Why connections ended before [`Fleet::close`], by class.
    pub fn closes(&self) -> BTreeMap<String, u64> {
        self.shared.closes.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn users(&self) -> &[User] {
        &self.users
    }

    pub fn topology(&self) -> &Topology {
        &self.shared.attribution.topology
    }

    /// `user`'s conversation (after [`Fleet::pair`]).
    pub fn conversation_of(&self, user: u32) -> Uuid {
        self.conversations[user as usize]
    }

    /// The conversations of the pairs, once each.
    pub fn conversations(&self) -> Vec<Uuid> {
        self.conversations.iter().step_by(2).copied().collect()
    }

    /// Creates each pair's conversation over the HTTP API (`POST /conversations` from the first
    /// user of the pair), `concurrency` at a time.
    ///
    /// # Errors
    /// A request failed or was refused.
    pub async fn pair(&mut self, api: &Api, concurrency: usize, bar: &ProgressBar) -> Result<(), Error> {
        let permits = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut tasks = JoinSet::new();
        for first in (0..self.users.len()).step_by(2) {
            let (token, participant) = (self.users[first].token.clone(), self.users[first + 1].id);
            let (api, permits) = (api.clone(), permits.clone());
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                (first, api.conversation_with(&token, participant).await)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let (first, conversation) = joined?;
            let conversation = conversation?;
            self.conversations[first] = conversation;
            self.conversations[first + 1] = conversation;
            bar.inc(1);
        }
        Ok(())
    }

    /// Sends `message:send` from connection `senders[i]` at `offsets[i]` after the start, to the
    /// sender's conversation; messages in the first `warmup` are accounted but not timed.
    /// `contents[i]`, when given, is the text of message `i` (else a short generated one).
    pub async fn send_messages(
        &mut self,
        offsets: &[Duration],
        senders: &[u32],
        warmup: Duration,
        contents: Option<&[String]>,
        drain: Duration,
        bar: &ProgressBar,
    ) -> PhaseRun {
        let start = Instant::now() + LEAD;
        let scheduled: Vec<Instant> = offsets.iter().map(|o| start + *o).collect();
        let first = self.next_message;
        self.next_message += offsets.len() as u64;
        let topology = self.topology().clone();
        let ledger = MessageLedger::new(first, start + warmup, scheduled.clone(), senders.to_vec(), &topology);
        let prefix = self.shared.attribution.prefix.clone();
        let conversations = &self.conversations;
        let frame = |i: usize| {
            let n = first + i as u64;
            let conversation = conversations[topology.user_of(senders[i]) as usize];
            let content = match contents {
                Some(contents) => serde_json::Value::from(contents[i].as_str()).to_string(),
                None => format!("\"{prefix}{n} load test message\""),
            };
            let text = format!(
                r#"{{"action":"message:send","conversationId":"{conversation}","content":{content},"clientMessageId":"{prefix}{n}","requestId":"s{n}"}}"#
            );
            (senders[i], Tag::Message(n), text)
        };
        run_phase(&self.shared, &self.writers, Ledger::Messages(ledger), &scheduled, frame, drain, bar).await
    }

    /// Sends `typing:start` from the first device of user `typists[i]` at `offsets[i]`.
    pub async fn send_typing(
        &self,
        offsets: &[Duration],
        typists: &[u32],
        warmup: Duration,
        drain: Duration,
        bar: &ProgressBar,
    ) -> PhaseRun {
        let start = Instant::now() + LEAD;
        let scheduled: Vec<Instant> = offsets.iter().map(|o| start + *o).collect();
        let topology = self.topology();
        let ledger = TypingLedger::new(start + warmup, scheduled.clone(), typists.to_vec(), topology);
        let frame = |i: usize| {
            let user = typists[i];
            let text = format!(
                r#"{{"action":"typing:start","conversationId":"{}","requestId":"t{i}"}}"#,
                self.conversations[user as usize]
            );
            (topology.connection(user, 0), Tag::Typing(i as u64), text)
        };
        run_phase(&self.shared, &self.writers, Ledger::Typing(ledger), &scheduled, frame, drain, bar).await
    }

    /// Sends one `ping` on every open connection, spread evenly over `spread`.
    pub async fn ping_all(&self, spread: Duration, drain: Duration, bar: &ProgressBar) -> PhaseRun {
        let connections = self.topology().connections();
        let start = Instant::now() + LEAD;
        let step = spread / connections.max(1);
        let scheduled: Vec<Instant> = (0..connections).map(|c| start + step * c).collect();
        let ledger = PingLedger::new(start, connections);
        let frame = |c: usize| (c as u32, Tag::Ping(c as u64), format!(r#"{{"action":"ping","requestId":"p{c}"}}"#));
        run_phase(&self.shared, &self.writers, Ledger::Pings(ledger), &scheduled, frame, drain, bar).await
    }

    /// Closes every connection (a close frame each; the server runs `$disconnect`) and waits
    /// up to `wait` for them to end.
    pub async fn close(self, wait: Duration) {
        for writer in self.writers.iter().flatten() {
            let _ = writer.send(Outgoing::Close);
        }
        let deadline = Instant::now() + wait;
        while self.open_connections() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Starts a connection's reader and writer; returns the writer's channel.
fn spawn_connection(c: u32, socket: Socket, shared: Arc<Shared>) -> mpsc::UnboundedSender<Outgoing> {
    let (sink, stream) = socket.split();
    let (sender, receiver) = mpsc::unbounded_channel();
    shared.open.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(write(sink, receiver, shared.clone()));
    tokio::spawn(read(c, stream, shared));
    sender
}

async fn read(c: u32, mut stream: SplitStream<Socket>, shared: Arc<Shared>) {
    let reason = loop {
        match stream.next().await {
            Some(Ok(Message::Text(text))) => {
                let now = Instant::now();
                shared.ledger().on_frame(&shared.attribution, c, now, text.as_str());
            }
            Some(Ok(Message::Close(frame))) => {
                break frame.map_or_else(|| "closed without a code".to_owned(), |f| format!("closed {}", f.code));
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => break format!("error: {error}"),
            None => break "ended".to_owned(),
        }
    };
    shared.open.fetch_sub(1, Ordering::Relaxed);
    if let Ok(mut closes) = shared.closes.lock() {
        *closes.entry(reason).or_default() += 1;
    }
}

async fn write(
    mut sink: SplitSink<Socket, Message>,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    shared: Arc<Shared>,
) {
    let mut broken = false;
    while let Some(outgoing) = queue.recv().await {
        match outgoing {
            Outgoing::Frame { tag, text } => {
                if broken || sink.send(Message::Text(text.into())).await.is_err() {
                    broken = true;
                    shared.ledger().on_send_failed(tag);
                }
            }
            Outgoing::Close => {
                let _ = sink.send(Message::Close(None)).await;
                return;
            }
        }
    }
}

/// The last stretch before a send is spun rather than slept: `nanosleep` wakes 50-100 µs late.
const SPIN: Duration = Duration::from_micros(100);

/// Blocks the thread until `at`, to within a few microseconds.
fn sleep_until(at: Instant) {
    loop {
        let now = Instant::now();
        if now >= at {
            return;
        }
        let left = at - now;
        if left > SPIN {
            std::thread::sleep(left - SPIN);
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Installs `ledger`, sends `frame(i)` at `scheduled[i]`, drains, and takes the ledger back.
async fn run_phase(
    shared: &Shared,
    writers: &[Option<mpsc::UnboundedSender<Outgoing>>],
    ledger: Ledger,
    scheduled: &[Instant],
    mut frame: impl FnMut(usize) -> (u32, Tag, String),
    drain: Duration,
    bar: &ProgressBar,
) -> PhaseRun {
    let began = Instant::now();
    *shared.ledger() = ledger;
    bar.set_length(scheduled.len() as u64);
    bar.set_position(0);
    let mut dispatch = Recorder::new();
    let mut refreshed = Instant::now();
    let (mut first_sent, mut last_sent) = (None, None);
    // The schedule runs on this thread, off the runtime's workers (which keep running the
    // connections): tokio's timer has millisecond ticks, which would make every send up to a
    // millisecond late and count that against the server.
    tokio::task::block_in_place(|| {
        for (i, &at) in scheduled.iter().enumerate() {
            sleep_until(at);
            let (connection, tag, text) = frame(i);
            let now = Instant::now();
            dispatch.record(at.saturating_duration_since(scheduled[0]).as_secs_f64(), now - at);
            first_sent.get_or_insert(now);
            last_sent = Some(now);
            shared.ledger().on_sent(tag, at);
            let handed = writers
                .get(connection as usize)
                .and_then(Option::as_ref)
                .is_some_and(|w| w.send(Outgoing::Frame { tag, text }).is_ok());
            if !handed {
                shared.ledger().on_send_failed(tag);
            }
            bar.inc(1);
            if refreshed.elapsed() >= PROGRESS_EVERY {
                refreshed = Instant::now();
                let (sent, errors) = shared.ledger().progress();
                let rate = sent as f64 / (now - scheduled[0]).as_secs_f64().max(1e-3);
                bar.set_message(format!("{rate:.0}/s, {errors} errors"));
            }
        }
    });
    let mut seen = shared.ledger().events();
    let mut quiet_since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let ledger = shared.ledger();
        if ledger.settled() {
            break;
        }
        if ledger.events() != seen {
            seen = ledger.events();
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() >= drain {
            break;
        }
    }
    let ledger = std::mem::take(&mut *shared.ledger());
    let sends = ledger.send_outcomes();
    let (counts, mut recorders) = ledger.finish();
    recorders.push(("dispatch", dispatch));
    let send_span = match (first_sent, last_sent) {
        (Some(first), Some(last)) => last - first,
        _ => Duration::ZERO,
    };
    PhaseRun { counts, recorders, send_span, elapsed: began.elapsed(), sends }
}
