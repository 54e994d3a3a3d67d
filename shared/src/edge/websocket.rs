//! WebSocket API handlers: `$connect`, `$disconnect`, `$default`, `message:send`.
//!
//! Acks travel back as the integration response body (the routes are two-way); every ack is
//! answered with status 200 and carries its own `status` field. `$connect` answers with a
//! status code only: non-2xx makes API Gateway refuse the handshake.

use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use serde_json::Value;

use super::{Handler, Services, decode_body, error_body, identity_from};
use crate::app::{self, Fanout, SendMessage};
use crate::domain::ConnectionId;
use crate::ports::{Clock, ConnectionRegistry, MessageStore, Notifier, UserStore};
use crate::protocol::{Ack, ClientFrame, ErrorBody, ErrorCode, FrameError, FrameErrorKind, MessageDto};

fn status_only(status: i64) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = status;
    response
}

fn ack_response(ack: &Ack) -> ApiGatewayProxyResponse {
    let mut response = status_only(200);
    response.body = Some(Body::Text(serde_json::to_string(ack).unwrap_or_default()));
    response
}

fn frame_error_body(kind: FrameErrorKind) -> ErrorBody {
    match kind {
        FrameErrorKind::Malformed(m) | FrameErrorKind::Invalid(m) => ErrorBody::new(ErrorCode::ValidationError, m),
        FrameErrorKind::UnknownAction(None) => {
            ErrorBody::new(ErrorCode::UnknownAction, "frames must carry a string \"action\"")
        }
        FrameErrorKind::UnknownAction(Some(action)) => {
            ErrorBody::new(ErrorCode::UnknownAction, format!("unknown action {action:?}"))
        }
    }
}

fn frame_error_ack(error: FrameError) -> ApiGatewayProxyResponse {
    ack_response(&Ack::error(error.request_id, frame_error_body(error.kind)))
}

fn connection_id(event: &ApiGatewayWebsocketProxyRequest) -> Option<ConnectionId> {
    event.request_context.connection_id.as_deref().filter(|c| !c.is_empty()).map(ConnectionId::new)
}

/// `$connect`: upsert the user, map the connection to them.
#[derive(Debug, Clone)]
pub struct WsConnect {
    users: Arc<dyn UserStore>,
    registry: Arc<dyn ConnectionRegistry>,
    clock: Arc<dyn Clock>,
    ttl: std::time::Duration,
}

impl WsConnect {
    pub fn new(s: &Services) -> Self {
        Self {
            users: Arc::new(s.store.clone()),
            registry: Arc::new(s.registry.clone()),
            clock: s.clock.clone(),
            ttl: s.config.connection_ttl,
        }
    }
}

#[async_trait]
impl Handler for WsConnect {
    type Event = ApiGatewayWebsocketProxyRequest;
    type Response = ApiGatewayProxyResponse;

    async fn handle(&self, event: Self::Event) -> Self::Response {
        let (Some(identity), Some(connection)) =
            (identity_from(&event.request_context.authorizer.fields), connection_id(&event))
        else {
            tracing::warn!("$connect without authorizer context or connection id: is the authorizer attached?");
            return status_only(401);
        };
        match app::connect(&*self.users, &*self.registry, &*self.clock, self.ttl, &identity, connection.clone()).await {
            Ok(_) => {
                tracing::info!(user = %identity.user_id, %connection, "connected");
                status_only(200)
            }
            Err(e) => status_only(i64::from(error_body(&e).code.http_status())),
        }
    }
}

/// `$disconnect`: forget the connection. Always answers 200 (API Gateway ignores it anyway).
#[derive(Debug, Clone)]
pub struct WsDisconnect {
    registry: Arc<dyn ConnectionRegistry>,
}

impl WsDisconnect {
    pub fn new(s: &Services) -> Self {
        Self { registry: Arc::new(s.registry.clone()) }
    }
}

