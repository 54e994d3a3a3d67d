//! The Lambda events API Gateway sends, built from plain request data (no I/O here).
//!
//! WebSocket events follow what API Gateway sends to Lambda proxy integrations of a WebSocket
//! API (`$connect`, `MESSAGE`, `$disconnect`, and the REQUEST authorizer event); HTTP events
//! follow payload format 2.0 (the request and the Lambda authorizer's event). Every event
//! deserializes into its `aws_lambda_events` type, which the handlers use.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chat_shared::routes::{HttpRoute, WsRoute, ws_route, ws_route_exact};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::ids;

/// The AWS account id the emulator pretends to run in (used in ARNs and `accountId`).
pub const ACCOUNT_ID: &str = "123456789012";

/// The stage of an HTTP API with automatic deployment (no path prefix).
pub const HTTP_STAGE: &str = "$default";

/// `requestContext.requestTime` / `time`: `24/Nov/2026:06:03:04 +0000`.
pub fn request_time(at: DateTime<Utc>) -> String {
    at.format("%d/%b/%Y:%H:%M:%S +0000").to_string()
}

/// Name/value pairs in arrival order (header names lower-cased), as events list them.
pub type Pairs = [(String, String)];

/// `{name: value}`, the last value winning (REST-style `headers`, `queryStringParameters`).
pub fn last_value_map(pairs: &Pairs) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()
}

/// `{name: [values]}` (`multiValueHeaders`, `multiValueQueryStringParameters`).
pub fn multi_value_map(pairs: &Pairs) -> Map<String, Value> {
    let mut map = Map::new();
    for (k, v) in pairs {
        let entry = map.entry(k.clone()).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(values) = entry {
            values.push(Value::String(v.clone()));
        }
    }
    map
}

/// `{name: "v1,v2"}`, repeated values comma-joined (payload format 2.0).
pub fn comma_joined_map(pairs: &Pairs) -> Map<String, Value> {
    let mut map = Map::new();
    for (k, v) in pairs {
        match map.get_mut(k) {
            Some(Value::String(joined)) => {
                joined.push(',');
                joined.push_str(v);
            }
            _ => {
                map.insert(k.clone(), Value::String(v.clone()));
            }
        }
    }
    map
}

pub use chat_shared::edge::query::{percent_decode, query_pairs};

/// A frame received on a WebSocket connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameBody {
    Text(String),
    Binary(Vec<u8>),
}

/// The route key `$request.body.action` selects for a frame: the `action` of a JSON object,
/// strings as they are and numbers and booleans as their JSON text. `None` (hence `$default`)
/// for anything else: binary frames, text that is not JSON, JSON that is not an object, an
/// object without `action`, or an `action` that is null, an array or an object.
pub fn route_key(frame: &FrameBody) -> Option<String> {
    let FrameBody::Text(text) = frame else {
        return None;
    };
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) else {
        return None;
    };
    match object.get("action")? {
        Value::String(action) => Some(action.clone()),
        scalar @ (Value::Number(_) | Value::Bool(_)) => Some(scalar.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// The route serving a frame: the route named by its action, else `$default`.
pub fn select_route(frame: &FrameBody) -> &'static WsRoute {
    match route_key(frame) {
        Some(key) => ws_route(&key),
        None => ws_route_exact("$default"),
    }
}

/// What every event of one WebSocket connection shares: who connected, where, and how.
#[derive(Debug, Clone)]
pub struct WsConnection {
    pub connection_id: String,
    pub connected_at: DateTime<Utc>,
    /// `host:port` the client connected to.
    pub domain_name: String,
    /// The gateway's, shared by all its connections.
    pub stage: Arc<str>,
    pub api_id: Arc<str>,
    pub source_ip: String,
    pub user_agent: Option<String>,
}

/// What only the authorizer and `$connect` see of the handshake; the connection does not keep
/// it (the query string holds the token).
#[derive(Debug, Clone)]
pub struct Handshake {
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
}

/// `requestContext.eventType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsEventType {
    Connect,
    Message,
    Disconnect,
}

