//! Accounting: what each phase sent, what came back, and what that means (pure; no I/O).
//!
//! Every frame a connection reads goes to [`Ledger::on_frame`] with the instant it arrived.
//! Frames are attributed by what the client chose: message acks by `requestId` (`s<n>`),
//! `message:received` pushes by `clientMessageId` (`<prefix><n>`), typing pushes by the typist's
//! user id (each typist has at most one event in flight, see [`super::schedule::typists`]),
//! ping acks by `requestId` (`p<connection>`).
//!
//! What the protocol promises, and so what is counted (`docs/protocol.md`, "Pushed events"):
//! a stored message is pushed to every connection of the recipient and to the sender's other
//! connections; `typing:start` to every connection of the other participant. A message
//! answered with an error ack was not stored and must not be pushed. Missing pushes are
//! **lost**, pushes beyond one per message and receiving connection are **duplicated**, frames
//! that match nothing sent (or a refused message) are **stray**.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::stats::Recorder;

/// Who is connected where: connection `c` belongs to user `c / devices`, and users are paired
/// `2k <-> 2k + 1` into conversations (when paired).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    users: u32,
    devices: u32,
    paired: bool,
}

impl Topology {
    /// `users` users with `devices` connections each; `paired` pairs them into conversations.
    ///
    /// # Errors
    /// No users, devices other than 1 or 2, or an odd number of users to pair.
    pub fn new(users: u32, devices: u32, paired: bool) -> Result<Topology, String> {
        if users == 0 {
            return Err("at least one user is needed".to_owned());
        }
        if !(1..=2).contains(&devices) {
            return Err(format!("devices must be 1 or 2, got {devices}"));
        }
        if paired && users % 2 == 1 {
            return Err(format!("users are paired into conversations, so their number must be even (got {users})"));
        }
        Ok(Topology { users, devices, paired })
    }

    pub fn users(&self) -> u32 {
        self.users
    }

    pub fn devices(&self) -> u32 {
        self.devices
    }

    pub fn connections(&self) -> u32 {
        self.users * self.devices
    }

    pub fn user_of(&self, connection: u32) -> u32 {
        connection / self.devices
    }

    pub fn device_of(&self, connection: u32) -> u32 {
        connection % self.devices
    }

    pub fn connection(&self, user: u32, device: u32) -> u32 {
        user * self.devices + device
    }

    /// The other participant of `user`'s conversation (`None` when unpaired).
    pub fn partner(&self, user: u32) -> Option<u32> {
        self.paired.then_some(user ^ 1)
    }

    /// Connections a message is pushed to: the recipient's devices and the sender's others.
    pub fn receivers_per_message(&self) -> u32 {
        2 * self.devices - 1
    }

    /// Which of a message's receivers `receiver` is, for a message sent from `sender`:
    /// `0..devices` the recipient's devices, then the sender's other device.
    fn message_slot(&self, sender: u32, receiver: u32) -> Option<(u32, bool)> {
        let (from, to) = (self.user_of(sender), self.user_of(receiver));
        if Some(to) == self.partner(from) {
            Some((self.device_of(receiver), true))
        } else if to == from && receiver != sender {
            Some((self.devices, false))
        } else {
            None
        }
    }
}

/// What a phase sent and got back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Operations in the schedule.
    pub scheduled: u64,
    /// Handed to a connection's writer (the rest failed to be written: `SEND_FAILED`).
    pub sent: u64,
    /// Success acks (first one per operation).
    pub answered_ok: u64,
    /// Operations that expect an ack and got none by the end of the drain.
    pub unanswered: u64,
    /// Pushes the protocol promises for what was sent and not refused.
    pub expected_deliveries: u64,
    /// Of those, the ones that arrived (at most one per operation and receiving connection).
    pub received: u64,
    /// `expected_deliveries - received`.
    pub lost: u64,
    /// Pushes or acks beyond the first per operation and receiving connection.
    pub duplicated: u64,
    /// Frames that match nothing this phase sent, or pushes of a refused message.
    pub stray: u64,
    /// Error acks by code, and `SEND_FAILED` for frames that could not be written.
    pub errors: BTreeMap<String, u64>,
}

