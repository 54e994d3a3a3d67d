//! A WebSocket test client for `chat-local`, and helpers to start the gateway for a test.

use std::collections::VecDeque;
use std::time::Duration;

use chat_shared::auth::{Identity, issue_dev_token};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use crate::TestWorld;

/// How long a test waits for a frame it expects.
pub const WAIT: Duration = Duration::from_secs(5);

/// A running gateway on ephemeral ports, backed by the test's world.
pub async fn start_gateway(world: &TestWorld) -> chat_local::LocalGateway {
    let options = chat_local::Options {
        ws_addr: "127.0.0.1:0".parse().expect("addr"),
        http_addr: "127.0.0.1:0".parse().expect("addr"),
        ..chat_local::Options::default()
    };
    chat_local::LocalGateway::start_with_sdk(world.config.clone(), world.sdk.clone(), options)
        .await
        .expect("start chat-local")
}

/// [`start_gateway`] with other [`chat_local::Limits`] (short idle timeouts, durations...).
pub async fn start_gateway_with_limits(world: &TestWorld, limits: chat_local::Limits) -> chat_local::LocalGateway {
    let options = chat_local::Options {
        ws_addr: "127.0.0.1:0".parse().expect("addr"),
        http_addr: "127.0.0.1:0".parse().expect("addr"),
        ..chat_local::Options::default()
    };
    chat_local::LocalGateway::start_with_sdk_and_limits(world.config.clone(), world.sdk.clone(), options, limits)
        .await
        .expect("start chat-local")
}

/// A user with a dev token signed with the test's secret.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub identity: Identity,
    pub token: String,
}

impl TestUser {
    pub fn new(world: &TestWorld, name: &str) -> TestUser {
        let (identity, token) = issue_dev_token(&world.config.jwt, name, Duration::from_secs(600)).expect("token");
        TestUser { identity, token }
    }

    pub fn id(&self) -> String {
        self.identity.user_id.to_string()
    }
}

/// One WebSocket connection. Frames that a wait did not match are kept for later waits.
#[derive(Debug)]
pub struct WsClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pending: VecDeque<Value>,
    next_request: u64,
}

impl WsClient {
    /// Connects with `?token=`.
    ///
    /// # Panics
    /// If the handshake is refused.
    pub async fn connect(gateway: &chat_local::LocalGateway, user: &TestUser) -> WsClient {
        let url = format!("{}?token={}", gateway.ws_url(), user.token);
        let (socket, _) = connect_async(url).await.expect("handshake accepted");
        WsClient { socket, pending: VecDeque::new(), next_request: 0 }
    }

    /// Sends a raw text frame.
    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.socket.send(Frame::Text(text.into().into())).await.expect("send frame");
    }

    /// Sends `message:send` with a fresh requestId and returns the ack.
    pub async fn send_message(
        &mut self,
        conversation_id: &str,
        content: &str,
        client_message_id: Option<&str>,
    ) -> Value {
        self.next_request += 1;
        let request_id = format!("r{}", self.next_request);
        let mut frame = json!({"action": "message:send", "conversationId": conversation_id, "content": content, "requestId": request_id});
        if let Some(c) = client_message_id {
            frame["clientMessageId"] = json!(c);
        }
        self.send_text(frame.to_string()).await;
        self.ack(&request_id).await
    }

    /// Waits for the ack with this requestId.
    pub async fn ack(&mut self, request_id: &str) -> Value {
        self.wait_for(|v| v.get("requestId").and_then(Value::as_str) == Some(request_id)).await
    }

    /// Waits for a pushed event by name.
    pub async fn event(&mut self, name: &str) -> Value {
        self.wait_for(|v| v.get("event").and_then(Value::as_str) == Some(name)).await
    }

    /// Waits for the first frame matching `matches`.
    ///
    /// # Panics
    /// After [`WAIT`] without one, or if the socket closes.
    pub async fn wait_for(&mut self, matches: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(&matches) {
            return self.pending.remove(i).expect("index is valid");
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("no matching frame within {WAIT:?}; unmatched: {:?}", self.pending));
            let value = match frame {
                Some(Ok(Frame::Text(text))) => serde_json::from_str::<Value>(&text).expect("frames are JSON"),
                Some(Ok(Frame::Ping(_) | Frame::Pong(_))) => continue,
                other => panic!("socket ended while waiting: {other:?}"),
            };
            if matches(&value) {
                return value;
            }
            self.pending.push_back(value);
        }
    }

    /// Asserts that nothing arrives for `quiet`.
    pub async fn assert_silent(&mut self, quiet: Duration) {
        assert!(self.pending.is_empty(), "unexpected frames: {:?}", self.pending);
        if let Ok(frame) = tokio::time::timeout(quiet, self.socket.next()).await {
            panic!("expected silence, got {frame:?}");
        }
    }

    /// Sends `text` as one text message split into frames of at most `chunk` bytes (a first
    /// text frame, then continuation frames).
    ///
    /// # Errors
    /// A frame could not be written (the server may close mid-message on purpose).
    pub async fn send_fragmented_text(
        &mut self,
        text: &str,
        chunk: usize,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        use tokio_tungstenite::tungstenite::protocol::frame::Frame as RawFrame;
        use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
        let pieces: Vec<&[u8]> = text.as_bytes().chunks(chunk.max(1)).collect();
        for (i, piece) in pieces.iter().enumerate() {
            let opcode = if i == 0 { OpCode::Data(Data::Text) } else { OpCode::Data(Data::Continue) };
            let frame = RawFrame::message(piece.to_vec(), opcode, i + 1 == pieces.len());
            self.socket.send(Frame::Frame(frame)).await?;
        }
        Ok(())
    }

    /// Sends a WebSocket ping control frame (the server's pong is skipped by the waits).
    pub async fn ping(&mut self) {
        self.socket.send(Frame::Ping(Vec::new().into())).await.expect("send ping");
    }

    /// Waits (up to [`WAIT`]) for the server to close the socket and returns its close code;
    /// `None` if the socket ended without a close frame. Frames arriving first are kept for
    /// later waits.
    ///
    /// # Panics
    /// If the socket is still open after [`WAIT`].
    pub async fn close_code(&mut self) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("the socket was not closed within {WAIT:?}"));
            match frame {
                Some(Ok(Frame::Close(close))) => return close.map(|c| u16::from(c.code)),
                Some(Ok(Frame::Text(text))) => {
                    if let Ok(value) = serde_json::from_str::<Value>(&text) {
                        self.pending.push_back(value);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Closes the socket politely.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_secs(2), self.socket.next()).await {}
    }
}