impl WsEventType {
    fn as_str(self) -> &'static str {
        match self {
            WsEventType::Connect => "CONNECT",
            WsEventType::Message => "MESSAGE",
            WsEventType::Disconnect => "DISCONNECT",
        }
    }
}

/// One request on a connection: its ids and when it arrived.
#[derive(Debug, Clone)]
pub struct WsRequest<'a> {
    pub route_key: &'a str,
    pub event_type: WsEventType,
    pub request_id: String,
    /// Present on `MESSAGE` events only.
    pub message_id: Option<String>,
    pub at: DateTime<Utc>,
}

impl<'a> WsRequest<'a> {
    /// A request with fresh ids (a message id for `MESSAGE` events).
    pub fn new(route_key: &'a str, event_type: WsEventType, at: DateTime<Utc>) -> Self {
        let message_id = (event_type == WsEventType::Message).then(ids::message_id);
        Self { route_key, event_type, request_id: ids::request_id(), message_id, at }
    }
}

fn ws_request_context(
    connection: &WsConnection,
    request: &WsRequest<'_>,
    authorizer: Option<Map<String, Value>>,
) -> Value {
    let mut identity = Map::new();
    identity.insert("sourceIp".into(), json!(connection.source_ip));
    if let Some(agent) = &connection.user_agent {
        identity.insert("userAgent".into(), json!(agent));
    }
    let mut context = json!({
        "routeKey": request.route_key,
        "eventType": request.event_type.as_str(),
        "extendedRequestId": request.request_id,
        "requestTime": request_time(request.at),
        "messageDirection": "IN",
        "stage": &*connection.stage,
        "connectedAt": connection.connected_at.timestamp_millis(),
        "requestTimeEpoch": request.at.timestamp_millis(),
        "identity": identity,
        "requestId": request.request_id,
        "domainName": connection.domain_name,
        "connectionId": connection.connection_id,
        "apiId": &*connection.api_id,
    });
    if let Some(message_id) = &request.message_id {
        context["messageId"] = json!(message_id);
    }
    if let Some(authorizer) = authorizer {
        context["authorizer"] = Value::Object(authorizer);
    }
    context
}

fn insert_pairs(event: &mut Value, single: &str, multi: &str, pairs: &Pairs) {
    if !pairs.is_empty() {
        event[single] = Value::Object(last_value_map(pairs));
        event[multi] = Value::Object(multi_value_map(pairs));
    }
}

/// The REQUEST authorizer event for a `$connect` (what the authorizer of a WebSocket API gets).
pub fn ws_authorizer_event(
    connection: &WsConnection,
    handshake: &Handshake,
    request: &WsRequest<'_>,
    region: &str,
) -> Value {
    let mut event = json!({
        "type": "REQUEST",
        "methodArn": format!(
            "arn:aws:execute-api:{region}:{ACCOUNT_ID}:{}/{}/{}",
            connection.api_id, connection.stage, request.route_key
        ),
        "stageVariables": {},
        "requestContext": ws_request_context(connection, request, None),
    });
    insert_pairs(&mut event, "headers", "multiValueHeaders", &handshake.headers);
    insert_pairs(&mut event, "queryStringParameters", "multiValueQueryStringParameters", &handshake.query);
    event
}

/// The `$connect` event, after the authorizer allowed the connection.
pub fn ws_connect_event(
    connection: &WsConnection,
    handshake: &Handshake,
    request: &WsRequest<'_>,
    authorizer: Map<String, Value>,
) -> Value {
    let mut event = json!({
        "requestContext": ws_request_context(connection, request, Some(authorizer)),
        "isBase64Encoded": false,
    });
    insert_pairs(&mut event, "headers", "multiValueHeaders", &handshake.headers);
    insert_pairs(&mut event, "queryStringParameters", "multiValueQueryStringParameters", &handshake.query);
    event
}

