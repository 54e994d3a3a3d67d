//! How long a ready thread waits for a CPU on this machine, measured beside the run: a thread
//! that does nothing but sleep 2 ms at a time records how late each wake-up comes (the idea of
//! jHiccup). It shares nothing with the server but the machine, so its delay is what every
//! process there saw: the run's own load on the cores, and the host's pauses (a vCPU not run, a
//! paused VM). When the server's latencies jump and this thread also woke tens of milliseconds
//! late, the machine stalled; when it did not, the stall is in the stack under test.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// How long the thread asks to sleep each time.
/// (2 ms: 500 wake-ups a second cost about 1 % of a core here; 1 ms cost twice that.)
const INTERVAL: Duration = Duration::from_millis(2);

/// The largest lateness recorded exactly: one minute.
const MAX_MICROS: u64 = 60_000_000;

/// How late a sleeper's wake-ups came over a window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Lateness {
    /// Wake-ups in the window.
    pub wakeups: u64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// The sleeping thread's record so far (every wake-up since it started).
#[derive(Debug, Clone)]
pub struct StallSample(Histogram<u64>);

/// Starts the sleeping thread; it runs until the process exits.
#[derive(Debug, Clone)]
pub struct StallMeter {
    late: Arc<Mutex<Histogram<u64>>>,
}

impl StallMeter {
    pub fn start() -> std::io::Result<Self> {
        let late = Arc::new(Mutex::new(empty()));
        let record = Arc::clone(&late);
        std::thread::Builder::new().name("stall-meter".to_owned()).spawn(move || {
            loop {
                let asked = Instant::now();
                std::thread::sleep(INTERVAL);
                let late = asked.elapsed().saturating_sub(INTERVAL);
                let micros = u64::try_from(late.as_micros()).unwrap_or(MAX_MICROS).clamp(1, MAX_MICROS);
                record.lock().unwrap_or_else(PoisonError::into_inner).saturating_record(micros);
            }
        })?;
        Ok(Self { late })
    }

    pub fn sample(&self) -> StallSample {
        StallSample(self.late.lock().unwrap_or_else(PoisonError::into_inner).clone())
    }
}

fn empty() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("static histogram bounds are valid")
}

/// The wake-ups between two samples (`None` if there were none).
pub fn lateness_between(before: &StallSample, after: &StallSample) -> Option<Lateness> {
    let mut window = after.0.clone();
    window.subtract(&before.0).ok()?;
    if window.is_empty() {
        return None;
    }
    let ms = |micros: u64| micros as f64 / 1000.0;
    Some(Lateness {
        wakeups: window.len(),
        p99_ms: ms(window.value_at_quantile(0.99)),
        p999_ms: ms(window.value_at_quantile(0.999)),
        max_ms: ms(window.max()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(late_micros: &[u64]) -> StallSample {
        let mut h = empty();
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
        assert_eq!(window.wakeups, 3);
        assert!((window.max_ms - 2.0).abs() < 0.01, "the 40 ms stall was before the window: {window:?}");
        assert!(lateness_between(&after, &after).is_none(), "no wake-up, no figure");
    }

    #[test]
    fn the_thread_records_its_wake_ups() {
        let meter = StallMeter::start().unwrap();
        let before = meter.sample();
        std::thread::sleep(Duration::from_millis(50));
        let window = lateness_between(&before, &meter.sample()).expect("the sleeper woke in 50 ms");
        assert!(window.wakeups >= 3 && window.wakeups <= 25, "{window:?}");
        assert!(window.max_ms >= window.p999_ms && window.p999_ms >= window.p99_ms, "{window:?}");
    }
}
