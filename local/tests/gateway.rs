//! The emulator end to end over real sockets, with a fake [`Invoker`] standing in for the
//! functions: what API Gateway does around them (handshake, routing, route responses,
//! `$disconnect`, the management API, the HTTP API) without any backing service.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chat_local::{Invoker, Limits, LocalGateway, Options};
use chat_shared::routes::Function;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Records every invocation and answers like the real functions would, in miniature.
#[derive(Debug, Default)]
struct Fake {
    calls: Mutex<Vec<(Function, Value)>>,
}

impl Fake {
    fn calls_of(&self, function: Function) -> Vec<Value> {
        let calls = self.calls.lock().expect("not poisoned");
        calls.iter().filter(|(f, _)| *f == function).map(|(_, e)| e.clone()).collect()
    }
}

#[async_trait]
impl Invoker for Fake {
    async fn invoke(&self, function: Function, event: Value) -> Result<Value, String> {
        self.calls.lock().expect("not poisoned").push((function, event.clone()));
        let body = event["body"].as_str().unwrap_or_default().to_owned();
        match function {
            Function::Authorizer => {
                let token = event["queryStringParameters"]["token"]
                    .as_str()
                    .or_else(|| event["headers"]["authorization"].as_str())
                    .unwrap_or_default();
                let good = token == "good" || token == "Bearer good";
                let context = json!({"userId": "u-1", "displayName": "alice"});
                if event["version"] == "2.0" {
                    return Ok(if good {
                        json!({"isAuthorized": true, "context": context})
                    } else {
                        json!({"isAuthorized": false})
                    });
                }
                let effect = if good { "Allow" } else { "Deny" };
                Ok(
                    json!({"principalId": "u-1", "policyDocument": {"Statement": [{"Effect": effect}]}, "context": context}),
                )
            }
            Function::WsConnect if event["queryStringParameters"]["reject"].is_string() => {
                Ok(json!({"statusCode": 429}))
            }
            Function::WsConnect | Function::WsDisconnect => Ok(json!({"statusCode": 200})),
            Function::HttpCreateConversation => Ok(json!({
                "statusCode": 201,
                "headers": {"content-type": "application/json"},
                "cookies": ["s=1"],
                "body": json!({"user": event["requestContext"]["authorizer"]["lambda"]["userId"], "body": event["body"]}).to_string(),
            })),
            // Every frame route ($default, message:send, typing, ...) echoes.
            _ => {
                if body.contains("sleep") {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                if body.contains("fail") {
                    return Err("boom".into());
                }
                let route = &event["requestContext"]["routeKey"];
                let user = &event["requestContext"]["authorizer"]["userId"];
                Ok(json!({"statusCode": 200, "body": json!({"route": route, "user": user, "echo": body}).to_string()}))
            }
        }
    }
}

async fn start() -> (LocalGateway, Arc<Fake>) {
    start_with(Limits::default()).await
}

/// A gateway in front of a fresh [`Fake`], with 300 ms integration timeouts and `limits`'
/// other values.
async fn start_with(limits: Limits) -> (LocalGateway, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    let options = Options {
        ws_addr: "127.0.0.1:0".parse().expect("an address"),
        http_addr: "127.0.0.1:0".parse().expect("an address"),
        ..Options::default()
    };
    let limits = Limits {
        ws_integration_timeout: Duration::from_millis(300),
        http_integration_timeout: Duration::from_millis(300),
        ..limits
    };
    let gateway = LocalGateway::start_with_invoker(options, limits, fake.clone(), "us-east-1").await.expect("started");
    (gateway, fake)
}

async fn connect(gateway: &LocalGateway, query: &str) -> Result<Socket, u16> {
    let request = format!("{}{query}", gateway.ws_url()).into_client_request().expect("a request");
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("unexpected handshake error: {e}"),
    }
}

