//! The query benchmark (`chat-query-bench`): every read path, many times, on the dataset.
//!
//! Each [`Case`] draws its parameters (a conversation and a depth, a user, a term) from a
//! population sampled from the database and the dataset summary, with a seeded generator, so
//! two runs on the same data ask the same questions. Latencies are taken around one call of
//! the use case the Lambda handler calls (store level), or one HTTP request through
//! `chat-local` (HTTP level), one at a time.

use std::time::Duration;

use serde::Serialize;

/// A read path and the population it draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Case {
    /// The newest page of 50 of a conversation with 100+ messages.
    HistoryNewest,
    /// A page of 50 before a random `seq` (any depth) of a conversation with 100+ messages.
    HistoryDeep,
    /// The first page of 100 conversations, with unread counts, of a user with 100+.
    ListFirstPage,
    /// The second page of 100 (from the first page's cursor) of a user with 200+.
    ListSecondPage,
    /// A "typical" term searched by a user with 100+ conversations.
    SearchTypical,
    /// A "typical" term searched by the user with the most conversations.
    SearchTypicalHeaviest,
    /// A "very common" term searched by a user with 100+ conversations.
    SearchVeryCommon,
    /// A "very common" term searched by the user with the most conversations.
    SearchVeryCommonHeaviest,
    /// A very common and a typical term (both must match) by a user with 100+ conversations.
    SearchTwoTerms,
    /// A typical term within one conversation (100+ messages) of its participant.
    SearchOneConversation,
}

impl Case {
    pub const ALL: [Case; 10] = [
        Case::HistoryNewest,
        Case::HistoryDeep,
        Case::ListFirstPage,
        Case::ListSecondPage,
        Case::SearchTypical,
        Case::SearchTypicalHeaviest,
        Case::SearchVeryCommon,
        Case::SearchVeryCommonHeaviest,
        Case::SearchTwoTerms,
        Case::SearchOneConversation,
    ];

    /// What the row of the results table says.
    pub fn label(self) -> &'static str {
        match self {
            Case::HistoryNewest => "history, newest page of 50",
            Case::HistoryDeep => "history, page of 50 at a random depth",
            Case::ListFirstPage => "conversation list, first 100 with unread counts",
            Case::ListSecondPage => "conversation list, second 100 (cursor)",
            Case::SearchTypical => "search, typical term, users with 100+ conversations",
            Case::SearchTypicalHeaviest => "search, typical term, heaviest user",
            Case::SearchVeryCommon => "search, very common term, users with 100+ conversations",
            Case::SearchVeryCommonHeaviest => "search, very common term, heaviest user",
            Case::SearchTwoTerms => "search, very common AND typical term, users with 100+ conversations",
            Case::SearchOneConversation => "search, typical term, one conversation",
        }
    }

    /// The target for this case: (percentile, bound).
    pub fn target(self) -> Option<(Percentile, Duration)> {
        match self {
            Case::HistoryNewest | Case::HistoryDeep => Some((Percentile::P95, Duration::from_millis(2))),
            Case::ListFirstPage | Case::ListSecondPage => Some((Percentile::P95, Duration::from_millis(10))),
            Case::SearchTypical | Case::SearchTypicalHeaviest => Some((Percentile::P95, Duration::from_millis(25))),
            Case::SearchVeryCommon | Case::SearchVeryCommonHeaviest => {
                Some((Percentile::P99, Duration::from_millis(250)))
            }
            Case::SearchTwoTerms | Case::SearchOneConversation => None,
        }
    }
}

/// A percentile of a latency distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Percentile {
    P50,
    P95,
    P99,
}

impl Percentile {
    pub fn fraction(self) -> f64 {
        match self {
            Percentile::P50 => 0.50,
            Percentile::P95 => 0.95,
            Percentile::P99 => 0.99,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Percentile::P50 => "p50",
            Percentile::P95 => "p95",
            Percentile::P99 => "p99",
        }
    }
}

/// The nearest-rank percentile of `sorted` (ascending, not empty): the smallest sample with at
/// least `fraction` of the samples at or below it.
pub fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The latencies of one case at one level.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub case: Case,
    pub level: &'static str,
    pub samples: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Mean number of items per answer (a check that the case does real work).
    pub mean_items: f64,
    /// Whether the target holds (`None` without a target, or at the HTTP level).
    pub meets_target: Option<bool>,
}

impl Measured {
    /// Summarises `latencies` (any order; not empty) and the item counts of the answers.
    pub fn new(case: Case, level: &'static str, mut latencies: Vec<Duration>, items: usize) -> Measured {
        latencies.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let at = |p: Percentile| percentile(&latencies, p.fraction());
        let meets_target = case.target().filter(|_| level == "store").map(|(p, bound)| at(p) <= bound);
        Measured {
            case,
            level,
            samples: latencies.len(),
            p50_ms: ms(at(Percentile::P50)),
            p95_ms: ms(at(Percentile::P95)),
            p99_ms: ms(at(Percentile::P99)),
            max_ms: ms(*latencies.last().unwrap_or(&Duration::ZERO)),
            mean_items: items as f64 / latencies.len().max(1) as f64,
            meets_target,
        }
    }
}

/// The results as a Markdown table.
pub fn markdown(results: &[Measured]) -> String {
    let mut out = String::from(
        "| level | read path | n | p50 ms | p95 ms | p99 ms | max ms | items | target |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for r in results {
        let target = match (r.case.target(), r.meets_target) {
            (Some((p, bound)), Some(ok)) => {
                format!("{} ≤ {} ms: {}", p.name(), bound.as_millis(), if ok { "**met**" } else { "**MISSED**" })
            }
            (Some((p, bound)), None) => format!("({} ≤ {} ms at store level)", p.name(), bound.as_millis()),
            (None, _) => String::new(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {} |\n",
            r.level,
            r.case.label(),
            r.samples,
            r.p50_ms,
            r.p95_ms,
            r.p99_ms,
            r.max_ms,
            r.mean_items,
            target
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 0.50), Duration::from_millis(50));
        assert_eq!(percentile(&sorted, 0.95), Duration::from_millis(95));
        assert_eq!(percentile(&sorted, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&sorted, 1.0), Duration::from_millis(100));
        assert_eq!(percentile(&sorted[..1], 0.99), Duration::from_millis(1));
        let ten: Vec<Duration> = (1..=10).map(Duration::from_millis).collect();
        assert_eq!(percentile(&ten, 0.95), Duration::from_millis(10));
    }

    #[test]
    fn targets_are_judged_at_store_level_only() {
        let fast = vec![Duration::from_micros(500); 20];
        assert_eq!(Measured::new(Case::HistoryDeep, "store", fast.clone(), 1000).meets_target, Some(true));
        assert_eq!(Measured::new(Case::HistoryDeep, "http", fast, 1000).meets_target, None);
        let slow = vec![Duration::from_millis(3); 20];
        assert_eq!(Measured::new(Case::HistoryDeep, "store", slow, 1000).meets_target, Some(false));
        assert_eq!(Measured::new(Case::SearchTwoTerms, "store", vec![Duration::ZERO], 0).meets_target, None);
    }
}