impl Counts {
    /// Error acks and failed writes.
    pub fn error_total(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Whether nothing went wrong: no loss, duplicate, stray frame, error or missing ack.
    pub fn clean(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.stray == 0 && self.unanswered == 0 && self.errors.is_empty()
    }

    /// `received / expected_deliveries` (1 when nothing was expected).
    pub fn delivery_ratio(&self) -> f64 {
        if self.expected_deliveries == 0 { 1.0 } else { self.received as f64 / self.expected_deliveries as f64 }
    }
}

/// The frames we read: an ack, or a pushed event. Strings are borrowed unless escaped.
#[derive(Debug, Deserialize)]
struct Frame<'a> {
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "requestId")]
    request_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<FrameData<'a>>,
    #[serde(borrow, default)]
    error: Option<FrameError<'a>>,
}

#[derive(Debug, Deserialize)]
struct FrameData<'a> {
    #[serde(borrow, default, rename = "clientMessageId")]
    client_message_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "userId")]
    user_id: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
struct FrameError<'a> {
    #[serde(borrow)]
    code: Cow<'a, str>,
}

/// Where an operation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Ok,
    /// Refused with a code that says nothing was done.
    Refused,
    /// Answered with an error that does not say whether the message was stored
    /// ([`UNSETTLING_CODES`]).
    Failed,
    SendFailed,
}

/// Error codes of a `message:send` after which the message may or may not be stored: the store
/// timed out or something failed after it (docs/protocol.md). A retry with the same
/// `clientMessageId` settles it; every other code promises that nothing was stored.
pub const UNSETTLING_CODES: [&str; 2] = ["SERVICE_UNAVAILABLE", "INTERNAL_ERROR"];

/// How a `message:send` ended as its sender saw it, for the PostgreSQL cross-check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// Acknowledged: stored, once.
    Acked,
    /// Refused with a code that promises nothing was stored.
    Refused,
    /// Stored or not: an [`UNSETTLING_CODES`] answer, no answer, or a frame that could not be
    /// written.
    Unsettled,
}

/// The outcomes of one phase's messages, numbered from `first` (`clientMessageId` is
/// `<prefix><first + i>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendOutcomes {
    pub first: u64,
    pub outcomes: Vec<SendOutcome>,
}

/// `message:send` operations of one phase.
#[derive(Debug)]
pub struct MessageLedger {
    /// Global number of the first message (`clientMessageId` is `<prefix><first + i>`).
    first: u64,
    /// The end of the warm-up: messages scheduled before it are accounted but not timed.
    origin: Instant,
    scheduled: Vec<Instant>,
    senders: Vec<u32>,
    slots: u32,
    state: Vec<State>,
    acks: Vec<u8>,
    /// `slots` counters per message.
    receipts: Vec<u8>,
    counts: Counts,
    delivery: Recorder,
    ack: Recorder,
    events: u64,
}

impl MessageLedger {
    /// Messages `first..first + scheduled.len()`, sent from connections `senders`.
    pub fn new(first: u64, origin: Instant, scheduled: Vec<Instant>, senders: Vec<u32>, topology: &Topology) -> Self {
        let n = scheduled.len();
        let slots = topology.receivers_per_message();
        MessageLedger {
            first,
            origin,
            senders,
            slots,
            state: vec![State::Pending; n],
            acks: vec![0; n],
            receipts: vec![0; n * slots as usize],
            counts: Counts { scheduled: n as u64, ..Counts::default() },
            scheduled,
            delivery: Recorder::new(),
            ack: Recorder::new(),
            events: 0,
        }
    }

    fn index(&self, number: u64) -> Option<usize> {
        number.checked_sub(self.first).map(|i| i as usize).filter(|i| *i < self.scheduled.len())
    }

    /// Seconds since the origin of message `i`'s scheduled instant, or `None` in the warm-up.
    fn timed_at(&self, i: usize) -> Option<f64> {
        self.scheduled[i].checked_duration_since(self.origin).map(|d| d.as_secs_f64())
    }

    fn on_sent(&mut self, number: u64) {
        if self.index(number).is_some() {
            self.counts.sent += 1;
        }
    }

    fn on_send_failed(&mut self, number: u64) {
        if let Some(i) = self.index(number) {
            self.counts.sent -= 1;
            self.state[i] = State::SendFailed;
            *self.counts.errors.entry("SEND_FAILED".to_owned()).or_default() += 1;
            self.events += 1;
        }
    }