/// A `MESSAGE` event for one frame (binary frames arrive base64-encoded).
pub fn ws_message_event(
    connection: &WsConnection,
    request: &WsRequest<'_>,
    authorizer: Map<String, Value>,
    frame: &FrameBody,
) -> Value {
    let (body, base64) = match frame {
        FrameBody::Text(text) => (text.clone(), false),
        FrameBody::Binary(bytes) => (STANDARD.encode(bytes), true),
    };
    json!({
        "requestContext": ws_request_context(connection, request, Some(authorizer)),
        "body": body,
        "isBase64Encoded": base64,
    })
}

/// The `$disconnect` event, with the close code and reason. Its headers are the four API
/// Gateway sends (`Host` and three empty ones), not the handshake's.
pub fn ws_disconnect_event(
    connection: &WsConnection,
    request: &WsRequest<'_>,
    authorizer: Map<String, Value>,
    status_code: u16,
    reason: &str,
) -> Value {
    let mut context = ws_request_context(connection, request, Some(authorizer));
    context["disconnectStatusCode"] = json!(status_code);
    context["disconnectReason"] = json!(reason);
    let host = &connection.domain_name;
    json!({
        "headers": {"Host": host, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""},
        "multiValueHeaders": {"Host": [host], "x-api-key": [""], "X-Forwarded-For": [""], "x-restapi": [""]},
        "requestContext": context,
        "isBase64Encoded": false,
    })
}

/// What a WebSocket authorizer's IAM policy decided.
#[derive(Debug, Clone, PartialEq)]
pub struct WsAuthorization {
    /// At least one statement allows and none denies.
    pub allowed: bool,
    /// `requestContext.authorizer` for every later event of the connection: the policy's
    /// `context` (scalar values only, as API Gateway requires), `principalId` and
    /// `integrationLatency` (milliseconds the authorizer took).
    pub context: Map<String, Value>,
}

/// Reads an authorizer's answer (`{principalId, policyDocument: {Statement}, context}`).
pub fn ws_authorization(response: &Value, integration_latency_ms: u64) -> WsAuthorization {
    let statements = match response.pointer("/policyDocument/Statement") {
        Some(Value::Array(statements)) => statements.clone(),
        Some(statement @ Value::Object(_)) => vec![statement.clone()],
        _ => Vec::new(),
    };
    let effect = |wanted: &str| {
        statements
            .iter()
            .any(|s| s.get("Effect").and_then(Value::as_str).is_some_and(|e| e.eq_ignore_ascii_case(wanted)))
    };
    let allowed = effect("Allow") && !effect("Deny");
    let mut context = Map::new();
    if let Some(Value::Object(fields)) = response.get("context") {
        for (k, v) in fields {
            if matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
                context.insert(k.clone(), v.clone());
            } else {
                tracing::warn!(key = %k, "authorizer context values must be strings, numbers or booleans; dropped");
            }
        }
    }
    if let Some(principal) = response.get("principalId").filter(|p| !p.is_null()) {
        context.insert("principalId".into(), principal.clone());
    }
    context.insert("integrationLatency".into(), json!(integration_latency_ms));
    WsAuthorization { allowed, context }
}

/// The frame a two-way route sends back: the response's `body` (decoded when
/// `isBase64Encoded`), as text when it is UTF-8. `None` when there is no body.
pub fn route_response(response: &Value) -> Option<FrameBody> {
    let body = match response.get("body")? {
        Value::Null => return None,
        Value::String(body) => body.clone(),
        other => other.to_string(),
    };
    if response.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        let bytes = STANDARD.decode(body.as_bytes()).ok()?;
        return Some(match String::from_utf8(bytes) {
            Ok(text) => FrameBody::Text(text),
            Err(e) => FrameBody::Binary(e.into_bytes()),
        });
    }
    Some(FrameBody::Text(body))
}

