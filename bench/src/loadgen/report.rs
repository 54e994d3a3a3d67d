//! What a run reports: the phases with their counts and latencies, the checks against the
//! targets (the and the specification's R10 table), as Markdown for people and JSON for
//! tools, and the plot files.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::fleet::{ConnectReport, PhaseRun};
use super::ledger::Counts;
use super::pg::CrossCheck;
use super::procfs::{CpuUsage, MachineUsage};
use super::rest::{Pace, RequestRun};
use super::stats::{LatencySummary, Recorder, TimelinePoint};
use super::svg::{Series, percentile_plot, timeline_plot};
use crate::Error;

/// One phase of a run.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    pub name: String,
    /// What was sent (`message:send`, `typing:start`, `ping`, `connect`, `GET /conversations`).
    pub operation: String,
    /// The schedule's rate, per second (`None` for ramps and set-up).
    pub target_rate: Option<f64>,
    /// Operations handed over per second, first to last.
    pub achieved_rate: f64,
    /// The schedule's length, warm-up included.
    pub duration_s: f64,
    /// Wall time including the drain.
    pub elapsed_s: f64,
    pub counts: Counts,
    pub latency: BTreeMap<String, LatencySummary>,
    /// `[percentile, ms]` per metric.
    pub curves: BTreeMap<String, Vec<[f64; 2]>>,
    /// Per-second latencies per metric.
    pub timeline: BTreeMap<String, Vec<TimelinePoint>>,
    /// CPU of the watched processes over the phase.
    pub cpu: Vec<CpuUsage>,
    /// The whole machine's CPU over the phase, and what the hypervisor took.
    pub machine: Option<MachineUsage>,
    /// How late a thread of chat-bench that only sleeps 2 ms at a time woke up over the phase:
    /// the wait for a CPU that every process on the machine saw (the load's and the host's).
    pub stalls: Option<LatencySummary>,
}

impl PhaseReport {
    fn new(name: &str, operation: &str, target_rate: Option<f64>, duration_s: f64) -> PhaseReport {
        PhaseReport {
            name: name.to_owned(),
            operation: operation.to_owned(),
            target_rate,
            achieved_rate: 0.0,
            duration_s,
            elapsed_s: 0.0,
            counts: Counts::default(),
            latency: BTreeMap::new(),
            curves: BTreeMap::new(),
            timeline: BTreeMap::new(),
            cpu: Vec::new(),
            machine: None,
            stalls: None,
        }
    }

    fn add(&mut self, name: &str, recorder: &Recorder) {
        self.latency.insert(name.to_owned(), recorder.summary());
        self.curves.insert(name.to_owned(), recorder.curve());
        self.timeline.insert(name.to_owned(), recorder.timeline());
    }

    /// A phase run over the fleet.
    pub fn from_run(name: &str, operation: &str, target_rate: f64, duration_s: f64, run: &PhaseRun) -> PhaseReport {
        let mut report = PhaseReport::new(name, operation, Some(target_rate), duration_s);
        report.achieved_rate = run.achieved_rate();
        report.elapsed_s = run.elapsed.as_secs_f64();
        report.counts = run.counts.clone();
        for (metric, recorder) in &run.recorders {
            report.add(metric, recorder);
        }
        report
    }

    /// A connection ramp.
    pub fn from_connect(name: &str, connect: &ConnectReport) -> PhaseReport {
        let mut report = PhaseReport::new(name, "connect", None, connect.elapsed.as_secs_f64());
        report.achieved_rate = connect.rate();
        report.elapsed_s = connect.elapsed.as_secs_f64();
        report.counts = Counts {
            scheduled: connect.attempted,
            sent: connect.attempted,
            answered_ok: connect.connected,
            errors: connect.failures.clone(),
            ..Counts::default()
        };
        report.add("connect", &connect.latency);
        report
    }

    /// HTTP requests: counts, and the `request` latency.
    pub fn from_requests(name: &str, operation: &str, pace: &Pace, run: &RequestRun) -> PhaseReport {
        let duration_s = (pace.duration + pace.warmup).as_secs_f64();
        let mut report = PhaseReport::new(name, operation, Some(pace.rate), duration_s);
        report.counts = run.counts.clone();
        report.achieved_rate = run.achieved_rate;
        report.elapsed_s = run.elapsed.as_secs_f64();
        report.add("request", &run.latency);
        report
    }

