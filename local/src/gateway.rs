//! The state both listeners share: settings, the invoker, the open connections.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chat_shared::routes::Function;
use serde_json::{Value, json};

use crate::Limits;
use crate::connections::{ConnectionTable, Tracker};
use crate::invoker::{InvokeFailure, Invoker, invoke_within};

/// Everything a request handler of either API needs.
#[derive(Debug)]
pub(crate) struct Gateway {
    pub invoker: Arc<dyn Invoker>,
    /// WebSocket API stage (`local`): the path prefix of the WebSocket and management URLs.
    pub stage: Arc<str>,
    pub api_id: Arc<str>,
    /// AWS region named in ARNs.
    pub region: String,
    pub limits: Limits,
    pub connections: ConnectionTable,
    pub tracker: Arc<Tracker>,
}

impl Gateway {
    /// Invokes a WebSocket API function within the WebSocket integration timeout.
    pub async fn invoke_ws(&self, function: Function, event: Value) -> Result<Value, InvokeFailure> {
        self.invoke(function, event, self.limits.ws_integration_timeout).await
    }

    /// Invokes an HTTP API function within the HTTP integration timeout.
    pub async fn invoke_http(&self, function: Function, event: Value) -> Result<Value, InvokeFailure> {
        self.invoke(function, event, self.limits.http_integration_timeout).await
    }

    async fn invoke(&self, function: Function, event: Value, timeout: Duration) -> Result<Value, InvokeFailure> {
        let result = invoke_within(&*self.invoker, function, event, timeout).await;
        if let Err(error) = &result {
            // Logged once, here; callers only map the failure to what API Gateway would answer.
            tracing::error!(%error, "integration failed");
        }
        result
    }
}

/// API Gateway's own error answers: `{"message": "..."}` with the given status.
pub(crate) fn message_response(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

/// The management API's error answers: like [`message_response`], plus the
/// `x-amzn-ErrorType` header the AWS SDK reads the error type from.
pub(crate) fn aws_error_response(status: StatusCode, error_type: &'static str, message: &str) -> Response {
    let mut response = message_response(status, message);
    response.headers_mut().insert("x-amzn-ErrorType", HeaderValue::from_static(error_type));
    response
}