    fn on_ack(&mut self, number: u64, now: Instant, error: Option<&str>) {
        let Some(i) = self.index(number) else {
            self.counts.stray += 1;
            return;
        };
        self.events += 1;
        self.acks[i] = self.acks[i].saturating_add(1);
        if self.acks[i] > 1 {
            self.counts.duplicated += 1;
            return;
        }
        match error {
            None => {
                self.state[i] = State::Ok;
                self.counts.answered_ok += 1;
                if let Some(at) = self.timed_at(i) {
                    self.ack.record(at, now.saturating_duration_since(self.scheduled[i]));
                }
            }
            Some(code) => {
                self.state[i] = if UNSETTLING_CODES.contains(&code) { State::Failed } else { State::Refused };
                *self.counts.errors.entry(code.to_owned()).or_default() += 1;
            }
        }
    }

    /// How each message ended so far (call before [`Self::finish`]; a message still pending is
    /// unsettled).
    pub fn outcomes(&self) -> SendOutcomes {
        let outcomes = self
            .state
            .iter()
            .map(|state| match state {
                State::Ok => SendOutcome::Acked,
                State::Refused => SendOutcome::Refused,
                State::Pending | State::Failed | State::SendFailed => SendOutcome::Unsettled,
            })
            .collect();
        SendOutcomes { first: self.first, outcomes }
    }

    fn on_received(&mut self, number: u64, receiver: u32, now: Instant, topology: &Topology) {
        let Some(i) = self.index(number) else {
            self.counts.stray += 1;
            return;
        };
        let Some((slot, recipient)) = topology.message_slot(self.senders[i], receiver) else {
            self.counts.stray += 1;
            return;
        };
        self.events += 1;
        let cell = &mut self.receipts[i * self.slots as usize + slot as usize];
        *cell = cell.saturating_add(1);
        if *cell > 1 {
            self.counts.duplicated += 1;
        } else if recipient && let Some(at) = self.timed_at(i) {
            self.delivery.record(at, now.saturating_duration_since(self.scheduled[i]));
        }
    }

    /// Whether every message is settled: refused or failed, or acked and received everywhere.
    pub fn settled(&self) -> bool {
        self.state.iter().enumerate().all(|(i, state)| match state {
            State::Refused | State::Failed | State::SendFailed => true,
            State::Pending => false,
            State::Ok => self.receipts[i * self.slots as usize..(i + 1) * self.slots as usize].iter().all(|r| *r > 0),
        })
    }

    /// The counts, and the `delivery` and `ack` latencies.
    pub fn finish(mut self) -> (Counts, Vec<(&'static str, Recorder)>) {
        let slots = self.slots as usize;
        for (i, state) in self.state.iter().enumerate() {
            let receipts = &self.receipts[i * slots..(i + 1) * slots];
            let got = receipts.iter().filter(|r| **r > 0).count() as u64;
            match state {
                State::Refused | State::Failed | State::SendFailed => self.counts.stray += got,
                State::Pending | State::Ok => {
                    if *state == State::Pending {
                        self.counts.unanswered += 1;
                    }
                    self.counts.expected_deliveries += slots as u64;
                    self.counts.received += got;
                }
            }
        }
        self.counts.lost = self.counts.expected_deliveries - self.counts.received;
        (self.counts, vec![("delivery", self.delivery), ("ack", self.ack)])
    }
}

/// `typing:start` operations of one phase (no ack on success; pushed to the partner's devices).
#[derive(Debug)]
pub struct TypingLedger {
    origin: Instant,
    scheduled: Vec<Instant>,
    typists: Vec<u32>,
    devices: u32,
    /// Per user, their latest event handed to a writer.
    latest: Vec<Option<u32>>,
    state: Vec<State>,
    receipts: Vec<u8>,
    counts: Counts,
    typing: Recorder,
    events: u64,
}

impl TypingLedger {
    /// Events by `typists` (user indices) at `scheduled`.
    pub fn new(origin: Instant, scheduled: Vec<Instant>, typists: Vec<u32>, topology: &Topology) -> Self {
        let n = scheduled.len();
        TypingLedger {
            origin,
            typists,
            devices: topology.devices(),
            latest: vec![None; topology.users() as usize],
            state: vec![State::Pending; n],
            receipts: vec![0; n * topology.devices() as usize],
            counts: Counts { scheduled: n as u64, ..Counts::default() },
            scheduled,
            typing: Recorder::new(),
            events: 0,
        }
    }

