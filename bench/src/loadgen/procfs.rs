//! What the server side's processes use, from `/proc` (Linux): resident memory (`VmRSS`) and
//! CPU time, so a run can say what each connection costs and which process saturates first; and
//! what the whole machine used, and what its hypervisor took (steal), so a phase slowed by the
//! host can be told from one slowed by us.
//!
//! A process's CPU is counted with its direct children: PostgreSQL serves each connection from
//! a child of the postmaster, so watching the postmaster's pid covers the whole server.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::stalls::{StallMeter, StallSample, lateness_between};
use super::stats::LatencySummary;
use crate::coldstart::process::{stat_cpu_ticks, stat_ppid};

/// `USER_HZ`: the unit of the CPU times in `/proc/<pid>/stat` (100 on every Linux ABI).
const TICKS_PER_SECOND: f64 = 100.0;

/// The shortest window whose CPU share is reported (100 ticks).
const MIN_CPU_WINDOW: Duration = Duration::from_secs(1);

/// `VmRSS` of `pid`, in kB (`None` when the process is gone or not readable).
pub fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_rss_kb(&status)
}

fn parse_rss_kb(status: &str) -> Option<u64> {
    status.lines().find_map(|line| line.strip_prefix("VmRSS:")?.trim().strip_suffix("kB")?.trim().parse().ok())
}

/// `(ppid, utime + stime)` of a `/proc/<pid>/stat` line.
fn parse_stat(stat: &str) -> Option<(u32, u64)> {
    Some((stat_ppid(stat)?, stat_cpu_ticks(stat)?))
}

/// CPU ticks used so far by `pid` and its direct children that are still alive.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let own = parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?.1;
    let children: u64 = std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|child| parse_stat(&std::fs::read_to_string(format!("/proc/{child}/stat")).ok()?))
        .filter(|(ppid, _)| *ppid == pid)
        .map(|(_, ticks)| ticks)
        .sum();
    Some(own + children)
}

/// `(busy, steal)` ticks of the whole machine from `/proc/stat`'s first line: busy is every
/// state but idle, iowait and steal (guest time is already inside user time).
fn machine_ticks() -> Option<(u64, u64)> {
    parse_machine(&std::fs::read_to_string("/proc/stat").ok()?)
}

fn parse_machine(stat: &str) -> Option<(u64, u64)> {
    let fields: Vec<u64> =
        stat.lines().next()?.strip_prefix("cpu ")?.split_whitespace().map(|f| f.parse().ok()).collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]
    let (idle, iowait, steal) = (*fields.get(3)?, *fields.get(4)?, *fields.get(7)?);
    let total: u64 = fields.iter().take(8).sum();
    Some((total - idle - iowait - steal, steal))
}

/// A process to watch, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    pub name: String,
    pub pid: u32,
}

/// Parses `NAME=PID`.
///
/// # Errors
/// Not `NAME=PID` with a numeric pid.
pub fn parse_watched(text: &str) -> Result<Watched, String> {
    match text.split_once('=') {
        Some((name, pid)) if !name.trim().is_empty() => pid
            .trim()
            .parse()
            .map(|pid| Watched { name: name.trim().to_owned(), pid })
            .map_err(|_| format!("expected NAME=PID, got {text:?}")),
        _ => Err(format!("expected NAME=PID, got {text:?}")),
    }
}

/// One process's share of the CPU over a phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CpuUsage {
    pub name: String,
    pub pid: u32,
    /// Percent of one core (200 % is both cores of a two-core machine).
    pub percent_of_a_core: f64,
}

/// The whole machine's CPU over a phase.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MachineUsage {
    /// Every process and the kernel together, percent of one core.
    pub busy_percent_of_a_core: f64,
    /// Time the hypervisor ran something else while this machine had work (steal), percent of
    /// one core. A vCPU that is stolen stalls whatever it was running.
    pub steal_percent_of_a_core: f64,
}

/// CPU counters of the watched processes and of the machine at one instant.
#[derive(Debug, Clone)]
pub struct CpuSample {
    at: Instant,
    ticks: Vec<Option<u64>>,
    machine: Option<(u64, u64)>,
    stalls: Option<StallSample>,
}

/// The watched processes, this process included as `chat-bench`, and the stall meter.
#[derive(Debug, Clone)]
pub struct CpuWatch {
    processes: Vec<Watched>,
    stalls: Option<StallMeter>,
}

impl CpuWatch {
    /// Also starts the stall meter's thread (none if it cannot be spawned).
    pub fn new(mut processes: Vec<Watched>) -> Self {
        processes.push(Watched { name: "chat-bench".to_owned(), pid: std::process::id() });
        Self { processes, stalls: StallMeter::start().ok() }
    }

