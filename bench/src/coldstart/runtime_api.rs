//! A fake Lambda Runtime API on loopback, one per function process.
//!
//! It serves what `lambda_runtime` 1.5 calls (see its `requests.rs`): `GET
//! /2018-06-01/runtime/invocation/next` (long-polls until the benchmark [`offers`] an event),
//! `POST .../invocation/{id}/response`, `POST .../invocation/{id}/error` and `POST
//! .../init/error`. `GET .../restore/next` and `POST .../restore/error` are only called under
//! SnapStart (`AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`, which the benchmark does not set);
//! they and anything else are reported as [`Report::Unexpected`] so a change in the runtime
//! client cannot go unnoticed.
//!
//! Every call is reported, with the instant it arrived, on a channel the benchmark reads in
//! order ([`FakeRuntimeApi::report`]). A fresh server per process means a killed process's
//! pending `/next` can never take the next process's event.
//!
//! [`offers`]: FakeRuntimeApi::offer

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

/// The path prefix of every Runtime API call.
pub const PREFIX: &str = "/2018-06-01/runtime";

/// One event for the function.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub request_id: String,
    /// `Lambda-Runtime-Invoked-Function-Arn`.
    pub function_arn: String,
    /// The function's timeout: `Lambda-Runtime-Deadline-Ms` is now plus this.
    pub timeout: Duration,
    /// The event, JSON.
    pub body: Vec<u8>,
}

/// A call the function made, in arrival order.
#[derive(Debug)]
pub enum Report {
    /// `GET /invocation/next` arrived (the runtime is ready for an event).
    Polled { at: Instant },
    /// An event left on a pending `/next` (just before the answer is written).
    Handed { request_id: String, at: Instant },
    /// `POST /invocation/{id}/response`, body read.
    Responded { request_id: String, at: Instant, body: Bytes },
    /// `POST /invocation/{id}/error`.
    InvocationError { request_id: String, error_type: Option<String>, body: Bytes },
    /// `POST /init/error`.
    InitError { error_type: Option<String>, body: Bytes },
    /// Any other call.
    Unexpected { method: Method, path: String },
}

impl Report {
    /// A description for an error message.
    pub fn describe(&self) -> String {
        let text = |b: &Bytes| String::from_utf8_lossy(b).chars().take(500).collect::<String>();
        match self {
            Report::Polled { .. } => "GET /invocation/next".to_owned(),
            Report::Handed { request_id, .. } => format!("event {request_id} handed out"),
            Report::Responded { request_id, body, .. } => format!("response to {request_id}: {}", text(body)),
            Report::InvocationError { request_id, error_type, body } => {
                format!("invocation error for {request_id} ({}): {}", error_type.as_deref().unwrap_or("?"), text(body))
            }
            Report::InitError { error_type, body } => {
                format!("init error ({}): {}", error_type.as_deref().unwrap_or("?"), text(body))
            }
            Report::Unexpected { method, path } => format!("unexpected Runtime API call {method} {path}"),
        }
    }
}

#[derive(Debug)]
struct Shared {
    reports: mpsc::UnboundedSender<Report>,
    /// Taken by the one pending `/next` (a function polls one at a time).
    events: Mutex<mpsc::UnboundedReceiver<Invocation>>,
}

/// A running fake Runtime API. Dropping it stops the server and drops its connections.
#[derive(Debug)]
pub struct FakeRuntimeApi {
    addr: SocketAddr,
    events: mpsc::UnboundedSender<Invocation>,
    reports: mpsc::UnboundedReceiver<Report>,
    server: JoinHandle<()>,
}

impl FakeRuntimeApi {
    /// Starts a server on `127.0.0.1` on a free port.
    ///
    /// # Errors
    /// No port can be bound.
    pub async fn start() -> std::io::Result<FakeRuntimeApi> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared { reports: reports_tx, events: Mutex::new(events_rx) });
        let router = Router::new()
            .route(&format!("{PREFIX}/invocation/next"), get(next))
            .route(&format!("{PREFIX}/invocation/{{id}}/response"), post(response))
            .route(&format!("{PREFIX}/invocation/{{id}}/error"), post(invocation_error))
            .route(&format!("{PREFIX}/init/error"), post(init_error))
            .fallback(unexpected)
            .with_state(shared);
        // Small request/response exchanges: no Nagle delay on our side.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(FakeRuntimeApi { addr, events, reports, server })
    }

    /// `127.0.0.1:PORT`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    /// Queues an event for the (current or next) `/next`.
    pub fn offer(&self, invocation: Invocation) {
        // The receiver lives in the server state as long as `self`.
        let _ = self.events.send(invocation);
    }

    /// The next call the function made, waiting for it.
    pub async fn report(&mut self) -> Option<Report> {
        self.reports.recv().await
    }
}

impl Drop for FakeRuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn epoch_ms(at: SystemTime) -> u128 {
    at.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()
}