    fn on_sent(&mut self, i: u64) {
        if let Some(&user) = self.typists.get(i as usize) {
            self.latest[user as usize] = Some(i as u32);
            self.counts.sent += 1;
        }
    }

    fn on_send_failed(&mut self, i: u64) {
        if let Some(state) = self.state.get_mut(i as usize) {
            *state = State::SendFailed;
            self.counts.sent -= 1;
            *self.counts.errors.entry("SEND_FAILED".to_owned()).or_default() += 1;
            self.events += 1;
        }
    }

    fn on_error(&mut self, i: u64, code: &str) {
        match self.state.get_mut(i as usize) {
            Some(state) => {
                *state = State::Refused;
                *self.counts.errors.entry(code.to_owned()).or_default() += 1;
                self.events += 1;
            }
            None => self.counts.stray += 1,
        }
    }

    fn on_push(&mut self, typist: Option<u32>, receiver: u32, now: Instant, topology: &Topology) {
        let event = typist.and_then(|u| self.latest.get(u as usize).copied().flatten().map(|i| (u, i as usize)));
        let Some((user, i)) = event else {
            self.counts.stray += 1;
            return;
        };
        if topology.partner(user) != Some(topology.user_of(receiver)) || self.state[i] != State::Pending {
            self.counts.stray += 1;
            return;
        }
        self.events += 1;
        let cell = &mut self.receipts[i * self.devices as usize + topology.device_of(receiver) as usize];
        *cell = cell.saturating_add(1);
        if *cell > 1 {
            self.counts.duplicated += 1;
        } else if let Some(at) = self.scheduled[i].checked_duration_since(self.origin) {
            self.typing.record(at.as_secs_f64(), now.saturating_duration_since(self.scheduled[i]));
        }
    }

    /// Whether every event sent and not refused reached all of the partner's devices.
    pub fn settled(&self) -> bool {
        let d = self.devices as usize;
        self.state
            .iter()
            .enumerate()
            .all(|(i, state)| *state != State::Pending || self.receipts[i * d..(i + 1) * d].iter().all(|r| *r > 0))
    }

    /// The counts and the `typing` latency.
    pub fn finish(mut self) -> (Counts, Vec<(&'static str, Recorder)>) {
        let d = self.devices as usize;
        for (i, state) in self.state.iter().enumerate() {
            if *state == State::Pending {
                self.counts.expected_deliveries += d as u64;
                self.counts.received += self.receipts[i * d..(i + 1) * d].iter().filter(|r| **r > 0).count() as u64;
            }
        }
        self.counts.lost = self.counts.expected_deliveries - self.counts.received;
        (self.counts, vec![("typing", self.typing)])
    }
}

/// One `ping` per connection (answered by an ack `{pong: true}`).
#[derive(Debug)]
pub struct PingLedger {
    origin: Instant,
    sent_at: Vec<Option<Instant>>,
    answered: Vec<u8>,
    counts: Counts,
    ping: Recorder,
    events: u64,
}

impl PingLedger {
    pub fn new(origin: Instant, connections: u32) -> Self {
        PingLedger {
            origin,
            sent_at: vec![None; connections as usize],
            answered: vec![0; connections as usize],
            counts: Counts { scheduled: u64::from(connections), ..Counts::default() },
            ping: Recorder::new(),
            events: 0,
        }
    }

    fn on_sent(&mut self, connection: u64, at: Instant) {
        if let Some(slot) = self.sent_at.get_mut(connection as usize) {
            *slot = Some(at);
            self.counts.sent += 1;
        }
    }

    fn on_send_failed(&mut self, connection: u64) {
        if let Some(slot) = self.sent_at.get_mut(connection as usize) {
            *slot = None;
            self.counts.sent -= 1;
            *self.counts.errors.entry("SEND_FAILED".to_owned()).or_default() += 1;
            self.events += 1;
        }
    }