    pub fn sample(&self) -> CpuSample {
        CpuSample {
            at: Instant::now(),
            ticks: self.processes.iter().map(|p| cpu_ticks(p.pid)).collect(),
            machine: machine_ticks(),
            stalls: self.stalls.as_ref().map(StallMeter::sample),
        }
    }

    /// How late the stall meter's sleeps woke between two samples.
    pub fn stalls(before: &CpuSample, after: &CpuSample) -> Option<LatencySummary> {
        lateness_between(before.stalls.as_ref()?, after.stalls.as_ref()?)
    }

    /// The machine's busy and stolen CPU between two samples (`None` where `/proc/stat` could
    /// not be read, or for a window shorter than [`MIN_CPU_WINDOW`]).
    pub fn machine_usage(&self, before: &CpuSample, after: &CpuSample) -> Option<MachineUsage> {
        let wall = after.at.saturating_duration_since(before.at);
        if wall < MIN_CPU_WINDOW {
            return None;
        }
        let ((busy_before, steal_before), (busy_after, steal_after)) = (before.machine?, after.machine?);
        let percent = |ticks: u64| 100.0 * ticks as f64 / TICKS_PER_SECOND / wall.as_secs_f64();
        Some(MachineUsage {
            busy_percent_of_a_core: percent(busy_after.saturating_sub(busy_before)),
            steal_percent_of_a_core: percent(steal_after.saturating_sub(steal_before)),
        })
    }

    /// Each process's CPU between two samples (processes unreadable at either are left out).
    /// Nothing for a window shorter than [`MIN_CPU_WINDOW`]: CPU times come in 10 ms ticks, so
    /// a window of milliseconds reads as 0 % or several hundred.
    pub fn usage(&self, before: &CpuSample, after: &CpuSample) -> Vec<CpuUsage> {
        let elapsed = after.at.saturating_duration_since(before.at);
        if elapsed < MIN_CPU_WINDOW {
            return Vec::new();
        }
        let wall = elapsed.as_secs_f64();
        self.processes
            .iter()
            .zip(before.ticks.iter().zip(&after.ticks))
            .filter_map(|(process, (b, a))| {
                let used = a.as_ref()?.saturating_sub(*b.as_ref()?) as f64 / TICKS_PER_SECOND;
                Some(CpuUsage { name: process.name.clone(), pid: process.pid, percent_of_a_core: 100.0 * used / wall })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_is_read_from_the_status_file() {
        let status = "Name:\tchat-local\nVmPeak:\t  900 kB\nVmRSS:\t   81234 kB\nThreads:\t3\n";
        assert_eq!(parse_rss_kb(status), Some(81234));
        assert_eq!(parse_rss_kb("Name:\tx\n"), None);
    }

    #[test]
    fn cpu_times_are_read_past_the_command() {
        let stat = "4242 (tokio (worker) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1 2 3";
        assert_eq!(parse_stat(stat), Some((1, 300)));
    }

    #[test]
    fn the_machine_line_gives_busy_and_steal() {
        let stat = "cpu  1000 10 200 5000 30 0 40 25 7 0\ncpu0 500 5 100 2500 15 0 20 12 3 0\n";
        assert_eq!(parse_machine(stat), Some((1250, 25)));
        assert_eq!(parse_machine("cpu0 1 2 3 4 5 6 7 8\n"), None, "the first line must be the total");
        assert_eq!(parse_machine("cpu  1 2 3\n"), None, "a kernel without steal is not guessed at");
        assert!(machine_ticks().is_some(), "this machine's /proc/stat parses");
    }

    #[test]
    fn this_process_is_always_watched() {
        let watch = CpuWatch::new(vec![parse_watched("moto=1").unwrap()]);
        let (before, mut after) = (watch.sample(), watch.sample());
        assert!(watch.usage(&before, &after).is_empty(), "a window of microseconds cannot be measured in ticks");
        assert!(watch.machine_usage(&before, &after).is_none());
        after.at = before.at + MIN_CPU_WINDOW;
        let usage = watch.usage(&before, &after);
        let machine = watch.machine_usage(&before, &after).expect("a second can be measured");
        assert!(machine.busy_percent_of_a_core >= 0.0 && machine.steal_percent_of_a_core >= 0.0);
        assert!(usage.iter().any(|u| u.name == "chat-bench" && u.pid == std::process::id()));
        assert!(parse_watched("moto").is_err());
        assert!(parse_watched("=5").is_err());
        assert!(parse_watched("pg=x").is_err());
        assert!(rss_kb(std::process::id()).is_some_and(|kb| kb > 0));
    }
}
