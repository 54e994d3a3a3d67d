//! A short end-to-end chat against a running `chat-local`, printing what it sees and exiting
//! non-zero on the first thing that is not as expected. `local/lambda-watch-e2e.sh` runs it
//! against `chat-local serve --invoke-endpoint` with the functions under `cargo lambda watch`;
//! it works as well against a plain `chat-local serve`.
//!
//! ```text
//! cargo run -p chat-local --example smoke -- \
//!     --ws-url ws://127.0.0.1:3001/local --http-url http://127.0.0.1:3000 --secret "$JWT_SECRET"
//! ```
//!
//! Bob connects, alice connects and opens a conversation with him over the HTTP API, alice
//! sends a message and gets a success ack, bob receives it live, and a frame that is not JSON
//! gets a `VALIDATION_ERROR` ack.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use chat_shared::auth::issue_dev_token;
use chat_shared::config::Config;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;
type Failure = String;

/// A short end-to-end chat against a running chat-local.
#[derive(Debug, Parser)]
struct Args {
    /// The WebSocket API, e.g. ws://127.0.0.1:3001/local.
    #[arg(long)]
    ws_url: String,
    /// The HTTP API, e.g. http://127.0.0.1:3000.
    #[arg(long)]
    http_url: String,
    /// The HS256 secret the functions verify tokens with (JWT_SECRET).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    secret: String,
    /// How long to wait for each answer, in seconds (a function's first invocation under
    /// `cargo lambda watch` may include building it).
    #[arg(long, default_value_t = 60)]
    wait_seconds: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let started = Instant::now();
    match run(&args).await {
        Ok(()) => {
            println!("smoke: PASS in {:.1} s", started.elapsed().as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(failure) => {
            println!("smoke: FAIL after {:.1} s: {failure}", started.elapsed().as_secs_f64());
            ExitCode::FAILURE
        }
    }
}

/// Prints one observation.
fn saw(step: &str, what: impl std::fmt::Display) {
    println!("smoke: {step:<22} {what}");
}

async fn run(args: &Args) -> Result<(), Failure> {
    let wait = Duration::from_secs(args.wait_seconds);
    let jwt = Config::from_lookup(|k| (k == "JWT_SECRET").then(|| args.secret.clone())).map_err(|e| e.to_string())?.jwt;
    let token = |name: &str| {
        issue_dev_token(&jwt, name, Duration::from_secs(600)).map_err(|e| format!("token for {name}: {e}"))
    };
    let (alice, alice_token) = token("smoke-alice")?;
    let (bob, bob_token) = token("smoke-bob")?;

    let mut bob_ws = connect(&args.ws_url, &bob_token, wait).await?;
    saw("bob connected", bob.user_id);
    let mut alice_ws = connect(&args.ws_url, &alice_token, wait).await?;
    saw("alice connected", alice.user_id);

    let response = reqwest::Client::new()
        .post(format!("{}/conversations", args.http_url.trim_end_matches('/')))
        .bearer_auth(&alice_token)
        .json(&json!({"participantId": bob.user_id.to_string()}))
        .timeout(wait)
        .send()
        .await
        .map_err(|e| format!("POST /conversations: {e}"))?;
    let status = response.status().as_u16();
    let conversation: Value = response.json().await.map_err(|e| format!("POST /conversations body: {e}"))?;
    saw("POST /conversations", format!("{status} {conversation}"));
    let conversation_id = match (status, conversation["id"].as_str()) {
        (200 | 201, Some(id)) => id.to_owned(),
        _ => return Err(format!("expected 200/201 with an id, got {status} {conversation}")),
    };

    let content = format!("hello bob ({})", uuid::Uuid::new_v4().simple());
    let frame = json!({"action": "message:send", "requestId": "smoke-1", "conversationId": conversation_id, "content": content});
    send(&mut alice_ws, frame.to_string()).await?;
    let ack = wait_for(&mut alice_ws, wait, |v| v["requestId"] == "smoke-1").await?;
    saw("alice's ack", &ack);
    if ack["status"] != "success" || ack["data"]["content"] != content.as_str() {
        return Err(format!("expected a success ack with the content, got {ack}"));
    }

    let received = wait_for(&mut bob_ws, wait, |v| v["event"] == "message:received").await?;
    saw("bob received", &received);
    if received["data"]["content"] != content.as_str() || received["data"]["id"] != ack["data"]["id"] {
        return Err(format!("bob got another message: {received}"));
    }

    send(&mut alice_ws, "this is not JSON".to_owned()).await?;
    let error = wait_for(&mut alice_ws, wait, |v| v["status"] == "error").await?;
    saw("bad frame's ack", &error);
    if error["error"]["code"] != "VALIDATION_ERROR" {
        return Err(format!("expected VALIDATION_ERROR, got {error}"));
    }

    for (name, mut socket) in [("alice", alice_ws), ("bob", bob_ws)] {
        let _ = socket.close(None).await;
        while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_secs(2), socket.next()).await {}
        saw(&format!("{name} closed"), "ok");
    }
    Ok(())
}

async fn connect(ws_url: &str, token: &str, wait: Duration) -> Result<Socket, Failure> {
    let url = format!("{ws_url}?token={token}");
    match tokio::time::timeout(wait, tokio_tungstenite::connect_async(url)).await {
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => {
            Err(format!("handshake refused with {}", response.status()))
        }
        Ok(Err(e)) => Err(format!("handshake failed: {e}")),
        Err(_) => Err(format!("no handshake answer within {wait:?}")),
    }
}

async fn send(socket: &mut Socket, text: String) -> Result<(), Failure> {
    socket.send(Message::text(text)).await.map_err(|e| format!("send: {e}"))
}

/// The first JSON text frame matching `matches`; others are printed and skipped.
async fn wait_for(socket: &mut Socket, wait: Duration, matches: impl Fn(&Value) -> bool) -> Result<Value, Failure> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .map_err(|_| format!("no matching frame within {wait:?}"))?;
        match frame {
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(&text).map_err(|_| format!("a frame is not JSON: {text}"))?;
                if matches(&value) {
                    return Ok(value);
                }
                saw("(skipped)", &value);
            }
            Some(Ok(Message::Close(close))) => return Err(format!("the socket was closed: {close:?}")),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("socket error: {e}")),
            None => return Err("the socket ended".to_owned()),
        }
    }
}
