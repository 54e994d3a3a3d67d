//! `chat-bench`: the load generator. See `chat_bench::loadgen`, `chat-bench --help` and
//! `bench/load.sh`.

use std::process::ExitCode;

use chat_bench::loadgen::{self, cli::Cli};
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match loadgen::run(&cli).await {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("chat-bench: {e}");
            return ExitCode::from(2);
        }
    };
    print!("{}", outcome.report.markdown());
    match outcome.report.write(&cli.scenario.common().out, outcome.plot_phase.as_deref()) {
        Ok(paths) => {
            for path in paths {
                eprintln!("chat-bench: wrote {}", path.display());
            }
        }
        Err(e) => {
            eprintln!("chat-bench: {e}");
            return ExitCode::from(2);
        }
    }
    if outcome.report.missed() {
        eprintln!("chat-bench: a target was missed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
