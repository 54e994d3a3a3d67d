//! WebSocket API handlers: `$connect`, `$disconnect`, `$default` (and `ping`), `message:send`,
//! `typing:start`/`typing:stop`, `message:mark_read`, `conversation:sync`.
//!
//! Acks travel back as the integration response body (the routes are two-way); every ack is
//! answered with status 200 and carries its own `status` field. Typing answers only on error
//! (a response without a body sends nothing). `$connect` answers with a status code only:
//! non-2xx makes API Gateway refuse the handshake.

use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use serde::Serialize;

use super::{Handler, Services, decode_body, error_body, identity_from};
use crate::app::{self, AppError, ConnectDeps, Fanout, SendMessage, SendMessageDeps, TypingDeps};
use crate::auth::Identity;
use crate::config::OnLimiterFailure;
use crate::domain::ConnectionId;
use crate::ports::{
    Cause, Clock, ConnectionRegistry, ConversationStore, MessageStore, Notifier, RateLimiter, TypingTracker, UserStore,
};
use crate::protocol::{Ack, ClientFrame, ErrorBody, ErrorCode, FrameError, FrameErrorKind, MessageDto, Pong, SyncPage};

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

/// A parsed frame from an authenticated connection.
struct Incoming {
    identity: Identity,
    connection: Option<ConnectionId>,
    frame: ClientFrame,
    request_id: Option<String>,
}

/// Why a MESSAGE event was refused before any use case ran.
enum Refusal {
    Unauthenticated(Option<String>),
    Frame(FrameError),
}

impl Refusal {
    fn into_response(self) -> ApiGatewayProxyResponse {
        match self {
            Refusal::Unauthenticated(request_id) => {
                ack_response(&Ack::error(request_id, ErrorBody::new(ErrorCode::Unauthorized, "not authenticated")))
            }
            Refusal::Frame(error) => frame_error_ack(error),
        }
    }
}

/// Parses a MESSAGE event: the caller, their connection, the frame.
fn incoming(event: &ApiGatewayWebsocketProxyRequest) -> Result<Incoming, Refusal> {
    let Some(body) = decode_body(event.body.as_deref(), event.is_base64_encoded) else {
        return Err(Refusal::Frame(FrameError {
            request_id: None,
            kind: FrameErrorKind::Malformed("frames must be UTF-8 JSON text".into()),
        }));
    };
    let (frame, request_id) = ClientFrame::parse(&body).map_err(Refusal::Frame)?;
    let Some(identity) = identity_from(&event.request_context.authorizer.fields) else {
        tracing::warn!("a frame without authorizer context: is the authorizer attached to $connect?");
        return Err(Refusal::Unauthenticated(request_id));
    };
    Ok(Incoming { identity, connection: connection_id(event), frame, request_id })
}

/// A frame whose action this function does not serve (a route table mistake, or `$default`).
fn no_route(frame: &ClientFrame, request_id: Option<String>) -> ApiGatewayProxyResponse {
    frame_error_ack(FrameError { request_id, kind: FrameErrorKind::UnknownAction(Some(frame.action().to_owned())) })
}

/// The ack for a use case's result.
fn answer<T: Serialize>(request_id: Option<String>, result: Result<T, AppError>) -> ApiGatewayProxyResponse {
    ack_response(&match result {
        Ok(data) => Ack::success(request_id, serde_json::to_value(data).unwrap_or_default()),
        Err(e) => Ack::error(request_id, error_body(&e)),
    })
}

/// The pieces every pushing handler shares.
#[derive(Debug, Clone)]
struct Push {
    registry: Arc<dyn ConnectionRegistry>,
    notifier: Arc<dyn Notifier>,
}

impl Push {
    fn new(s: &Services) -> Result<Self, Cause> {
        Ok(Self { registry: Arc::new(s.registry.clone()), notifier: Arc::new(s.notifier()?) })
    }

    fn fanout(&self) -> Fanout<'_> {
        Fanout { registry: &*self.registry, notifier: &*self.notifier }
    }
}

/// `$connect`: check the connect rate limit, upsert the user, map the connection to them.
#[derive(Debug, Clone)]
pub struct WsConnect {
    users: Arc<dyn UserStore>,
    registry: Arc<dyn ConnectionRegistry>,
    clock: Arc<dyn Clock>,
    limiter: Arc<dyn RateLimiter>,
    on_limiter_failure: OnLimiterFailure,
    ttl: std::time::Duration,
}

