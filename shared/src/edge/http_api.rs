//! HTTP API handlers (payload format 2.0). Success bodies are the resource or page itself;
//! errors are `{"status":"error","error":{code,message}}` with the code's HTTP status (and
//! `Retry-After` on 429). Every route authenticates from the authorizer's context and counts
//! against the caller's REST rate limit.

use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use http::HeaderValue;
use serde::Serialize;

use super::{Handler, Services, decode_body, error_body, identity_from};
use crate::app::{self, AppError, Fanout, Page, rate_limit};
use crate::auth::Identity;
use crate::config::OnLimiterFailure;
use crate::ports::{
    Cause, Clock, ConnectionRegistry, ConversationStore, Limit, MessageSearch, MessageStore, Notifier, RateLimiter,
    UserStore,
};
use crate::protocol::{
    ConversationDto, CreateConversationRequest, ErrorBody, ErrorCode, MarkReadRequest, MessageDto, PageDto, RestError,
    SearchHitDto,
};

/// Request bodies larger than this are refused with `PAYLOAD_TOO_LARGE`.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

fn json_response(status: u16, body: &impl Serialize) -> ApiGatewayV2httpResponse {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(status);
    response.headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.body = Some(Body::Text(serde_json::to_string(body).unwrap_or_default()));
    response
}

fn error_response(error: &ErrorBody) -> ApiGatewayV2httpResponse {
    let mut response = json_response(error.code.http_status(), &RestError { status: "error", error });
    if let Some(seconds) = error.retry_after
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers.insert(http::header::RETRY_AFTER, value);
    }
    response
}

/// A use case's result as a response: `status` on success.
fn respond<T: Serialize>(status: u16, result: Result<T, AppError>) -> ApiGatewayV2httpResponse {
    match result {
        Ok(body) => json_response(status, &body),
        Err(e) => error_response(&error_body(&e)),
    }
}

fn page_dto<T, D>(page: Page<T>, to_dto: impl Fn(&T) -> D) -> PageDto<D> {
    PageDto { items: page.items.iter().map(to_dto).collect(), next_cursor: page.next_cursor, has_more: page.has_more }
}

/// The JSON body of a request (`{}` when empty), or the error to answer instead.
fn json_body<T: serde::de::DeserializeOwned>(event: &ApiGatewayV2httpRequest) -> Result<T, ErrorBody> {
    let body = decode_body(event.body.as_deref(), event.is_base64_encoded)
        .ok_or_else(|| ErrorBody::new(ErrorCode::ValidationError, "body must be UTF-8 JSON"))?;
    if body.len() > MAX_BODY_BYTES {
        return Err(ErrorBody::new(ErrorCode::PayloadTooLarge, format!("body must be at most {MAX_BODY_BYTES} bytes")));
    }
    // Only a truly empty body means "no body"; whitespace is not JSON.
    let body = if body.is_empty() { "{}" } else { body.as_str() };
    let invalid = |e: serde_json::Error| ErrorBody::new(ErrorCode::ValidationError, format!("invalid body: {e}"));
    // serde reads a struct from a JSON array too (`[3]` as `{"upToSeq": 3}`); bodies are objects.
    match serde_json::from_str::<serde_json::Value>(body).map_err(invalid)? {
        value @ serde_json::Value::Object(_) => serde_json::from_value(value).map_err(invalid),
        _ => Err(ErrorBody::new(ErrorCode::ValidationError, "body must be a JSON object")),
    }
}

/// A query parameter, from `rawQueryString` (see [`super::query`]).
fn query(event: &ApiGatewayV2httpRequest, name: &str) -> Option<String> {
    match &event.raw_query_string {
        Some(raw) => super::query::query_param(raw, name),
        None => event.query_string_parameters.first(name).map(str::to_owned),
    }
}

fn conversation_param(event: &ApiGatewayV2httpRequest) -> &str {
    event.path_parameters.get("conversationId").map_or("", String::as_str)
}

