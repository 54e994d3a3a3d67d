//! The dataset's structure, generated in memory before anything is loaded: users, who talks to
//! whom, how many messages each conversation has, when each message was sent and by whom, and
//! how far each participant has read and received. Message content is not planned: it is
//! generated while loading ([`crate::text`]), so it never has to be held in memory.
//!
//! # Distributions
//! - **Who talks to whom.** Each conversation's two participants are drawn independently
//!   (a Chung-Lu-style random graph), rejecting self-pairs and pairs already taken. With
//!   probability [`POWER_ENDPOINT_SHARE`] an endpoint is one of the power users (the first
//!   [`POWER_USER_SHARE`] of users, chosen by a Zipf law with exponent [`POWER_ZIPF`]),
//!   otherwise a regular user with weight `(rank + offset)^-`[`REGULAR_EXPONENT`]. At the default
//!   size (10,000 users, 100,000 conversations, seed 42) the top 20 users have 395-1,213
//!   conversations, 351 users have 100 or more, and the median user has 9.
//! - **Messages per conversation.** [`EMPTY_SHARE`] of conversations have none; the others get
//!   one each plus a share of the rest proportional to a log-normal weight (`sigma` =
//!   [`COUNT_SIGMA`]), rounded by largest remainder so the total is exact: the median
//!   conversation has a few messages, the largest a few thousand.
//! - **Time.** Activity spans the [`WINDOW_MS`] before `end`. A conversation is created at a
//!   uniformly random time (early enough for its messages), its messages come in sessions
//!   (mean length [`SESSION_LENGTH_MEAN`]) that start at uniformly random later times, with
//!   exponential gaps inside a session. Times strictly increase within a conversation (by at
//!   least a second), so its UUIDv7 message ids increase with `seq`.
//! - **Senders** alternate with a per-conversation probability between 0.45 and 0.75; in
//!   [`FORCED_TAIL_SHARE`] of conversations the last few messages all come from one side.
//! - **Read state.** Everyone has read up to their own last message. The recipient of the
//!   trailing run of messages has not read all of it in [`UNREAD_SHARE`] of conversations
//!   ([`UNREAD_SHARE_AFTER_TAIL`] after a forced tail); received (delivered) positions are at
//!   or past read ones. Each message's status follows from its recipient's positions, and its
//!   `delivered_at`/`read_at` times are plausible: read shortly before the recipient's reply.

use std::collections::HashSet;

use uuid::Uuid;

use crate::rng::{Rng, Stream};
use crate::zipf::{Weighted, Zipf};

pub const SECOND_MS: i64 = 1000;
pub const MINUTE_MS: i64 = 60 * SECOND_MS;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
pub const DAY_MS: i64 = 24 * HOUR_MS;
/// How far back activity goes from the end time.
pub const WINDOW_MS: i64 = 365 * DAY_MS;

/// Share of users who are power users.
pub const POWER_USER_SHARE: f64 = 0.01;
/// Share of conversation endpoints that go to power users.
pub const POWER_ENDPOINT_SHARE: f64 = 0.15;
/// Zipf exponent of the choice among power users.
pub const POWER_ZIPF: f64 = 0.5;
/// Exponent of the regular users' weights `(rank + offset)^-e`.
pub const REGULAR_EXPONENT: f64 = 0.9;
/// The offset of the regular users' weights, as a share of their number (at least 10).
pub const REGULAR_OFFSET_SHARE: f64 = 0.005;

/// Share of conversations without messages.
pub const EMPTY_SHARE: f64 = 0.01;
/// Log-normal sigma of the message-count weights.
pub const COUNT_SIGMA: f64 = 1.7;

/// Mean number of messages in a session.
pub const SESSION_LENGTH_MEAN: f64 = 6.0;
/// Gaps between messages inside a session: minimum, mean of the exponential part, maximum.
pub const GAP_MIN_MS: i64 = 2 * SECOND_MS;
pub const GAP_MEAN_MS: f64 = 40_000.0;
pub const GAP_MAX_MS: i64 = 15 * MINUTE_MS;