#[async_trait]
impl Handler for WsDisconnect {
    type Event = ApiGatewayWebsocketProxyRequest;
    type Response = ApiGatewayProxyResponse;

    async fn handle(&self, event: Self::Event) -> Self::Response {
        if let Some(connection) = connection_id(&event) {
            match app::disconnect(&*self.registry, &connection).await {
                Ok(()) => tracing::info!(
                    %connection,
                    status = ?event.request_context.disconnect_status_code,
                    reason = ?event.request_context.disconnect_reason,
                    "disconnected"
                ),
                Err(e) => {
                    error_body(&e);
                }
            }
        }
        status_only(200)
    }
}

/// `$default`: frames that matched no route. Malformed JSON is `VALIDATION_ERROR`; a JSON
/// object with a missing or unknown `action` is `UNKNOWN_ACTION`.
#[derive(Debug, Clone, Copy, Default)]
pub struct WsDefault;

#[async_trait]
impl Handler for WsDefault {
    type Event = ApiGatewayWebsocketProxyRequest;
    type Response = ApiGatewayProxyResponse;

    async fn handle(&self, event: Self::Event) -> Self::Response {
        let Some(body) = decode_body(event.body.as_deref(), event.is_base64_encoded) else {
            return frame_error_ack(FrameError {
                request_id: None,
                kind: FrameErrorKind::Malformed("frames must be UTF-8 JSON text".into()),
            });
        };
        match ClientFrame::parse(&body) {
            Err(error) => frame_error_ack(error),
            // A known action that reached $default has no route in this deployment.
            Ok((_, request_id)) => {
                let action = serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|v| v.get("action").and_then(Value::as_str).map(str::to_owned));
                frame_error_ack(FrameError { request_id, kind: FrameErrorKind::UnknownAction(action) })
            }
        }
    }
}

/// `message:send`.
#[derive(Debug, Clone)]
pub struct WsSendMessage {
    messages: Arc<dyn MessageStore>,
    registry: Arc<dyn ConnectionRegistry>,
    notifier: Arc<dyn Notifier>,
    clock: Arc<dyn Clock>,
}

impl WsSendMessage {
    /// # Errors
    /// `APIGW_MANAGEMENT_ENDPOINT` is not configured.
    pub fn new(s: &Services) -> Result<Self, crate::ports::Cause> {
        Ok(Self {
            messages: Arc::new(s.store.clone()),
            registry: Arc::new(s.registry.clone()),
            notifier: Arc::new(s.notifier()?),
            clock: s.clock.clone(),
        })
    }
}

#[async_trait]
impl Handler for WsSendMessage {
    type Event = ApiGatewayWebsocketProxyRequest;
    type Response = ApiGatewayProxyResponse;

    async fn handle(&self, event: Self::Event) -> Self::Response {
        let Some(identity) = identity_from(&event.request_context.authorizer.fields) else {
            tracing::warn!("message:send without authorizer context");
            return ack_response(&Ack::error(None, ErrorBody::new(ErrorCode::Unauthorized, "not authenticated")));
        };
        let body = decode_body(event.body.as_deref(), event.is_base64_encoded).unwrap_or_default();
        let (frame, request_id) = match ClientFrame::parse(&body) {
            Ok((ClientFrame::SendMessage(frame), request_id)) => (frame, request_id),
            Err(error) => return frame_error_ack(error),
        };
        let connection = connection_id(&event);
        let fanout = Fanout { registry: &*self.registry, notifier: &*self.notifier };
        let sent = match SendMessage::try_from(frame) {
            Ok(command) => {
                app::send_message(&*self.messages, fanout, &*self.clock, identity.user_id, connection.as_ref(), command)
                    .await
            }
            Err(e) => Err(e),
        };
        let ack = match sent {
            Ok(message) => {
                Ack::success(request_id, serde_json::to_value(MessageDto::from(&message)).unwrap_or_default())
            }
            Err(e) => Ack::error(request_id, error_body(&e)),
        };
        ack_response(&ack)
    }
}