/// Authentication and the REST rate limit, shared by every HTTP handler.
#[derive(Debug, Clone)]
struct Gate {
    limiter: Arc<dyn RateLimiter>,
    on_limiter_failure: OnLimiterFailure,
}

impl Gate {
    fn new(s: &Services) -> Self {
        Self { limiter: Arc::new(s.rate_limiter()), on_limiter_failure: s.config.rate_limits.on_failure }
    }

    /// The caller, once authenticated and within their rate limit.
    async fn admit(&self, event: &ApiGatewayV2httpRequest) -> Result<Identity, ApiGatewayV2httpResponse> {
        let identity = event
            .request_context
            .authorizer
            .as_ref()
            .and_then(|a| identity_from(&a.fields))
            .ok_or_else(|| error_response(&ErrorBody::new(ErrorCode::Unauthorized, "not authenticated")))?;
        rate_limit::enforce(&*self.limiter, self.on_limiter_failure, Limit::Rest, identity.user_id)
            .await
            .map_err(|e| error_response(&error_body(&e)))?;
        Ok(identity)
    }
}

/// `POST /conversations`: get or create (201 created, 200 found).
#[derive(Debug, Clone)]
pub struct HttpCreateConversation {
    gate: Gate,
    users: Arc<dyn UserStore>,
    conversations: Arc<dyn ConversationStore>,
}

impl HttpCreateConversation {
    pub fn new(s: &Services) -> Self {
        Self { gate: Gate::new(s), users: Arc::new(s.store.clone()), conversations: Arc::new(s.store.clone()) }
    }
}

#[async_trait]
impl Handler for HttpCreateConversation {
    type Event = ApiGatewayV2httpRequest;
    type Response = ApiGatewayV2httpResponse;

    async fn handle(&self, event: Self::Event) -> Self::Response {
        let caller = match self.gate.admit(&event).await {
            Ok(caller) => caller,
            Err(response) => return response,
        };
        let request: CreateConversationRequest = match json_body(&event) {
            Ok(request) => request,
            Err(error) => return error_response(&error),
        };
        match app::create_conversation(&*self.users, &*self.conversations, &caller, &request.participant_id).await {
            Ok(c) => json_response(if c.created { 201 } else { 200 }, &ConversationDto::from(&c.conversation)),
            Err(e) => error_response(&error_body(&e)),
        }
    }
}

/// `GET /conversations?limit=&cursor=`: the caller's conversations, most recent first.
#[derive(Debug, Clone)]
pub struct HttpListConversations {
    gate: Gate,
    conversations: Arc<dyn ConversationStore>,
}

impl HttpListConversations {
    pub fn new(s: &Services) -> Self {
        Self { gate: Gate::new(s), conversations: Arc::new(s.store.clone()) }
    }
}

#[async_trait]
impl Handler for HttpListConversations {
    type Event = ApiGatewayV2httpRequest;
    type Response = ApiGatewayV2httpResponse;

    async fn handle(&self, event: Self::Event) -> Self::Response {
        let caller = match self.gate.admit(&event).await {
            Ok(caller) => caller,
            Err(response) => return response,
        };
        let page = app::list_conversations(
            &*self.conversations,
            caller.user_id,
            query(&event, "limit").as_deref(),
            query(&event, "cursor").as_deref(),
        )
        .await;
        respond(200, page.map(|p| page_dto(p, |c| ConversationDto::from(c))))
    }
}

/// `GET /conversations/{conversationId}/messages?limit=&before=&after=`: history by `seq`.
#[derive(Debug, Clone)]
pub struct HttpGetMessages {
    gate: Gate,
    messages: Arc<dyn MessageStore>,
}

impl HttpGetMessages {
    pub fn new(s: &Services) -> Self {
        Self { gate: Gate::new(s), messages: Arc::new(s.store.clone()) }
    }
}

#[async_trait]
impl Handler for HttpGetMessages {
    type Event = ApiGatewayV2httpRequest;
    type Response = ApiGatewayV2httpResponse;

