//! The summary the query benchmarks read (`bench/dataset-summary.json`): sizes, the seed, ids
//! of power users and long conversations, and search terms by document frequency, all computed
//! from the generated data (not from PostgreSQL).
//!
//! Document frequencies count messages containing the word. Stopwords are listed apart: the
//! `english` configuration drops them, so a search for one matches nothing.

use chrono::{DateTime, SecondsFormat};
use serde::Serialize;
use uuid::Uuid;

use crate::load::LoadTimings;
use crate::plan::Plan;
use crate::rows::ContentStats;
use crate::text::WORD_ZIPF;
use crate::vocab::{Vocabulary, WordKind};

/// Document-frequency bands (fractions of messages).
pub const VERY_COMMON_MIN: f64 = 0.03;
pub const TYPICAL_MIN: f64 = 0.0005;
pub const TYPICAL_MAX: f64 = 0.005;

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub seed: u64,
    pub users: u64,
    pub conversations: u64,
    pub conversation_members: u64,
    pub messages: u64,
    /// The activity window (RFC 3339).
    pub start_time: String,
    pub end_time: String,
    pub vocabulary_size: usize,
    pub word_zipf_exponent: f64,
    pub mean_words_per_message: f64,
    pub messages_with_client_message_id: u64,
    pub statuses: Statuses,
    /// Conversations in which a member has unread messages, and how many messages that is.
    pub unread_members: u64,
    pub unread_messages: u64,
    /// Conversations per user.
    pub user_degrees: Spread,
    pub users_with_100_plus_conversations: u64,
    pub users_without_conversations: u64,
    /// The 20 users in most conversations (the power users), most first.
    pub power_users: Vec<UserEntry>,
    /// 20 users around the median number of conversations.
    pub median_users: Vec<UserEntry>,
    /// Messages per conversation.
    pub conversation_sizes: Spread,
    pub empty_conversations: u64,
    /// The 20 conversations with most messages, most first.
    pub largest_conversations: Vec<ConversationEntry>,
    /// 20 conversations around the median number of messages.
    pub median_conversations: Vec<ConversationEntry>,
    pub terms: Terms,
    /// How long the load took (absent for --dry-run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Statuses {
    pub sent: u64,
    pub delivered: u64,
    pub read: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Spread {
    pub min: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
    pub mean: f64,
}