    fn on_ack(&mut self, connection: u64, now: Instant, error: Option<&str>) {
        let i = connection as usize;
        let Some(Some(sent)) = self.sent_at.get(i).copied() else {
            self.counts.stray += 1;
            return;
        };
        self.events += 1;
        self.answered[i] = self.answered[i].saturating_add(1);
        if self.answered[i] > 1 {
            self.counts.duplicated += 1;
            return;
        }
        match error {
            None => {
                self.counts.answered_ok += 1;
                let at = sent.saturating_duration_since(self.origin).as_secs_f64();
                self.ping.record(at, now.saturating_duration_since(sent));
            }
            Some(code) => *self.counts.errors.entry(code.to_owned()).or_default() += 1,
        }
    }

    pub fn settled(&self) -> bool {
        self.sent_at.iter().zip(&self.answered).all(|(sent, answered)| sent.is_none() || *answered > 0)
    }

    /// The counts and the `ping` latency.
    pub fn finish(mut self) -> (Counts, Vec<(&'static str, Recorder)>) {
        self.counts.unanswered = self
            .sent_at
            .iter()
            .zip(&self.answered)
            .filter(|(sent, answered)| sent.is_some() && **answered == 0)
            .count() as u64;
        (self.counts, vec![("ping", self.ping)])
    }
}

/// What a frame written by a connection's writer was, so a failed write is accounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// Global message number.
    Message(u64),
    /// Typing event index in its phase.
    Typing(u64),
    /// Ping of this connection.
    Ping(u64),
}

/// The phase in progress, to which frames are attributed.
#[derive(Debug, Default)]
pub enum Ledger {
    /// Between phases: every frame is stray.
    #[default]
    Idle,
    Messages(MessageLedger),
    Typing(TypingLedger),
    Pings(PingLedger),
}

/// What the dispatcher needs to attribute frames besides the ledger.
#[derive(Debug)]
pub struct Attribution {
    pub topology: Topology,
    /// `clientMessageId` prefix of this run (`b<run>-`).
    pub prefix: String,
    /// User id -> user index.
    pub users: HashMap<Uuid, u32>,
}

impl Ledger {
    /// A frame was handed to a writer at `at`.
    pub fn on_sent(&mut self, tag: Tag, at: Instant) {
        match (self, tag) {
            (Ledger::Messages(l), Tag::Message(n)) => l.on_sent(n),
            (Ledger::Typing(l), Tag::Typing(i)) => l.on_sent(i),
            (Ledger::Pings(l), Tag::Ping(c)) => l.on_sent(c, at),
            _ => {}
        }
    }

    /// A frame could not be written (the connection is gone).
    pub fn on_send_failed(&mut self, tag: Tag) {
        match (self, tag) {
            (Ledger::Messages(l), Tag::Message(n)) => l.on_send_failed(n),
            (Ledger::Typing(l), Tag::Typing(i)) => l.on_send_failed(i),
            (Ledger::Pings(l), Tag::Ping(c)) => l.on_send_failed(c),
            _ => {}
        }
    }

    /// Attributes one text frame read by `connection` at `now`.
    pub fn on_frame(&mut self, context: &Attribution, connection: u32, now: Instant, text: &str) {
        let Ok(frame) = serde_json::from_str::<Frame>(text) else {
            self.stray();
            return;
        };
        if let Some(event) = frame.event.as_deref() {
            let data = frame.data.as_ref();
            match (event, &mut *self) {
                ("message:received", Ledger::Messages(l)) => {
                    match data.and_then(|d| d.client_message_id.as_deref()).and_then(|id| number(id, &context.prefix)) {
                        Some(n) => l.on_received(n, connection, now, &context.topology),
                        None => l.counts.stray += 1,
                    }
                }
                ("typing:start", Ledger::Typing(l)) => {
                    let typist = data
                        .and_then(|d| d.user_id.as_deref())
                        .and_then(|id| Uuid::try_parse(id).ok())
                        .and_then(|id| context.users.get(&id).copied());
                    l.on_push(typist, connection, now, &context.topology);
                }
                // Status updates and typing:stop (sending clears the typist) are not measured.
                ("message:delivered" | "messages:read" | "typing:stop", _) => {}
                _ => self.stray(),
            }
            return;
        }
        let error = match frame.status.as_deref() {
            Some("success") => None,
            Some("error") => Some(frame.error.as_ref().map_or("ERROR_WITHOUT_CODE", |e| e.code.as_ref())),
            _ => {
                self.stray();
                return;
            }
        };
        let request = frame.request_id.as_deref().unwrap_or_default();
        match (request.split_at_checked(1), &mut *self) {
            (Some(("s", n)), Ledger::Messages(l)) if n.parse::<u64>().is_ok() => {
                l.on_ack(n.parse().unwrap_or_default(), now, error);
            }
            (Some(("t", i)), Ledger::Typing(l)) if i.parse::<u64>().is_ok() => match error {
                Some(code) => l.on_error(i.parse().unwrap_or_default(), code),
                None => l.counts.stray += 1,
            },
            (Some(("p", c)), Ledger::Pings(l)) if c.parse::<u64>().is_ok() => {
                l.on_ack(c.parse().unwrap_or_default(), now, error);
            }
            _ => self.stray(),
        }
    }

