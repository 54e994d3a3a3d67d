//! The HTTP API (payload format 2.0, stage `$default`, so paths carry no stage prefix).
//!
//! No route → 404; no `Authorization` header → 401 without invoking; the Lambda authorizer
//! says no → 403; then the route's function runs and its v2 response becomes the HTTP
//! response. Failures answer what API Gateway answers: 500 `Internal Server Error`, or 503
//! `Service Unavailable` when the integration times out.
//!
//! Extras that API Gateway does not have, all without authentication: `GET /openapi.yaml`
//! serves the HTTP API's contract (`docs/openapi.yaml`) for tools such as schemathesis, and
//! `crate::web` the demo web client (`GET /`, `/web/...`) and its dev sign-in (`/dev/...`).
//! Any other method on those paths is not found, as on API Gateway.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chat_shared::routes::{Function, match_http};
use chrono::Utc;
use serde_json::{Map, Value, json};

use crate::events::{self, HttpRequest};
use crate::gateway::{Gateway, message_response};
use crate::ids;
use crate::invoker::InvokeFailure;
use crate::web::{self, WebClient};
use crate::websocket::header_pairs;

/// The HTTP API's OpenAPI 3.1 document, served at [`OPENAPI_PATH`].
pub const OPENAPI_YAML: &str = include_str!("../../docs/openapi.yaml");

/// Where `chat-local` serves [`OPENAPI_YAML`] (no authentication).
pub const OPENAPI_PATH: &str = "/openapi.yaml";

/// The router of the HTTP API port: every request goes through the route table, except the
/// OpenAPI document and the web client.
pub(crate) fn router(gateway: Arc<Gateway>, web: Arc<WebClient>) -> Router {
    Router::new()
        .route(OPENAPI_PATH, get(openapi))
        .merge(web::router(web))
        .fallback(handle)
        .method_not_allowed_fallback(handle)
        .with_state(gateway)
}

async fn openapi() -> Response {
    let mut response = Response::new(Body::from(OPENAPI_YAML));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/yaml"));
    response
}

