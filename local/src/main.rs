//! `chat-local`: run the backend locally behind an emulated API Gateway, and the dev chores
//! around it (migrations, the DynamoDB table, dev tokens).
//!
//! Configuration comes from the environment (`source .local-state/env`); see
//! `chat_shared::config`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use chat_local::{Limits, LocalGateway, Options};
use chat_shared::config::Config;
use clap::{Parser, Subcommand};

type BoxError = chat_local::BoxError;

/// Local API Gateway emulator and dev CLI for the chat backend.
#[derive(Debug, Parser)]
#[command(name = "chat-local", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the WebSocket API (+ management API) and the HTTP API until Ctrl-C, running every
    /// function in this process, or through the Lambda Invoke API with --invoke-endpoint.
    Serve(ServeArgs),
    /// Apply the PostgreSQL migrations and create the DynamoDB table if missing (idempotent).
    Setup,
    /// Apply the PostgreSQL migrations only.
    Migrate,
    /// Print a dev token (HS256, signed with JWT_SECRET) for a user.
    Token(TokenArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address of the WebSocket API and its management API (`@connections`).
    #[arg(long, env = "CHAT_LOCAL_WS_ADDR", default_value = "127.0.0.1:3001")]
    ws_addr: SocketAddr,
    /// Address of the HTTP API.
    #[arg(long, env = "CHAT_LOCAL_HTTP_ADDR", default_value = "127.0.0.1:3000")]
    http_addr: SocketAddr,
    /// WebSocket API stage, the first path segment of its URLs.
    #[arg(long, env = "CHAT_LOCAL_STAGE", default_value = "local")]
    stage: String,
    /// API id reported in events and ARNs.
    #[arg(long, env = "CHAT_LOCAL_API_ID", default_value = chat_local::DEFAULT_API_ID)]
    api_id: String,
    /// WebSocket integration timeout, in milliseconds (API Gateway: 29 s).
    #[arg(long, env = "CHAT_LOCAL_WS_TIMEOUT_MS", default_value_t = 29_000)]
    ws_timeout_ms: u64,
    /// HTTP API integration timeout, in milliseconds (API Gateway: 29 s).
    #[arg(long, env = "CHAT_LOCAL_HTTP_TIMEOUT_MS", default_value_t = 29_000)]
    http_timeout_ms: u64,
    /// Close WebSocket connections idle for this many seconds (API Gateway: 600).
    #[arg(long, env = "CHAT_LOCAL_IDLE_TIMEOUT_SECONDS", default_value_t = 600)]
    idle_timeout_seconds: u64,
    /// Send every event to the Lambda Invoke API at this URL (e.g. `cargo lambda watch` on
    /// http://127.0.0.1:9000) instead of running the functions in this process. chat-local
    /// then builds no services and reads no backend configuration: the functions read their
    /// own (DATABASE_URL, APIGW_MANAGEMENT_ENDPOINT=http://127.0.0.1:3001/local, ...).
    #[arg(long, env = "CHAT_LOCAL_INVOKE_ENDPOINT", value_name = "URL")]
    invoke_endpoint: Option<String>,
}

#[derive(Debug, clap::Args)]
struct TokenArgs {
    /// User name: becomes the token's `sub` and `name` (the user id is derived from it).
    #[arg(long)]
    user: String,
    /// Token lifetime in seconds.
    #[arg(long, default_value_t = 86_400)]
    ttl_seconds: u64,
    /// Print `{"userId": ..., "token": ...}` instead of the bare token.
    #[arg(long)]
    json: bool,
}