    fn stray(&mut self) {
        match self {
            Ledger::Idle => {}
            Ledger::Messages(l) => l.counts.stray += 1,
            Ledger::Typing(l) => l.counts.stray += 1,
            Ledger::Pings(l) => l.counts.stray += 1,
        }
    }

    /// Whether the phase has everything it waits for.
    pub fn settled(&self) -> bool {
        match self {
            Ledger::Idle => true,
            Ledger::Messages(l) => l.settled(),
            Ledger::Typing(l) => l.settled(),
            Ledger::Pings(l) => l.settled(),
        }
    }

    /// Frames attributed so far (the drain stops when this stops moving).
    pub fn events(&self) -> u64 {
        match self {
            Ledger::Idle => 0,
            Ledger::Messages(l) => l.events,
            Ledger::Typing(l) => l.events,
            Ledger::Pings(l) => l.events,
        }
    }

    /// Sent so far and errors so far (for the progress bar).
    pub fn progress(&self) -> (u64, u64) {
        let counts = match self {
            Ledger::Idle => return (0, 0),
            Ledger::Messages(l) => &l.counts,
            Ledger::Typing(l) => &l.counts,
            Ledger::Pings(l) => &l.counts,
        };
        (counts.sent, counts.error_total())
    }

    /// The outcomes of a message phase's sends (`None` for other phases).
    pub fn send_outcomes(&self) -> Option<SendOutcomes> {
        match self {
            Ledger::Messages(l) => Some(l.outcomes()),
            Ledger::Idle | Ledger::Typing(_) | Ledger::Pings(_) => None,
        }
    }