impl Spread {
    fn of(mut values: Vec<u64>) -> Spread {
        values.sort_unstable();
        let at = |q: f64| values.get(((values.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0);
        let mean = if values.is_empty() { 0.0 } else { values.iter().sum::<u64>() as f64 / values.len() as f64 };
        Spread { min: at(0.0), p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1.0), mean: round(mean, 2) }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct UserEntry {
    pub id: Uuid,
    pub display_name: String,
    pub conversations: u32,
    pub unread_conversations: u32,
    pub unread_messages: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConversationEntry {
    pub id: Uuid,
    pub messages: u32,
    pub participants: [Uuid; 2],
}

/// Search terms by document frequency. Every list but `stopwords` holds indexed English words.
#[derive(Debug, Clone, Serialize)]
pub struct Terms {
    /// In more than 3% of messages.
    pub very_common: Vec<Term>,
    /// Between 0.5% and 3% (at most 40, spread over the band).
    pub common: Vec<Term>,
    /// Between 0.05% and 0.5% (all of them).
    pub typical: Vec<Term>,
    /// Below 0.05% but present (at most 40, spread over the band).
    pub rare: Vec<Term>,
    /// Stopwords in more than 3% of messages: PostgreSQL does not index them, so searching
    /// for one matches nothing.
    pub stopwords: Vec<Term>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Term {
    pub term: String,
    /// Messages containing the word.
    pub documents: u64,
    /// `documents` / messages.
    pub document_frequency: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadSummary {
    pub seconds: f64,
    pub rows: u64,
    pub rows_per_second: f64,
    /// Seconds per table's COPY.
    pub copy_seconds: Vec<(String, f64)>,
    /// Flushing the GIN pending list and ANALYZE.
    pub finish_seconds: f64,
}

impl LoadSummary {
    pub fn new(timings: &LoadTimings, total_seconds: f64) -> Self {
        let rows: u64 = timings.copies.iter().map(|c| c.1).sum();
        LoadSummary {
            seconds: round(total_seconds, 2),
            rows,
            rows_per_second: round(rows as f64 / total_seconds.max(1e-9), 0),
            copy_seconds: timings.copies.iter().map(|(t, _, d)| ((*t).to_owned(), round(d.as_secs_f64(), 2))).collect(),
            finish_seconds: round(timings.finish.as_secs_f64(), 2),
        }
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

fn rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Summary {
    pub fn new(plan: &Plan, vocabulary: &Vocabulary, stats: &ContentStats) -> Summary {
        let users = &plan.users;
        let user_entry = |i: usize| {
            let u = &users[i];
            UserEntry {
                id: u.id,
                display_name: u.display_name.clone(),
                conversations: u.conversations,
                unread_conversations: u.unread_conversations,
                unread_messages: u.unread_messages,
            }
        };
        let mut by_degree: Vec<usize> = (0..users.len()).collect();
        by_degree.sort_by_key(|&i| (std::cmp::Reverse(users[i].conversations), users[i].id));
        let around_median = |len: usize| {
            let from = (len / 2).saturating_sub(10);
            from..(from + 20).min(len)
        };

        let conversations = &plan.conversations;
        let conversation_entry = |i: usize| {
            let c = &conversations[i];
            ConversationEntry {
                id: c.id,
                messages: c.last_seq,
                participants: c.participants.map(|p| users[p as usize].id),
            }
        };
        let mut by_size: Vec<usize> = (0..conversations.len()).collect();
        by_size.sort_by_key(|&i| (std::cmp::Reverse(conversations[i].last_seq), conversations[i].id));

        let unread: Vec<u64> = conversations
            .iter()
            .flat_map(|c| c.members.iter().map(move |m| u64::from(c.last_seq - m.last_read_seq)))
            .filter(|&n| n > 0)
            .collect();

        Summary {
            seed: plan.params.seed,
            users: users.len() as u64,
            conversations: conversations.len() as u64,
            conversation_members: 2 * conversations.len() as u64,
            messages: plan.messages.len() as u64,
            start_time: rfc3339(plan.params.start_ms()),
            end_time: rfc3339(plan.params.end_ms),
            vocabulary_size: vocabulary.len(),
            word_zipf_exponent: WORD_ZIPF,
            mean_words_per_message: round(stats.words as f64 / (stats.messages.max(1)) as f64, 2),
            messages_with_client_message_id: stats.with_client_id,
            statuses: Statuses { sent: stats.statuses[0], delivered: stats.statuses[1], read: stats.statuses[2] },
            unread_members: unread.len() as u64,
            unread_messages: unread.iter().sum(),
            user_degrees: Spread::of(users.iter().map(|u| u64::from(u.conversations)).collect()),
            users_with_100_plus_conversations: users.iter().filter(|u| u.conversations >= 100).count() as u64,
            users_without_conversations: users.iter().filter(|u| u.conversations == 0).count() as u64,
            power_users: by_degree.iter().take(20).map(|&i| user_entry(i)).collect(),
            median_users: by_degree[around_median(by_degree.len())].iter().rev().map(|&i| user_entry(i)).collect(),
            conversation_sizes: Spread::of(conversations.iter().map(|c| u64::from(c.last_seq)).collect()),
            empty_conversations: conversations.iter().filter(|c| c.last_seq == 0).count() as u64,
            largest_conversations: by_size.iter().take(20).map(|&i| conversation_entry(i)).collect(),
            median_conversations: by_size[around_median(by_size.len())]
                .iter()
                .rev()
                .map(|&i| conversation_entry(i))
                .collect(),
            terms: terms(vocabulary, stats),
            load: None,
        }
    }
}

fn terms(vocabulary: &Vocabulary, stats: &ContentStats) -> Terms {
    let messages = stats.messages.max(1) as f64;
    let mut ranked: Vec<(usize, u64)> =
        (0..vocabulary.len()).map(|r| (r, u64::from(stats.documents[r]))).filter(|&(_, d)| d > 0).collect();
    ranked.sort_by_key(|&(r, d)| (std::cmp::Reverse(d), r));
    let term = |&(r, d): &(usize, u64)| Term {
        term: vocabulary.word(r).to_owned(),
        documents: d,
        document_frequency: round(d as f64 / messages, 6),
    };
    // The words of `kind` in the band, most frequent first; at most `limit`, evenly spread
    // over the band when there are more.
    let band = |kind: WordKind, lo: f64, hi: f64, limit: usize| -> Vec<Term> {
        let inside: Vec<&(usize, u64)> = ranked
            .iter()
            .filter(|(r, d)| {
                let f = *d as f64 / messages;
                vocabulary.kind(*r) == kind && f >= lo && f < hi
            })
            .collect();
        let n = inside.len();
        let picks = n.min(limit);
        (0..picks).map(|i| term(inside[if picks > 1 { i * (n - 1) / (picks - 1) } else { 0 }])).collect()
    };
    Terms {
        very_common: band(WordKind::English, VERY_COMMON_MIN, f64::INFINITY, usize::MAX),
        common: band(WordKind::English, TYPICAL_MAX, VERY_COMMON_MIN, 40),
        typical: band(WordKind::English, TYPICAL_MIN, TYPICAL_MAX, usize::MAX),
        rare: band(WordKind::English, 0.0, TYPICAL_MIN, 40),
        stopwords: band(WordKind::Stopword, VERY_COMMON_MIN, f64::INFINITY, usize::MAX),
    }
}