    async fn handle(&self, event: Self::Event) -> Self::Response {
        let caller = match self.gate.admit(&event).await {
            Ok(caller) => caller,
            Err(response) => return response,
        };
        let page = app::history(
            &*self.messages,
            caller.user_id,
            conversation_param(&event),
            query(&event, "limit").as_deref(),
            query(&event, "before").as_deref(),
            query(&event, "after").as_deref(),
        )
        .await;
        respond(200, page.map(|p| page_dto(p, |m| MessageDto::from(m))))
    }
}

/// The body of a read answer: the caller's read position; `readAt` is `null` when nothing changed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReadPosition {
    pub conversation_id: String,
    pub up_to_seq: i64,
    #[serde(serialize_with = "crate::protocol::timestamp::option::serialize")]
    pub read_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// `POST /conversations/{conversationId}/read` with optional `{"upToSeq": n}`: the same use case
/// as the WebSocket `message:mark_read`, including the `messages:read` push.
#[derive(Debug, Clone)]
pub struct HttpMarkRead {
    gate: Gate,
    messages: Arc<dyn MessageStore>,
    registry: Arc<dyn ConnectionRegistry>,
    notifier: Arc<dyn Notifier>,
    clock: Arc<dyn Clock>,
}

impl HttpMarkRead {
    /// # Errors
    /// `APIGW_MANAGEMENT_ENDPOINT` is not configured.
    pub fn new(s: &Services) -> Result<Self, Cause> {
        Ok(Self {
            gate: Gate::new(s),
            messages: Arc::new(s.store.clone()),
            registry: Arc::new(s.registry.clone()),
            notifier: Arc::new(s.notifier()?),
            clock: s.clock.clone(),
        })
    }
}

#[async_trait]
impl Handler for HttpMarkRead {
    type Event = ApiGatewayV2httpRequest;
    type Response = ApiGatewayV2httpResponse;

    async fn handle(&self, event: Self::Event) -> Self::Response {
        let caller = match self.gate.admit(&event).await {
            Ok(caller) => caller,
            Err(response) => return response,
        };
        let request: MarkReadRequest = match json_body(&event) {
            Ok(request) => request,
            Err(error) => return error_response(&error),
        };
        let conversation_id = conversation_param(&event);
        let fanout = Fanout { registry: &*self.registry, notifier: &*self.notifier };
        let read = app::mark_read(
            &*self.messages,
            fanout,
            &*self.clock,
            caller.user_id,
            None,
            conversation_id,
            request.up_to_seq,
        )
        .await;
        respond(
            200,
            read.map(|r| ReadPosition {
                conversation_id: conversation_id.to_ascii_lowercase(),
                up_to_seq: r.last_read_seq,
                read_at: r.read_at,
            }),
        )
    }
}

/// `GET /messages/search?q=&conversationId=&limit=&cursor=`: ranked full-text search over the
/// caller's conversations.
#[derive(Debug, Clone)]
pub struct HttpSearchMessages {
    gate: Gate,
    search: Arc<dyn MessageSearch>,
}

impl HttpSearchMessages {
    pub fn new(s: &Services) -> Self {
        Self { gate: Gate::new(s), search: Arc::new(s.store.clone()) }
    }
}

#[async_trait]
impl Handler for HttpSearchMessages {
    type Event = ApiGatewayV2httpRequest;
    type Response = ApiGatewayV2httpResponse;

    async fn handle(&self, event: Self::Event) -> Self::Response {
        let caller = match self.gate.admit(&event).await {
            Ok(caller) => caller,
            Err(response) => return response,
        };
        let page = app::search(
            &*self.search,
            caller.user_id,
            query(&event, "q").as_deref(),
            query(&event, "conversationId").as_deref(),
            query(&event, "limit").as_deref(),
            query(&event, "cursor").as_deref(),
        )
        .await;
        respond(200, page.map(|p| page_dto(p, |r| SearchHitDto::from(r))))
    }
}