/// Share of conversations ending with a one-sided run (the other side stopped answering).
pub const FORCED_TAIL_SHARE: f64 = 0.08;
/// Mean length of that run beyond one message.
pub const FORCED_TAIL_MEAN: f64 = 3.0;
/// Share of conversations whose last recipient has unread messages.
pub const UNREAD_SHARE: f64 = 0.2;
/// The same, after a one-sided run.
pub const UNREAD_SHARE_AFTER_TAIL: f64 = 0.6;
/// Share of unread tails that were nonetheless all delivered.
pub const FULLY_DELIVERED_SHARE: f64 = 0.6;
/// Delivery delay: a fixed part and the mean of the exponential part; and for recipients who
/// were offline, their share and mean delay.
pub const DELIVERY_MIN_MS: i64 = 200;
pub const DELIVERY_MEAN_MS: f64 = 1500.0;
pub const OFFLINE_SHARE: f64 = 0.1;
pub const OFFLINE_DELIVERY_MEAN_MS: f64 = 2.0 * HOUR_MS as f64;
/// How long before replying a message is read, and how long after delivery when there is no reply.
pub const READ_BEFORE_REPLY_MEAN_MS: f64 = 20_000.0;
pub const READ_LATER_MEAN_MS: f64 = 20.0 * MINUTE_MS as f64;

/// The requested size, the seed and the end of the generated activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub users: u32,
    pub conversations: u32,
    pub messages: u32,
    pub seed: u64,
    /// The end of the activity window, Unix milliseconds.
    pub end_ms: i64,
}

impl Params {
    /// # Errors
    /// A size the generator cannot satisfy.
    pub fn validate(&self) -> Result<(), String> {
        let pairs = u64::from(self.users) * u64::from(self.users.saturating_sub(1)) / 2;
        if self.users < 2 {
            return Err("at least 2 users are needed".into());
        }
        if u64::from(self.conversations) > pairs {
            return Err(format!("{} users allow at most {pairs} conversations", self.users));
        }
        if self.messages > 0 && self.conversations == 0 {
            return Err("messages need at least one conversation".into());
        }
        if self.end_ms < WINDOW_MS {
            return Err("the end time must be at least a year after 1970".into());
        }
        Ok(())
    }

    pub fn start_ms(&self) -> i64 {
        self.end_ms - WINDOW_MS
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub display_name: String,
    pub created_ms: i64,
    /// How many conversations the user is in.
    pub conversations: u32,
    /// How many of them have messages the user has not read.
    pub unread_conversations: u32,
    /// How many messages the user has not read.
    pub unread_messages: u64,
}

/// One participant's positions in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub last_read_seq: u32,
    pub last_delivered_seq: u32,
}

#[derive(Debug, Clone)]
pub struct Conversation {
    pub id: Uuid,
    /// User indices, in canonical order: `users[participants[0]].id < users[participants[1]].id`.
    pub participants: [u32; 2],
    /// Each participant's positions, in the order of `participants`.
    pub members: [Member; 2],
    pub created_ms: i64,
    /// The last message's time (the creation time when there is none).
    pub updated_ms: i64,
    /// The number of messages.
    pub last_seq: u32,
}

/// A message's delivery status, as the table stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Sent,
    Delivered,
    Read,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Sent => "sent",
            Status::Delivered => "delivered",
            Status::Read => "read",
        }
    }
}

/// Everything about a message but its id and content.
#[derive(Debug, Clone, Copy)]
pub struct MessagePlan {
    pub created_ms: i64,
    /// Meaningful when delivered or read.
    pub delivered_ms: i64,
    /// Meaningful when read.
    pub read_ms: i64,
    pub conversation: u32,
    pub seq: u32,
    /// Which participant sent it: 0 or 1, an index into the conversation's `participants`.
    pub sender: u8,
}

impl MessagePlan {
    /// Read up to the recipient's read position, delivered up to their delivered position.
    pub fn status(&self, conversation: &Conversation) -> Status {
        let recipient = conversation.members[usize::from(self.sender ^ 1)];
        if self.seq <= recipient.last_read_seq {
            Status::Read
        } else if self.seq <= recipient.last_delivered_seq {
            Status::Delivered
        } else {
            Status::Sent
        }
    }
}

/// The generated structure.
#[derive(Debug, Clone)]
pub struct Plan {
    pub params: Params,
    pub users: Vec<User>,
    pub conversations: Vec<Conversation>,
    /// In load order: by time, then conversation, then `seq`.
    pub messages: Vec<MessagePlan>,
    /// User indices in load order (by creation time, then id).
    pub user_order: Vec<u32>,
    /// Conversation indices in load order (by creation time, then id).
    pub conversation_order: Vec<u32>,
}

