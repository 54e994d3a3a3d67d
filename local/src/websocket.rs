//! The WebSocket API: the `$connect` handshake, frames to routes, `$disconnect`.
//!
//! - Handshake (`GET /` or `/{stage}` with an upgrade): no token → 401 without invoking;
//!   the authorizer denies or fails → 403; `$connect` answers non-2xx → that status. Only
//!   then is the upgrade completed.
//! - Each frame is routed on `$request.body.action` and handled in its own task (API Gateway
//!   does not serialize a connection's invocations); two-way routes send the response's body
//!   back. All writes go through the connection's writer task.
//! - `$disconnect` is invoked exactly once per connection, however it ended.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::get;
use chat_shared::routes::{Function, ws_route_exact};
use chrono::Utc;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::connections::{CloseReason, ConnectionState, OpenConnection, Outbound, Tracked};
use crate::events::{self, FrameBody, WsConnection, WsEventType, WsRequest};
use crate::gateway::{Gateway, message_response};
use crate::invoker::InvokeFailure;
use crate::{ids, management};

/// Frames queued for one connection's writer before senders wait.
const OUTBOUND_QUEUE: usize = 256;

/// Bytes each connection reads into at a time. tungstenite's default, 128 KiB allocated when
/// the socket opens, made an idle connection cost chat-local 139 kB of RSS (docs/benchmarks.md,
/// "Load"). Most frames are smaller; for a larger one the buffer grows (up to the frame limit).
const READ_BUFFER: usize = 512;

/// How long a closing connection's writer gets to flush its last frames.
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
        headers: header_pairs(&headers),
        query,
    };

    // The authorizer and $connect share the handshake's request id, as on AWS.
    let request = WsRequest::new("$connect", WsEventType::Connect, connection.connected_at);
    let started = Instant::now();
    let authorizer_event = events::ws_authorizer_event(&connection, &request, &gateway.region);
    let Ok(policy) = gateway.invoke_ws(Function::Authorizer, authorizer_event).await else {
        return message_response(StatusCode::FORBIDDEN, "Forbidden");
    };
    let latency = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let authorization = events::ws_authorization(&policy, latency);
    if !authorization.allowed {
        return message_response(StatusCode::FORBIDDEN, "Forbidden");
    }

    let route = ws_route_exact("$connect");
    let connect_event = events::ws_connect_event(&connection, &request, &authorization.context);
    let status = match gateway.invoke_ws(route.function, connect_event).await {
        Ok(response) => connect_status(&response),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if !status.is_success() {
        return message_response(status, status.canonical_reason().unwrap_or("Rejected"));
    }

    // Only the authorizer and `$connect` see the query string (the token among it); the
    // connection keeps the rest for its events and `$disconnect`.
    let connection = events::WsConnection { query: Vec::new(), ..connection };
    // Open for pushes from here on: frames queue until the upgrade completes.
    let state = Arc::new(ConnectionState::new(connection, authorization.context));
    let (outbound, queued) = mpsc::channel(OUTBOUND_QUEUE);
    let (close, closed) = oneshot::channel();
    let tracked = Arc::new(gateway.tracker.track());
    let open = OpenConnection { state: state.clone(), outbound: outbound.clone(), close };
    if gateway.connections.insert(open).is_err() {
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
            tokio::spawn(disconnect(gateway, state, CloseReason::new(1006, "Upgrade failed"), tracked));
        })
        .on_upgrade(move |socket| run(gateway, state, socket, outbound, queued, closed, tracked))
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
async fn run(
    gateway: Arc<Gateway>,
    state: Arc<ConnectionState>,
    socket: WebSocket,
    outbound: mpsc::Sender<Outbound>,
    queued: mpsc::Receiver<Outbound>,
    mut closed: oneshot::Receiver<CloseReason>,
    tracked: Arc<Tracked>,
) {
    let (sink, mut stream) = socket.split();
    let mut writer = tokio::spawn(write(sink, queued));
    let limits = gateway.limits.clone();
    // Both clocks start when the socket opens, not when the handshake began: a slow authorizer
    // or `$connect` does not eat into the client's idle allowance.
    state.touch();
    let ends_at = tokio::time::Instant::now() + limits.max_connection_duration;

    // (why it ended, whether the gateway closes it and so sends the close frame)
    let (reason, server_closes) = loop {
        let idle_at = idle_deadline(&state, limits.idle_timeout);
        tokio::select! {
            reason = &mut closed => break (reason.unwrap_or_else(|_| CloseReason::going_away()), true),
            () = tokio::time::sleep_until(ends_at) => break (CloseReason::going_away(), true),
            () = tokio::time::sleep_until(idle_at) => {
                if Utc::now() - state.last_active() >= chrono::TimeDelta::from_std(limits.idle_timeout).unwrap_or_default() {
                    break (CloseReason::going_away(), true);
                }
            }
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    state.touch();
                    tokio::spawn(handle_frame(gateway.clone(), state.clone(), outbound.clone(), FrameBody::Text(text.to_string())));
                }
                Some(Ok(Message::Binary(bytes))) => {
                    state.touch();
                    tokio::spawn(handle_frame(gateway.clone(), state.clone(), outbound.clone(), FrameBody::Binary(bytes.to_vec())));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => state.touch(),
                Some(Ok(Message::Close(frame))) => break (client_close_reason(frame), false),
                Some(Err(error)) => break (stream_error_reason(&error), true),
                None => break (CloseReason::new(1006, "Connection closed abnormally"), false),
            },
        }
    };

    // From here the management API answers 410 for this connection.
    gateway.connections.remove(state.id());
    let frame = server_closes.then(|| CloseFrame { code: reason.code, reason: reason.reason.as_str().into() });
    if outbound.try_send(Outbound::Close(frame.map(Box::new))).is_err() {
        writer.abort();
    }
    drop(outbound);
    if tokio::time::timeout(WRITER_GRACE, &mut writer).await.is_err() {
        writer.abort();
    }
    disconnect(gateway, state, reason, tracked).await;
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

/// The writer task: the only place that writes to the socket.
async fn write(mut sink: SplitSink<WebSocket, Message>, mut queued: mpsc::Receiver<Outbound>) {
    while let Some(item) = queued.recv().await {
        match item {
            Outbound::Frame(message) => {
                if sink.send(*message).await.is_err() {
                    return;
                }
            }
            Outbound::Close(frame) => {
                if let Some(frame) = frame {
                    let _ = sink.send(Message::Close(Some(*frame))).await;
                }
                let _ = sink.close().await;
                return;
            }
        }
    }
}

/// Routes one frame, invokes its function and sends a two-way route's response back.
async fn handle_frame(
    gateway: Arc<Gateway>,
    state: Arc<ConnectionState>,
    outbound: mpsc::Sender<Outbound>,
    frame: FrameBody,
) {
    let route = events::select_route(&frame);
    let request = WsRequest::new(route.route_key, WsEventType::Message, Utc::now());
    let event = events::ws_message_event(&state.event, &request, &state.authorizer, &frame);
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
        let _ = outbound.send(Outbound::Frame(Box::new(frame_message(reply)))).await;
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
    let event = events::ws_disconnect_event(&state.event, &request, &state.authorizer, reason.code, &reason.reason);
    tracing::debug!(connection = %state.id(), code = reason.code, reason = %reason.reason, "disconnected");
    // Failures are logged by the gateway; API Gateway ignores $disconnect's answer.
    let _ = gateway.invoke_ws(route.function, event).await;
    drop(tracked);
}

#[cfg(test)]
mod tests {
    use super::*;

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