    /// The summary of `metric` (zeros when it was not measured).
    pub fn metric(&self, metric: &str) -> LatencySummary {
        self.latency.get(metric).copied().unwrap_or_default()
    }
}

/// Whether one target holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetCheck {
    /// `R10` (the specification's table) or `issue` (the load-generator issue's bounds).
    pub source: String,
    pub target: String,
    pub measured: String,
    /// `None` when not measured.
    pub met: Option<bool>,
}

impl TargetCheck {
    pub fn new(source: &str, target: impl Into<String>, measured: impl Into<String>, met: Option<bool>) -> Self {
        TargetCheck { source: source.to_owned(), target: target.into(), measured: measured.into(), met }
    }
}

/// The server's memory around holding connections.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerMemory {
    pub pid: u32,
    pub rss_before_kb: u64,
    pub rss_connected_kb: u64,
    pub rss_after_hold_kb: u64,
    pub connections: u64,
    /// `(max(rss_connected, rss_after_hold) - rss_before) / connections`.
    pub per_connection_kb: f64,
}

/// One step of the knee search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KneeStep {
    pub rate: f64,
    pub achieved_rate: f64,
    pub delivery_p99_ms: f64,
    pub ack_p99_ms: f64,
    pub lost: u64,
    pub errors: u64,
    pub good: bool,
    /// Why the step is not good.
    pub reason: Option<String>,
}

/// The knee search's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Knee {
    pub p99_limit_ms: f64,
    pub steps: Vec<KneeStep>,
    /// The highest rate whose step was good (`None` if the first was not).
    pub last_good_rate: Option<f64>,
    /// The busiest process in the first step that was not good (or the last step).
    pub busiest: Option<CpuUsage>,
    /// The whole machine in that step: when its cores are nearly all busy, no one process is
    /// the bottleneck; the machine is.
    pub machine: Option<MachineUsage>,
}

/// From this share of all cores busy, the knee report names the machine as what ran out.
const MACHINE_SATURATED: f64 = 0.85;

/// The knee report's line on the whole machine in the step that was not good.
fn machine_at_the_limit(machine: &MachineUsage, cores: usize) -> String {
    let share = machine.busy_percent_of_a_core / (100.0 * cores as f64);
    format!(
        "The machine at the limit: {:.0} % of one core busy, {:.0} % of its {cores} cores (steal {:.1} %){}",
        machine.busy_percent_of_a_core,
        100.0 * share,
        machine.steal_percent_of_a_core,
        if share >= MACHINE_SATURATED { ": the cores ran out before any one process did" } else { "" }
    )
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub scenario: String,
    pub run_id: String,
    pub started_at: String,
    pub machine: String,
    /// The command line, to reproduce the run.
    pub command: String,
    pub ws_url: String,
    pub http_url: String,
    /// How the run's data was made (and anything else a reader must know).
    pub notes: Vec<String>,
    pub phases: Vec<PhaseReport>,
    pub cross_check: Option<CrossCheck>,
    /// Why there is no cross-check.
    pub cross_check_skipped: Option<String>,
    pub server_memory: Option<ServerMemory>,
    pub knee: Option<Knee>,
    pub targets: Vec<TargetCheck>,
}