impl Plan {
    /// # Panics
    /// If `params` is not valid ([`Params::validate`]).
    pub fn generate(params: &Params) -> Plan {
        params.validate().expect("valid parameters");
        let mut user_rng = Rng::new(params.seed, Stream::Users);
        let mut users: Vec<User> = (0..params.users)
            .map(|_| User {
                id: user_rng.uuid_v4(),
                display_name: display_name(&mut user_rng),
                created_ms: 0,
                conversations: 0,
                unread_conversations: 0,
                unread_messages: 0,
            })
            .collect();
        let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
        let pairs = choose_pairs(&ids, params.conversations as usize, &mut Rng::new(params.seed, Stream::Graph));
        let counts =
            message_counts(params.conversations as usize, params.messages, &mut Rng::new(params.seed, Stream::Counts));

        let mut timeline_rng = Rng::new(params.seed, Stream::Timeline);
        let mut messages = Vec::with_capacity(params.messages as usize);
        let conversations: Vec<Conversation> = pairs
            .iter()
            .zip(&counts)
            .enumerate()
            .map(|(index, (&pair, &count))| {
                timeline(index as u32, pair, count, params, &mut timeline_rng, &mut messages)
            })
            .collect();

        let mut first_activity = vec![i64::MAX; users.len()];
        for c in &conversations {
            for (slot, &u) in c.participants.iter().enumerate() {
                let user = &mut users[u as usize];
                user.conversations += 1;
                first_activity[u as usize] = first_activity[u as usize].min(c.created_ms);
                let member = c.members[slot];
                if member.last_read_seq < c.last_seq {
                    user.unread_conversations += 1;
                    user.unread_messages += u64::from(c.last_seq - member.last_read_seq);
                }
            }
        }
        for (user, first) in users.iter_mut().zip(first_activity) {
            user.created_ms = if first == i64::MAX {
                params.start_ms() + user_rng.below(WINDOW_MS as u64) as i64
            } else {
                first - user_rng.between(HOUR_MS as u64, 90 * DAY_MS as u64) as i64
            };
        }

        messages.sort_unstable_by_key(|m| (m.created_ms, m.conversation, m.seq));
        let mut user_order: Vec<u32> = (0..params.users).collect();
        user_order.sort_unstable_by_key(|&i| (users[i as usize].created_ms, users[i as usize].id));
        let mut conversation_order: Vec<u32> = (0..params.conversations).collect();
        conversation_order
            .sort_unstable_by_key(|&i| (conversations[i as usize].created_ms, conversations[i as usize].id));
        Plan { params: *params, users, conversations, messages, user_order, conversation_order }
    }

    /// The number of the power users (the users most endpoints are drawn for).
    pub fn power_user_count(&self) -> usize {
        power_user_count(self.users.len())
    }
}

fn power_user_count(users: usize) -> usize {
    ((users as f64 * POWER_USER_SHARE).round() as usize).clamp(1, users / 2)
}

/// `count` distinct unordered pairs of distinct users, each in canonical (id) order.
fn choose_pairs(ids: &[Uuid], count: usize, rng: &mut Rng) -> Vec<[u32; 2]> {
    let n = ids.len();
    let power = power_user_count(n);
    let power_pick = Zipf::new(power, POWER_ZIPF);
    let regular = n - power;
    let offset = (regular as f64 * REGULAR_OFFSET_SHARE).max(10.0);
    let regular_pick = Weighted::new((0..regular).map(|rank| (rank as f64 + offset).powf(-REGULAR_EXPONENT)));
    let pick = |rng: &mut Rng| {
        if rng.chance(POWER_ENDPOINT_SHARE) { power_pick.sample(rng) } else { power + regular_pick.sample(rng) }
    };

    let mut taken = HashSet::with_capacity(count);
    let mut pairs = Vec::with_capacity(count);
    // Once the skewed choice keeps hitting taken pairs (tiny or dense graphs), fall back to
    // uniform choices, which always finish.
    let budget = 20 * count as u64 + 1000;
    let mut attempts = 0u64;
    while pairs.len() < count {
        attempts += 1;
        let (a, b) = if attempts <= budget {
            (pick(rng), pick(rng))
        } else {
            (rng.below(n as u64) as usize, rng.below(n as u64) as usize)
        };
        if a == b {
            continue;
        }
        let pair = if ids[a] < ids[b] { [a as u32, b as u32] } else { [b as u32, a as u32] };
        if taken.insert(pair) {
            pairs.push(pair);
        }
    }
    pairs
}