/// An X-Ray trace header derived from the request id: `Root=1-xxxxxxxx-<24 hex>;Parent=<16 hex>;Sampled=0`.
pub fn trace_id(request_id: &str, now: SystemTime) -> String {
    let hex: String =
        request_id.chars().filter(char::is_ascii_hexdigit).chain(std::iter::repeat('0')).take(40).collect();
    let seconds = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    format!("Root=1-{seconds:08x}-{};Parent={};Sampled=0", &hex[..24], &hex[24..40])
}

/// The headers of a `/next` answer, as the Lambda service sends them.
pub fn next_headers(invocation: &Invocation, now: SystemTime) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    put("content-type", "application/json".to_owned());
    put("lambda-runtime-aws-request-id", invocation.request_id.clone());
    put("lambda-runtime-deadline-ms", epoch_ms(now + invocation.timeout).to_string());
    put("lambda-runtime-invoked-function-arn", invocation.function_arn.clone());
    put("lambda-runtime-trace-id", trace_id(&invocation.request_id, now));
    headers
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let _ = shared.reports.send(Report::Polled { at: Instant::now() });
    let invocation = shared.events.lock().await.recv().await;
    let Some(invocation) = invocation else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let headers = next_headers(&invocation, SystemTime::now());
    let _ = shared.reports.send(Report::Handed { request_id: invocation.request_id.clone(), at: Instant::now() });
    (StatusCode::OK, headers, invocation.body).into_response()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, [("content-type", "application/json")], r#"{"status":"OK"}"#).into_response()
}

fn error_type(headers: &HeaderMap) -> Option<String> {
    headers.get("lambda-runtime-function-error-type").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn response(State(shared): State<Arc<Shared>>, Path(request_id): Path<String>, body: Bytes) -> Response {
    let _ = shared.reports.send(Report::Responded { request_id, at: Instant::now(), body });
    accepted()
}

async fn invocation_error(
    State(shared): State<Arc<Shared>>,
    Path(request_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _ = shared.reports.send(Report::InvocationError { request_id, error_type: error_type(&headers), body });
    accepted()
}

async fn init_error(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let _ = shared.reports.send(Report::InitError { error_type: error_type(&headers), body });
    accepted()
}

async fn unexpected(State(shared): State<Arc<Shared>>, method: Method, uri: Uri) -> Response {
    let _ = shared.reports.send(Report::Unexpected { method, path: uri.path().to_owned() });
    StatusCode::NOT_FOUND.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation() -> Invocation {
        Invocation {
            request_id: "8476a536-e9f4-11e8-9739-2dfe598c3fcd".into(),
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:ws-default".into(),
            timeout: Duration::from_secs(30),
            body: br#"{"hello":"world"}"#.to_vec(),
        }
    }

    #[test]
    fn the_next_answer_carries_the_runtime_headers() {
        let now = UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        let headers = next_headers(&invocation(), now);
        assert_eq!(headers["lambda-runtime-aws-request-id"], "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
        assert_eq!(headers["lambda-runtime-deadline-ms"], "1795000030123");
        assert_eq!(
            headers["lambda-runtime-invoked-function-arn"],
            "arn:aws:lambda:us-east-1:123456789012:function:ws-default"
        );
        let trace = headers["lambda-runtime-trace-id"].to_str().expect("ASCII");
        assert_eq!(trace, "Root=1-6afd86c0-8476a536e9f411e897392dfe;Parent=598c3fcd00000000;Sampled=0");
    }

    #[tokio::test]
    async fn a_poll_gets_the_offered_event_and_the_response_is_reported() {
        let mut api = FakeRuntimeApi::start().await.expect("start");
        let base = format!("http://{}{PREFIX}", api.authority());
        let client = reqwest::Client::new();
        let poll = tokio::spawn({
            let (client, base) = (client.clone(), base.clone());
            async move { client.get(format!("{base}/invocation/next")).send().await }
        });
        assert!(matches!(api.report().await, Some(Report::Polled { .. })));
        api.offer(invocation());
        let answer = poll.await.expect("join").expect("next");
        assert_eq!(answer.headers()["lambda-runtime-aws-request-id"], "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
        assert_eq!(answer.text().await.expect("body"), r#"{"hello":"world"}"#);
        assert!(matches!(api.report().await, Some(Report::Handed { .. })));

        let posted = client
            .post(format!("{base}/invocation/8476a536-e9f4-11e8-9739-2dfe598c3fcd/response"))
            .body("{\"ok\":1}")
            .send()
            .await
            .expect("post");
        assert_eq!(posted.status(), 202);
        match api.report().await {
            Some(Report::Responded { request_id, body, .. }) => {
                assert_eq!(request_id, "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
                assert_eq!(&body[..], b"{\"ok\":1}");
            }
            other => panic!("expected a response, got {other:?}"),
        }

        client
            .post(format!("{base}/init/error"))
            .header("lambda-runtime-function-error-type", "Runtime.InitError")
            .body("{}")
            .send()
            .await
            .expect("post");
        assert!(
            matches!(api.report().await, Some(Report::InitError { error_type: Some(t), .. }) if t == "Runtime.InitError")
        );
        client.get(format!("{base}/restore/next")).send().await.expect("get");
        assert!(matches!(api.report().await, Some(Report::Unexpected { path, .. }) if path.ends_with("/restore/next")));
    }
}