/// One HTTP API request, as received.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    pub raw_path: String,
    pub raw_query: String,
    /// Lower-cased names, in arrival order.
    pub headers: Vec<(String, String)>,
    pub protocol: String,
    pub source_ip: String,
    /// `host:port` the client addressed.
    pub domain_name: String,
    pub body: Vec<u8>,
    pub request_id: String,
    pub at: DateTime<Utc>,
}

impl HttpRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// An HTTP route's key, `"POST /conversations"`.
pub fn http_route_key(route: &HttpRoute) -> String {
    format!("{} {}", route.method, route.path)
}

/// The parts of a v2 event shared by the request and the authorizer's event.
fn http_common(request: &HttpRequest, route: &HttpRoute, params: &[(String, String)], api_id: &str) -> Value {
    let route_key = http_route_key(route);
    let cookies: Vec<String> = request
        .headers
        .iter()
        .filter(|(k, _)| k == "cookie")
        .flat_map(|(_, v)| v.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    let headers: Vec<(String, String)> = request.headers.iter().filter(|(k, _)| k != "cookie").cloned().collect();
    let query = query_pairs(&request.raw_query);
    let domain_prefix = request.domain_name.split(['.', ':']).next().unwrap_or_default();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
        "headers": comma_joined_map(&headers),
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": api_id,
            "domainName": request.domain_name,
            "domainPrefix": domain_prefix,
            "http": {
                "method": request.method,
                "path": request.raw_path,
                "protocol": request.protocol,
                "sourceIp": request.source_ip,
                "userAgent": request.header("user-agent").unwrap_or_default(),
            },
            "requestId": request.request_id,
            "routeKey": route_key,
            "stage": HTTP_STAGE,
            "time": request_time(request.at),
            "timeEpoch": request.at.timestamp_millis(),
        },
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(comma_joined_map(&query));
    }
    if !params.is_empty() {
        event["pathParameters"] = Value::Object(last_value_map(params));
    }
    event
}

/// The Lambda authorizer's event (payload format 2.0, identity source `$request.header.Authorization`).
pub fn http_authorizer_event(
    request: &HttpRequest,
    route: &HttpRoute,
    params: &[(String, String)],
    api_id: &str,
    region: &str,
    identity_source: &str,
) -> Value {
    let mut event = http_common(request, route, params, api_id);
    event["type"] = json!("REQUEST");
    event["routeArn"] = json!(format!(
        "arn:aws:execute-api:{region}:{ACCOUNT_ID}:{api_id}/{HTTP_STAGE}/{}{}",
        route.method, request.raw_path
    ));
    event["identitySource"] = json!([identity_source]);
    event
}

