//! The WebSocket API: the `$connect` handshake, frames to routes, `$disconnect`.
//!
//! - Handshake (`GET /` or `/{stage}` with an upgrade): no token → 401 without invoking;
//!   the authorizer denies or fails → 403; `$connect` answers non-2xx → that status. Only
//!   then is the upgrade completed.
//! - Each frame is routed on `$request.body.action` and handled in its own task (API Gateway
//!   does not serialize a connection's invocations); two-way routes send the response's body
//!   back. One task per connection reads its socket and writes what its outbox holds.
//! - `$disconnect` is invoked exactly once per connection, however it ended.

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::get;
use chat_shared::routes::{Function, ws_route_exact};
use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};

use crate::connections::{CloseReason, ConnectionState, Outgoing, Tracked};
use crate::events::{self, FrameBody, Handshake, WsConnection, WsEventType, WsRequest};
use crate::gateway::{Gateway, message_response};
use crate::invoker::InvokeFailure;
use crate::{ids, management};

/// Frames queued for one connection before senders wait.
const OUTBOUND_QUEUE: usize = 256;

/// Bytes each connection reads into at a time. tungstenite's default, 128 KiB allocated when
/// the socket opens, made an idle connection cost chat-local 139 kB of RSS (docs/benchmarks.md,
/// "Load"). Most frames are smaller; for a larger one the buffer grows (up to the frame limit).
const READ_BUFFER: usize = 512;

/// How long a closing connection gets to write its last frames.
const WRITER_GRACE: Duration = Duration::from_secs(1);

/// The router of the WebSocket port: the API itself and the management API.
pub(crate) fn router(gateway: Arc<Gateway>) -> Router {
    let stage = format!("/{}", gateway.stage);
    Router::new()
        .route("/", get(handshake))
        .route(&stage, get(handshake))
        .merge(management::routes(&gateway.stage))
        .fallback(|| async { message_response(StatusCode::NOT_FOUND, "Not Found") })
        .with_state(gateway)
}

/// Header pairs with lower-cased names (the `http` crate normalizes them), in arrival order.
pub(crate) fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect()
}