impl WsConnect {
    pub fn new(s: &Services) -> Self {
        Self {
            users: Arc::new(s.store.clone()),
            registry: Arc::new(s.registry.clone()),
            clock: s.clock.clone(),
            limiter: Arc::new(s.rate_limiter()),
            on_limiter_failure: s.config.rate_limits.on_failure,
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
        let deps = ConnectDeps {
            users: &*self.users,
            registry: &*self.registry,
            clock: &*self.clock,
            limiter: &*self.limiter,
            on_limiter_failure: self.on_limiter_failure,
            ttl: self.ttl,
        };
        match app::connect(deps, &identity, connection.clone()).await {
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
        let Some(connection) = connection_id(&event) else { return status_only(200) };
        // API Gateway passes the authorizer's context to `$disconnect` too.
        let Some(identity) = identity_from(&event.request_context.authorizer.fields) else {
            tracing::warn!(%connection, "$disconnect without authorizer context; the first push to it will forget it");
            return status_only(200);
        };
        match app::disconnect(&*self.registry, identity.user_id, &connection).await {
            Ok(()) => tracing::info!(
                user = %identity.user_id,
                %connection,
                status = ?event.request_context.disconnect_status_code,
                reason = ?event.request_context.disconnect_reason,
                "disconnected"
            ),
            Err(e) => {
                error_body(&e);
            }
        }
        status_only(200)
    }
}

/// `$default` and `ping`: answers `ping` with a pong; malformed JSON is `VALIDATION_ERROR`;
/// a JSON object with a missing or unknown `action` is `UNKNOWN_ACTION`.
#[derive(Debug, Clone, Copy, Default)]
pub struct WsDefault;

#[async_trait]
impl Handler for WsDefault {
    type Event = ApiGatewayWebsocketProxyRequest;
    type Response = ApiGatewayProxyResponse;

    async fn handle(&self, event: Self::Event) -> Self::Response {
        let Incoming { frame, request_id, .. } = match incoming(&event) {
            Ok(incoming) => incoming,
            Err(refusal) => return refusal.into_response(),
        };
        match frame {
            ClientFrame::Ping => answer(request_id, Ok(Pong { pong: true, server_time: chrono::Utc::now() })),
            // A known action that reached $default has no route in this deployment.
            other => no_route(&other, request_id),
        }
    }
}

/// `message:send`.
#[derive(Debug, Clone)]
pub struct WsSendMessage {
    messages: Arc<dyn MessageStore>,
    push: Push,
    clock: Arc<dyn Clock>,
    limiter: Arc<dyn RateLimiter>,
    on_limiter_failure: OnLimiterFailure,
    typing: Arc<dyn TypingTracker>,
    participants: Arc<app::KnownParticipants>,
}

impl WsSendMessage {
    /// # Errors
    /// `APIGW_MANAGEMENT_ENDPOINT` is not configured.
    pub fn new(s: &Services) -> Result<Self, Cause> {
        Ok(Self {
            messages: Arc::new(s.store.clone()),
            push: Push::new(s)?,
            clock: s.clock.clone(),
            limiter: Arc::new(s.rate_limiter()),
            on_limiter_failure: s.config.rate_limits.on_failure,
            typing: Arc::new(s.typing_tracker()),
            participants: Arc::default(),
        })
    }
}

#[async_trait]
impl Handler for WsSendMessage {
    type Event = ApiGatewayWebsocketProxyRequest;
    type Response = ApiGatewayProxyResponse;

    async fn handle(&self, event: Self::Event) -> Self::Response {
        let Incoming { identity, connection, frame, request_id } = match incoming(&event) {
            Ok(incoming) => incoming,
            Err(refusal) => return refusal.into_response(),
        };
        let ClientFrame::SendMessage(frame) = frame else { return no_route(&frame, request_id) };
        let deps = SendMessageDeps {
            messages: &*self.messages,
            fanout: self.push.fanout(),
            clock: &*self.clock,
            limiter: &*self.limiter,
            on_limiter_failure: self.on_limiter_failure,
            typing: &*self.typing,
            participants: &self.participants,
        };
        let sent = match SendMessage::try_from(frame) {
            Ok(command) => app::send_message(deps, identity.user_id, connection.as_ref(), command).await,
            Err(e) => Err(e),
        };
        answer(request_id, sent.map(|m| MessageDto::from(&m)))
    }
}

/// `typing:start` / `typing:stop`. Success sends nothing back; errors are acked.
#[derive(Debug, Clone)]
pub struct WsTyping {
    conversations: Arc<dyn ConversationStore>,
    tracker: Arc<dyn TypingTracker>,
    limiter: Arc<dyn RateLimiter>,
    on_limiter_failure: OnLimiterFailure,
    push: Push,
}

impl WsTyping {
    /// # Errors
    /// `APIGW_MANAGEMENT_ENDPOINT` is not configured.
    pub fn new(s: &Services) -> Result<Self, Cause> {
        Ok(Self {
            conversations: Arc::new(s.store.clone()),
            tracker: Arc::new(s.typing_tracker()),
            limiter: Arc::new(s.rate_limiter()),
            on_limiter_failure: s.config.rate_limits.on_failure,
            push: Push::new(s)?,
        })
    }
}

#[async_trait]
impl Handler for WsTyping {
    type Event = ApiGatewayWebsocketProxyRequest;
    type Response = ApiGatewayProxyResponse;

    async fn handle(&self, event: Self::Event) -> Self::Response {
        let Incoming { identity, frame, request_id, .. } = match incoming(&event) {
            Ok(incoming) => incoming,
            Err(refusal) => return refusal.into_response(),
        };
        let (typing, conversation_id) = match frame {
            ClientFrame::TypingStart(f) => (true, f.conversation_id),
            ClientFrame::TypingStop(f) => (false, f.conversation_id),
            other => return no_route(&other, request_id),
        };
        let deps = TypingDeps {
            conversations: &*self.conversations,
            tracker: &*self.tracker,
            limiter: &*self.limiter,
            on_limiter_failure: self.on_limiter_failure,
            fanout: self.push.fanout(),
        };
        match app::typing(deps, identity.user_id, &conversation_id, typing).await {
            Ok(()) => status_only(200),
            Err(e) => answer::<()>(request_id, Err(e)),
        }
    }
}

/// What the receipt and sync handlers share: messages, pushes, the clock.
#[derive(Debug, Clone)]
struct MessagesAndPush {
    messages: Arc<dyn MessageStore>,
    push: Push,
    clock: Arc<dyn Clock>,
}

impl MessagesAndPush {
    fn new(s: &Services) -> Result<Self, Cause> {
        Ok(Self { messages: Arc::new(s.store.clone()), push: Push::new(s)?, clock: s.clock.clone() })
    }
}

/// `message:mark_read`.
#[derive(Debug, Clone)]
pub struct WsMarkRead(MessagesAndPush);

impl WsMarkRead {
    /// # Errors
    /// `APIGW_MANAGEMENT_ENDPOINT` is not configured.
    pub fn new(s: &Services) -> Result<Self, Cause> {
        MessagesAndPush::new(s).map(Self)
    }
}

#[async_trait]
impl Handler for WsMarkRead {
    type Event = ApiGatewayWebsocketProxyRequest;
    type Response = ApiGatewayProxyResponse;

    async fn handle(&self, event: Self::Event) -> Self::Response {
        let Incoming { identity, connection, frame, request_id } = match incoming(&event) {
            Ok(incoming) => incoming,
            Err(refusal) => return refusal.into_response(),
        };
        let ClientFrame::MarkRead(frame) = frame else { return no_route(&frame, request_id) };
        let read = app::mark_read(
            &*self.0.messages,
            self.0.push.fanout(),
            &*self.0.clock,
            identity.user_id,
            connection.as_ref(),
            &frame.conversation_id,
            frame.up_to_seq,
        )
        .await;
        answer(
            request_id,
            read.map(|r| super::http_api::ReadPosition {
                conversation_id: frame.conversation_id.to_ascii_lowercase(),
                up_to_seq: r.last_read_seq,
                read_at: r.read_at,
            }),
        )
    }
}

/// `conversation:sync`.
#[derive(Debug, Clone)]
pub struct WsSync(MessagesAndPush);

impl WsSync {
    /// # Errors
    /// `APIGW_MANAGEMENT_ENDPOINT` is not configured.
    pub fn new(s: &Services) -> Result<Self, Cause> {
        MessagesAndPush::new(s).map(Self)
    }
}

#[async_trait]
impl Handler for WsSync {
    type Event = ApiGatewayWebsocketProxyRequest;
    type Response = ApiGatewayProxyResponse;

    async fn handle(&self, event: Self::Event) -> Self::Response {
        let Incoming { identity, frame, request_id, .. } = match incoming(&event) {
            Ok(incoming) => incoming,
            Err(refusal) => return refusal.into_response(),
        };
        let ClientFrame::Sync(frame) = frame else { return no_route(&frame, request_id) };
        let page = app::sync(
            &*self.0.messages,
            self.0.push.fanout(),
            &*self.0.clock,
            identity.user_id,
            &frame.conversation_id,
            frame.after_seq,
            frame.limit,
        )
        .await;
        answer(
            request_id,
            page.map(|(messages, has_more)| SyncPage {
                messages: messages.iter().map(MessageDto::from).collect(),
                has_more,
            }),
        )
    }
}
