//! HTTP API handlers (payload format 2.0). Success bodies are the resource itself; errors are
//! `{"status":"error","error":{code,message}}` with the code's HTTP status.

use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use http::HeaderValue;
use serde::Serialize;

use super::{Handler, Services, decode_body, error_body, identity_from};
use crate::app;
use crate::auth::Identity;
use crate::ports::{ConversationStore, UserStore};
use crate::protocol::{ConversationDto, CreateConversationRequest, ErrorBody, ErrorCode, RestError};

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

/// The caller and the parsed JSON body, or the error to answer instead.
fn authenticated_json<T: serde::de::DeserializeOwned>(
    event: &ApiGatewayV2httpRequest,
) -> Result<(Identity, T), ErrorBody> {
    let identity = event
        .request_context
        .authorizer
        .as_ref()
        .and_then(|a| identity_from(&a.fields))
        .ok_or_else(|| ErrorBody::new(ErrorCode::Unauthorized, "not authenticated"))?;
    let body = decode_body(event.body.as_deref(), event.is_base64_encoded)
        .ok_or_else(|| ErrorBody::new(ErrorCode::ValidationError, "body must be UTF-8 JSON"))?;
    if body.len() > MAX_BODY_BYTES {
        return Err(ErrorBody::new(ErrorCode::PayloadTooLarge, format!("body must be at most {MAX_BODY_BYTES} bytes")));
    }
    let parsed = serde_json::from_str(&body)
        .map_err(|e| ErrorBody::new(ErrorCode::ValidationError, format!("invalid body: {e}")))?;
    Ok((identity, parsed))
}

/// `POST /conversations`: get or create (201 created, 200 found).
#[derive(Debug, Clone)]
pub struct HttpCreateConversation {
    users: Arc<dyn UserStore>,
    conversations: Arc<dyn ConversationStore>,
}

impl HttpCreateConversation {
    pub fn new(s: &Services) -> Self {
        Self { users: Arc::new(s.store.clone()), conversations: Arc::new(s.store.clone()) }
    }
}

#[async_trait]
impl Handler for HttpCreateConversation {
    type Event = ApiGatewayV2httpRequest;
    type Response = ApiGatewayV2httpResponse;

    async fn handle(&self, event: Self::Event) -> Self::Response {
        let (caller, request) = match authenticated_json::<CreateConversationRequest>(&event) {
            Ok(parsed) => parsed,
            Err(error) => return error_response(&error),
        };
        match app::create_conversation(&*self.users, &*self.conversations, &caller, &request.participant_id).await {
            Ok(c) => json_response(if c.created { 201 } else { 200 }, &ConversationDto::from(&c.conversation)),
            Err(e) => error_response(&error_body(&e)),
        }
    }
}