/// The `$connect` handshake.
async fn handshake(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let query = events::query_pairs(uri.query().unwrap_or_default());
    let has_token = query.iter().any(|(k, v)| k == "token" && !v.is_empty())
        || headers.get(header::AUTHORIZATION).is_some_and(|v| !v.as_bytes().trim_ascii().is_empty());
    if !has_token {
        return message_response(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let connection = WsConnection {
        connection_id: ids::connection_id(),
        connected_at: Utc::now(),
        domain_name: text(header::HOST).unwrap_or_else(|| "localhost".into()),
        stage: gateway.stage.clone(),
        api_id: gateway.api_id.clone(),
        source_ip: peer.ip().to_string(),
        user_agent: text(header::USER_AGENT),
    };
    // Only the authorizer and `$connect` see the headers and the query string (the token among
    // it); the connection does not keep them.
    let handshake = Handshake { headers: header_pairs(&headers), query };
    drop(headers);

    // The authorizer and $connect share the handshake's request id, as on AWS.
    let request = WsRequest::new("$connect", WsEventType::Connect, connection.connected_at);
    let started = Instant::now();
    let authorizer_event = events::ws_authorizer_event(&connection, &handshake, &request, &gateway.region);
    let Ok(policy) = gateway.invoke_ws(Function::Authorizer, authorizer_event).await else {
        return message_response(StatusCode::FORBIDDEN, "Forbidden");
    };
    let latency = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let authorization = events::ws_authorization(&policy, latency);
    if !authorization.allowed {
        return message_response(StatusCode::FORBIDDEN, "Forbidden");
    }

    let route = ws_route_exact("$connect");
    let connect_event = events::ws_connect_event(&connection, &handshake, &request, authorization.context.clone());
    drop(handshake);
    let status = match gateway.invoke_ws(route.function, connect_event).await {
        Ok(response) => connect_status(&response),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if !status.is_success() {
        return message_response(status, status.canonical_reason().unwrap_or("Rejected"));
    }

    // Open for pushes from here on: frames queue until the upgrade completes.
    let state = Arc::new(ConnectionState::new(connection, &authorization.context, OUTBOUND_QUEUE));
    let tracked = Arc::new(gateway.tracker.track());
    if !gateway.connections.insert(state.clone()) {
        // Shutting down: the connection was made ($connect ran), so it must be unmade.
        tokio::spawn(disconnect(gateway.clone(), state, CloseReason::going_away(), tracked));
        return message_response(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
    }
    tracing::debug!(connection = %state.id(), "connected");

    let limits = &gateway.limits;
    let failed = (gateway.clone(), state.clone(), tracked.clone());
    upgrade
        .read_buffer_size(READ_BUFFER)
        .max_frame_size(limits.max_frame_bytes)
        .max_message_size(limits.max_message_bytes)
        .on_failed_upgrade(move |error| {
            let (gateway, state, tracked) = failed;
            tracing::warn!(connection = %state.id(), %error, "upgrade failed after $connect");
            gateway.connections.remove(state.id());
            state.outbox.seal();
            tokio::spawn(disconnect(gateway, state, CloseReason::new(1006, "Upgrade failed"), tracked));
        })
        .on_upgrade(move |socket| run(gateway, state, Socket::new(socket), tracked))
}

/// `$connect`'s answer: its `statusCode` (200 when it has none, as for a proxy integration
/// that returns nothing); 500 for a status that is not one.
fn connect_status(response: &Value) -> StatusCode {
    match response.get("statusCode") {
        None | Some(Value::Null) => StatusCode::OK,
        Some(code) => code
            .as_u64()
            .or_else(|| code.as_str().and_then(|s| s.trim().parse().ok()))
            .and_then(|c| u16::try_from(c).ok())
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// Serves one upgraded connection until it closes, then invokes `$disconnect`.
///
/// One task does everything for the connection: it reads frames, writes what its outbox
/// holds, and watches the clocks. A client that stops reading stalls only the writing: frames
/// then wait in the outbox (and pushes for room in it) while reading goes on.
// Not an `async fn`: its arguments would be moved into locals, and the future would hold the
// socket twice (rust-lang/rust#62958): 1,080 bytes a connection instead of 632 (the test
// `an_open_connections_task_stays_small`).
#[allow(clippy::manual_async_fn, reason = "an async fn holds its arguments twice")]
fn run(
    gateway: Arc<Gateway>,
    state: Arc<ConnectionState>,
    mut socket: Socket,
    tracked: Arc<Tracked>,
) -> impl Future<Output = ()> + Send {
    async move {
        let limits = &gateway.limits;
        // Both clocks start when the socket opens, not when the handshake began: a slow authorizer
        // or `$connect` does not eat into the client's idle allowance.
        state.touch();
        let ends_at = tokio::time::Instant::now() + limits.max_connection_duration;

        // (why it ended, whether the gateway closes it and so sends the close frame)
        let (reason, server_closes) = loop {
            let wake_at = idle_deadline(&state, limits.idle_timeout).min(ends_at);
            tokio::select! {
                () = tokio::time::sleep_until(wake_at) => {
                    let idle_for = Utc::now() - state.last_active();
                    if tokio::time::Instant::now() >= ends_at
                        || idle_for >= chrono::TimeDelta::from_std(limits.idle_timeout).unwrap_or_default()
                    {
                        break (CloseReason::going_away(), true);
                    }
                }
                event = std::future::poll_fn(|cx| socket.poll_event(cx, &state)) => match event {
                    Event::CloseRequested(reason) => break (reason, true),
                    Event::Read(Ok(Message::Text(text))) => {
                        state.touch();
                        tokio::spawn(handle_frame(gateway.clone(), state.clone(), FrameBody::Text(text.to_string())));
                    }
                    Event::Read(Ok(Message::Binary(bytes))) => {
                        state.touch();
                        tokio::spawn(handle_frame(gateway.clone(), state.clone(), FrameBody::Binary(bytes.to_vec())));
                    }
                    Event::Read(Ok(Message::Ping(_) | Message::Pong(_))) => state.touch(),
                    Event::Read(Ok(Message::Close(frame))) => break (client_close_reason(frame), false),
                    Event::Read(Err(error)) => break (stream_error_reason(&error), true),
                    Event::Ended => break (CloseReason::new(1006, "Connection closed abnormally"), false),
                },
            }
        };

        // Boxed: the closing runs once, and as part of this future it would make every open
        // connection's task carry its state (docs/benchmarks.md, "Load").
        Box::pin(close(gateway, state, socket, reason, server_closes, tracked)).await;
    }
}

/// Closes a connection whose task has ended, then invokes `$disconnect`.
async fn close(
    gateway: Arc<Gateway>,
    state: Arc<ConnectionState>,
    mut socket: Socket,
    reason: CloseReason,
    server_closes: bool,
    tracked: Arc<Tracked>,
) {
    // From here the management API answers 410 for this connection, and nothing more is queued.
    gateway.connections.remove(state.id());
    state.outbox.seal();
    let frame = server_closes.then(|| CloseFrame { code: reason.code, reason: reason.reason.as_str().into() });
    // What was queued before the close is still written, then the close frame, if the socket
    // takes them in time.
    let _ = tokio::time::timeout(WRITER_GRACE, socket.finish(&state, frame)).await;
    drop(socket);
    disconnect(gateway, state, reason, tracked).await;
}

/// What woke a connection's task.
enum Event {
    /// A frame (or a read error) from the client.
    Read(Result<Message, axum::Error>),
    /// The client's side ended without a close frame.
    Ended,
    /// The management API or shutdown asked to close the connection.
    CloseRequested(CloseReason),
}

/// The socket of one connection, with the writing under way.
struct Socket {
    inner: WebSocket,
    /// A frame taken from the outbox that the socket has not accepted yet.
    taken: Option<Message>,
    /// Frames were accepted since the last completed flush.
    flushing: bool,
    /// Writing failed: nothing more is written.
    broken: bool,
}

impl Socket {
    fn new(socket: WebSocket) -> Self {
        Self { inner: socket, taken: None, flushing: false, broken: false }
    }

    /// Writes what it can of the outbox, then reads. Ready with the next thing the task must
    /// act on; writing alone never makes it ready.
    fn poll_event(&mut self, cx: &mut Context<'_>, state: &ConnectionState) -> Poll<Event> {
        if let Poll::Ready(Some(reason)) = self.poll_write(cx, state) {
            return Poll::Ready(Event::CloseRequested(reason));
        }
        match self.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(read)) => Poll::Ready(Event::Read(read)),
            Poll::Ready(None) => Poll::Ready(Event::Ended),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Moves frames from the outbox into the socket and flushes them. Ready with a close
    /// request when one comes; `Ready(None)` once the outbox is sealed and all written, or
    /// writing failed.
    fn poll_write(&mut self, cx: &mut Context<'_>, state: &ConnectionState) -> Poll<Option<CloseReason>> {
        if self.broken {
            return Poll::Ready(None);
        }
        match self.drive(cx, state) {
            Poll::Ready(Ok(close)) => Poll::Ready(close),
            Poll::Ready(Err(error)) => {
                tracing::debug!(connection = %state.id(), %error, "writing failed");
                self.broken = true;
                // The management API answers 410 from now on, as for a socket gone on AWS.
                state.outbox.seal();
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn drive(
        &mut self,
        cx: &mut Context<'_>,
        state: &ConnectionState,
    ) -> Poll<Result<Option<CloseReason>, axum::Error>> {
        loop {
            if let Some(frame) = self.taken.take() {
                match self.inner.poll_ready_unpin(cx) {
                    Poll::Ready(Ok(())) => {
                        self.inner.start_send_unpin(frame)?;
                        self.flushing = true;
                        state.touch();
                    }
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                    // The client is not reading: the socket flushes and wakes us when it can.
                    // Meanwhile only a close request is taken.
                    Poll::Pending => {
                        self.taken = Some(frame);
                        return state.outbox.poll_close(cx).map(|reason| Ok(Some(reason)));
                    }
                }
            }
            match state.outbox.poll_next(cx) {
                Poll::Ready(Some(Outgoing::Frame(frame))) => self.taken = Some(frame),
                Poll::Ready(Some(Outgoing::Close(reason))) => return Poll::Ready(Ok(Some(reason))),
                Poll::Ready(None) => return self.poll_flush(cx).map_ok(|()| None),
                Poll::Pending => {
                    ready!(self.poll_flush(cx))?;
                    return Poll::Pending;
                }
            }
        }
    }

    /// Flushes what the socket holds, if anything.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        if self.flushing {
            ready!(self.inner.poll_flush_unpin(cx))?;
            self.flushing = false;
        }
        Poll::Ready(Ok(()))
    }

    /// Writes the sealed outbox's frames, then the close frame (if any), and closes.
    async fn finish(&mut self, state: &ConnectionState, frame: Option<CloseFrame>) {
        // A close request that came after the loop ended is moot now; frames are what is left.
        while std::future::poll_fn(|cx| self.poll_write(cx, state)).await.is_some() {}
        if self.broken {
            return;
        }
        if let Some(frame) = frame {
            let _ = self.inner.send(Message::Close(Some(frame))).await;
        }
        let _ = self.inner.close().await;
    }
}

/// When the connection becomes idle if nothing happens meanwhile.
fn idle_deadline(state: &ConnectionState, idle_timeout: Duration) -> tokio::time::Instant {
    let idle_for = (Utc::now() - state.last_active()).to_std().unwrap_or_default();
    tokio::time::Instant::now() + idle_timeout.saturating_sub(idle_for)
}

fn client_close_reason(frame: Option<CloseFrame>) -> CloseReason {
    match frame {
        Some(frame) => CloseReason::new(frame.code, frame.reason.as_str()),
        None => CloseReason::new(1005, "Client-side close frame status not set"),
    }
}

fn stream_error_reason(error: &axum::Error) -> CloseReason {
    // tungstenite's capacity errors read "Message too long: ..." / "Space limit exceeded: ...";
    // axum does not expose the error type, so its text is all there is to go on.
    let text = error.to_string();
    if text.contains("too long") || text.contains("limit exceeded") {
        CloseReason::new(1009, "Message too big")
    } else {
        tracing::debug!(%error, "socket error");
        CloseReason::new(1006, "Connection closed abnormally")
    }
}

/// Routes one frame, invokes its function and sends a two-way route's response back.
async fn handle_frame(gateway: Arc<Gateway>, state: Arc<ConnectionState>, frame: FrameBody) {
    let route = events::select_route(&frame);
    let request = WsRequest::new(route.route_key, WsEventType::Message, Utc::now());
    let event = events::ws_message_event(&state.event, &request, state.authorizer(), &frame);
    let reply = match gateway.invoke_ws(route.function, event).await {
        Ok(response) if route.two_way => events::route_response(&response),
        Ok(_) => None,
        // What API Gateway itself sends the caller when the integration fails.
        Err(failure) => {
            let message = match failure {
                InvokeFailure::TimedOut { .. } => "Endpoint request timed out",
                InvokeFailure::Failed { .. } => "Internal server error",
            };
            let body = json!({"message": message, "connectionId": state.id(), "requestId": request.request_id});
            Some(FrameBody::Text(body.to_string()))
        }
    };
    if let Some(reply) = reply {
        // The connection may have closed meanwhile; the reply is then dropped, as on AWS.
        let _ = state.outbox.push(frame_message(reply), None).await;
    }
}

pub(crate) fn frame_message(frame: FrameBody) -> Message {
    match frame {
        FrameBody::Text(text) => Message::text(text),
        FrameBody::Binary(bytes) => Message::binary(bytes),
    }
}

/// Invokes `$disconnect` once for a connection that has ended.
async fn disconnect(gateway: Arc<Gateway>, state: Arc<ConnectionState>, reason: CloseReason, tracked: Arc<Tracked>) {
    let route = ws_route_exact("$disconnect");
    let request = WsRequest::new(route.route_key, WsEventType::Disconnect, Utc::now());
    let event = events::ws_disconnect_event(&state.event, &request, state.authorizer(), reason.code, &reason.reason);
    tracing::debug!(connection = %state.id(), code = reason.code, reason = %reason.reason, "disconnected");
    // Failures are logged by the gateway; API Gateway ignores $disconnect's answer.
    let _ = gateway.invoke_ws(route.function, event).await;
    drop(tracked);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future `f` returns, without calling it.
    fn future_size<A, B, C, D, F>(_: impl FnOnce(A, B, C, D) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// What each open connection's task holds for as long as it is open (docs/benchmarks.md,
    /// "Load"; `-- --nocapture` prints it): 632 bytes with rustc 1.95, against 1,080 as an
    /// `async fn` and 1,552 with the closing inline.
    #[test]
    fn an_open_connections_task_stays_small() {
        let size = future_size(run);
        eprintln!("the connection task's future: {size} bytes");
        assert!(size <= 768, "{size} bytes");
    }

    #[test]
    fn connect_status_defaults_to_ok_and_rejects_garbage() {
        assert_eq!(connect_status(&json!({})), StatusCode::OK);
        assert_eq!(connect_status(&json!({"statusCode": 200})), StatusCode::OK);
        assert_eq!(connect_status(&json!({"statusCode": 401})), StatusCode::UNAUTHORIZED);
        assert_eq!(connect_status(&json!({"statusCode": "403"})), StatusCode::FORBIDDEN);
        assert_eq!(connect_status(&json!({"statusCode": 99999})), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(connect_status(&json!({"statusCode": -1})), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(connect_status(&json!({"statusCode": "x"})), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn a_close_without_status_is_reported_as_aws_does() {
        assert_eq!(client_close_reason(None), CloseReason::new(1005, "Client-side close frame status not set"));
        let frame = CloseFrame { code: 4000, reason: "bye".into() };
        assert_eq!(client_close_reason(Some(frame)), CloseReason::new(4000, "bye"));
    }
}