async fn next_text(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("a frame in time");
        match frame.expect("open").expect("no error") {
            Message::Text(text) => {
                return serde_json::from_str(text.as_str()).unwrap_or(Value::String(text.to_string()));
            }
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

async fn eventually(mut check: impl FnMut() -> bool) {
    for _ in 0..100 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("condition not met in time");
}

/// Reads until the server's close frame; its code (`None` if the socket ended without one).
async fn close_code(socket: &mut Socket) -> Option<u16> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("closed in time");
        match frame {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return None,
        }
    }
}

/// The one `$disconnect` event, once it has been invoked.
async fn disconnect_event(fake: &Fake) -> Value {
    eventually(|| !fake.calls_of(Function::WsDisconnect).is_empty()).await;
    let events = fake.calls_of(Function::WsDisconnect);
    assert_eq!(events.len(), 1, "{events:?}");
    events[0].clone()
}

/// Sends `text` as one text message split into frames of at most `chunk` bytes.
async fn send_fragmented(
    socket: &mut Socket,
    text: &str,
    chunk: usize,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let pieces: Vec<&[u8]> = text.as_bytes().chunks(chunk).collect();
    for (i, piece) in pieces.iter().enumerate() {
        let opcode = if i == 0 { OpCode::Data(Data::Text) } else { OpCode::Data(Data::Continue) };
        let frame = Frame::message(piece.to_vec(), opcode, i + 1 == pieces.len());
        socket.send(Message::Frame(frame)).await?;
    }
    Ok(())
}

fn connection_id_of(fake: &Fake) -> String {
    fake.calls_of(Function::WsConnect)[0]["requestContext"]["connectionId"].as_str().expect("an id").to_owned()
}

fn encode(id: &str) -> String {
    id.replace('%', "%25").replace('=', "%3D").replace('/', "%2F").replace('+', "%2B")
}

/// A handshake without any token is refused with 401 before any function runs.
#[tokio::test]
async fn a_handshake_without_a_token_is_unauthorized_without_invoking() {
    let (gateway, fake) = start().await;
    assert_eq!(connect(&gateway, "").await.err(), Some(401));
    assert!(fake.calls.lock().expect("not poisoned").is_empty());
}

/// The authorizer's Deny refuses the handshake with 403 and `$connect` never runs.
#[tokio::test]
async fn a_denied_handshake_is_forbidden() {
    let (gateway, fake) = start().await;
    assert_eq!(connect(&gateway, "?token=bad").await.err(), Some(403));
    assert_eq!(fake.calls_of(Function::Authorizer).len(), 1);
    assert!(fake.calls_of(Function::WsConnect).is_empty());
}

/// A non-2xx answer of `$connect` becomes the handshake's status.
#[tokio::test]
async fn connect_can_refuse_with_its_own_status() {
    let (gateway, _fake) = start().await;
    assert_eq!(connect(&gateway, "?token=good&reject=1").await.err(), Some(429));
}

/// The bearer header works as well as the query parameter.
#[tokio::test]
async fn a_bearer_header_is_accepted() {
    let (gateway, _fake) = start().await;
    let mut request = gateway.ws_url().into_client_request().expect("a request");
    request.headers_mut().insert("authorization", "Bearer good".parse().expect("a header"));
    assert!(tokio_tungstenite::connect_async(request).await.is_ok());
}

