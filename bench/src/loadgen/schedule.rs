//! Open-loop arrival schedules, computed before a phase starts.
//!
//! A closed-loop generator (send, wait for the answer, send again) slows down with the server
//! and so hides exactly the delay it should measure (coordinated omission). Here every send has
//! a fixed instant decided in advance: Poisson arrivals (exponential inter-arrival times) at a
//! rate, or bursts of many sends at one instant. Latencies are then counted from that scheduled
//! instant, so a stalled server or a stalled client shows up as latency.
//!
//! Everything is drawn from a ChaCha8 stream of the seed: the same seed gives the same schedule.

use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// Independent random streams of one seed, one per use, so that changing one leaves the
/// others' draws unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Message arrival times.
    Arrivals = 1,
    /// Which connection sends each message.
    Senders = 2,
    /// Typing arrival times.
    TypingArrivals = 3,
    /// The order in which users type.
    Typists = 4,
    /// Request arrival times of the HTTP scenarios.
    Requests = 5,
    /// Words of generated message content.
    Content = 6,
}

/// A seeded random source: stream `stream` of ChaCha8 seeded with `seed`.
pub fn rng(seed: u64, stream: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream as u64);
    rng
}

/// Uniform in `[0, 1)`, 53 bits.
pub fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Uniform in `0..n` (`n > 0`); the modulo bias is below 2^-32 for the sizes used here.
pub fn below(rng: &mut ChaCha8Rng, n: u32) -> u32 {
    (rng.next_u64() % u64::from(n.max(1))) as u32
}

/// Poisson arrivals at `rate` per second over `duration`: offsets from the start, ascending.
/// Inter-arrival times are exponential with mean `1 / rate`; a rate of zero gives nothing.
pub fn poisson(rate: f64, duration: Duration, rng: &mut ChaCha8Rng) -> Vec<Duration> {
    if rate <= 0.0 || duration.is_zero() {
        return Vec::new();
    }
    let end = duration.as_secs_f64();
    let mut offsets = Vec::with_capacity((rate * end * 1.1) as usize + 16);
    let mut t = 0.0;
    loop {
        // 1 - u is in (0, 1], so the logarithm is finite.
        t += -(1.0 - unit(rng)).ln() / rate;
        if t >= end {
            return offsets;
        }
        offsets.push(Duration::from_secs_f64(t));
    }
}

/// `size` arrivals at the same instant every `every`, starting at zero, for `duration`.
pub fn bursts(size: u32, every: Duration, duration: Duration) -> Vec<Duration> {
    if every.is_zero() {
        return Vec::new();
    }
    let mut offsets = Vec::new();
    let mut at = Duration::ZERO;
    while at < duration {
        offsets.extend(std::iter::repeat_n(at, size as usize));
        at += every;
    }
    offsets
}

/// `count` evenly spaced arrivals at `rate` per second (for data set-up, where only the total
/// matters).
pub fn uniform(rate: f64, count: usize) -> Vec<Duration> {
    (0..count).map(|i| Duration::from_secs_f64(i as f64 / rate.max(f64::MIN_POSITIVE))).collect()
}

/// A sender for each arrival, uniform over `0..senders`.
pub fn uniform_senders(arrivals: usize, senders: u32, rng: &mut ChaCha8Rng) -> Vec<u32> {
    (0..arrivals).map(|_| below(rng, senders)).collect()
}

/// A typist for each typing arrival such that no user types twice within `min_gap`: the server
/// pushes `typing:start` at most once per push interval per typist, so a second event sooner
/// could not be told apart from the first. Users take turns in a shuffled order (each types
/// every `users / rate` seconds on average).
///
/// # Errors
/// Some user's two consecutive turns are closer than `min_gap` (too few users for the rate).
pub fn typists(offsets: &[Duration], users: u32, min_gap: Duration, rng: &mut ChaCha8Rng) -> Result<Vec<u32>, String> {
    if users == 0 {
        return Err("typing needs at least one user".to_owned());
    }
    let mut order: Vec<u32> = (0..users).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, below(rng, i as u32 + 1) as usize);
    }
    let mut last: Vec<Option<Duration>> = vec![None; users as usize];
    let mut assigned = Vec::with_capacity(offsets.len());
    for (i, &at) in offsets.iter().enumerate() {
        let user = order[i % order.len()];
        if let Some(previous) = last[user as usize]
            && at - previous < min_gap
        {
            return Err(format!(
                "user {user} would type again after {:.0} ms, under the {:.0} ms the server needs between \
                 two pushes of one typist: use more users or a lower rate",
                (at - previous).as_secs_f64() * 1000.0,
                min_gap.as_secs_f64() * 1000.0
            ));
        }
        last[user as usize] = Some(at);
        assigned.push(user);
    }
    Ok(assigned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_arrivals_average_the_rate() {
        let offsets = poisson(500.0, Duration::from_secs(60), &mut rng(7, Stream::Arrivals));
        let per_second = offsets.len() as f64 / 60.0;
        // 30,000 expected; the standard deviation of a Poisson count is sqrt(30,000) ~ 173.
        assert!((per_second - 500.0).abs() < 5.0, "{per_second}/s");
        assert!(offsets.windows(2).all(|w| w[0] <= w[1]), "ascending");
        assert!(offsets.last().is_some_and(|l| *l < Duration::from_secs(60)));
        // Exponential gaps: the mean gap is 1/rate, and about 1/e of gaps exceed it.
        let gaps: Vec<f64> = offsets.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
        let longer = gaps.iter().filter(|g| **g > 1.0 / 500.0).count() as f64 / gaps.len() as f64;
        assert!((longer - (-1.0f64).exp()).abs() < 0.02, "{longer}");
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule_and_another_seed_another() {
        let draw = |seed| poisson(100.0, Duration::from_secs(5), &mut rng(seed, Stream::Arrivals));
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
        let senders = |seed| uniform_senders(100, 10, &mut rng(seed, Stream::Senders));
        assert_eq!(senders(3), senders(3));
        assert!(senders(3).iter().all(|s| *s < 10));
    }

    #[test]
    fn bursts_put_many_sends_on_one_instant() {
        let offsets = bursts(100, Duration::from_secs(1), Duration::from_secs(3));
        assert_eq!(offsets.len(), 300);
        assert_eq!(offsets[99], Duration::ZERO);
        assert_eq!(offsets[100], Duration::from_secs(1));
        assert_eq!(offsets[299], Duration::from_secs(2));
    }

    #[test]
    fn typists_take_turns_far_enough_apart() {
        let offsets = poisson(200.0, Duration::from_secs(20), &mut rng(5, Stream::TypingArrivals));
        let typists = typists(&offsets, 1000, Duration::from_millis(2500), &mut rng(5, Stream::Typists)).unwrap();
        assert_eq!(typists.len(), offsets.len());
        let mut last = vec![None; 1000];
        for (at, user) in offsets.iter().zip(&typists) {
            if let Some(previous) = last[*user as usize] {
                assert!(*at - previous >= Duration::from_millis(2500));
            }
            last[*user as usize] = Some(*at);
        }
    }

    #[test]
    fn too_few_typists_for_the_rate_is_refused() {
        let offsets = poisson(200.0, Duration::from_secs(5), &mut rng(5, Stream::TypingArrivals));
        let refused = typists(&offsets, 10, Duration::from_secs(2), &mut rng(5, Stream::Typists));
        assert!(refused.unwrap_err().contains("more users"));
    }
}
