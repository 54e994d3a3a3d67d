//! The cold-start and size benchmark (`chat-coldstart`): every Lambda function's release binary,
//! its deployable zip, its init time and its first and warm invocations, measured on this
//! machine against real PostgreSQL, Redis, DynamoDB (moto) and management API (an in-process
//! `chat-local`).
//!
//! For each function:
//! 1. **size**: the binary, and the zip Lambda deploys (the binary as `bootstrap`, deflate 9,
//!    [`process::zip_bootstrap`]);
//! 2. **init**, `runs` times: a fresh [`runtime_api::FakeRuntimeApi`] on loopback, the binary
//!    spawned with an empty environment plus Lambda's variables ([`process::LambdaEnv`]) and the
//!    project's configuration; init is the time from just before the spawn to the runtime's
//!    first `GET /runtime/invocation/next`;
//! 3. **first invocation**, right after each init: from the event leaving on `/next` to the
//!    response arriving on `POST /invocation/{id}/response` (lazy connections, TLS and SDK
//!    set-up land here);
//! 4. **warm invocations**, `warm` more in the last process: the same duration, and the
//!    process's CPU time per invocation, which excludes every wait on the network: exact per
//!    invocation from the threads' `schedstat` (p50/p95), and as the mean of `utime + stime`
//!    from `/proc/<pid>/stat` over all of them (clock ticks, so only the mean is meaningful).
//!
//! Every answer is checked ([`scenario::check_response`]); the event builders are chat-local's.
//! The configuration is `.local-state/env`'s, or with `--deployed` the one the SAM template
//! deploys ([`deployed`]: secrets read at init, TLS to PostgreSQL, HTTPS to AWS).

pub mod deployed;
pub mod process;
pub mod runtime_api;
pub mod scenario;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use chat_shared::auth::KeySource;
use chat_shared::config::Config;
use chat_shared::routes::Function;
use serde::Serialize;
use serde_json::Value;
use tokio::process::Child;

use crate::Error;
use crate::query::percentile;
use deployed::Deployed;
use process::{LambdaEnv, PASSED_THROUGH, RATE_LIMITS_RAISED};
use runtime_api::{FakeRuntimeApi, Invocation, Report};
use scenario::{World, check_response};

/// The bound on a function's zip, in bytes (MB = 10^6 bytes, the stricter reading).
pub const ZIP_TARGET_BYTES: u64 = 6_000_000;

/// The bound on a function's init time, p50.
pub const INIT_TARGET_P50: Duration = Duration::from_millis(25);