/// Messages per conversation, summing to exactly `total`.
fn message_counts(conversations: usize, total: u32, rng: &mut Rng) -> Vec<u32> {
    if conversations == 0 {
        return Vec::new();
    }
    let mut weights: Vec<f64> = (0..conversations)
        .map(|_| {
            let empty = rng.chance(EMPTY_SHARE);
            let weight = (COUNT_SIGMA * rng.normal()).exp();
            if empty { 0.0 } else { weight }
        })
        .collect();
    if weights.iter().all(|&w| w == 0.0) {
        weights[0] = 1.0;
    }
    let non_empty = weights.iter().filter(|&&w| w > 0.0).count() as u64;
    let base = u32::from(u64::from(total) >= non_empty);
    let mut counts: Vec<u32> = weights.iter().map(|&w| if w > 0.0 { base } else { 0 }).collect();
    let rest = u64::from(total) - u64::from(base) * non_empty;
    let sum: f64 = weights.iter().sum();
    let shares: Vec<f64> = weights.iter().map(|&w| rest as f64 * w / sum).collect();
    let mut assigned = 0u64;
    for (count, share) in counts.iter_mut().zip(&shares) {
        let whole = share.floor() as u32;
        *count += whole;
        assigned += u64::from(whole);
    }
    // Largest remainder: the conversations with the largest fractional parts get one more.
    let mut order: Vec<usize> = (0..conversations).filter(|&i| weights[i] > 0.0).collect();
    order.sort_by(|&a, &b| (shares[b] - shares[b].floor()).total_cmp(&(shares[a] - shares[a].floor())).then(a.cmp(&b)));
    let mut left = rest.saturating_sub(assigned);
    for &i in order.iter().cycle() {
        if left == 0 {
            break;
        }
        counts[i] += 1;
        left -= 1;
    }
    counts
}

fn ms(x: f64) -> i64 {
    x.round() as i64
}