/// Under load the AWS SDK clients allocate a great deal per call; glibc's malloc spent a sixth of
/// chat-local's CPU on it (docs/benchmarks.md, "Load"). Off with `--no-default-features`.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Setup => setup(true).await,
        Command::Migrate => setup(false).await,
        Command::Token(args) => token(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("chat-local: error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), BoxError> {
    chat_shared::telemetry::init();
    let options = Options { ws_addr: args.ws_addr, http_addr: args.http_addr, stage: args.stage, api_id: args.api_id };
    let limits = Limits {
        ws_integration_timeout: Duration::from_millis(args.ws_timeout_ms),
        http_integration_timeout: Duration::from_millis(args.http_timeout_ms),
        idle_timeout: Duration::from_secs(args.idle_timeout_seconds),
        ..Limits::default()
    };
    let invoke_endpoint = args.invoke_endpoint.as_deref().map(str::trim).filter(|e| !e.is_empty());
    let gateway = match invoke_endpoint {
        Some(endpoint) => LocalGateway::start_with_invoke_endpoint(endpoint, options, limits, &aws_region()).await?,
        None => LocalGateway::start_with(Config::from_env()?, options, limits).await?,
    };
    println!("WebSocket API   {}?token=<jwt>", gateway.ws_url());
    println!("HTTP API        {}", gateway.http_url());
    println!("Management API  {}/@connections/{{connectionId}}", gateway.management_url());
    if let Some(endpoint) = invoke_endpoint {
        println!("Functions       Lambda Invoke API at {endpoint}");
        println!("                (they need APIGW_MANAGEMENT_ENDPOINT={})", gateway.management_url());
    }
    println!("Get a token with: chat-local token --user alice");
    stop_signal().await;
    println!("Shutting down...");
    gateway.shutdown().await;
    Ok(())
}

/// The region named in ARNs when no configuration is read (invoke-endpoint mode).
fn aws_region() -> String {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "us-east-1".to_owned())
}

/// Ctrl-C, or SIGTERM where there is one.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// `host:port/db` of a database URL, without the credentials.
fn database_label(url: &str) -> &str {
    url.rsplit_once('@').map_or(url, |(_, rest)| rest)
}

async fn setup(with_table: bool) -> Result<(), BoxError> {
    chat_shared::telemetry::init();
    let config = Config::from_env()?;
    let report = chat_shared::adapters::postgres::migrate(&config.database_url)
        .await
        .map_err(|e| format!("migrations on {}: {e}", database_label(&config.database_url)))?;
    let current = report.current.as_deref().unwrap_or("none");
    let applied = if report.applied.is_empty() { "nothing to apply".to_owned() } else { report.applied.join(", ") };
    println!("migrations on {}: {applied}; now at {current}", database_label(&config.database_url));
    if with_table {
        let (table, ttl) = (config.connections_table.clone(), config.connection_ttl);
        let services = chat_shared::edge::Services::from_config(config).await?;
        let created = services.registry.ensure_table().await.map_err(|e| format!("DynamoDB table {table}: {e}"))?;
        let what = if created { "created" } else { "already exists" };
        println!("DynamoDB table {table}: {what}");
        let adopted = services.registry.adopt_legacy_connections(ttl).await.map_err(|e| format!("{table}: {e}"))?;
        if adopted > 0 {
            println!("DynamoDB table {table}: {adopted} connections of the earlier layout moved into user items");
        }
    }
    Ok(())
}

fn token(args: &TokenArgs) -> Result<(), BoxError> {
    let config = Config::from_env()?;
    let (identity, token) =
        chat_shared::auth::issue_dev_token(&config.jwt, &args.user, Duration::from_secs(args.ttl_seconds))?;
    if args.json {
        println!("{}", serde_json::json!({"userId": identity.user_id.to_string(), "token": token}));
    } else {
        println!("{token}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_takes_an_invoke_endpoint() {
        let cli =
            Cli::try_parse_from(["chat-local", "serve", "--invoke-endpoint", "http://127.0.0.1:9000"]).expect("parses");
        match cli.command {
            Command::Serve(args) => assert_eq!(args.invoke_endpoint.as_deref(), Some("http://127.0.0.1:9000")),
            other => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn database_labels_hide_credentials() {
        assert_eq!(database_label("postgres://u:p@127.0.0.1:5432/chat"), "127.0.0.1:5432/chat");
        assert_eq!(database_label("host=x"), "host=x");
    }
}