/// The bound on warm `message:send` handler time excluding network waits, p50.
pub const SEND_CPU_TARGET_P50: Duration = Duration::from_millis(2);

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where the release binaries are (`target/release`).
    pub bin_dir: PathBuf,
    /// Where the zips and the functions' logs go.
    pub out_dir: PathBuf,
    pub functions: Vec<Function>,
    /// Cold starts per function.
    pub runs: usize,
    /// Warm invocations after the first, in the last process.
    pub warm: usize,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`.
    pub memory_mb: u32,
    /// Bound on each wait: init, an invocation, the return to `/next`.
    pub timeout: Duration,
    /// `RUST_LOG` of the functions.
    pub rust_log: String,
    /// `LOG_FORMAT` of the functions.
    pub log_format: String,
    /// More variables for the functions, set last.
    pub extra_env: Vec<(String, String)>,
    /// The configuration the SAM template deploys ([`deployed`]) instead of `.local-state/env`'s.
    pub deployed: bool,
}

/// A latency (or CPU time) distribution, in milliseconds; nearest-rank percentiles.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Distribution {
    pub samples: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Distribution {
    /// Summarises `samples` (any order; empty gives zeros).
    pub fn of(mut samples: Vec<Duration>) -> Distribution {
        if samples.is_empty() {
            return Distribution::default();
        }
        samples.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let total: Duration = samples.iter().sum();
        Distribution {
            samples: samples.len(),
            p50_ms: ms(percentile(&samples, 0.50)),
            p95_ms: ms(percentile(&samples, 0.95)),
            max_ms: ms(samples[samples.len() - 1]),
            mean_ms: ms(total) / samples.len() as f64,
        }
    }
}

/// One function's measurements.
#[derive(Debug, Clone, Serialize)]
pub struct FunctionResult {
    pub function: String,
    pub binary_bytes: u64,
    pub zip_bytes: u64,
    /// Spawn to the first `/next`.
    pub init: Distribution,
    /// CPU time of the process at its first `/next` (all threads).
    pub init_cpu: Distribution,
    /// Event handed out to response posted, right after init.
    pub first_invocation: Distribution,
    /// CPU time of the first invocation, from handing out the event to the next `/next`.
    pub first_invocation_cpu: Distribution,
    /// Event handed out to response posted, warm.
    pub warm: Distribution,
    /// CPU time per warm invocation (threads' `schedstat`, exact per invocation).
    pub warm_cpu: Distribution,
    /// Mean CPU time per warm invocation from `utime + stime` of `/proc/<pid>/stat`, in µs.
    pub warm_cpu_stat_mean_us: f64,
    /// Peak resident memory of the warm process (`VmHWM`), in kB.
    pub peak_rss_kb: u64,
}

/// Whether one of the targets holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetCheck {
    pub target: String,
    /// `None` when the results do not measure it (the function was not run).
    pub met: Option<bool>,
    pub detail: String,
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// Judges the results against the three targets.
pub fn targets(results: &[FunctionResult]) -> Vec<TargetCheck> {
    let mut checks = Vec::new();
    let largest = results.iter().max_by_key(|r| r.zip_bytes);
    let over: Vec<String> = results
        .iter()
        .filter(|r| r.zip_bytes > ZIP_TARGET_BYTES)
        .map(|r| format!("{} {:.2} MB", r.function, mb(r.zip_bytes)))
        .collect();
    checks.push(TargetCheck {
        target: format!("zip ≤ {} MB for every function", ZIP_TARGET_BYTES / 1_000_000),
        met: largest.map(|_| over.is_empty()),
        detail: match (largest, over.is_empty()) {
            (None, _) => "not measured".to_owned(),
            (Some(l), true) => format!("largest: {} {:.2} MB", l.function, mb(l.zip_bytes)),
            (Some(_), false) => format!("over: {}", over.join(", ")),
        },
    });

    let bound_ms = INIT_TARGET_P50.as_secs_f64() * 1000.0;
    let slowest = results.iter().max_by(|a, b| a.init.p50_ms.total_cmp(&b.init.p50_ms));
    let over: Vec<String> = results
        .iter()
        .filter(|r| r.init.p50_ms > bound_ms)
        .map(|r| format!("{} {:.1} ms", r.function, r.init.p50_ms))
        .collect();
    checks.push(TargetCheck {
        target: format!("init p50 ≤ {} ms for every function", INIT_TARGET_P50.as_millis()),
        met: slowest.map(|_| over.is_empty()),
        detail: match (slowest, over.is_empty()) {
            (None, _) => "not measured".to_owned(),
            (Some(s), true) => format!("slowest: {} {:.1} ms", s.function, s.init.p50_ms),
            (Some(_), false) => format!("over: {}", over.join(", ")),
        },
    });

    let send = results.iter().find(|r| r.function == Function::WsSendMessage.package() && r.warm_cpu.samples > 0);
    let bound_ms = SEND_CPU_TARGET_P50.as_secs_f64() * 1000.0;
    checks.push(TargetCheck {
        target: format!(
            "warm message:send handler time (CPU, no network waits) p50 ≤ {} ms",
            SEND_CPU_TARGET_P50.as_millis()
        ),
        met: send.map(|s| s.warm_cpu.p50_ms <= bound_ms),
        detail: send.map_or_else(
            || "not measured".to_owned(),
            |s| {
                format!(
                    "p50 {:.0} µs, p95 {:.0} µs (mean from /proc/<pid>/stat: {:.0} µs); wall p50 {:.2} ms",
                    s.warm_cpu.p50_ms * 1000.0,
                    s.warm_cpu.p95_ms * 1000.0,
                    s.warm_cpu_stat_mean_us,
                    s.warm.p50_ms
                )
            },
        ),
    });
    checks
}

/// The results as a Markdown table, then one line per target.
pub fn markdown(results: &[FunctionResult], checks: &[TargetCheck]) -> String {
    let mut out = String::from(
        "| function | binary MB | zip MB | init p50 / p95 / max ms | init CPU p50 ms | first invocation p50 / max ms \
         | warm p50 / p95 ms | CPU µs/invocation | CPU p50 / p95 µs | peak RSS MB |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in results {
        out.push_str(&format!(
            "| {} | {:.2} | {:.2} | {:.1} / {:.1} / {:.1} | {:.1} | {:.1} / {:.1} | {:.2} / {:.2} | {:.0} | {:.0} / {:.0} | {:.1} |\n",
            r.function,
            mb(r.binary_bytes),
            mb(r.zip_bytes),
            r.init.p50_ms,
            r.init.p95_ms,
            r.init.max_ms,
            r.init_cpu.p50_ms,
            r.first_invocation.p50_ms,
            r.first_invocation.max_ms,
            r.warm.p50_ms,
            r.warm.p95_ms,
            r.warm_cpu_stat_mean_us,
            r.warm_cpu.p50_ms * 1000.0,
            r.warm_cpu.p95_ms * 1000.0,
            r.peak_rss_kb as f64 / 1000.0,
        ));
    }
    out.push('\n');
    for c in checks {
        let verdict = match c.met {
            Some(true) => "**met**",
            Some(false) => "**MISSED**",
            None => "not measured",
        };
        out.push_str(&format!("- {}: {verdict} ({})\n", c.target, c.detail));
    }
    out
}

/// The environment every function process gets besides Lambda's own variables: the project's
/// configuration from this process's environment, raised rate limits, the management endpoint
/// and the log settings.
///
/// # Errors
/// `AWS_ENDPOINT_URL` is not set: the functions would call real AWS.
pub fn function_env(
    lookup: impl Fn(&str) -> Option<String>,
    management_url: &str,
    options: &Options,
    deployed: Option<&Deployed>,
) -> Result<Vec<(String, String)>, Error> {
    if lookup("AWS_ENDPOINT_URL").is_none_or(|v| v.trim().is_empty()) {
        return Err("AWS_ENDPOINT_URL is not set: source .local-state/env first (bench/coldstart.sh does)".into());
    }
    let mut vars: Vec<(String, String)> =
        PASSED_THROUGH.iter().filter_map(|k| lookup(k).map(|v| ((*k).to_owned(), v))).collect();
    vars.extend(RATE_LIMITS_RAISED.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    vars.push(("APIGW_MANAGEMENT_ENDPOINT".to_owned(), management_url.to_owned()));
    vars.push(("RUST_LOG".to_owned(), options.rust_log.clone()));
    vars.push(("LOG_FORMAT".to_owned(), options.log_format.clone()));
    if let Some(deployed) = deployed {
        let replaced = |k: &str| deployed.removed.contains(&k) || deployed.env.iter().any(|(name, _)| name == k);
        vars.retain(|(k, _)| !replaced(k));
        vars.extend(deployed.env.iter().cloned());
    }
    vars.extend(options.extra_env.iter().cloned());
    Ok(vars)
}

/// `env` as `function` gets it: the JWT settings go to the authorizer only, as in
/// `infra/template.yaml` (no other function verifies tokens).
pub fn env_of(function: Function, env: &[(String, String)]) -> Vec<(String, String)> {
    env.iter().filter(|(k, _)| function == Function::Authorizer || !k.starts_with("JWT_")).cloned().collect()
}

/// [`Deployed::setup`] with the run's configuration.
async fn deployed_setup(config: &Config, management_url: &str, out_dir: &Path) -> Result<Deployed, Error> {
    let KeySource::Secret(jwt_secret) = &config.jwt.key else {
        return Err("--deployed needs HS256 (JWT_SECRET), as .local-state/env has".into());
    };
    let aws_endpoint = std::env::var("AWS_ENDPOINT_URL").map_err(|_| "AWS_ENDPOINT_URL is not set")?;
    let sdk = chat_shared::adapters::aws_sdk_config(config).await;
    Deployed::setup(&sdk, &aws_endpoint, management_url, &config.database_url, jwt_secret, out_dir).await
}

/// The first line of `/proc/cpuinfo` naming the model, and the CPU count.
pub fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    format!("{cpus} vCPUs, {model}")
}

/// Everything one run measured, and what failed.
#[derive(Debug, Serialize)]
pub struct Outcome {
    pub machine: String,
    pub results: Vec<FunctionResult>,
    pub targets: Vec<TargetCheck>,
    /// `(function, error)` for each function that could not be measured.
    pub errors: Vec<(String, String)>,
    /// Frames the WebSocket clients got from the functions' pushes.
    pub pushes_received: usize,
}

/// Runs the benchmark; progress goes to stderr.
///
/// # Errors
/// The world cannot be set up (services down, schema missing, bad configuration). A function
/// that fails is reported in [`Outcome::errors`] and the others still run.
pub async fn run(options: &Options) -> Result<Outcome, Error> {
    std::fs::create_dir_all(options.out_dir.join("logs")).map_err(|e| format!("{}: {e}", options.out_dir.display()))?;
    let config = scenario::bench_config(RATE_LIMITS_RAISED)?;
    let tag: String = uuid::Uuid::new_v4().simple().to_string().chars().take(8).collect();
    let mut world = World::setup(config.clone(), &tag).await?;
    let deployed = match options.deployed {
        false => None,
        true => Some(deployed_setup(&config, &world.management_url(), &options.out_dir).await?),
    };
    let env = function_env(|k| std::env::var(k).ok(), &world.management_url(), options, deployed.as_ref())?;
    eprintln!("chat-coldstart: {}; users coldstart-{tag}-*, management API {}", machine(), world.management_url());

    let mut outcome = Outcome {
        machine: machine(),
        results: Vec::new(),
        targets: Vec::new(),
        errors: Vec::new(),
        pushes_received: 0,
    };
    for &function in &options.functions {
        match bench_function(&mut world, options, function, &env_of(function, &env)).await {
            Ok(result) => {
                eprintln!(
                    "{:26} zip {:.2} MB  init p50 {:.1} ms  first {:.1} ms  warm p50 {:.2} ms  cpu p50 {:.0} µs",
                    result.function,
                    mb(result.zip_bytes),
                    result.init.p50_ms,
                    result.first_invocation.p50_ms,
                    result.warm.p50_ms,
                    result.warm_cpu.p50_ms * 1000.0
                );
                outcome.results.push(result);
            }
            Err(error) => {
                eprintln!("{:26} FAILED: {error}", function.package());
                outcome.errors.push((function.package().to_owned(), error.to_string()));
            }
        }
    }
    outcome.pushes_received = world.pushes_received();
    outcome.targets = targets(&outcome.results);
    if let Err(error) = world.finish().await {
        eprintln!("chat-coldstart: cleaning up DynamoDB: {error}");
        outcome.errors.push(("cleanup".to_owned(), error.to_string()));
    }
    Ok(outcome)
}

/// The next call from the function, or why there is none: it exited, or `deadline` passed.
async fn next_report(api: &mut FakeRuntimeApi, child: &mut Child, deadline: Instant) -> Result<Report, Error> {
    tokio::select! {
        biased;
        report = api.report() => report.ok_or_else(|| "the fake Runtime API stopped".into()),
        status = child.wait() => Err(format!("the function exited ({})", status.map_or_else(|e| e.to_string(), |s| s.to_string())).into()),
        () = tokio::time::sleep_until(deadline.into()) => Err("timed out waiting for the function".into()),
    }
}

/// Waits for the runtime's `GET /next`; returns when it arrived.
async fn polled(api: &mut FakeRuntimeApi, child: &mut Child, timeout: Duration) -> Result<Instant, Error> {
    match next_report(api, child, Instant::now() + timeout).await? {
        Report::Polled { at } => Ok(at),
        other => Err(format!("expected GET /invocation/next, got {}", other.describe()).into()),
    }
}

/// One invocation: hands `event` out, waits for the response and for the runtime to poll
/// again (so the process is idle when this returns). Returns the handed-out-to-response time.
async fn invoke(
    api: &mut FakeRuntimeApi,
    child: &mut Child,
    function: Function,
    event: Value,
    timeout: Duration,
) -> Result<(Duration, Value), Error> {
    let request_id = uuid::Uuid::new_v4().to_string();
    api.offer(Invocation {
        request_id: request_id.clone(),
        function_arn: format!(
            "arn:aws:lambda:us-east-1:{}:function:{}",
            chat_local::events::ACCOUNT_ID,
            function.package()
        ),
        timeout,
        body: serde_json::to_vec(&event)?,
    });
    let deadline = Instant::now() + timeout;
    let handed = match next_report(api, child, deadline).await? {
        Report::Handed { request_id: id, at } if id == request_id => at,
        other => return Err(format!("expected the event to be handed out, got {}", other.describe()).into()),
    };
    let (responded, body) = match next_report(api, child, deadline).await? {
        Report::Responded { request_id: id, at, body } if id == request_id => (at, body),
        other => return Err(other.describe().into()),
    };
    let response: Value =
        serde_json::from_slice(&body).map_err(|e| format!("the response is not JSON ({e}): {body:?}"))?;
    check_response(function, &event, &response).map_err(|e| format!("{} answered wrongly: {e}", function.package()))?;
    polled(api, child, timeout).await?;
    Ok((responded.saturating_duration_since(handed), response))
}

fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Everything measured for one function.
async fn bench_function(
    world: &mut World,
    options: &Options,
    function: Function,
    env: &[(String, String)],
) -> Result<FunctionResult, Error> {
    let package = function.package();
    let binary = options.bin_dir.join(package);
    let binary_bytes = std::fs::metadata(&binary)
        .map_err(|e| format!("{}: {e} (build it first: cargo build --release -p {package})", binary.display()))?
        .len();
    let zip_bytes = process::zip_bootstrap(&binary, &options.out_dir.join(format!("{package}.zip")))?;
    world.prepare(function, options.runs + options.warm).await?;
    let log = File::create(options.out_dir.join("logs").join(format!("{package}.log")))?;
    let ticks_per_second = process::clock_ticks_per_second();

    let (mut init, mut init_cpu, mut first, mut first_cpu) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut warm, mut warm_cpu, mut warm_cpu_stat_mean_us, mut peak_rss) = (Vec::new(), Vec::new(), 0.0, 0);
    for run in 0..options.runs {
        let mut api = FakeRuntimeApi::start().await?;
        let authority = api.authority();
        let lambda =
            LambdaEnv { function, runtime_api: &authority, memory_mb: options.memory_mb, region: world.region() };
        let mut command = tokio::process::Command::new(&binary);
        command
            .env_clear()
            .envs(lambda.vars())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log.try_clone()?)
            .kill_on_drop(true);
        // Untimed: the first event exists before the container starts, as on Lambda.
        world.before_invocation(function).await?;
        let event = world.event(function)?;

        let started = Instant::now();
        let mut child = command.spawn().map_err(|e| format!("spawning {}: {e}", binary.display()))?;
        let pid = child.id().ok_or("the function exited at once")?;
        let result = async {
            let at = polled(&mut api, &mut child, options.timeout).await?;
            init.push(at.saturating_duration_since(started));
            let cpu_at_init = process::threads_cpu_ns(pid)?;
            init_cpu.push(Duration::from_nanos(cpu_at_init));

            let (took, _) = invoke(&mut api, &mut child, function, event, options.timeout).await?;
            first.push(took);
            first_cpu.push(Duration::from_nanos(process::threads_cpu_ns(pid)?.saturating_sub(cpu_at_init)));

            if run + 1 == options.runs && options.warm > 0 {
                let ticks_before = process::process_cpu_ticks(pid)?;
                for _ in 0..options.warm {
                    world.before_invocation(function).await?;
                    let event = world.event(function)?;
                    let before = process::threads_cpu_ns(pid)?;
                    let (took, _) = invoke(&mut api, &mut child, function, event, options.timeout).await?;
                    let after = process::threads_cpu_ns(pid)?;
                    warm.push(took);
                    // A thread that ended in between would make this meaningless: skip it.
                    if after >= before {
                        warm_cpu.push(Duration::from_nanos(after - before));
                    }
                }
                let ticks = process::process_cpu_ticks(pid)?.saturating_sub(ticks_before);
                warm_cpu_stat_mean_us = ticks as f64 * 1e6 / ticks_per_second as f64 / options.warm as f64;
                peak_rss = peak_rss_kb(pid);
            }
            Ok::<(), Error>(())
        }
        .await;
        let _ = child.start_kill();
        let _ = child.wait().await;
        result.map_err(|e| {
            format!(
                "run {} of {}: {e} (log: {})",
                run + 1,
                options.runs,
                options.out_dir.join("logs").join(format!("{package}.log")).display()
            )
        })?;
    }
    world.verify(function).await?;
    Ok(FunctionResult {
        function: package.to_owned(),
        binary_bytes,
        zip_bytes,
        init: Distribution::of(init),
        init_cpu: Distribution::of(init_cpu),
        first_invocation: Distribution::of(first),
        first_invocation_cpu: Distribution::of(first_cpu),
        warm: Distribution::of(warm),
        warm_cpu: Distribution::of(warm_cpu),
        warm_cpu_stat_mean_us,
        peak_rss_kb: peak_rss,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Distribution {
        Distribution::of(values.iter().map(|&v| Duration::from_millis(v)).collect())
    }

    fn result(function: Function, zip_bytes: u64, init_ms: u64, cpu_us: u64) -> FunctionResult {
        FunctionResult {
            function: function.package().to_owned(),
            binary_bytes: zip_bytes * 3,
            zip_bytes,
            init: ms(&[init_ms]),
            init_cpu: ms(&[1]),
            first_invocation: ms(&[30, 40]),
            first_invocation_cpu: ms(&[5]),
            warm: ms(&[3, 4]),
            warm_cpu: Distribution::of(vec![Duration::from_micros(cpu_us); 3]),
            warm_cpu_stat_mean_us: cpu_us as f64,
            peak_rss_kb: 12_345,
        }
    }

    #[test]
    fn distributions_use_nearest_rank_percentiles() {
        let d = Distribution::of((1..=20).rev().map(Duration::from_millis).collect());
        assert_eq!((d.samples, d.p50_ms, d.p95_ms, d.max_ms, d.mean_ms), (20, 10.0, 19.0, 20.0, 10.5));
        assert_eq!(Distribution::of(Vec::new()), Distribution::default());
    }

    #[test]
    fn targets_are_met_or_missed_per_function() {
        let good = [result(Function::WsSendMessage, 3_000_000, 9, 800), result(Function::WsDefault, 2_000_000, 5, 90)];
        let checks = targets(&good);
        assert!(checks.iter().all(|c| c.met == Some(true)), "{checks:?}");
        assert_eq!(checks[0].detail, "largest: ws-send-message 3.00 MB");
        assert_eq!(checks[1].detail, "slowest: ws-send-message 9.0 ms");

        let bad =
            [result(Function::WsSendMessage, 6_000_001, 26, 2_100), result(Function::WsDefault, 2_000_000, 30, 90)];
        let checks = targets(&bad);
        assert!(checks.iter().all(|c| c.met == Some(false)), "{checks:?}");
        assert_eq!(checks[0].detail, "over: ws-send-message 6.00 MB");
        assert_eq!(checks[1].detail, "over: ws-send-message 26.0 ms, ws-default 30.0 ms");

        // Without message:send, its target is not measured (and not counted as missed).
        let checks = targets(&[result(Function::WsDefault, 1, 1, 1)]);
        assert_eq!(checks[2].met, None);
        assert_eq!(targets(&[])[0].met, None);
    }

    #[test]
    fn the_table_has_a_row_per_function_and_a_line_per_target() {
        let results = [result(Function::WsSendMessage, 2_500_000, 9, 800)];
        let text = markdown(&results, &targets(&results));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("| function | binary MB | zip MB | init p50 / p95 / max ms"));
        assert_eq!(
            lines[2],
            "| ws-send-message | 7.50 | 2.50 | 9.0 / 9.0 / 9.0 | 1.0 | 30.0 / 40.0 | 3.00 / 4.00 | 800 | 800 / 800 | 12.3 |"
        );
        assert_eq!(lines[3], "");
        assert!(lines[4].starts_with("- zip ≤ 6 MB for every function: **met**"));
        assert!(
            lines[6].starts_with(
                "- warm message:send handler time (CPU, no network waits) p50 ≤ 2 ms: **met** (p50 800 µs"
            )
        );
    }

    #[test]
    fn the_function_environment_passes_the_configuration_and_raises_the_limits() {
        let options = Options {
            bin_dir: "target/release".into(),
            out_dir: "target/coldstart".into(),
            functions: Function::ALL.to_vec(),
            runs: 1,
            warm: 1,
            memory_mb: 256,
            timeout: Duration::from_secs(1),
            rust_log: "info".into(),
            log_format: "json".into(),
            extra_env: vec![("SSL_CERT_DIR".into(), "/nowhere".into())],
            deployed: false,
        };
        let local = |k: &str| match k {
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:4566".to_owned()),
            "JWT_SECRET" => Some("s".to_owned()),
            "HOME" => Some("/root".to_owned()),
            _ => None,
        };
        let vars = function_env(local, "http://127.0.0.1:3001/local", &options, None).expect("env");
        let get = |k: &str| vars.iter().find(|(name, _)| name == k).map(|(_, v)| v.as_str());
        assert_eq!(get("AWS_ENDPOINT_URL"), Some("http://127.0.0.1:4566"));
        assert_eq!(get("JWT_SECRET"), Some("s"));
        assert_eq!(get("HOME"), None);
        assert_eq!(get("APIGW_MANAGEMENT_ENDPOINT"), Some("http://127.0.0.1:3001/local"));
        assert_eq!(get("RATE_LIMIT_MESSAGES_PER_MINUTE"), Some("1000000"));
        assert_eq!(get("LOG_FORMAT"), Some("json"));
        assert_eq!(vars.last().map(|(k, v)| (k.as_str(), v.as_str())), Some(("SSL_CERT_DIR", "/nowhere")));
        assert!(function_env(|_| None, "x", &options, None).is_err());
        // The JWT settings are the authorizer's alone.
        let of = |f: Function| env_of(f, &vars).iter().any(|(k, _)| k == "JWT_SECRET");
        assert!(of(Function::Authorizer) && !of(Function::WsSendMessage));
    }
}