fn internal_error() -> Response {
    message_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

fn failure_response(failure: &InvokeFailure) -> Response {
    match failure {
        InvokeFailure::TimedOut { .. } => message_response(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
        InvokeFailure::Failed { .. } => internal_error(),
    }
}

async fn handle(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let Some((route, raw_params)) = match_http(parts.method.as_str(), parts.uri.path()) else {
        return message_response(StatusCode::NOT_FOUND, "Not Found");
    };
    let params: Vec<(String, String)> =
        raw_params.into_iter().map(|(k, v)| (k, events::percent_decode(&v, false))).collect();
    let Some(authorization) = parts
        .headers
        .get(header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .filter(|v| !v.trim().is_empty())
    else {
        return message_response(StatusCode::UNAUTHORIZED, "Unauthorized");
    };
    let Ok(body) = axum::body::to_bytes(body, gateway.limits.max_http_body_bytes).await else {
        return message_response(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };
    let request = HttpRequest {
        method: parts.method.as_str().to_owned(),
        raw_path: parts.uri.path().to_owned(),
        raw_query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: header_pairs(&parts.headers),
        protocol: format!("{:?}", parts.version),
        source_ip: peer.ip().to_string(),
        domain_name: parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost").to_owned(),
        body: body.to_vec(),
        request_id: ids::request_id(),
        at: Utc::now(),
    };

    let authorizer_event =
        events::http_authorizer_event(&request, route, &params, &gateway.api_id, &gateway.region, &authorization);
    let decision = match gateway.invoke_http(Function::Authorizer, authorizer_event).await {
        Ok(decision) => decision,
        Err(failure) => return failure_response(&failure),
    };
    if decision.get("isAuthorized").and_then(Value::as_bool) != Some(true) {
        return message_response(StatusCode::FORBIDDEN, "Forbidden");
    }
    let context = decision.get("context").cloned().unwrap_or_else(|| json!({}));

    let event = events::http_event(&request, route, &params, &gateway.api_id, &context);
    match gateway.invoke_http(route.function, event).await {
        Ok(response) => lambda_response(response),
        Err(failure) => failure_response(&failure),
    }
}

/// A header value as API Gateway reads it from a response: strings as they are, numbers and
/// booleans as their JSON text.
fn header_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(value.to_string()),
        _ => None,
    }
}

/// Maps a function's payload format 2.0 response to the HTTP response.
///
/// With a `statusCode`: `headers`, then `multiValueHeaders` for names not already set,
/// `cookies` as `set-cookie`, and `body` (base64-decoded when `isBase64Encoded`). Without one,
/// API Gateway infers the format: 200, `application/json`, the response as the body. A
/// response it cannot read is 500.
pub(crate) fn lambda_response(response: Value) -> Response {
    let Value::Object(fields) = response else {
        return inferred(response);
    };
    if !fields.contains_key("statusCode") {
        return inferred(Value::Object(fields));
    }
    match structured(&fields) {
        Some(response) => response,
        None => {
            let response = Value::Object(fields);
            tracing::error!(%response, "malformed Lambda response");
            internal_error()
        }
    }
}

fn inferred(response: Value) -> Response {
    let body = match response {
        Value::String(text) => text,
        other => other.to_string(),
    };
    let mut out = Response::new(Body::from(body));
    out.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    out
}

fn structured(fields: &Map<String, Value>) -> Option<Response> {
    let status = fields
        .get("statusCode")
        .and_then(|code| code.as_u64().or_else(|| code.as_str().and_then(|s| s.trim().parse().ok())))?;
    let status = StatusCode::from_u16(u16::try_from(status).ok()?).ok()?;
    let body = match fields.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) if fields.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) => {
            STANDARD.decode(text.as_bytes()).ok()?
        }
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(_) => return None,
    };
    let mut out = Response::new(Body::from(body));
    *out.status_mut() = status;
    let headers = out.headers_mut();
    let parse = |name: &str, value: &str| {
        Some((HeaderName::from_bytes(name.as_bytes()).ok()?, HeaderValue::from_str(value).ok()?))
    };
    if let Some(Value::Object(single)) = fields.get("headers") {
        for (name, value) in single {
            let (name, value) = parse(name, &header_text(value)?)?;
            headers.insert(name, value);
        }
    }
    if let Some(Value::Object(multi)) = fields.get("multiValueHeaders") {
        for (name, values) in multi {
            let Ok(header_name) = HeaderName::from_bytes(name.as_bytes()) else {
                return None;
            };
            if headers.contains_key(&header_name) {
                continue;
            }
            for value in values.as_array().map(Vec::as_slice).unwrap_or_default() {
                let (name, value) = parse(header_name.as_str(), &header_text(value)?)?;
                headers.append(name, value);
            }
        }
    }
    if let Some(Value::Array(cookies)) = fields.get("cookies") {
        for cookie in cookies {
            headers.append(header::SET_COOKIE, HeaderValue::from_str(cookie.as_str()?).ok()?);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_openapi_document_is_served_as_yaml() {
        let response = openapi().await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/yaml");
        let body = String::from_utf8(body_of(response).await).expect("UTF-8");
        assert!(body.starts_with("openapi: 3.1.0"), "{body}");
        assert!(body.contains("/conversations/{conversationId}/messages:"), "{body}");
    }

    async fn body_of(response: Response) -> Vec<u8> {
        axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("a body").to_vec()
    }

    #[tokio::test]
    async fn a_v2_response_maps_status_headers_cookies_and_body() {
        let response = lambda_response(json!({
            "statusCode": 201,
            "headers": {"content-type": "application/json", "retry-after": 30},
            "multiValueHeaders": {"content-type": ["application/json"], "x-multi": ["a", "b"]},
            "cookies": ["a=1", "b=2"],
            "body": "{\"id\":1}",
            "isBase64Encoded": false
        }));
        assert_eq!(response.status(), StatusCode::CREATED);
        let headers = response.headers();
        assert_eq!(headers.get_all(header::CONTENT_TYPE).iter().count(), 1);
        assert_eq!(headers["retry-after"], "30");
        assert_eq!(headers.get_all("x-multi").iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(headers.get_all(header::SET_COOKIE).iter().collect::<Vec<_>>(), ["a=1", "b=2"]);
        assert_eq!(body_of(response).await, b"{\"id\":1}");
    }

    #[tokio::test]
    async fn a_base64_body_is_decoded() {
        let response = lambda_response(json!({"statusCode": 200, "body": "/wA=", "isBase64Encoded": true}));
        assert_eq!(body_of(response).await, [0xff, 0x00]);
    }

    #[tokio::test]
    async fn a_response_without_status_is_inferred_as_json() {
        let response = lambda_response(json!({"hello": "world"}));
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(body_of(response).await, br#"{"hello":"world"}"#);
    }

    #[tokio::test]
    async fn a_malformed_response_is_an_internal_server_error() {
        for bad in [
            json!({"statusCode": 1}),
            json!({"statusCode": "abc"}),
            json!({"statusCode": 200, "body": "%%%", "isBase64Encoded": true}),
            json!({"statusCode": 200, "headers": {"bad header": "x"}}),
            json!({"statusCode": 200, "body": {"not": "a string"}}),
        ] {
            let response = lambda_response(bad.clone());
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR, "{bad}");
            assert_eq!(body_of(response).await, br#"{"message":"Internal Server Error"}"#);
        }
    }
}
