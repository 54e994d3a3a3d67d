//! Deterministic randomness: one ChaCha8 stream per generation phase, all derived from the seed.
//!
//! The distributions the generator needs (uniform integers, unit floats, exponential, normal,
//! UUIDs) are implemented here on top of raw `u64`s rather than taken from `rand`, so the data
//! depends only on this crate's code, the seed and ChaCha8 (whose output is fixed by its
//! specification). Floating-point transcendental functions (`ln`, `exp`, `powf`, `cos`) come
//! from the platform's libm: the same binary on the same platform reproduces the data exactly.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use uuid::{Builder, Uuid};

/// The independent streams: each phase draws from its own, so changing how one phase consumes
/// randomness leaves the others' output unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// User ids, display names.
    Users = 1,
    /// Who talks to whom.
    Graph = 2,
    /// How many messages each conversation has.
    Counts = 3,
    /// Conversation ids, message times, senders, read and delivery positions.
    Timeline = 4,
    /// The generated pseudo-words.
    Vocabulary = 5,
    /// Message ids, content and client message ids, in load order.
    Content = 6,
}

/// A seeded random source (ChaCha8, one stream of the seed).
#[derive(Debug, Clone)]
pub struct Rng(ChaCha8Rng);

impl Rng {
    /// The stream `stream` of `seed`.
    pub fn new(seed: u64, stream: Stream) -> Self {
        let mut inner = ChaCha8Rng::seed_from_u64(seed);
        inner.set_stream(stream as u64);
        Self(inner)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `[0, 1)`, 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..n` without bias (Lemire's multiply-and-reject). `n` must be positive.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// Uniform in `lo..=hi` (`lo <= hi`).
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Exponentially distributed with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }

    /// Standard normal (Box-Muller, one value per call).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A random (version 4) UUID.
    pub fn uuid_v4(&mut self) -> Uuid {
        let mut bytes = [0u8; 16];
        self.0.fill_bytes(&mut bytes);
        Builder::from_random_bytes(bytes).into_uuid()
    }

    /// A version 7 UUID for `unix_ms` with random remaining bits.
    pub fn uuid_v7(&mut self, unix_ms: i64) -> Uuid {
        let mut bytes = [0u8; 10];
        self.0.fill_bytes(&mut bytes);
        Builder::from_unix_timestamp_millis(u64::try_from(unix_ms).unwrap_or(0), &bytes).into_uuid()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let draw = |seed, stream| {
            let mut r = Rng::new(seed, stream);
            (0..4).map(|_| r.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(draw(42, Stream::Users), draw(42, Stream::Users));
        assert_ne!(draw(42, Stream::Users), draw(42, Stream::Graph));
        assert_ne!(draw(42, Stream::Users), draw(43, Stream::Users));
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = Rng::new(1, Stream::Users);
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            seen[r.below(7) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| (800..1200).contains(&c)), "{seen:?}");
    }

    #[test]
    fn uuids_have_the_requested_shape() {
        let mut r = Rng::new(1, Stream::Content);
        assert_eq!(r.uuid_v4().get_version_num(), 4);
        let v7 = r.uuid_v7(1_700_000_000_123);
        assert_eq!(v7.get_version_num(), 7);
        let (secs, nanos) = v7.get_timestamp().expect("v7 timestamp").to_unix();
        assert_eq!((secs, nanos / 1_000_000), (1_700_000_000, 123));
    }
}
