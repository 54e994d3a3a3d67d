//! `serve --invoke-endpoint` without `cargo lambda watch`: the gateway in front of a fake
//! Lambda Invoke API (an axum server on a free port) that records every invocation and answers
//! like the Invoke API does, including its two ways of reporting a failed function.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chat_local::{Limits, LocalGateway, Options};
use chat_shared::routes::Function;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The invocations the fake Invoke API received: (function name in the URL, event).
#[derive(Debug, Default)]
struct Recorded {
    calls: Mutex<Vec<(String, Value)>>,
}

impl Recorded {
    fn of(&self, function: Function) -> Vec<Value> {
        let calls = self.calls.lock().expect("not poisoned");
        calls.iter().filter(|(name, _)| name == function.package()).map(|(_, event)| event.clone()).collect()
    }
}

/// `POST /2015-03-31/functions/{name}/invocations`, answering as `cargo lambda watch` would.
async fn invoke(State(recorded): State<Arc<Recorded>>, Path(name): Path<String>, body: String) -> Response {
    let event: Value = serde_json::from_str(&body).expect("the event is JSON");
    recorded.calls.lock().expect("not poisoned").push((name.clone(), event.clone()));
    let Some(function) = Function::from_package(&name) else {
        return (StatusCode::NOT_FOUND, format!("function {name} not found")).into_response();
    };
    let frame = event["body"].as_str().unwrap_or_default().to_owned();
    let ok = |value: Value| (StatusCode::OK, axum::Json(value)).into_response();
    match function {
        Function::Authorizer if event["version"] == "2.0" => {
            ok(json!({"isAuthorized": true, "context": {"userId": "u-1", "displayName": "alice"}}))
        }
        Function::Authorizer => ok(json!({
            "principalId": "u-1",
            "policyDocument": {"Version": "2012-10-17", "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"}]},
            "context": {"userId": "u-1", "displayName": "alice"},
        })),
        Function::WsConnect | Function::WsDisconnect => ok(json!({"statusCode": 200})),
        Function::HttpCreateConversation => ok(json!({"statusCode": 201, "body": "{\"created\":true}"})),
        // The function ran and failed: 200, the header, and the error as the body.
        _ if frame.contains("unhandled") => (
            StatusCode::OK,
            [("x-amz-function-error", "Unhandled")],
            axum::Json(json!({"errorType": "Runtime.ExitError", "errorMessage": "exit status 101"})),
        )
            .into_response(),
        // The function could not be run at all (e.g. it did not build).
        _ if frame.contains("crash") => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"errorType": "BuildError", "errorMessage": "could not compile"})),
        )
            .into_response(),
        _ if frame.contains("sleep") => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            ok(json!({"statusCode": 200}))
        }
        _ => ok(
            json!({"statusCode": 200, "body": json!({"route": event["requestContext"]["routeKey"], "echo": frame}).to_string()}),
        ),
    }
}

/// The fake Invoke API on a free port.
async fn fake_invoke_api() -> (SocketAddr, Arc<Recorded>) {
    let recorded = Arc::new(Recorded::default());
    let app =
        Router::new().route("/2015-03-31/functions/{name}/invocations", post(invoke)).with_state(recorded.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, recorded)
}

async fn gateway_for(endpoint: &str) -> LocalGateway {
    let options = Options {
        ws_addr: "127.0.0.1:0".parse().expect("an address"),
        http_addr: "127.0.0.1:0".parse().expect("an address"),
        ..Options::default()
    };
    let limits = Limits {
        ws_integration_timeout: Duration::from_millis(500),
        http_integration_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    LocalGateway::start_with_invoke_endpoint(endpoint, options, limits, "eu-west-1").await.expect("started")
}

async fn next_text(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("a frame in time");
        match frame.expect("open").expect("no error") {
            Message::Text(text) => return serde_json::from_str(text.as_str()).expect("JSON"),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Every event goes to `/2015-03-31/functions/{binary}/invocations`: the handshake's authorizer
/// and `$connect`, a frame's route (answered back), the HTTP API, and `$disconnect` with its code.
#[tokio::test]
async fn every_event_is_posted_to_the_invoke_api_under_the_functions_binary_name() {
    let (addr, recorded) = fake_invoke_api().await;
    let gateway = gateway_for(&format!("http://{addr}/")).await;
    let url = format!("{}?token=t", gateway.ws_url());
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("handshake accepted");
    assert_eq!(recorded.of(Function::Authorizer).len(), 1);
    let connect = &recorded.of(Function::WsConnect)[0];
    assert_eq!(connect["requestContext"]["authorizer"]["userId"], "u-1");
    assert!(connect["requestContext"]["domainName"].is_string());

    socket.send(Message::text(r#"{"action":"message:send","n":1}"#)).await.expect("sent");
    let ack = next_text(&mut socket).await;
    assert_eq!(ack["route"], "message:send");
    assert_eq!(recorded.of(Function::WsSendMessage).len(), 1);

    let created = reqwest::Client::new()
        .post(format!("{}/conversations", gateway.http_url()))
        .bearer_auth("t")
        .body("{}")
        .send()
        .await
        .expect("answered");
    assert_eq!(created.status(), 201);
    assert_eq!(created.text().await.expect("a body"), r#"{"created":true}"#);
    assert_eq!(recorded.of(Function::HttpCreateConversation)[0]["requestContext"]["http"]["method"], "POST");

    socket.close(None).await.expect("closed");
    for _ in 0..100 {
        if !recorded.of(Function::WsDisconnect).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let disconnect = recorded.of(Function::WsDisconnect);
    assert_eq!(disconnect.len(), 1);
    assert_eq!(disconnect[0]["requestContext"]["disconnectStatusCode"], 1005);
}

/// A function error (the `X-Amz-Function-Error` header, or an error status with a Lambda error
/// body) and a function slower than the integration timeout get API Gateway's own answers.
#[tokio::test]
async fn invoke_api_failures_and_timeouts_are_integration_failures() {
    let (addr, _recorded) = fake_invoke_api().await;
    let gateway = gateway_for(&format!("http://{addr}")).await;
    let url = format!("{}?token=t", gateway.ws_url());
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("handshake accepted");
    for (frame, message) in [
        ("unhandled", "Internal server error"),
        ("crash", "Internal server error"),
        ("sleep", "Endpoint request timed out"),
    ] {
        socket.send(Message::text(frame)).await.expect("sent");
        assert_eq!(next_text(&mut socket).await["message"], message, "{frame}");
    }
}

/// With nothing listening at the endpoint the authorizer cannot run, so handshakes are refused
/// (403) and HTTP requests too, instead of hanging.
#[tokio::test]
async fn an_unreachable_invoke_api_refuses_handshakes() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let gateway = gateway_for(&format!("http://127.0.0.1:{port}")).await;
    let url = format!("{}?token=t", gateway.ws_url());
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected a refused handshake, got {other:?}"),
    }
}

/// A URL that is not `http://` is refused at startup.
#[tokio::test]
async fn a_bad_invoke_endpoint_is_refused_at_startup() {
    let options = Options {
        ws_addr: "127.0.0.1:0".parse().expect("an address"),
        http_addr: "127.0.0.1:0".parse().expect("an address"),
        ..Options::default()
    };
    let started = LocalGateway::start_with_invoke_endpoint("localhost:9000", options, Limits::default(), "x").await;
    let error = started.expect_err("refused").to_string();
    assert!(error.contains("http://"), "{error}");
}