/// Frames are routed on their action, two-way routes answer, and every event carries the
/// authorizer's context.
#[tokio::test]
async fn frames_are_routed_and_answered() {
    let (gateway, fake) = start().await;
    let mut socket = connect(&gateway, "?token=good").await.expect("connected");
    let connect_event = &fake.calls_of(Function::WsConnect)[0];
    assert_eq!(connect_event["requestContext"]["authorizer"]["userId"], "u-1");
    assert_eq!(connect_event["requestContext"]["authorizer"]["principalId"], "u-1");

    socket.send(Message::text(r#"{"action":"message:send","x":1}"#)).await.expect("sent");
    let ack = next_text(&mut socket).await;
    assert_eq!(ack["route"], "message:send");
    assert_eq!(ack["user"], "u-1");

    for frame in ["not json", r#"{"action":"nope"}"#, r#"{"action":7}"#] {
        socket.send(Message::text(frame)).await.expect("sent");
        let ack = next_text(&mut socket).await;
        assert_eq!(ack["route"], "$default", "{frame}");
        assert_eq!(ack["echo"], frame);
    }
    socket.send(Message::binary(vec![1u8, 2, 3])).await.expect("sent");
    assert_eq!(next_text(&mut socket).await["echo"], "AQID");
    let events = fake.calls_of(Function::WsDefault);
    assert_eq!(events.last().map(|e| e["isBase64Encoded"].clone()), Some(json!(true)));
}

/// A failing or slow function gets API Gateway's own error message back to the caller.
#[tokio::test]
async fn integration_failures_and_timeouts_are_reported_to_the_caller() {
    let (gateway, fake) = start().await;
    let mut socket = connect(&gateway, "?token=good").await.expect("connected");
    let id = connection_id_of(&fake);
    socket.send(Message::text("fail")).await.expect("sent");
    let error = next_text(&mut socket).await;
    assert_eq!(error["message"], "Internal server error");
    assert_eq!(error["connectionId"], id.as_str());
    socket.send(Message::text("sleep")).await.expect("sent");
    assert_eq!(next_text(&mut socket).await["message"], "Endpoint request timed out");
}

/// Slow frames do not hold up later ones: each frame is its own invocation.
#[tokio::test]
async fn frames_are_handled_concurrently() {
    let (gateway, _fake) = start().await;
    let mut socket = connect(&gateway, "?token=good").await.expect("connected");
    socket.send(Message::text("sleep")).await.expect("sent");
    socket.send(Message::text("quick")).await.expect("sent");
    assert_eq!(next_text(&mut socket).await["echo"], "quick");
    assert_eq!(next_text(&mut socket).await["message"], "Endpoint request timed out");
}

/// POST, GET and DELETE on `@connections/{id}` with the id percent-encoded, as the SDK sends it;
/// DELETE closes the socket and `$disconnect` runs once; the id is then gone (410).
#[tokio::test]
async fn the_management_api_pushes_describes_and_deletes() {
    let (gateway, fake) = start().await;
    let mut socket = connect(&gateway, "?token=good").await.expect("connected");
    let id = connection_id_of(&fake);
    let url = format!("{}/@connections/{}", gateway.management_url(), encode(&id));
    let http = reqwest::Client::new();

    let posted = http.post(&url).body(r#"{"event":"x"}"#).send().await.expect("posted");
    assert_eq!(posted.status(), 200);
    assert_eq!(next_text(&mut socket).await, json!({"event": "x"}));

    let base = gateway.management_url();
    let root = base.rsplit_once('/').map_or(base.as_str(), |(root, _stage)| root);
    let stageless = format!("{root}/@connections/{}", encode(&id));
    let described = http.get(&stageless).send().await.expect("described");
    assert_eq!(described.status(), 200);
    let described: Value = described.json().await.expect("json");
    assert_eq!(described["identity"]["sourceIp"], "127.0.0.1");
    assert!(described["connectedAt"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(described["lastActiveAt"].is_string());

    let deleted = http.delete(&url).send().await.expect("deleted");
    assert_eq!(deleted.status(), 204);
    let closed = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("closed in time");
    assert!(matches!(closed, Some(Ok(Message::Close(_)))), "{closed:?}");
    eventually(|| fake.calls_of(Function::WsDisconnect).len() == 1).await;

    let gone = http.post(&url).body("late").send().await.expect("answered");
    assert_eq!(gone.status(), 410);
    assert_eq!(gone.headers()["x-amzn-errortype"], "GoneException");
    assert!(gone.json::<Value>().await.expect("json")["message"].is_string());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fake.calls_of(Function::WsDisconnect).len(), 1);
}

/// A client that stops reading: its queue fills and further pushes are refused with 429 after
/// the wait, while its frames are still read and routed; DELETE still closes it and
/// `$disconnect` runs once. Pushes to other connections are not held up.
#[tokio::test]
async fn a_client_that_does_not_read_stalls_only_its_own_pushes() {
    let limits = Limits { post_queue_wait: Duration::from_millis(300), ..Limits::default() };
    let (gateway, fake) = start_with(limits).await;
    let mut stalled = connect(&gateway, "?token=good").await.expect("connected");
    let stalled_id = connection_id_of(&fake);
    let mut other = connect(&gateway, "?token=good").await.expect("connected");
    let other_id =
        fake.calls_of(Function::WsConnect)[1]["requestContext"]["connectionId"].as_str().expect("an id").to_owned();
    let http = reqwest::Client::new();
    let url = |id: &str| format!("{}/@connections/{}", gateway.management_url(), encode(id));

    // 100 KiB a push: the socket buffers fill, then the 256 queued frames.
    let payload = "x".repeat(100 * 1024);
    let mut accepted = 0;
    let refused = loop {
        let posted = http.post(url(&stalled_id)).body(payload.clone()).send().await.expect("answered");
        if posted.status() != 200 {
            break posted;
        }
        accepted += 1;
        assert!(accepted < 5_000, "pushes to a client that does not read were never refused");
    };
    assert!(accepted >= 256, "refused after {accepted} pushes");
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["x-amzn-errortype"], "LimitExceededException");

    // Reading goes on: the stalled client's frame reaches its function.
    stalled.send(Message::text("still here")).await.expect("sent");
    eventually(|| fake.calls_of(Function::WsDefault).iter().any(|e| e["body"] == "still here")).await;
    // Other connections are served as usual.
    let posted = http.post(url(&other_id)).body(r#"{"event":"y"}"#).send().await.expect("answered");
    assert_eq!(posted.status(), 200);
    assert_eq!(next_text(&mut other).await, json!({"event": "y"}));

    let deleted = http.delete(url(&stalled_id)).send().await.expect("deleted");
    assert_eq!(deleted.status(), 204);
    disconnect_event(&fake).await;
    let gone = http.post(url(&stalled_id)).body("late").send().await.expect("answered");
    assert_eq!(gone.status(), 410);
}

/// A client's close reaches `$disconnect` with its code, once.
#[tokio::test]
async fn a_client_close_invokes_disconnect_once_with_its_code() {
    let (gateway, fake) = start().await;
    let mut socket = connect(&gateway, "?token=good").await.expect("connected");
    let close = tokio_tungstenite::tungstenite::protocol::CloseFrame { code: CloseCode::Normal, reason: "bye".into() };
    socket.close(Some(close)).await.expect("closed");
    eventually(|| fake.calls_of(Function::WsDisconnect).len() == 1).await;
    let event = &fake.calls_of(Function::WsDisconnect)[0];
    assert_eq!(event["requestContext"]["disconnectStatusCode"], 1000);
    assert_eq!(event["requestContext"]["disconnectReason"], "bye");
    assert_eq!(event["requestContext"]["eventType"], "DISCONNECT");
    assert_eq!(gateway.connection_count(), 0);
}

/// Shutdown closes every socket with 1001 and waits for their `$disconnect`.
#[tokio::test]
async fn shutdown_closes_sockets_and_disconnects_them() {
    let (gateway, fake) = start().await;
    let mut socket = connect(&gateway, "?token=good").await.expect("connected");
    gateway.shutdown().await;
    assert_eq!(fake.calls_of(Function::WsDisconnect).len(), 1);
    let closed = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("closed in time");
    match closed {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

/// The HTTP API: 404 without a route, 401 without a header, 403 when the authorizer says no,
/// and the function's v2 response otherwise.
#[tokio::test]
async fn the_http_api_authorizes_and_maps_responses() {
    let (gateway, fake) = start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/conversations", gateway.http_url());

    let missing = http.get(format!("{}/nowhere", gateway.http_url())).send().await.expect("answered");
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.json::<Value>().await.expect("json"), json!({"message": "Not Found"}));

    let anonymous = http.post(&url).body("{}").send().await.expect("answered");
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.json::<Value>().await.expect("json"), json!({"message": "Unauthorized"}));
    assert!(fake.calls_of(Function::Authorizer).is_empty());

    let forbidden = http.post(&url).header("authorization", "Bearer bad").body("{}").send().await.expect("answered");
    assert_eq!(forbidden.status(), 403);
    assert_eq!(forbidden.json::<Value>().await.expect("json"), json!({"message": "Forbidden"}));

    let created = http
        .post(&url)
        .header("authorization", "Bearer good")
        .body(r#"{"participantId":"p"}"#)
        .send()
        .await
        .expect("answered");
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["set-cookie"], "s=1");
    let body: Value = created.json().await.expect("json");
    assert_eq!(body, json!({"user": "u-1", "body": r#"{"participantId":"p"}"#}));
    let event = &fake.calls_of(Function::HttpCreateConversation)[0];
    assert_eq!(event["routeKey"], "POST /conversations");
    assert_eq!(event["requestContext"]["http"]["method"], "POST");
    assert_eq!(event["requestContext"]["stage"], "$default");
}

/// The HTTP API port also serves the web client and its dev sign-in, without the authorizer;
/// other methods on those paths are API Gateway's 404, and without a signing key (functions
/// not in this process) no dev token is issued.
#[tokio::test]
async fn the_http_port_serves_the_web_client_beside_the_api() {
    let (gateway, fake) = start().await;
    let http = reqwest::Client::new();
    let base = gateway.http_url();

    let page = http.get(format!("{base}/")).send().await.expect("answered");
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let ws_origin = gateway.ws_url().trim_end_matches("/local").to_owned();
    let policy = page.headers()["content-security-policy"].to_str().expect("ASCII").to_owned();
    assert!(policy.contains(&format!("connect-src 'self' {ws_origin};")), "{policy}");
    assert!(page.text().await.expect("a body").contains("/web/app.js"));
    let script = http.get(format!("{base}/web/app.js")).send().await.expect("answered");
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");

    for (method, path) in
        [(reqwest::Method::POST, "/"), (reqwest::Method::DELETE, "/web/app.js"), (reqwest::Method::GET, "/dev/token")]
    {
        let other = http.request(method.clone(), format!("{base}{path}")).send().await.expect("answered");
        assert_eq!(other.status(), 404, "{method} {path}");
        assert_eq!(other.json::<Value>().await.expect("json"), json!({"message": "Not Found"}));
    }

    let token = http.post(format!("{base}/dev/token")).body(r#"{"user":"alice"}"#).send().await.expect("answered");
    assert_eq!(token.status(), 404);
    assert_eq!(token.json::<Value>().await.expect("json")["error"]["code"], "NOT_FOUND");
    let user = http.get(format!("{base}/dev/users/b%C3%B6b")).send().await.expect("answered");
    assert_eq!(user.status(), 200);
    assert_eq!(user.json::<Value>().await.expect("json")["displayName"], "böb");
    assert!(fake.calls_of(Function::Authorizer).is_empty(), "the web routes invoke nothing");
}

/// A frame over API Gateway's 32 KiB frame limit closes the connection with 1009, sent to the
/// client and reported to `$disconnect` with its reason.
#[tokio::test]
async fn an_oversized_frame_closes_the_connection_with_1009() {
    let (gateway, fake) = start().await;
    let mut socket = connect(&gateway, "?token=good").await.expect("connected");
    socket.send(Message::text("x".repeat(40 * 1024))).await.expect("sent");
    assert_eq!(close_code(&mut socket).await, Some(1009));
    let event = disconnect_event(&fake).await;
    assert_eq!(event["requestContext"]["disconnectStatusCode"], 1009);
    assert_eq!(event["requestContext"]["disconnectReason"], "Message too big");
    assert!(fake.calls_of(Function::WsDefault).is_empty());
}

/// A message split into frames under 32 KiB each is reassembled and routed whole; one whose
/// frames add up to more than 128 KiB closes the connection with 1009.
#[tokio::test]
async fn fragmented_messages_are_reassembled_up_to_128_kib() {
    let (gateway, fake) = start().await;
    let mut socket = connect(&gateway, "?token=good").await.expect("connected");
    let fits = format!("{{\"action\":\"message:send\",\"pad\":\"{}\"}}", "x".repeat(90 * 1024));
    send_fragmented(&mut socket, &fits, 30 * 1024).await.expect("sent");
    let ack = next_text(&mut socket).await;
    assert_eq!(ack["route"], "message:send");
    assert_eq!(ack["echo"].as_str().map(str::len), Some(fits.len()));

    // The gateway may close before the last frame is written: that is the point.
    let _ = send_fragmented(&mut socket, &"y".repeat(150 * 1024), 30 * 1024).await;
    assert_eq!(close_code(&mut socket).await, Some(1009));
    assert_eq!(disconnect_event(&fake).await["requestContext"]["disconnectStatusCode"], 1009);
}

/// An idle connection is closed with 1001 "Going away" after the idle timeout, and
/// `$disconnect` says so; one that pings stays open past it.
#[tokio::test]
async fn idle_connections_are_closed_with_going_away_and_pings_keep_them_open() {
    let limits = Limits { idle_timeout: Duration::from_millis(300), ..Limits::default() };
    let (gateway, fake) = start_with(limits).await;
    let mut idle = connect(&gateway, "?token=good").await.expect("connected");
    let mut busy = connect(&gateway, "?token=good").await.expect("connected");
    let busy_id = fake.calls_of(Function::WsConnect)[1]["requestContext"]["connectionId"].clone();

    let pinging = async {
        for _ in 0..8 {
            busy.send(Message::Ping(Vec::new().into())).await.expect("ping sent");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let (code, ()) = tokio::join!(close_code(&mut idle), pinging);
    assert_eq!(code, Some(1001));
    let event = disconnect_event(&fake).await;
    assert_eq!(event["requestContext"]["disconnectStatusCode"], 1001);
    assert_eq!(event["requestContext"]["disconnectReason"], "Going away");
    assert_ne!(event["requestContext"]["connectionId"], busy_id);

    // 800 ms in, well past the idle timeout: the pinging connection still answers.
    busy.send(Message::text("still here")).await.expect("sent");
    assert_eq!(next_text(&mut busy).await["echo"], "still here");
    assert_eq!(gateway.connection_count(), 1);
}

/// The maximum connection duration closes even a busy connection, with 1001.
#[tokio::test]
async fn the_maximum_duration_closes_a_busy_connection() {
    let limits = Limits { max_connection_duration: Duration::from_millis(500), ..Limits::default() };
    let (gateway, fake) = start_with(limits).await;
    let mut socket = connect(&gateway, "?token=good").await.expect("connected");
    let started = std::time::Instant::now();
    for i in 0..3 {
        socket.send(Message::text(format!("frame {i}"))).await.expect("sent");
        assert_eq!(next_text(&mut socket).await["echo"], format!("frame {i}"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(close_code(&mut socket).await, Some(1001));
    assert!(started.elapsed() >= Duration::from_millis(450), "closed after {:?}", started.elapsed());
    assert_eq!(disconnect_event(&fake).await["requestContext"]["disconnectReason"], "Going away");
    assert_eq!(gateway.connection_count(), 0);
}

/// `PostToConnection` refuses data over 128 KiB with 413, and unknown ids with 410.
#[tokio::test]
async fn the_management_api_refuses_oversized_data_and_unknown_ids() {
    let (gateway, _fake) = start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/@connections/{}", gateway.management_url(), encode("nope+/="));
    let too_big = http.post(&url).body(vec![b'x'; 128 * 1024 + 1]).send().await.expect("answered");
    assert_eq!(too_big.status(), 413);
    for response in [
        http.post(&url).body("x").send().await.expect("answered"),
        http.get(&url).send().await.expect("answered"),
        http.delete(&url).send().await.expect("answered"),
    ] {
        assert_eq!(response.status(), 410);
        assert_eq!(response.headers()["x-amzn-errortype"], "GoneException");
        let body: Value = response.json().await.expect("json");
        assert!(body["message"].as_str().is_some_and(|m| m.contains("nope+/=")), "{body}");
    }
}