impl RunReport {
    /// Whether some target was missed.
    pub fn missed(&self) -> bool {
        self.targets.iter().any(|t| t.met == Some(false))
    }

    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "## chat-bench {} (run {}, {})\n", self.scenario, self.run_id, self.started_at);
        let _ = writeln!(out, "- machine: {}", self.machine);
        let _ = writeln!(out, "- command: `{}`", self.command);
        let _ = writeln!(out, "- WebSocket API {}, HTTP API {}", self.ws_url, self.http_url);
        for note in &self.notes {
            let _ = writeln!(out, "- {note}");
        }

        out.push_str("\n| phase | operation | rate/s target | achieved | scheduled | sent | ok | pushes owed | received | lost | dup | stray | unanswered | errors |\n");
        out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for p in &self.phases {
            let c = &p.counts;
            let errors = if c.errors.is_empty() {
                "0".to_owned()
            } else {
                c.errors.iter().map(|(code, n)| format!("{code} {n}")).collect::<Vec<_>>().join(", ")
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                p.name,
                p.operation,
                p.target_rate.map_or_else(|| "-".to_owned(), |r| format!("{r:.0}")),
                p.achieved_rate,
                c.scheduled,
                c.sent,
                c.answered_ok,
                c.expected_deliveries,
                c.received,
                c.lost,
                c.duplicated,
                c.stray,
                c.unanswered,
                errors
            );
        }

        out.push_str("\n| phase | latency | count | p50 ms | p90 ms | p95 ms | p99 ms | p99.9 ms | max ms |\n");
        out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for p in &self.phases {
            for (metric, s) in &p.latency {
                if s.count == 0 {
                    continue;
                }
                let _ = writeln!(
                    out,
                    "| {} | {metric} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
                    p.name, s.count, s.p50_ms, s.p90_ms, s.p95_ms, s.p99_ms, s.p999_ms, s.max_ms
                );
            }
        }

        if self.phases.iter().any(|p| !p.cpu.is_empty()) {
            out.push_str("\nCPU, % of one core (the machine has ");
            let _ = write!(out, "{}", std::thread::available_parallelism().map_or(0, std::num::NonZero::get));
            out.push_str("; steal is CPU time the hypervisor gave to others; wake-up delay is how late a thread that ");
            out.push_str("only sleeps 2 ms at a time woke, p99.9 / max: the wait for a CPU that every process on ");
            out.push_str("the machine saw, from the load and from the host):\n\n");
            out.push_str("| phase | processes | machine busy | steal | wake-up delay ms |\n|---|---|---:|---:|---:|\n");
            for p in self.phases.iter().filter(|p| !p.cpu.is_empty()) {
                let cpu: Vec<String> =
                    p.cpu.iter().map(|c| format!("{} {:.0} %", c.name, c.percent_of_a_core)).collect();
                let (busy, steal) = p.machine.map_or_else(
                    || ("?".to_owned(), "?".to_owned()),
                    |m| (format!("{:.0} %", m.busy_percent_of_a_core), format!("{:.1} %", m.steal_percent_of_a_core)),
                );
                let stalls = p.stalls.map_or_else(|| "?".to_owned(), |s| format!("{:.1} / {:.1}", s.p999_ms, s.max_ms));
                let _ = writeln!(out, "| {} | {} | {busy} | {steal} | {stalls} |", p.name, cpu.join(", "));
            }
        }

        if let Some(knee) = &self.knee {
            let _ = writeln!(
                out,
                "\nKnee search (good: delivery and ack p99 ≤ {} ms, nothing lost, no error):\n",
                knee.p99_limit_ms
            );
            out.push_str("| rate/s | achieved | delivery p99 ms | ack p99 ms | lost | errors | good |\n");
            out.push_str("|---:|---:|---:|---:|---:|---:|---|\n");
            for s in &knee.steps {
                let verdict =
                    if s.good { "yes".to_owned() } else { format!("no: {}", s.reason.as_deref().unwrap_or("")) };
                let _ = writeln!(
                    out,
                    "| {:.0} | {:.1} | {:.2} | {:.2} | {} | {} | {verdict} |",
                    s.rate, s.achieved_rate, s.delivery_p99_ms, s.ack_p99_ms, s.lost, s.errors
                );
            }
            let _ = writeln!(
                out,
                "\nLast good rate: {}",
                knee.last_good_rate.map_or_else(|| "none".to_owned(), |r| format!("{r:.0} msg/s"))
            );
            if let Some(busiest) = &knee.busiest {
                let _ = writeln!(
                    out,
                    "Busiest process at the limit: {} (pid {}) at {:.0} % of one core",
                    busiest.name, busiest.pid, busiest.percent_of_a_core
                );
            }
            if let Some(machine) = &knee.machine {
                let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
                let _ = writeln!(out, "{}", machine_at_the_limit(machine, cores));
            }
        }

        if let Some(memory) = &self.server_memory {
            let _ = writeln!(
                out,
                "\nServer memory (pid {}): VmRSS {} kB before, {} kB with {} connections, {} kB after the hold: {:.2} kB per connection (from the larger)",
                memory.pid,
                memory.rss_before_kb,
                memory.rss_connected_kb,
                memory.connections,
                memory.rss_after_hold_kb,
                memory.per_connection_kb
            );
        }

        match (&self.cross_check, &self.cross_check_skipped) {
            (Some(check), _) => {
                let _ = writeln!(
                    out,
                    "\nPostgreSQL cross-check: {}: **{}**",
                    check.summary(),
                    if check.passed() { "passed" } else { "FAILED" }
                );
            }
            (None, Some(why)) => {
                let _ = writeln!(out, "\nPostgreSQL cross-check skipped: {why}");
            }
            (None, None) => {}
        }

        if !self.targets.is_empty() {
            out.push_str("\n| source | target | measured | |\n|---|---|---|---|\n");
            for t in &self.targets {
                let verdict = match t.met {
                    Some(true) => "**met**",
                    Some(false) => "**MISSED**",
                    None => "not measured",
                };
                let _ = writeln!(out, "| {} | {} | {} | {verdict} |", t.source, t.target, t.measured);
            }
        }
        out
    }

    /// Writes `<dir>/<scenario>.json` and, for the phase named `plot_phase`, the plots
    /// `<dir>/<scenario>-percentiles.svg` and `<dir>/<scenario>-timeline.svg`; returns the paths.
    ///
    /// # Errors
    /// The directory or a file cannot be written.
    pub fn write(&self, dir: &Path, plot_phase: Option<&str>) -> Result<Vec<PathBuf>, Error> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut written = Vec::new();
        let mut put = |name: String, text: String| -> Result<(), Error> {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            written.push(path);
            Ok(())
        };
        put(format!("{}.json", self.scenario), serde_json::to_string_pretty(self)?)?;
        if let Some(phase) = plot_phase.and_then(|name| self.phases.iter().find(|p| p.name == name)) {
            let (percentiles, timeline) = plots(phase, &self.title(phase));
            put(format!("{}-percentiles.svg", self.scenario), percentiles)?;
            put(format!("{}-timeline.svg", self.scenario), timeline)?;
        }
        Ok(written)
    }

    fn title(&self, phase: &PhaseReport) -> String {
        let rate = phase.target_rate.map_or_else(String::new, |r| format!(", {r:.0}/s"));
        format!(
            "chat-bench {}: {}{rate}, {:.0} s (run {})",
            self.scenario, phase.operation, phase.duration_s, self.run_id
        )
    }
}

