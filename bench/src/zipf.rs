//! Sampling from discrete distributions: arbitrary weights ([`Weighted`]) and Zipf's law
//! ([`Zipf`]), both by inverting a precomputed cumulative table with a binary search (exact,
//! and fast enough for tens of thousands of outcomes).

use crate::rng::Rng;

/// Samples indices `0..n` with probability proportional to non-negative weights.
#[derive(Debug, Clone)]
pub struct Weighted {
    cumulative: Vec<f64>,
}

impl Weighted {
    /// # Panics
    /// If there is no weight, a weight is negative or not finite, or all are zero.
    pub fn new(weights: impl IntoIterator<Item = f64>) -> Self {
        let mut total = 0.0;
        let cumulative: Vec<f64> = weights
            .into_iter()
            .map(|w| {
                assert!(w.is_finite() && w >= 0.0, "weight {w}");
                total += w;
                total
            })
            .collect();
        assert!(total > 0.0, "no positive weight");
        Self { cumulative }
    }

    pub fn len(&self) -> usize {
        self.cumulative.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cumulative.is_empty()
    }

    fn total(&self) -> f64 {
        self.cumulative[self.cumulative.len() - 1]
    }

    /// The probability of index `i`.
    pub fn probability(&self, i: usize) -> f64 {
        let below = if i == 0 { 0.0 } else { self.cumulative[i - 1] };
        (self.cumulative[i] - below) / self.total()
    }

    pub fn sample(&self, rng: &mut Rng) -> usize {
        let target = rng.unit() * self.total();
        // The first index whose cumulative weight exceeds the target: never a zero-weight one.
        self.cumulative.partition_point(|&c| c <= target).min(self.cumulative.len() - 1)
    }
}

/// Zipf's law over ranks `0..n`: rank `k` (0-based) has probability proportional to `(k + 1)^-s`.
#[derive(Debug, Clone)]
pub struct Zipf {
    table: Weighted,
    exponent: f64,
}

impl Zipf {
    /// # Panics
    /// If `n` is zero or `s` is not finite.
    pub fn new(n: usize, s: f64) -> Self {
        assert!(n > 0 && s.is_finite(), "Zipf({n}, {s})");
        Self { table: Weighted::new((1..=n).map(|rank| (rank as f64).powf(-s))), exponent: s }
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn exponent(&self) -> f64 {
        self.exponent
    }

    /// The probability of rank `k` (0-based).
    pub fn probability(&self, k: usize) -> f64 {
        self.table.probability(k)
    }

    /// A rank, 0-based.
    pub fn sample(&self, rng: &mut Rng) -> usize {
        self.table.sample(rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    fn counts(zipf: &Zipf, draws: usize) -> Vec<u64> {
        let mut rng = Rng::new(7, Stream::Content);
        let mut counts = vec![0u64; zipf.len()];
        for _ in 0..draws {
            counts[zipf.sample(&mut rng)] += 1;
        }
        counts
    }

    /// Least-squares slope of ln(frequency) against ln(rank) over the first `ranks` ranks.
    fn log_log_slope(counts: &[u64], ranks: usize) -> f64 {
        let points: Vec<(f64, f64)> =
            (0..ranks).map(|k| (((k + 1) as f64).ln(), (counts[k].max(1) as f64).ln())).collect();
        let n = points.len() as f64;
        let (mx, my) = points.iter().fold((0.0, 0.0), |(x, y), p| (x + p.0 / n, y + p.1 / n));
        let cov: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let var: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
        cov / var
    }

    #[test]
    fn frequencies_follow_rank_to_the_minus_s() {
        for s in [1.0, 1.07] {
            let zipf = Zipf::new(20_000, s);
            let draws = 400_000;
            let counts = counts(&zipf, draws);
            let slope = log_log_slope(&counts, 100);
            assert!((slope + s).abs() < 0.05, "s = {s}: log-log slope {slope}");
            // Rank 1 against rank 2 and rank 10: ratios 2^s and 10^s, within sampling noise.
            let ratio = |a: usize, b: usize| counts[a] as f64 / counts[b] as f64;
            assert!((ratio(0, 1) / 2f64.powf(s) - 1.0).abs() < 0.05, "s = {s}: {}", ratio(0, 1));
            assert!((ratio(0, 9) / 10f64.powf(s) - 1.0).abs() < 0.08, "s = {s}: {}", ratio(0, 9));
            // Observed and expected frequency of the most common rank.
            let p0 = counts[0] as f64 / draws as f64;
            assert!((p0 / zipf.probability(0) - 1.0).abs() < 0.03, "s = {s}: {p0}");
        }
    }

    #[test]
    fn probabilities_sum_to_one_and_decrease() {
        let zipf = Zipf::new(1000, 1.1);
        let total: f64 = (0..1000).map(|k| zipf.probability(k)).sum();
        assert!((total - 1.0).abs() < 1e-9);
        assert!((1..1000).all(|k| zipf.probability(k) < zipf.probability(k - 1)));
    }

    #[test]
    fn zero_weights_are_never_drawn() {
        let weighted = Weighted::new([0.0, 1.0, 0.0, 3.0, 0.0]);
        let mut rng = Rng::new(3, Stream::Graph);
        let mut seen = [0u32; 5];
        for _ in 0..40_000 {
            seen[weighted.sample(&mut rng)] += 1;
        }
        assert_eq!((seen[0], seen[2], seen[4]), (0, 0, 0));
        let share = f64::from(seen[3]) / 40_000.0;
        assert!((share - 0.75).abs() < 0.01, "{share}");
    }
}