/// The request event (payload format 2.0) with the authorizer's context under `lambda`.
pub fn http_event(
    request: &HttpRequest,
    route: &HttpRoute,
    params: &[(String, String)],
    api_id: &str,
    authorizer_context: &Value,
) -> Value {
    let mut event = http_common(request, route, params, api_id);
    let context = if authorizer_context.is_object() { authorizer_context.clone() } else { json!({}) };
    event["requestContext"]["authorizer"] = json!({ "lambda": context });
    let (body, base64) = match std::str::from_utf8(&request.body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (STANDARD.encode(&request.body), true),
    };
    if !request.body.is_empty() {
        event["body"] = json!(body);
    }
    event["isBase64Encoded"] = json!(base64);
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayWebsocketProxyRequest};
    use chat_shared::routes::{Function, match_http};
    use chrono::TimeZone;

    fn text(s: &str) -> FrameBody {
        FrameBody::Text(s.to_owned())
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 6, 3, 4).single().expect("a valid time")
    }

    fn connection() -> WsConnection {
        WsConnection {
            connection_id: "L0SM9cOFvHcCIhw=".into(),
            connected_at: at(),
            domain_name: "127.0.0.1:3001".into(),
            stage: "local".into(),
            api_id: "chatlocal1".into(),
            source_ip: "127.0.0.1".into(),
            user_agent: Some("test-agent".into()),
        }
    }

    fn handshake() -> Handshake {
        Handshake {
            headers: vec![
                ("host".into(), "127.0.0.1:3001".into()),
                ("sec-websocket-version".into(), "13".into()),
                ("x-dup".into(), "a".into()),
                ("x-dup".into(), "b".into()),
            ],
            query: vec![("token".into(), "t0k".into())],
        }
    }

    fn authorizer() -> Map<String, Value> {
        let policy = json!({
            "principalId": "u1",
            "policyDocument": {"Version": "2012-10-17", "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"}]},
            "context": {"userId": "0190a8e4-0000-7000-8000-000000000001", "displayName": "alice"}
        });
        ws_authorization(&policy, 3).context
    }

    #[test]
    fn the_action_selects_the_route() {
        assert_eq!(select_route(&text(r#"{"action":"message:send"}"#)).function, Function::WsSendMessage);
        assert_eq!(select_route(&text(r#"{"action":"nope"}"#)).route_key, "$default");
        assert_eq!(select_route(&text(r#"{"action":"$connect"}"#)).route_key, "$default");
    }

    #[test]
    fn numbers_and_booleans_select_by_their_json_text() {
        assert_eq!(route_key(&text(r#"{"action":42}"#)).as_deref(), Some("42"));
        assert_eq!(route_key(&text(r#"{"action":1.5}"#)).as_deref(), Some("1.5"));
        assert_eq!(route_key(&text(r#"{"action":true}"#)).as_deref(), Some("true"));
        assert_eq!(select_route(&text(r#"{"action":42}"#)).route_key, "$default");
    }

    #[test]
    fn frames_without_a_usable_action_go_to_default() {
        for frame in [
            "not json",
            "",
            "[1,2]",
            "\"message:send\"",
            "{}",
            r#"{"action":null}"#,
            r#"{"action":["message:send"]}"#,
            r#"{"action":{"a":1}}"#,
        ] {
            assert_eq!(route_key(&text(frame)), None, "{frame}");
            assert_eq!(select_route(&text(frame)).route_key, "$default", "{frame}");
        }
    }

    #[test]
    fn binary_frames_go_to_default_even_when_they_hold_json() {
        let frame = FrameBody::Binary(br#"{"action":"message:send"}"#.to_vec());
        assert_eq!(select_route(&frame).route_key, "$default");
    }

    #[test]
    fn request_time_uses_api_gateways_format() {
        assert_eq!(request_time(at()), "24/Nov/2026:06:03:04 +0000");
    }

    #[test]
    fn the_authorizer_event_carries_the_method_arn_and_the_token() {
        let c = connection();
        let request = WsRequest::new("$connect", WsEventType::Connect, at());
        let event = ws_authorizer_event(&c, &handshake(), &request, "eu-west-1");
        assert_eq!(event["type"], "REQUEST");
        assert_eq!(event["methodArn"], "arn:aws:execute-api:eu-west-1:123456789012:chatlocal1/local/$connect");
        assert_eq!(event["queryStringParameters"]["token"], "t0k");
        assert_eq!(event["multiValueQueryStringParameters"]["token"], json!(["t0k"]));
        assert_eq!(event["multiValueHeaders"]["x-dup"], json!(["a", "b"]));
        assert!(event["requestContext"].get("authorizer").is_none());
        let parsed: ApiGatewayWebsocketProxyRequest = serde_json::from_value(event).expect("a WebSocket event");
        assert_eq!(parsed.request_context.route_key.as_deref(), Some("$connect"));
    }

    #[test]
    fn a_connect_event_deserializes_with_the_authorizer_context() {
        let c = connection();
        let request = WsRequest::new("$connect", WsEventType::Connect, at());
        let event = ws_connect_event(&c, &handshake(), &request, authorizer());
        let parsed: ApiGatewayWebsocketProxyRequest = serde_json::from_value(event.clone()).expect("a CONNECT event");
        let ctx = &parsed.request_context;
        assert_eq!(ctx.event_type.as_deref(), Some("CONNECT"));
        assert_eq!(ctx.route_key.as_deref(), Some("$connect"));
        assert_eq!(ctx.connection_id.as_deref(), Some("L0SM9cOFvHcCIhw="));
        assert_eq!(ctx.connected_at, at().timestamp_millis());
        assert_eq!(ctx.request_time_epoch, at().timestamp_millis());
        assert_eq!(ctx.request_time.as_deref(), Some("24/Nov/2026:06:03:04 +0000"));
        assert_eq!(ctx.message_direction.as_deref(), Some("IN"));
        assert_eq!(ctx.stage.as_deref(), Some("local"));
        assert_eq!(ctx.apiid.as_deref(), Some("chatlocal1"));
        assert_eq!(ctx.domain_name.as_deref(), Some("127.0.0.1:3001"));
        assert_eq!(ctx.identity.source_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(ctx.identity.user_agent.as_deref(), Some("test-agent"));
        assert_eq!(ctx.message_id, None);
        assert_eq!(ctx.authorizer.fields["displayName"], "alice");
        assert_eq!(ctx.authorizer.fields["principalId"], "u1");
        assert_eq!(ctx.authorizer.fields["integrationLatency"], 3);
        assert_eq!(parsed.query_string_parameters.first("token"), Some("t0k"));
        assert_eq!(parsed.headers.get("host").and_then(|h| h.to_str().ok()), Some("127.0.0.1:3001"));
        assert_eq!(event["requestContext"]["requestId"], event["requestContext"]["extendedRequestId"]);
    }

    #[test]
    fn a_message_event_deserializes_with_body_and_message_id() {
        let c = connection();
        let request = WsRequest::new("message:send", WsEventType::Message, at());
        let event = ws_message_event(&c, &request, authorizer(), &text(r#"{"action":"message:send"}"#));
        let parsed: ApiGatewayWebsocketProxyRequest = serde_json::from_value(event).expect("a MESSAGE event");
        assert_eq!(parsed.request_context.event_type.as_deref(), Some("MESSAGE"));
        assert_eq!(parsed.request_context.route_key.as_deref(), Some("message:send"));
        assert_eq!(parsed.request_context.message_id.as_ref().map(String::len), Some(16));
        assert_eq!(parsed.body.as_deref(), Some(r#"{"action":"message:send"}"#));
        assert!(!parsed.is_base64_encoded);
        assert_eq!(parsed.request_context.authorizer.fields["userId"], "0190a8e4-0000-7000-8000-000000000001");
    }

    #[test]
    fn a_binary_message_event_is_base64_encoded() {
        let c = connection();
        let request = WsRequest::new("$default", WsEventType::Message, at());
        let event = ws_message_event(&c, &request, authorizer(), &FrameBody::Binary(vec![0xff, 0x00]));
        let parsed: ApiGatewayWebsocketProxyRequest = serde_json::from_value(event).expect("a MESSAGE event");
        assert!(parsed.is_base64_encoded);
        assert_eq!(parsed.body.as_deref(), Some("/wA="));
    }

    #[test]
    fn a_disconnect_event_deserializes_with_the_close_status() {
        let c = connection();
        let request = WsRequest::new("$disconnect", WsEventType::Disconnect, at());
        let event = ws_disconnect_event(&c, &request, authorizer(), 1005, "Client-side close frame status not set");
        assert!(event.get("queryStringParameters").is_none());
        // Not the handshake's headers: the four API Gateway sends with every `$disconnect`.
        assert_eq!(
            event["headers"],
            json!({"Host": "127.0.0.1:3001", "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""})
        );
        assert_eq!(event["multiValueHeaders"]["Host"], json!(["127.0.0.1:3001"]));
        let parsed: ApiGatewayWebsocketProxyRequest = serde_json::from_value(event).expect("a DISCONNECT event");
        assert_eq!(parsed.request_context.event_type.as_deref(), Some("DISCONNECT"));
        assert_eq!(parsed.request_context.disconnect_status_code, Some(1005));
        assert_eq!(parsed.request_context.disconnect_reason.as_deref(), Some("Client-side close frame status not set"));
        assert_eq!(parsed.request_context.authorizer.fields["displayName"], "alice");
    }

    #[test]
    fn a_policy_allows_only_without_a_deny() {
        let policy = |effects: &[&str]| {
            let statements: Vec<Value> = effects.iter().map(|e| json!({"Effect": e})).collect();
            json!({"principalId": "p", "policyDocument": {"Statement": statements}})
        };
        assert!(ws_authorization(&policy(&["Allow"]), 0).allowed);
        assert!(!ws_authorization(&policy(&["Deny"]), 0).allowed);
        assert!(!ws_authorization(&policy(&["Allow", "Deny"]), 0).allowed);
        assert!(!ws_authorization(&policy(&[]), 0).allowed);
        assert!(!ws_authorization(&json!("garbage"), 0).allowed);
        let single = json!({"policyDocument": {"Statement": {"Effect": "Allow"}}});
        assert!(ws_authorization(&single, 0).allowed);
    }

    #[test]
    fn only_scalar_context_values_reach_the_events() {
        let policy = json!({"principalId": "p", "policyDocument": {"Statement": [{"Effect": "Allow"}]},
                            "context": {"s": "x", "n": 1, "b": true, "o": {"x": 1}, "a": [1]}});
        let context = ws_authorization(&policy, 7).context;
        let mut keys: Vec<&str> = context.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["b", "integrationLatency", "n", "principalId", "s"]);
    }

    #[test]
    fn route_responses_send_the_body_decoded() {
        assert_eq!(route_response(&json!({"statusCode": 200, "body": "{\"a\":1}"})), Some(text("{\"a\":1}")));
        assert_eq!(
            route_response(&json!({"statusCode": 200, "body": "aGk=", "isBase64Encoded": true})),
            Some(text("hi"))
        );
        assert_eq!(
            route_response(&json!({"body": "/wA=", "isBase64Encoded": true})),
            Some(FrameBody::Binary(vec![0xff, 0x00]))
        );
        assert_eq!(route_response(&json!({"statusCode": 200})), None);
        assert_eq!(route_response(&json!({"statusCode": 200, "body": null})), None);
    }

    #[test]
    fn percent_decoding_handles_escapes_plus_and_garbage() {
        assert_eq!(percent_decode("abc%3D", false), "abc=");
        assert_eq!(percent_decode("a+b%2Fc", false), "a+b/c");
        assert_eq!(percent_decode("a+b", true), "a b");
        assert_eq!(percent_decode("100%", false), "100%");
        assert_eq!(percent_decode("%zz%4", false), "%zz%4");
        assert_eq!(percent_decode("%ff", false), "\u{fffd}");
        assert_eq!(
            query_pairs("a=1&b=x%20y&a=2&flag&="),
            [
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "x y".to_owned()),
                ("a".to_owned(), "2".to_owned()),
                ("flag".to_owned(), String::new()),
                (String::new(), String::new()),
            ]
        );
    }

    fn http_request(body: &[u8]) -> HttpRequest {
        HttpRequest {
            method: "POST".into(),
            raw_path: "/conversations".into(),
            raw_query: "x=1&x=2&y=%20".into(),
            headers: vec![
                ("host".into(), "127.0.0.1:3000".into()),
                ("authorization".into(), "Bearer t0k".into()),
                ("user-agent".into(), "curl/8".into()),
                ("accept".into(), "a".into()),
                ("accept".into(), "b".into()),
                ("cookie".into(), "c1=1; c2=2".into()),
            ],
            protocol: "HTTP/1.1".into(),
            source_ip: "127.0.0.1".into(),
            domain_name: "127.0.0.1:3000".into(),
            body: body.to_vec(),
            request_id: "JKJaXmPLvHcESHA=".into(),
            at: at(),
        }
    }

    #[test]
    fn an_http_event_deserializes_into_the_v2_request() {
        let (route, params) = match_http("POST", "/conversations").expect("the route");
        let context = json!({"userId": "0190a8e4-0000-7000-8000-000000000001", "displayName": "alice"});
        let event = http_event(&http_request(br#"{"participantId":"x"}"#), route, &params, "chatlocal1", &context);
        let parsed: ApiGatewayV2httpRequest = serde_json::from_value(event.clone()).expect("a v2 request");
        assert_eq!(parsed.version.as_deref(), Some("2.0"));
        assert_eq!(parsed.route_key.as_deref(), Some("POST /conversations"));
        assert_eq!(parsed.raw_path.as_deref(), Some("/conversations"));
        assert_eq!(parsed.raw_query_string.as_deref(), Some("x=1&x=2&y=%20"));
        assert_eq!(parsed.query_string_parameters.first("y"), Some(" "));
        assert_eq!(event["queryStringParameters"]["x"], "1,2");
        assert_eq!(event["headers"]["accept"], "a,b");
        assert!(event["headers"].get("cookie").is_none());
        assert_eq!(parsed.cookies, Some(vec!["c1=1".to_owned(), "c2=2".to_owned()]));
        let ctx = &parsed.request_context;
        assert_eq!(ctx.http.method, http::Method::POST);
        assert_eq!(ctx.http.path.as_deref(), Some("/conversations"));
        assert_eq!(ctx.http.source_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(ctx.http.user_agent.as_deref(), Some("curl/8"));
        assert_eq!(ctx.stage.as_deref(), Some("$default"));
        assert_eq!(ctx.time_epoch, at().timestamp_millis());
        assert_eq!(ctx.time.as_deref(), Some("24/Nov/2026:06:03:04 +0000"));
        assert_eq!(ctx.apiid.as_deref(), Some("chatlocal1"));
        let authorizer = ctx.authorizer.as_ref().expect("the authorizer context");
        assert_eq!(authorizer.fields["displayName"], "alice");
        assert_eq!(parsed.body.as_deref(), Some(r#"{"participantId":"x"}"#));
        assert!(!parsed.is_base64_encoded);
    }

    #[test]
    fn a_binary_http_body_is_base64_encoded_and_an_empty_one_is_absent() {
        let (route, params) = match_http("POST", "/conversations").expect("the route");
        let event = http_event(&http_request(&[0xff]), route, &params, "a", &json!({}));
        assert_eq!(event["body"], "/w==");
        assert_eq!(event["isBase64Encoded"], true);
        let event = http_event(&http_request(b""), route, &params, "a", &json!({}));
        assert!(event.get("body").is_none());
        let parsed: ApiGatewayV2httpRequest = serde_json::from_value(event).expect("a v2 request");
        assert_eq!(parsed.body, None);
    }

    #[test]
    fn the_http_authorizer_event_names_the_route_and_identity_source() {
        let (route, params) = match_http("POST", "/conversations").expect("the route");
        let event =
            http_authorizer_event(&http_request(b"{}"), route, &params, "chatlocal1", "us-east-1", "Bearer t0k");
        assert_eq!(event["version"], "2.0");
        assert_eq!(event["type"], "REQUEST");
        assert_eq!(
            event["routeArn"],
            "arn:aws:execute-api:us-east-1:123456789012:chatlocal1/$default/POST/conversations"
        );
        assert_eq!(event["identitySource"], json!(["Bearer t0k"]));
        assert_eq!(event["routeKey"], "POST /conversations");
        assert_eq!(event["headers"]["authorization"], "Bearer t0k");
        assert!(event.get("body").is_none());
    }
}