/// The percentile plot and the timeline plot of a phase's metrics (all but `dispatch`).
fn plots(phase: &PhaseReport, title: &str) -> (String, String) {
    // The measured metric first (delivery, typing, ...), the ack and the rest after it.
    let rank = |m: &str| ["delivery", "typing", "ping", "request", "connect", "ack"].iter().position(|r| *r == m);
    let mut metrics: Vec<&String> = phase.curves.keys().filter(|m| *m != "dispatch").collect();
    metrics.sort_by_key(|m| rank(m).unwrap_or(usize::MAX));
    let curves: Vec<Series> = metrics
        .iter()
        .map(|m| Series {
            name: m.to_string(),
            points: phase.curves[*m].iter().map(|p| (p[0], p[1])).collect(),
            dashed: false,
        })
        .collect();
    let mut lines = Vec::new();
    for (i, metric) in metrics.iter().enumerate() {
        let points = &phase.timeline[*metric];
        let line = |name: &str, value: fn(&TimelinePoint) -> f64, dashed: bool| Series {
            name: format!("{metric} {name}"),
            points: points.iter().map(|p| (f64::from(p.second), value(p))).collect(),
            dashed,
        };
        // The first metric (delivery, typing...) in full, the others' p99 only.
        if i == 0 {
            lines.push(line("p50", |p| p.p50_ms, false));
            lines.push(line("p99", |p| p.p99_ms, false));
            lines.push(line("max", |p| p.max_ms, true));
        } else {
            lines.push(line("p99", |p| p.p99_ms, true));
        }
    }
    (
        percentile_plot(&format!("{title}: latency by percentile"), &curves),
        timeline_plot(&format!("{title}: per second"), &lines),
    )
}

/// Formats a latency check's measured side.
pub fn ms(value: f64) -> String {
    format!("{value:.2} ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_knee_names_the_machine_only_when_its_cores_ran_out() {
        let machine = |busy| MachineUsage { busy_percent_of_a_core: busy, steal_percent_of_a_core: 0.8 };
        let saturated = machine_at_the_limit(&machine(179.4), 2);
        assert_eq!(
            saturated,
            "The machine at the limit: 179 % of one core busy, 90 % of its 2 cores (steal 0.8 %): \
             the cores ran out before any one process did"
        );
        let spare = machine_at_the_limit(&machine(120.0), 2);
        assert!(spare.ends_with("60 % of its 2 cores (steal 0.8 %)"), "{spare}");
    }
}
