//! The API Gateway Management API (`@connections`), on the WebSocket port.
//!
//! `POST` sends the body to the connection (a text frame when it is UTF-8, else binary),
//! `GET` describes the connection, `DELETE` closes it (then `$disconnect` runs). Paths are
//! `/@connections/{id}` and `/{stage}/@connections/{id}`: the SDK calls the latter when its
//! endpoint is `https://{domain}/{stage}`, with the id percent-encoded (axum's `Path`
//! decodes it). An unknown id is 410 with `x-amzn-ErrorType: GoneException`, without which
//! the AWS SDK would not report `GoneException`. SigV4 signatures are not checked.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::SecondsFormat;
use serde_json::json;

use crate::connections::{CloseReason, PushError};
use crate::events::FrameBody;
use crate::gateway::{Gateway, aws_error_response};
use crate::websocket::frame_message;

/// The management routes, with and without the stage prefix.
pub(crate) fn routes(stage: &str) -> Router<Arc<Gateway>> {
    let methods = || post(post_to_connection).get(get_connection).delete(delete_connection);
    Router::new().route("/@connections/{id}", methods()).route(&format!("/{stage}/@connections/{{id}}"), methods())
}

fn gone(id: &str) -> Response {
    aws_error_response(StatusCode::GONE, "GoneException", &format!("connection {id} is not open"))
}

/// `POST /@connections/{id}` (`PostToConnection`).
async fn post_to_connection(State(gateway): State<Arc<Gateway>>, Path(id): Path<String>, body: Bytes) -> Response {
    if body.len() > gateway.limits.max_post_bytes {
        return aws_error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeException",
            &format!("data must be at most {} bytes", gateway.limits.max_post_bytes),
        );
    }
    let Some(state) = gateway.connections.get(&id) else {
        return gone(&id);
    };
    let frame = match String::from_utf8(body.to_vec()) {
        Ok(text) => FrameBody::Text(text),
        Err(e) => FrameBody::Binary(e.into_bytes()),
    };
    match state.outbox.push(frame_message(frame), Some(gateway.limits.post_queue_wait)).await {
        Ok(()) => {
            state.touch();
            StatusCode::OK.into_response()
        }
        Err(PushError::Closed) => gone(&id),
        Err(PushError::Full) => aws_error_response(
            StatusCode::TOO_MANY_REQUESTS,
            "LimitExceededException",
            "the connection is not reading its frames",
        ),
    }
}

/// `GET /@connections/{id}` (`GetConnection`).
async fn get_connection(State(gateway): State<Arc<Gateway>>, Path(id): Path<String>) -> Response {
    let Some(state) = gateway.connections.get(&id) else {
        return gone(&id);
    };
    let mut identity = serde_json::Map::new();
    identity.insert("sourceIp".into(), json!(state.event.source_ip));
    if let Some(agent) = &state.event.user_agent {
        identity.insert("userAgent".into(), json!(agent));
    }
    Json(json!({
        "connectedAt": state.event.connected_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "identity": identity,
        "lastActiveAt": state.last_active().to_rfc3339_opts(SecondsFormat::Millis, true),
    }))
    .into_response()
}

/// `DELETE /@connections/{id}` (`DeleteConnection`).
async fn delete_connection(State(gateway): State<Arc<Gateway>>, Path(id): Path<String>) -> Response {
    if gateway.connections.close(&id, CloseReason::deleted()) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        gone(&id)
    }
}
