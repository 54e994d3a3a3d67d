//! How long a ready thread waits for a CPU on this machine, measured beside the run: a thread
//! that does nothing but sleep 2 ms at a time records how late each wake-up comes (the idea of
//! jHiccup). It shares nothing with the server but the machine, so its delay is what every
//! process there saw: the run's own load on the cores, and the host's pauses (a vCPU not run, a
//! paused VM). When the server's latencies jump and this thread also woke tens of milliseconds
//! late, the machine stalled; when it did not, the stall is in the stack under test.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::stats::{LatencySummary, micros_histogram, summarize};

/// How long the thread asks to sleep each time. (2 ms: the thread used 0.85 % of a core in a
/// delivery run, docs/benchmarks.md.)
const INTERVAL: Duration = Duration::from_millis(2);

/// The sleeping thread's record so far (every wake-up since it started, lateness in µs).
#[derive(Debug, Clone)]
pub struct StallSample(Histogram<u64>);

/// Starts the sleeping thread; it runs until the process exits.
#[derive(Debug, Clone)]
pub struct StallMeter {
    late: Arc<Mutex<Histogram<u64>>>,
}

impl StallMeter {
    pub fn start() -> std::io::Result<Self> {
        let late = Arc::new(Mutex::new(micros_histogram()));
        let record = Arc::clone(&late);
        std::thread::Builder::new().name("stall-meter".to_owned()).spawn(move || {
            loop {
                let asked = Instant::now();
                std::thread::sleep(INTERVAL);
                let micros = u64::try_from(asked.elapsed().saturating_sub(INTERVAL).as_micros()).unwrap_or(u64::MAX);
                record.lock().unwrap_or_else(PoisonError::into_inner).saturating_record(micros.max(1));
            }
        })?;
        Ok(Self { late })
    }

    pub fn sample(&self) -> StallSample {
        StallSample(self.late.lock().unwrap_or_else(PoisonError::into_inner).clone())
    }
}

/// How late the wake-ups between two samples came (`None` if there were none).
pub fn lateness_between(before: &StallSample, after: &StallSample) -> Option<LatencySummary> {
    let mut window = after.0.clone();
    window.subtract(&before.0).ok()?;
    (!window.is_empty()).then(|| summarize(&window))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(late_micros: &[u64]) -> StallSample {
        let mut h = micros_histogram();
        for &m in late_micros {
            h.record(m).unwrap();
        }
        StallSample(h)
    }

    #[test]
    fn a_window_holds_only_its_own_wake_ups() {
        let before = sample(&[50, 60, 40_000]);
        let after = sample(&[50, 60, 40_000, 70, 80, 2_000]);
        let window = lateness_between(&before, &after).expect("three wake-ups in the window");
        assert_eq!(window.count, 3);
        assert!((window.max_ms - 2.0).abs() < 0.01, "the 40 ms stall was before the window: {window:?}");
        assert!(lateness_between(&after, &after).is_none(), "no wake-up, no figure");
    }

    #[test]
    fn the_thread_records_its_wake_ups() {
        let meter = StallMeter::start().unwrap();
        let before = meter.sample();
        std::thread::sleep(Duration::from_millis(50));
        let window = lateness_between(&before, &meter.sample()).expect("the sleeper woke in 50 ms");
        assert!(window.count >= 3 && window.count <= 25, "{window:?}");
        assert!(window.max_ms >= window.p999_ms && window.p999_ms >= window.p99_ms, "{window:?}");
    }
}
