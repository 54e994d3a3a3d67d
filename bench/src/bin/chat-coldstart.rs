//! `chat-coldstart`: cold start and size of every Lambda function, from its release binary.
//! See `chat_bench::coldstart` and `docs/benchmarks.md`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chat_bench::coldstart::{self, Options};
use chat_shared::routes::Function;
use clap::Parser;

/// Measure each Lambda function's release zip size, init time (spawn to the runtime's first
/// `GET /runtime/invocation/next` on a fake Lambda Runtime API on loopback), first invocation
/// and warm invocations (wall time, and CPU time per invocation, which excludes network waits),
/// against real PostgreSQL, Redis, moto and an in-process chat-local management API.
///
/// Build the binaries first (`cargo build --release -p authorizer -p ws-connect ...`) and source
/// `.local-state/env` (written by `local/services.sh`); `bench/coldstart.sh` does all of it.
/// Prints a Markdown table and one line per target of the issue (zip <= 6 MB, init p50 <= 25 ms,
/// warm message:send CPU p50 <= 2 ms). Exits with 1 when a target is missed, 2 on errors.
#[derive(Debug, Parser)]
#[command(name = "chat-coldstart", version)]
struct Args {
    /// Directory holding the release binaries, one per function package.
    #[arg(long, value_name = "DIR", default_value = "target/release")]
    bin_dir: PathBuf,

    /// Where the zips (`<function>.zip`) and the functions' logs (`logs/<function>.log`) are written.
    #[arg(long, value_name = "DIR", default_value = "target/coldstart")]
    out_dir: PathBuf,

    /// Only these functions (package names, comma-separated, e.g. `ws-send-message,authorizer`); default: every function.
    #[arg(long, value_name = "NAMES", value_delimiter = ',', value_parser = parse_function)]
    functions: Vec<Function>,

    /// Cold starts per function (init and first invocation are measured in each).
    #[arg(long, value_name = "R", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,

    /// Warm invocations after the first one, in the last cold-started process of each function.
    #[arg(long, value_name = "N", default_value_t = 200)]
    warm: u32,

    /// AWS_LAMBDA_FUNCTION_MEMORY_SIZE given to the functions (informational: nothing limits memory or CPU here).
    #[arg(long, value_name = "MB", default_value_t = 256)]
    memory_mb: u32,

    /// Seconds to wait for an init, an invocation's response, or the runtime's next poll before failing the function.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    timeout_secs: u64,

    /// RUST_LOG of the functions (their logs go to <out-dir>/logs/).
    #[arg(long, value_name = "FILTER", default_value = "info")]
    rust_log: String,

    /// LOG_FORMAT of the functions: json (as on Lambda) or text.
    #[arg(long, value_name = "FORMAT", default_value = "json", value_parser = ["json", "text"])]
    log_format: String,

    /// Extra environment for the functions, NAME=VALUE, repeatable (applied last, so it overrides the
    /// configuration; e.g. `--function-env SSL_CERT_DIR=/nonexistent` to load only the CA bundle file).
    #[arg(long, value_name = "NAME=VALUE", value_parser = parse_env_pair)]
    function_env: Vec<(String, String)>,

    /// Run the functions as the SAM template deploys them: the database URL and the HS256 secret
    /// stored in Secrets Manager (moto) and read at init, DATABASE_TLS=require, and every AWS
    /// endpoint (moto, the management API) behind HTTPS with a CA made for the run, trusted
    /// through SSL_CERT_FILE (the system bundle plus that CA).
    #[arg(long)]
    deployed: bool,

    /// Also write everything measured (all distributions, the targets, errors) as JSON here.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
}

fn parse_env_pair(pair: &str) -> Result<(String, String), String> {
    match pair.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("expected NAME=VALUE, got {pair:?}")),
    }
}

fn parse_function(name: &str) -> Result<Function, String> {
    Function::from_package(name.trim()).ok_or_else(|| {
        let known: Vec<&str> = Function::ALL.iter().map(|f| f.package()).collect();
        format!("unknown function {name:?}; one of: {}", known.join(", "))
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let options = Options {
        bin_dir: args.bin_dir,
        out_dir: args.out_dir,
        functions: if args.functions.is_empty() { Function::ALL.to_vec() } else { args.functions },
        runs: args.runs as usize,
        warm: args.warm as usize,
        memory_mb: args.memory_mb,
        timeout: Duration::from_secs(args.timeout_secs),
        rust_log: args.rust_log,
        log_format: args.log_format,
        extra_env: args.function_env,
        deployed: args.deployed,
    };
    let outcome = match coldstart::run(&options).await {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("chat-coldstart: {e}");
            return ExitCode::from(2);
        }
    };
    print!("{}", coldstart::markdown(&outcome.results, &outcome.targets));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&outcome).unwrap_or_default();
        if let Err(e) = std::fs::write(path, json) {
            eprintln!("chat-coldstart: {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if !outcome.errors.is_empty() {
        for (function, error) in &outcome.errors {
            eprintln!("chat-coldstart: {function}: {error}");
        }
        return ExitCode::from(2);
    }
    if outcome.targets.iter().any(|t| t.met == Some(false)) {
        eprintln!("chat-coldstart: a target was missed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