/// The HTTP status of a refused handshake (panics if it was accepted).
pub async fn refused_handshake_status(url: &str) -> u16 {
    match connect_async(url).await {
        Ok(_) => panic!("handshake to {url} was accepted"),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("handshake failed without an HTTP answer: {other}"),
    }
}

/// `POST /conversations` as `user`; returns the status and JSON body.
pub async fn create_conversation(
    gateway: &chat_local::LocalGateway,
    user: &TestUser,
    participant_id: &str,
) -> (u16, Value) {
    post_json(gateway, "/conversations", Some(&user.token), &json!({"participantId": participant_id}).to_string()).await
}

/// GETs `path` from the HTTP API as `user`: the status, `Retry-After` and the JSON body.
pub async fn get_json(gateway: &chat_local::LocalGateway, user: &TestUser, path: &str) -> (u16, Option<String>, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", gateway.http_url()))
        .bearer_auth(&user.token)
        .send()
        .await
        .expect("HTTP request");
    let status = response.status().as_u16();
    let retry = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (status, retry, response.json().await.unwrap_or(Value::Null))
}

/// POSTs a raw body to the HTTP API; returns the status and JSON body.
pub async fn post_json(
    gateway: &chat_local::LocalGateway,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", gateway.http_url()))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("HTTP request");
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// A world, a gateway, alice and bob, and their conversation (alice created it over HTTP after
/// bob connected once, so the chat knows him).
#[derive(Debug)]
pub struct Chat {
    pub world: TestWorld,
    pub gateway: chat_local::LocalGateway,
    pub alice: TestUser,
    pub bob: TestUser,
    pub conversation_id: String,
}

impl Chat {
    /// Bob has connected and left again.
    pub async fn with_env(env: &[(&str, &str)]) -> Chat {
        let (chat, bob) = Self::build(env).await;
        bob.close().await;
        chat
    }

    /// Bob stays connected; his socket is returned with the chat.
    pub async fn with_bob_online() -> (Chat, WsClient) {
        Self::build(&[]).await
    }

    async fn build(env: &[(&str, &str)]) -> (Chat, WsClient) {
        let world = TestWorld::with_env(env).await;
        let gateway = start_gateway(&world).await;
        let (alice, bob) = (TestUser::new(&world, "alice"), TestUser::new(&world, "bob"));
        let bob_ws = WsClient::connect(&gateway, &bob).await;
        let (status, body) = create_conversation(&gateway, &alice, &bob.id()).await;
        assert_eq!(status, 201, "{body}");
        let conversation_id = body["id"].as_str().expect("id").to_owned();
        (Chat { world, gateway, alice, bob, conversation_id }, bob_ws)
    }
}