/// One conversation: its id and times, its messages' times, senders and statuses.
fn timeline(
    index: u32,
    participants: [u32; 2],
    count: u32,
    params: &Params,
    rng: &mut Rng,
    messages: &mut Vec<MessagePlan>,
) -> Conversation {
    let n = count as usize;
    let start = params.start_ms();
    let end = params.end_ms;
    // Created early enough that its messages fit comfortably before the end.
    let latest = (end - i64::from(count) * MINUTE_MS - DAY_MS).max(start);
    let created = start + rng.below((latest - start) as u64 + 1) as i64;
    let id = rng.uuid_v7(created);

    // Sessions start at uniformly random times after the creation; gaps inside are short.
    let new_session: Vec<bool> = (0..n).map(|i| i == 0 || rng.chance(1.0 / SESSION_LENGTH_MEAN)).collect();
    let sessions = new_session.iter().filter(|&&s| s).count();
    let (lo, hi) = (created + SECOND_MS, (end - DAY_MS).max(created + SECOND_MS));
    let mut starts: Vec<i64> = (0..sessions).map(|_| lo + rng.below((hi - lo) as u64 + 1) as i64).collect();
    starts.sort_unstable();
    let mut starts = starts.into_iter();
    let mut times = Vec::with_capacity(n);
    let mut previous = created;
    for &session in &new_session {
        let t = match session.then(|| starts.next()).flatten() {
            Some(s) => s,
            None => previous + (GAP_MIN_MS + ms(rng.exponential(GAP_MEAN_MS))).min(GAP_MAX_MS),
        };
        let t = t.max(previous + SECOND_MS);
        times.push(t);
        previous = t;
    }

    // Alternating-ish senders, sometimes a one-sided ending.
    let switch = 0.45 + 0.3 * rng.unit();
    let mut sender = rng.below(2) as u8;
    let mut senders: Vec<u8> = (0..n)
        .map(|i| {
            if i > 0 && rng.chance(switch) {
                sender ^= 1;
            }
            sender
        })
        .collect();
    let forced_tail = n >= 2 && rng.chance(FORCED_TAIL_SHARE);
    if forced_tail {
        let run = (1 + rng.exponential(FORCED_TAIL_MEAN) as usize).min(n - 1);
        let side = senders[n - 1 - run] ^ 1;
        senders[n - run..].iter_mut().for_each(|s| *s = side);
    }

    // Read and delivered positions: only the recipient of the trailing run can be behind.
    let full = Member { last_read_seq: count, last_delivered_seq: count };
    let mut members = [full; 2];
    if n > 0 {
        let last_sender = senders[n - 1];
        let run = senders.iter().rev().take_while(|&&s| s == last_sender).count() as u64;
        if rng.chance(if forced_tail { UNREAD_SHARE_AFTER_TAIL } else { UNREAD_SHARE }) {
            let unread = if rng.chance(0.5) { run } else { rng.between(1, run) };
            let read = count - unread as u32;
            let delivered =
                if rng.chance(FULLY_DELIVERED_SHARE) { count } else { read + rng.between(0, unread) as u32 };
            members[usize::from(last_sender ^ 1)] = Member { last_read_seq: read, last_delivered_seq: delivered };
        }
    }

    // Delivery and read times, walking backwards to know each side's next message.
    let mut next_by: [Option<i64>; 2] = [None, None];
    let mut planned = vec![(0i64, 0i64); n];
    for i in (0..n).rev() {
        let (from, to) = (usize::from(senders[i]), usize::from(senders[i] ^ 1));
        let seq = i as u32 + 1;
        let created_at = times[i];
        let recipient = members[to];
        let deliver = |rng: &mut Rng| DELIVERY_MIN_MS + ms(rng.exponential(DELIVERY_MEAN_MS));
        planned[i] = if seq <= recipient.last_read_seq {
            match next_by[to] {
                Some(reply) => {
                    let gap = reply - created_at;
                    let delivered = deliver(rng).min(gap / 2);
                    let read = (gap - ms(rng.exponential(READ_BEFORE_REPLY_MEAN_MS))).max(delivered);
                    (created_at + delivered, created_at + read)
                }
                None => {
                    let delivered = (created_at + deliver(rng)).min(end.max(created_at));
                    let read = (delivered + ms(rng.exponential(READ_LATER_MEAN_MS))).min(end.max(delivered));
                    (delivered, read)
                }
            }
        } else if seq <= recipient.last_delivered_seq {
            let delay =
                if rng.chance(OFFLINE_SHARE) { ms(rng.exponential(OFFLINE_DELIVERY_MEAN_MS)) } else { deliver(rng) };
            ((created_at + delay).min(end.max(created_at)), 0)
        } else {
            (0, 0)
        };
        next_by[from] = Some(created_at);
    }
    for (i, ((&created_ms, &sender), (delivered_ms, read_ms))) in times.iter().zip(&senders).zip(planned).enumerate() {
        messages.push(MessagePlan {
            created_ms,
            delivered_ms,
            read_ms,
            conversation: index,
            seq: i as u32 + 1,
            sender,
        });
    }

    Conversation {
        id,
        participants,
        members,
        created_ms: created,
        updated_ms: times.last().copied().unwrap_or(created),
        last_seq: count,
    }
}

#[rustfmt::skip]
const FIRST_NAMES: &[&str] = &[
    "Ada", "Alex", "Amara", "Ana", "Arjun", "Ben", "Bianca", "Carlos", "Chen", "Chloe", "Daniel", "Divya", "Elena",
    "Emma", "Farah", "Felix", "Grace", "Hana", "Hugo", "Ines", "Ivan", "Jamal", "Julia", "Kai", "Kenji", "Lara",
    "Leo", "Lina", "Luca", "Maya", "Mei", "Mohammed", "Nadia", "Noah", "Olivia", "Omar", "Priya", "Rafael", "Rosa",
    "Sam", "Sara", "Sofia", "Tariq", "Thomas", "Uma", "Victor", "Wei", "Yara", "Yusuf", "Zoe",
];

#[rustfmt::skip]
const LAST_NAMES: &[&str] = &[
    "Adams", "Ahmed", "Alvarez", "Andersen", "Becker", "Brown", "Costa", "Dubois", "Fischer", "Garcia", "Gupta",
    "Hansen", "Ito", "Ivanova", "Jensen", "Kim", "Kowalski", "Lee", "Lopez", "Martin", "Meyer", "Mueller", "Nakamura",
    "Nguyen", "Novak", "Okafor", "Olsen", "Patel", "Perez", "Rossi", "Santos", "Schmidt", "Silva", "Singh", "Smith",
    "Suzuki", "Tanaka", "Taylor", "Wang", "Williams", "Wilson", "Yilmaz", "Zhang",
];