    /// Closes the phase: its counts and latencies.
    pub fn finish(self) -> (Counts, Vec<(&'static str, Recorder)>) {
        match self {
            Ledger::Idle => (Counts::default(), Vec::new()),
            Ledger::Messages(l) => l.finish(),
            Ledger::Typing(l) => l.finish(),
            Ledger::Pings(l) => l.finish(),
        }
    }
}

/// The message number in a `clientMessageId` of this run.
fn number(client_message_id: &str, prefix: &str) -> Option<u64> {
    client_message_id.strip_prefix(prefix)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn context(users: u32, devices: u32) -> Attribution {
        let topology = Topology::new(users, devices, true).unwrap();
        let users = (0..users).map(|u| (Uuid::from_u128(u128::from(u) + 1), u)).collect();
        Attribution { topology, prefix: "bX-".to_owned(), users }
    }

    fn ack(n: u64) -> String {
        format!(r#"{{"status":"success","requestId":"s{n}","data":{{"clientMessageId":"bX-{n}"}}}}"#)
    }

    fn received(n: u64) -> String {
        format!(r#"{{"event":"message:received","data":{{"clientMessageId":"bX-{n}","content":"x"}}}}"#)
    }

    /// Two users, one device: messages 10 and 11 from connection 0 to connection 1.
    fn two_messages(context: &Attribution, start: Instant) -> Ledger {
        let scheduled = vec![start, start + Duration::from_millis(1)];
        Ledger::Messages(MessageLedger::new(10, start, scheduled, vec![0, 0], &context.topology))
    }

    #[test]
    fn a_message_acked_and_received_once_is_clean() {
        let context = context(2, 1);
        let start = Instant::now();
        let mut ledger = two_messages(&context, start);
        for n in [10, 11] {
            ledger.on_sent(Tag::Message(n), start);
            ledger.on_frame(&context, 0, start + Duration::from_millis(3), &ack(n));
            ledger.on_frame(&context, 1, start + Duration::from_millis(2), &received(n));
        }
        assert!(ledger.settled());
        let (counts, recorders) = ledger.finish();
        assert!(counts.clean(), "{counts:?}");
        assert_eq!((counts.sent, counts.answered_ok, counts.received, counts.expected_deliveries), (2, 2, 2, 2));
        let delivery = recorders.iter().find(|(name, _)| *name == "delivery").unwrap().1.summary();
        assert_eq!(delivery.count, 2);
        assert!((delivery.p50_ms - 1.0).abs() < 0.01 && (delivery.max_ms - 2.0).abs() < 0.01, "{delivery:?}");
    }

    #[test]
    fn missing_and_repeated_pushes_are_lost_and_duplicated() {
        let context = context(2, 1);
        let start = Instant::now();
        let mut ledger = two_messages(&context, start);
        for n in [10, 11] {
            ledger.on_sent(Tag::Message(n), start);
            ledger.on_frame(&context, 0, start, &ack(n));
        }
        ledger.on_frame(&context, 1, start, &received(10));
        ledger.on_frame(&context, 1, start, &received(10));
        assert!(!ledger.settled());
        let (counts, _) = ledger.finish();
        assert_eq!((counts.lost, counts.duplicated, counts.received), (1, 1, 1));
        assert!(!counts.clean());
    }

    #[test]
    fn a_refused_message_is_an_error_and_its_push_is_stray() {
        let context = context(2, 1);
        let start = Instant::now();
        let mut ledger = two_messages(&context, start);
        let refused =
            r#"{"status":"error","requestId":"s10","error":{"code":"CHAT_RATE_LIMIT_EXCEEDED","retryAfter":3}}"#;
        ledger.on_frame(&context, 0, start, refused);
        ledger.on_frame(&context, 1, start, &received(10));
        let (counts, _) = ledger.finish();
        assert_eq!(counts.errors.get("CHAT_RATE_LIMIT_EXCEEDED"), Some(&1));
        assert_eq!(counts.stray, 1);
        // Message 11 had no answer at all: unanswered, and its push is lost.
        assert_eq!((counts.unanswered, counts.lost, counts.expected_deliveries), (1, 1, 1));
    }

    #[test]
    fn a_send_answered_service_unavailable_or_not_at_all_is_unsettled() {
        let context = context(2, 1);
        let start = Instant::now();
        let scheduled = vec![start; 4];
        let mut ledger = Ledger::Messages(MessageLedger::new(10, start, scheduled, vec![0; 4], &context.topology));
        let error =
            |n: u64, code: &str| format!(r#"{{"status":"error","requestId":"s{n}","error":{{"code":"{code}"}}}}"#);
        ledger.on_frame(&context, 0, start, &ack(10));
        ledger.on_frame(&context, 0, start, &error(11, "SERVICE_UNAVAILABLE"));
        ledger.on_frame(&context, 0, start, &error(12, "VALIDATION_ERROR"));
        // Message 13 gets no answer.
        let outcomes = ledger.send_outcomes().expect("a message phase");
        assert_eq!(outcomes.first, 10);
        use SendOutcome::{Acked, Refused, Unsettled};
        assert_eq!(outcomes.outcomes, [Acked, Unsettled, Refused, Unsettled]);
        assert_eq!(Ledger::Idle.send_outcomes(), None);
    }

    #[test]
    fn with_two_devices_the_senders_other_device_is_owed_a_copy() {
        let context = context(2, 2);
        let start = Instant::now();
        // Connection 1 is user 0's second device; 2 and 3 are user 1's.
        let mut ledger = Ledger::Messages(MessageLedger::new(0, start, vec![start], vec![1], &context.topology));
        ledger.on_sent(Tag::Message(0), start);
        ledger.on_frame(&context, 1, start, &ack(0));
        for connection in [2, 3] {
            ledger.on_frame(&context, connection, start, &received(0));
        }
        assert!(!ledger.settled(), "connection 0 has not had its copy");
        ledger.on_frame(&context, 0, start, &received(0));
        assert!(ledger.settled());
        // The sending connection itself must not get one.
        ledger.on_frame(&context, 1, start, &received(0));
        let (counts, recorders) = ledger.finish();
        assert_eq!((counts.expected_deliveries, counts.received, counts.stray), (3, 3, 1));
        // Only the recipient's devices are timed as delivery.
        assert_eq!(recorders[0].1.count(), 2);
    }

    #[test]
    fn warm_up_messages_are_accounted_but_not_timed() {
        let context = context(2, 1);
        let start = Instant::now();
        let origin = start + Duration::from_secs(1);
        let mut ledger = Ledger::Messages(MessageLedger::new(0, origin, vec![start], vec![0], &context.topology));
        ledger.on_sent(Tag::Message(0), start);
        ledger.on_frame(&context, 0, start, &ack(0));
        ledger.on_frame(&context, 1, start, &received(0));
        let (counts, recorders) = ledger.finish();
        assert!(counts.clean());
        assert!(recorders.iter().all(|(_, r)| r.count() == 0));
    }

    #[test]
    fn a_typing_push_is_attributed_to_the_typists_latest_event() {
        let context = context(2, 1);
        let start = Instant::now();
        let scheduled = vec![start, start + Duration::from_secs(3)];
        let mut ledger = Ledger::Typing(TypingLedger::new(start, scheduled, vec![1, 1], &context.topology));
        let push =
            r#"{"event":"typing:start","data":{"conversationId":"c","userId":"00000000-0000-0000-0000-000000000002"}}"#;
        ledger.on_sent(Tag::Typing(0), start);
        ledger.on_frame(&context, 0, start + Duration::from_millis(4), push);
        ledger.on_sent(Tag::Typing(1), start + Duration::from_secs(3));
        assert!(!ledger.settled());
        ledger.on_frame(&context, 0, start + Duration::from_millis(3005), push);
        // The typist's own connection never gets their typing.
        ledger.on_frame(&context, 1, start, push);
        assert!(ledger.settled());
        let (counts, recorders) = ledger.finish();
        assert_eq!((counts.received, counts.lost, counts.stray), (2, 0, 1));
        let typing = recorders[0].1.summary();
        assert!((typing.p50_ms - 4.0).abs() < 0.01 && (typing.max_ms - 5.0).abs() < 0.01, "{typing:?}");
    }

    #[test]
    fn pings_are_answered_once_per_connection() {
        let context = context(2, 1);
        let start = Instant::now();
        let mut ledger = Ledger::Pings(PingLedger::new(start, 2));
        ledger.on_sent(Tag::Ping(0), start);
        ledger.on_sent(Tag::Ping(1), start);
        ledger.on_frame(&context, 0, start, r#"{"status":"success","requestId":"p0","data":{"pong":true}}"#);
        assert!(!ledger.settled());
        let (counts, _) = ledger.finish();
        assert_eq!((counts.answered_ok, counts.unanswered), (1, 1));
    }

    #[test]
    fn frames_of_no_phase_or_unknown_ids_are_stray() {
        let context = context(2, 1);
        let start = Instant::now();
        let mut ledger = two_messages(&context, start);
        ledger.on_frame(&context, 1, start, &received(99));
        ledger.on_frame(&context, 1, start, r#"{"event":"message:received","data":{"clientMessageId":"other-1"}}"#);
        ledger.on_frame(&context, 1, start, "not json");
        ledger.on_frame(&context, 1, start, r#"{"event":"message:delivered","data":{}}"#);
        let (counts, _) = ledger.finish();
        assert_eq!(counts.stray, 3);
    }

    #[test]
    fn topologies_pair_neighbours_and_refuse_odd_counts() {
        let topology = Topology::new(4, 2, true).unwrap();
        assert_eq!((topology.connections(), topology.user_of(5), topology.device_of(5)), (8, 2, 1));
        assert_eq!((topology.partner(2), topology.partner(3)), (Some(3), Some(2)));
        assert!(Topology::new(3, 1, true).is_err());
        assert!(Topology::new(3, 1, false).is_ok());
        assert!(Topology::new(2, 3, true).is_err());
    }
}
