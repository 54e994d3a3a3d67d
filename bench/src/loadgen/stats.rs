//! Latency recording: an HdrHistogram per metric (microseconds, 3 significant digits, so any
//! percentile is exact to 0.1 % from 1 µs to an hour), plus the raw samples with the time they
//! were scheduled, for the latency-over-time plot.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The largest latency recorded exactly: one hour (larger ones are recorded as one hour).
const MAX_MICROS: u64 = 3_600_000_000;

/// Percentiles of the curve in the report and the plot, on the "nines" axis: `x = -log10(1 - p)`
/// from 0 (p = 0) to 4 (p = 99.99 %), in steps of 0.05.
const CURVE_STEPS: u32 = 80;

/// One metric's latencies.
#[derive(Debug, Clone)]
pub struct Recorder {
    histogram: Histogram<u64>,
    /// `(seconds since the phase's origin at the scheduled instant, latency in µs)`.
    samples: Vec<(f32, u32)>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    pub fn new() -> Self {
        Self { histogram: micros_histogram(), samples: Vec::new() }
    }

    /// Records `latency` of an operation scheduled `at_secs` after the phase's origin.
    pub fn record(&mut self, at_secs: f64, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(MAX_MICROS).clamp(1, MAX_MICROS);
        self.histogram.saturating_record(micros);
        self.samples.push((at_secs as f32, micros as u32));
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The summary of the report table.
    pub fn summary(&self) -> LatencySummary {
        summarize(&self.histogram)
    }

    /// `[percentile, ms]` points from 0 % to 99.99 %, evenly spaced on the nines axis, then
    /// `[100, max]`.
    pub fn curve(&self) -> Vec<[f64; 2]> {
        if self.histogram.is_empty() {
            return Vec::new();
        }
        let mut points: Vec<[f64; 2]> = (0..=CURVE_STEPS)
            .map(|step| {
                let nines = 4.0 * f64::from(step) / f64::from(CURVE_STEPS);
                let quantile = 1.0 - 10f64.powf(-nines);
                [quantile * 100.0, self.histogram.value_at_quantile(quantile) as f64 / 1000.0]
            })
            .collect();
        points.push([100.0, self.histogram.max() as f64 / 1000.0]);
        points
    }

    /// Per-second p50 / p99 / max of the samples, by scheduled second (seconds with no sample
    /// are left out).
    pub fn timeline(&self) -> Vec<TimelinePoint> {
        let mut samples = self.samples.clone();
        samples.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let mut points = Vec::new();
        let mut start = 0;
        while start < samples.len() {
            let second = samples[start].0.max(0.0).floor();
            let end = start + samples[start..].iter().take_while(|s| s.0.max(0.0).floor() == second).count();
            let mut latencies: Vec<u32> = samples[start..end].iter().map(|s| s.1).collect();
            latencies.sort_unstable();
            let at = |q: f64| {
                let rank = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
                f64::from(latencies[rank - 1]) / 1000.0
            };
            points.push(TimelinePoint {
                second: second as u32,
                count: latencies.len() as u64,
                p50_ms: at(0.50),
                p99_ms: at(0.99),
                max_ms: at(1.0),
            });
            start = end;
        }
        points
    }
}

/// An empty histogram of microseconds, 1 µs to an hour, 3 significant digits.
pub fn micros_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("static histogram bounds are valid")
}

/// The summary of a histogram of microseconds (all zero when it is empty).
pub fn summarize(h: &Histogram<u64>) -> LatencySummary {
    let ms = |micros: u64| micros as f64 / 1000.0;
    if h.is_empty() {
        return LatencySummary::default();
    }
    LatencySummary {
        count: h.len(),
        mean_ms: h.mean() / 1000.0,
        p50_ms: ms(h.value_at_quantile(0.50)),
        p90_ms: ms(h.value_at_quantile(0.90)),
        p95_ms: ms(h.value_at_quantile(0.95)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
    }
}

/// Percentiles of one metric, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// One second of the latency-over-time plot (nearest-rank percentiles of that second's samples).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TimelinePoint {
    /// Seconds since the phase's origin (the end of the warm-up), by scheduled instant.
    pub second: u32,
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_reports_the_percentiles_in_milliseconds() {
        let mut recorder = Recorder::new();
        for ms in 1..=1000u64 {
            recorder.record(0.0, Duration::from_millis(ms));
        }
        let summary = recorder.summary();
        assert_eq!(summary.count, 1000);
        let close = |a: f64, b: f64| (a - b).abs() <= b * 0.002;
        assert!(close(summary.p50_ms, 500.0), "{summary:?}");
        assert!(close(summary.p90_ms, 900.0), "{summary:?}");
        assert!(close(summary.p99_ms, 990.0), "{summary:?}");
        assert!(close(summary.p999_ms, 999.0), "{summary:?}");
        assert!(close(summary.max_ms, 1000.0), "{summary:?}");
        assert!(close(summary.mean_ms, 500.5), "{summary:?}");
    }

    #[test]
    fn an_empty_recorder_summarises_to_zeros() {
        let recorder = Recorder::new();
        assert_eq!(recorder.summary(), LatencySummary::default());
        assert!(recorder.curve().is_empty());
        assert!(recorder.timeline().is_empty());
    }

    #[test]
    fn the_curve_rises_to_the_maximum() {
        let mut recorder = Recorder::new();
        for us in 1..=10_000u64 {
            recorder.record(0.0, Duration::from_micros(us * 10));
        }
        let curve = recorder.curve();
        assert_eq!(curve.first().map(|p| p[0]), Some(0.0));
        assert!(curve.windows(2).all(|w| w[0][0] <= w[1][0] && w[0][1] <= w[1][1]));
        assert_eq!(curve.last().map(|p| p[0]), Some(100.0));
        assert!((curve[CURVE_STEPS as usize][0] - 99.99).abs() < 1e-9);
    }

    #[test]
    fn the_timeline_groups_samples_by_scheduled_second() {
        let mut recorder = Recorder::new();
        recorder.record(0.2, Duration::from_millis(1));
        recorder.record(0.9, Duration::from_millis(3));
        recorder.record(2.5, Duration::from_millis(7));
        let timeline = recorder.timeline();
        assert_eq!(timeline.len(), 2);
        assert_eq!((timeline[0].second, timeline[0].count), (0, 2));
        assert_eq!((timeline[0].p50_ms, timeline[0].max_ms), (1.0, 3.0));
        assert_eq!((timeline[1].second, timeline[1].p99_ms), (2, 7.0));
    }
}