/// "First Last", sometimes "First L." or a handle-like "first.last42".
fn display_name(rng: &mut Rng) -> String {
    let first = FIRST_NAMES[rng.below(FIRST_NAMES.len() as u64) as usize];
    let last = LAST_NAMES[rng.below(LAST_NAMES.len() as u64) as usize];
    match rng.below(10) {
        0 => format!("{first} {}.", &last[..1]),
        1 => format!("{}.{}{}", first.to_lowercase(), last.to_lowercase(), rng.below(100)),
        _ => format!("{first} {last}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Params {
        Params { users: 200, conversations: 1000, messages: 10_000, seed: 42, end_ms: 1_800_000_000_000 }
    }

    #[test]
    fn counts_are_exact_and_seqs_gap_free() {
        let plan = Plan::generate(&small());
        assert_eq!(plan.users.len(), 200);
        assert_eq!(plan.conversations.len(), 1000);
        assert_eq!(plan.messages.len(), 10_000);
        let total: u64 = plan.conversations.iter().map(|c| u64::from(c.last_seq)).sum();
        assert_eq!(total, 10_000);
        let mut seen = vec![0u32; 1000];
        let mut last_time = vec![i64::MIN; 1000];
        let mut by_conversation: Vec<&MessagePlan> = plan.messages.iter().collect();
        by_conversation.sort_by_key(|m| (m.conversation, m.seq));
        for m in by_conversation {
            let c = m.conversation as usize;
            seen[c] += 1;
            assert_eq!(m.seq, seen[c], "gap-free seq");
            assert!(m.created_ms > last_time[c], "times increase within a conversation");
            assert!(m.created_ms > plan.conversations[c].created_ms);
            last_time[c] = m.created_ms;
        }
        for (c, conversation) in plan.conversations.iter().enumerate() {
            assert_eq!(seen[c], conversation.last_seq);
            if conversation.last_seq > 0 {
                assert_eq!(last_time[c], conversation.updated_ms);
            }
        }
    }

    #[test]
    fn pairs_are_canonical_and_distinct() {
        let plan = Plan::generate(&small());
        let mut pairs = HashSet::new();
        for c in &plan.conversations {
            let [a, b] = c.participants;
            assert!(plan.users[a as usize].id < plan.users[b as usize].id);
            assert!(pairs.insert((a, b)));
        }
    }

    #[test]
    fn positions_and_statuses_are_consistent() {
        let plan = Plan::generate(&small());
        for m in &plan.messages {
            let c = &plan.conversations[m.conversation as usize];
            match m.status(c) {
                Status::Read => assert!(m.created_ms <= m.delivered_ms && m.delivered_ms <= m.read_ms),
                Status::Delivered => assert!(m.created_ms <= m.delivered_ms),
                Status::Sent => {}
            }
        }
        for c in &plan.conversations {
            for member in c.members {
                assert!(member.last_read_seq <= member.last_delivered_seq && member.last_delivered_seq <= c.last_seq);
            }
        }
        let unread = plan.conversations.iter().filter(|c| c.members.iter().any(|m| m.last_read_seq < c.last_seq));
        assert!(unread.count() > 50);
    }

    #[test]
    fn degrees_are_skewed() {
        let plan = Plan::generate(&small());
        let mut degrees: Vec<u32> = plan.users.iter().map(|u| u.conversations).collect();
        degrees.sort_unstable();
        let median = degrees[degrees.len() / 2];
        assert!(degrees[degrees.len() - 1] >= 4 * median, "max {} median {median}", degrees[degrees.len() - 1]);
    }

    #[test]
    fn message_counts_sum_exactly() {
        for (conversations, total) in [(1, 0), (1, 5), (10, 3), (100, 100), (1000, 12_345)] {
            let counts = message_counts(conversations, total, &mut Rng::new(1, Stream::Counts));
            assert_eq!(counts.iter().map(|&c| u64::from(c)).sum::<u64>(), u64::from(total));
        }
    }
}
