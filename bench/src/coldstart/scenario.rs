//! The world the functions run against, their events, and the checks of their answers.
//!
//! [`World::setup`] makes real state through the same code the functions run: an in-process
//! `chat-local` (whose management API the functions push to), two users (`alice`, `bob`) with
//! open WebSockets on it (their `$connect` registers them in DynamoDB and upserts them, so
//! pushes reach real sockets and answer 200), their conversation and 40 seeded messages in
//! PostgreSQL. Every event is built by `chat_local::events`, the builders the emulator's
//! gateway uses, with the authorizer context the real authorizer handler gives; and every
//! answer is checked ([`check_response`]) so the benchmark cannot time an error path.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chat_local::events::{
    self, FrameBody, Handshake, HttpRequest, WsConnection, WsEventType, WsRequest, http_authorizer_event, http_event,
    ws_authorization, ws_authorizer_event, ws_connect_event, ws_disconnect_event, ws_message_event,
};
use chat_local::ids;
use chat_shared::auth::{Identity, issue_dev_token};
use chat_shared::config::Config;
use chat_shared::domain::{ConnectionId, ConversationId, MessageContent, MessageId, Participants, UserId};
use chat_shared::edge::{Authorizer, Handler, Services};
use chat_shared::ports::{Connection, ConnectionRegistry, ConversationStore, GetOrCreate, MessageStore, NewMessage};
use chat_shared::routes::{Function, match_http};
use chrono::Utc;
use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use tokio::task::JoinHandle;

use crate::Error;

/// Messages seeded in the conversation, so history, sync and search return full answers.
pub const SEEDED_MESSAGES: usize = 40;

/// The word every seeded message holds (the search query).
pub const SEARCH_TERM: &str = "lambda";

/// A user as the functions see them: the token, the authorizer's context, a connection.
#[derive(Debug, Clone)]
pub struct Caller {
    pub identity: Identity,
    pub token: String,
    /// Their WebSocket connection (for alice and bob, the real one on the in-process gateway).
    pub connection: WsConnection,
    /// `requestContext.authorizer` of their WebSocket events (from the authorizer's policy).
    pub ws_context: Map<String, Value>,
    /// `requestContext.authorizer.lambda` of their HTTP events (from the authorizer's answer).
    pub http_context: Value,
}

/// Everything the events refer to. Dropping it closes the sockets and stops the gateway.
#[derive(Debug)]
pub struct World {
    services: Services,
    /// `None` once [`World::finish`] shut it down.
    gateway: Option<chat_local::LocalGateway>,
    sockets: Vec<JoinHandle<()>>,
    pushes: Arc<AtomicUsize>,
    region: String,
    api_domain: String,
    /// Sends, types, reads over HTTP, searches.
    pub alice: Caller,
    /// The recipient; marks read and syncs.
    pub bob: Caller,
    /// Connects (`ws-connect`), with a fresh connection id each time.
    pub carol: Caller,
    /// Disconnects (`ws-disconnect`) connections registered for him beforehand.
    pub dave: Caller,
    pub conversation: ConversationId,
    dave_connections: VecDeque<String>,
    /// Connections `ws-connect` registered for carol, removed by [`World::finish`].
    carol_connections: Vec<String>,
    sequence: u64,
}

/// The configuration of the in-process services and gateway: the environment's, with the
/// rate limits raised and no management endpoint (the gateway sets its own).
///
/// # Errors
/// The environment's configuration is invalid.
pub fn bench_config(raised: &[(&str, &str)]) -> Result<Config, Error> {
    let overrides: HashMap<&str, &str> = raised.iter().copied().collect();
    Ok(Config::from_lookup(|k| match overrides.get(k) {
        Some(v) => Some((*v).to_owned()),
        None if k == "APIGW_MANAGEMENT_ENDPOINT" => None,
        None => std::env::var(k).ok(),
    })?)
}

fn connection(api_domain: &str, connection_id: String) -> WsConnection {
    WsConnection {
        connection_id,
        connected_at: Utc::now(),
        domain_name: api_domain.to_owned(),
        stage: "prod".into(),
        api_id: chat_local::DEFAULT_API_ID.into(),
        source_ip: "203.0.113.7".to_owned(),
        user_agent: Some("chat-coldstart".to_owned()),
    }
}

/// The handshake's headers as API Gateway passes them on, and the token in the query.
fn handshake(api_domain: &str, token: &str) -> Handshake {
    let mut headers = vec![
        ("host".to_owned(), api_domain.to_owned()),
        ("sec-websocket-extensions".to_owned(), "permessage-deflate; client_max_window_bits".to_owned()),
        ("sec-websocket-key".to_owned(), "dGhlIHNhbXBsZSBub25jZQ==".to_owned()),
        ("sec-websocket-version".to_owned(), "13".to_owned()),
        ("x-amzn-trace-id".to_owned(), "Root=1-6743a1b2-0123456789abcdef01234567".to_owned()),
        ("x-forwarded-for".to_owned(), "203.0.113.7".to_owned()),
        ("x-forwarded-port".to_owned(), "443".to_owned()),
        ("x-forwarded-proto".to_owned(), "https".to_owned()),
    ];
    headers.sort();
    Handshake { headers, query: vec![("token".to_owned(), token.to_owned())] }
}

/// Answers the authorizer gives `caller` over both APIs, from the real handler.
async fn authorize(
    authorizer: &Authorizer,
    connection: &WsConnection,
    handshake: &Handshake,
    http: &HttpRequest,
    region: &str,
) -> Result<(Map<String, Value>, Value), Error> {
    let request = WsRequest::new("$connect", WsEventType::Connect, Utc::now());
    let ws = ws_authorizer_event(connection, handshake, &request, region);
    let policy = authorizer.handle(ws).await;
    let authorization = ws_authorization(&policy, 3);
    if !authorization.allowed {
        return Err(format!("the authorizer refused a benchmark token: {policy}").into());
    }
    let (route, params) = match_http("GET", "/conversations").ok_or("no route GET /conversations")?;
    let event = http_authorizer_event(http, route, &params, chat_local::DEFAULT_API_ID, region, "Bearer x");
    let answer = authorizer.handle(event).await;
    if answer["isAuthorized"] != true {
        return Err(format!("the HTTP authorizer refused a benchmark token: {answer}").into());
    }
    Ok((authorization.context, answer["context"].clone()))
}

impl World {
    /// Starts the gateway, connects alice and bob, creates their conversation and seeds it.
    /// `tag` makes the user names unique to this run.
    ///
    /// # Errors
    /// A service is unreachable or the schema is missing (`local/services.sh` sets both up).
    pub async fn setup(config: Config, tag: &str) -> Result<World, Error> {
        let services = Services::from_config(config.clone()).await?;
        let region = services.sdk.region().map_or_else(|| "us-east-1".to_owned(), ToString::to_string);
        let api_domain = format!("{}.execute-api.{region}.amazonaws.com", chat_local::DEFAULT_API_ID);
        let options = chat_local::Options {
            ws_addr: "127.0.0.1:0".parse()?,
            http_addr: "127.0.0.1:0".parse()?,
            ..chat_local::Options::default()
        };
        // The sockets must outlive a long run without frames of their own.
        let limits =
            chat_local::Limits { idle_timeout: Duration::from_secs(4 * 3600), ..chat_local::Limits::default() };
        let gateway = chat_local::LocalGateway::start_with(config.clone(), options, limits).await?;
        let authorizer = Authorizer::new(&services.config)?;
        let pushes = Arc::new(AtomicUsize::new(0));
        let mut sockets = Vec::new();

        let mut callers = Vec::with_capacity(4);
        for name in ["alice", "bob", "carol", "dave"] {
            let (identity, token) =
                issue_dev_token(&config.jwt, &format!("coldstart-{tag}-{name}"), Duration::from_secs(4 * 3600))?;
            let connection_id = if matches!(name, "alice" | "bob") {
                // A real socket: its $connect (in-process) registers it; the id is the gateway's.
                let url = format!("{}?token={token}", gateway.ws_url());
                let (socket, _) = tokio_tungstenite::connect_async(url)
                    .await
                    .map_err(|e| format!("{name}'s WebSocket to the in-process chat-local: {e}"))?;
                let pushes = pushes.clone();
                sockets.push(tokio::spawn(async move {
                    let mut socket = socket;
                    while let Some(Ok(_)) = socket.next().await {
                        pushes.fetch_add(1, Ordering::Relaxed);
                    }
                }));
                let ids = services.registry.connections_of(identity.user_id).await?;
                match ids.as_slice() {
                    [one] => one.as_str().to_owned(),
                    other => return Err(format!("{name} should have one connection, has {}", other.len()).into()),
                }
            } else {
                ids::connection_id()
            };
            let connection = connection(&api_domain, connection_id);
            let http = http_request(&api_domain, "GET", "/conversations", "", &token, Vec::new());
            let (ws_context, http_context) =
                authorize(&authorizer, &connection, &handshake(&api_domain, &token), &http, &region).await?;
            callers.push(Caller { identity, token, connection, ws_context, http_context });
        }
        let [alice, bob, carol, dave]: [Caller; 4] = callers.try_into().map_err(|_| "four callers")?;

        let participants =
            Participants::new(alice.identity.user_id, bob.identity.user_id).ok_or("alice and bob are one user")?;
        let conversation = match services.store.get_or_create_conversation(participants, alice.identity.user_id).await?
        {
            GetOrCreate::Created(summary) | GetOrCreate::Found(summary) => summary.conversation.id,
            GetOrCreate::UnknownUser => return Err("bob is not a known user after his $connect".into()),
        };
        let world = World {
            services,
            gateway: Some(gateway),
            sockets,
            pushes,
            region,
            api_domain,
            alice,
            bob,
            carol,
            dave,
            conversation,
            dave_connections: VecDeque::new(),
            carol_connections: Vec::new(),
            sequence: 0,
        };
        for n in 0..SEEDED_MESSAGES {
            let sender = if n % 3 == 2 { world.bob.identity.user_id } else { world.alice.identity.user_id };
            world
                .append(sender, &format!("seed {n}: the {SEARCH_TERM} cold start numbers are in, see the table"))
                .await?;
        }
        Ok(world)
    }

    /// Stores a message directly (untimed preparation, not through a function).
    async fn append(&self, sender: UserId, content: &str) -> Result<(), Error> {
        let message = NewMessage {
            id: MessageId::new_v7(),
            conversation_id: self.conversation,
            sender_id: sender,
            content: MessageContent::parse(content)?,
            client_message_id: None,
        };
        self.services.store.append_message(message).await?;
        Ok(())
    }

    /// The management API the functions push to (this gateway's).
    pub fn management_url(&self) -> String {
        self.gateway.as_ref().map(chat_local::LocalGateway::management_url).unwrap_or_default()
    }

    /// The AWS region of the events and the functions.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Frames the WebSocket clients received (pushes from the functions, through the gateway).
    pub fn pushes_received(&self) -> usize {
        self.pushes.load(Ordering::Relaxed)
    }

    /// Untimed work before a function's runs: `ws-disconnect` gets `count` registered
    /// connections of dave's to forget.
    ///
    /// # Errors
    /// DynamoDB fails.
    pub async fn prepare(&mut self, function: Function, count: usize) -> Result<(), Error> {
        if function == Function::WsDisconnect {
            let now = Utc::now();
            for _ in 0..count {
                let id = ids::connection_id();
                let connection = Connection {
                    connection_id: ConnectionId::new(id.clone()),
                    user_id: self.dave.identity.user_id,
                    connected_at: now,
                    expires_at: now + chrono::TimeDelta::hours(2),
                };
                self.services.registry.register(&connection).await?;
                self.dave_connections.push_back(id);
            }
        }
        Ok(())
    }

    /// Untimed work before each invocation: a read receipt needs something new to read, so
    /// alice sends bob a message first (stored directly).
    ///
    /// # Errors
    /// PostgreSQL fails.
    pub async fn before_invocation(&mut self, function: Function) -> Result<(), Error> {
        if matches!(function, Function::WsMarkRead | Function::HttpMarkRead) {
            self.append(self.alice.identity.user_id, "one more to read").await?;
        }
        Ok(())
    }

    /// Checks after a function's runs that it did its work where the answer cannot tell:
    /// every connection `ws-disconnect` was given is gone from DynamoDB.
    ///
    /// # Errors
    /// Some work is missing, or DynamoDB fails.
    pub async fn verify(&self, function: Function) -> Result<(), Error> {
        if function == Function::WsDisconnect {
            let left = self.services.registry.connections_of(self.dave.identity.user_id).await?;
            if !left.is_empty() {
                return Err(format!("ws-disconnect left {} of the connections it was given", left.len()).into());
            }
        }
        Ok(())
    }

    /// Leaves DynamoDB as it was: removes the connections `ws-connect` registered and any
    /// prepared one `ws-disconnect` did not get to, then shuts the gateway down (alice's and
    /// bob's sockets close and their `$disconnect` runs). Left behind, they would pile up in
    /// carol's and dave's items from one run to the next.
    ///
    /// # Errors
    /// DynamoDB fails.
    pub async fn finish(mut self) -> Result<(), Error> {
        let (carol, dave) = (self.carol.identity.user_id, self.dave.identity.user_id);
        let leftovers: Vec<(UserId, String)> = (self.carol_connections.drain(..).map(|id| (carol, id)))
            .chain(self.dave_connections.drain(..).map(|id| (dave, id)))
            .collect();
        for (user, id) in leftovers {
            self.services.registry.remove(user, &ConnectionId::new(id)).await?;
        }
        if let Some(gateway) = self.gateway.take() {
            gateway.shutdown().await;
        }
        Ok(())
    }

    /// The event of `function`'s next invocation.
    ///
    /// # Errors
    /// `ws-disconnect` has no prepared connection left.
    pub fn event(&mut self, function: Function) -> Result<Value, Error> {
        self.sequence += 1;
        let n = self.sequence;
        let now = Utc::now();
        let conversation = self.conversation.to_string();
        let frame = |caller: &Caller, action: &str, fields: Value| {
            let mut body = json!({"action": action, "requestId": format!("{action}-{n}")});
            if let (Value::Object(body), Value::Object(fields)) = (&mut body, fields) {
                body.extend(fields);
            }
            let frame = FrameBody::Text(body.to_string());
            let route = events::select_route(&frame).route_key;
            let request = WsRequest::new(route, WsEventType::Message, now);
            ws_message_event(&caller.connection, &request, caller.ws_context.clone(), &frame)
        };
        let http = |caller: &Caller, method: &str, path: &str, query: &str, body: &str| -> Result<Value, Error> {
            let request = http_request(&self.api_domain, method, path, query, &caller.token, body.as_bytes().to_vec());
            let (route, params) = match_http(method, path).ok_or_else(|| format!("no route for {method} {path}"))?;
            Ok(http_event(&request, route, &params, chat_local::DEFAULT_API_ID, &caller.http_context))
        };
        Ok(match function {
            Function::Authorizer => {
                let request = WsRequest::new("$connect", WsEventType::Connect, now);
                let handshake = handshake(&self.api_domain, &self.alice.token);
                ws_authorizer_event(&self.alice.connection, &handshake, &request, &self.region)
            }
            Function::WsConnect => {
                let id = ids::connection_id();
                self.carol_connections.push(id.clone());
                let connection = connection(&self.api_domain, id);
                let request = WsRequest::new("$connect", WsEventType::Connect, now);
                ws_connect_event(
                    &connection,
                    &handshake(&self.api_domain, &self.carol.token),
                    &request,
                    self.carol.ws_context.clone(),
                )
            }
            Function::WsDisconnect => {
                let id = self.dave_connections.pop_front().ok_or("no prepared connection left to disconnect")?;
                let connection = connection(&self.api_domain, id);
                let request = WsRequest::new("$disconnect", WsEventType::Disconnect, now);
                ws_disconnect_event(&connection, &request, self.dave.ws_context.clone(), 1001, "Going away")
            }
            Function::WsDefault => frame(&self.alice, "ping", json!({})),
            Function::WsSendMessage => frame(
                &self.alice,
                "message:send",
                json!({
                    "conversationId": conversation,
                    "content": format!("message {n}: how long does a {SEARCH_TERM} take to start cold?"),
                    "clientMessageId": format!("coldstart-{n}"),
                }),
            ),
            Function::WsTyping => frame(&self.alice, "typing:start", json!({"conversationId": conversation})),
            Function::WsMarkRead => frame(&self.bob, "message:mark_read", json!({"conversationId": conversation})),
            Function::WsSync => {
                frame(&self.bob, "conversation:sync", json!({"conversationId": conversation, "afterSeq": 0}))
            }
            Function::HttpCreateConversation => {
                let body = json!({"participantId": self.bob.identity.user_id.to_string()}).to_string();
                http(&self.alice, "POST", "/conversations", "", &body)?
            }
            Function::HttpListConversations => http(&self.alice, "GET", "/conversations", "limit=20", "")?,
            Function::HttpGetMessages => {
                http(&self.alice, "GET", &format!("/conversations/{conversation}/messages"), "limit=50", "")?
            }
            Function::HttpMarkRead => http(&self.bob, "POST", &format!("/conversations/{conversation}/read"), "", "")?,
            Function::HttpSearchMessages => {
                http(&self.alice, "GET", "/messages/search", &format!("q={SEARCH_TERM}&limit=20"), "")?
            }
            // What `sam remote invoke MigrateFunction` sends; the schema is current, so a no-op.
            Function::Migrate => json!({}),
        })
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for socket in &self.sockets {
            socket.abort();
        }
    }
}

/// An HTTP API request as API Gateway receives it from a client.
fn http_request(domain: &str, method: &str, path: &str, query: &str, token: &str, body: Vec<u8>) -> HttpRequest {
    let mut headers = vec![
        ("accept".to_owned(), "application/json".to_owned()),
        ("authorization".to_owned(), format!("Bearer {token}")),
        ("host".to_owned(), domain.to_owned()),
        ("user-agent".to_owned(), "chat-coldstart".to_owned()),
        ("x-amzn-trace-id".to_owned(), "Root=1-6743a1b2-0123456789abcdef01234567".to_owned()),
        ("x-forwarded-for".to_owned(), "203.0.113.7".to_owned()),
        ("x-forwarded-port".to_owned(), "443".to_owned()),
        ("x-forwarded-proto".to_owned(), "https".to_owned()),
    ];
    if !body.is_empty() {
        headers.push(("content-length".to_owned(), body.len().to_string()));
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
    }
    HttpRequest {
        method: method.to_owned(),
        raw_path: path.to_owned(),
        raw_query: query.to_owned(),
        headers,
        protocol: "HTTP/1.1".to_owned(),
        source_ip: "203.0.113.7".to_owned(),
        domain_name: domain.to_owned(),
        body,
        request_id: ids::request_id(),
        at: Utc::now(),
    }
}

/// The parsed JSON `body` of a proxy response.
fn json_body(response: &Value) -> Result<Value, String> {
    let body = response.get("body").and_then(Value::as_str).ok_or_else(|| format!("no body in {response}"))?;
    serde_json::from_str(body).map_err(|e| format!("the body is not JSON ({e}): {body}"))
}

fn non_empty_array(value: &Value, what: &str) -> Result<(), String> {
    match value.as_array() {
        Some(items) if !items.is_empty() => Ok(()),
        _ => Err(format!("expected a non-empty {what}, got {value}")),
    }
}

/// Checks that `response` is the success answer of `function` to `event`, so that only the
/// path the benchmark means to time is timed.
///
/// # Errors
/// What is wrong with the answer.
pub fn check_response(function: Function, event: &Value, response: &Value) -> Result<(), String> {
    let status = response.get("statusCode").and_then(Value::as_i64);
    let expect_status = |wanted: &[i64]| match status {
        Some(s) if wanted.contains(&s) => Ok(()),
        _ => Err(format!("expected statusCode {wanted:?}, got {response}")),
    };
    // A WebSocket ack: success, echoing the frame's requestId.
    let ack = || -> Result<Value, String> {
        expect_status(&[200])?;
        let ack = json_body(response)?;
        let frame: Value = event
            .get("body")
            .and_then(Value::as_str)
            .and_then(|b| serde_json::from_str(b).ok())
            .ok_or("the event has no JSON frame")?;
        if ack["status"] != "success" {
            return Err(format!("expected a success ack, got {ack}"));
        }
        if ack["requestId"] != frame["requestId"] {
            return Err(format!("the ack answers {} instead of {}", ack["requestId"], frame["requestId"]));
        }
        Ok(ack["data"].clone())
    };
    match function {
        Function::Authorizer => {
            let allowed = if event.get("version").and_then(Value::as_str) == Some("2.0") {
                response["isAuthorized"] == true
            } else {
                response.pointer("/policyDocument/Statement/0/Effect") == Some(&json!("Allow"))
            };
            if !allowed || !response.pointer("/context/userId").is_some_and(Value::is_string) {
                return Err(format!("expected an allow with the user in context, got {response}"));
            }
            Ok(())
        }
        Function::WsConnect | Function::WsDisconnect => expect_status(&[200]),
        Function::WsTyping => {
            // Success sends nothing back: any body is an error ack.
            expect_status(&[200])?;
            match response.get("body") {
                None | Some(Value::Null) => Ok(()),
                Some(body) => Err(format!("typing answered a frame (an error): {body}")),
            }
        }
        Function::WsDefault => {
            let data = ack()?;
            if data["pong"] != true {
                return Err(format!("expected a pong, got {data}"));
            }
            Ok(())
        }
        Function::WsSendMessage => {
            let data = ack()?;
            // Delivered: the push to the recipient's socket went through the management API.
            if data["status"] != "delivered" {
                return Err(format!("expected a delivered message, got {data}"));
            }
            Ok(())
        }
        Function::WsMarkRead => {
            let data = ack()?;
            if !data["upToSeq"].is_i64() || data["readAt"].is_null() {
                return Err(format!("expected a read position that moved, got {data}"));
            }
            Ok(())
        }
        Function::WsSync => non_empty_array(&ack()?["messages"], "sync page"),
        Function::HttpCreateConversation => {
            expect_status(&[200, 201])?;
            if !json_body(response)?["id"].is_string() {
                return Err(format!("expected a conversation, got {response}"));
            }
            Ok(())
        }
        Function::HttpMarkRead => {
            expect_status(&[200])?;
            let body = json_body(response)?;
            if !body["upToSeq"].is_i64() || body["readAt"].is_null() {
                return Err(format!("expected a read position that moved, got {body}"));
            }
            Ok(())
        }
        Function::HttpListConversations | Function::HttpGetMessages | Function::HttpSearchMessages => {
            expect_status(&[200])?;
            non_empty_array(&json_body(response)?["items"], "page of items")
        }
        Function::Migrate => {
            if !response["current"].is_string() || !response["applied"].is_array() {
                return Err(format!("expected a migration report, got {response}"));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws_event(frame: &Value) -> Value {
        json!({"requestContext": {"routeKey": "x"}, "body": frame.to_string()})
    }

    fn ack(request_id: &str, data: Value) -> Value {
        let body = json!({"status": "success", "requestId": request_id, "data": data}).to_string();
        json!({"statusCode": 200, "headers": {}, "body": body, "isBase64Encoded": false})
    }

    #[test]
    fn a_delivered_send_ack_passes_and_anything_else_fails() {
        let event = ws_event(&json!({"action": "message:send", "requestId": "message:send-1"}));
        let ok = ack("message:send-1", json!({"status": "delivered", "seq": 41}));
        assert_eq!(check_response(Function::WsSendMessage, &event, &ok), Ok(()));
        let sent = ack("message:send-1", json!({"status": "sent"}));
        assert!(check_response(Function::WsSendMessage, &event, &sent).is_err());
        let other = ack("message:send-2", json!({"status": "delivered"}));
        assert!(check_response(Function::WsSendMessage, &event, &other).unwrap_err().contains("instead of"));
        let error = json!({"statusCode": 200, "body": json!({"status": "error", "requestId": "message:send-1",
            "error": {"code": "RATE_LIMITED", "message": "slow down"}}).to_string()});
        assert!(check_response(Function::WsSendMessage, &event, &error).unwrap_err().contains("RATE_LIMITED"));
    }

    #[test]
    fn typing_succeeds_without_a_body() {
        let event = ws_event(&json!({"action": "typing:start", "requestId": "t"}));
        assert_eq!(check_response(Function::WsTyping, &event, &json!({"statusCode": 200})), Ok(()));
        assert_eq!(check_response(Function::WsTyping, &event, &json!({"statusCode": 200, "body": null})), Ok(()));
        assert!(check_response(Function::WsTyping, &event, &ack("t", json!({}))).is_err());
    }

    #[test]
    fn http_answers_need_their_status_and_items() {
        let page = json!({"statusCode": 200, "body": json!({"items": [{"id": "m"}], "hasMore": false}).to_string()});
        assert_eq!(check_response(Function::HttpSearchMessages, &json!({}), &page), Ok(()));
        let empty = json!({"statusCode": 200, "body": json!({"items": []}).to_string()});
        assert!(check_response(Function::HttpSearchMessages, &json!({}), &empty).is_err());
        let limited = json!({"statusCode": 429, "body": "{}"});
        assert!(check_response(Function::HttpGetMessages, &json!({}), &limited).is_err());
        let created = json!({"statusCode": 201, "body": json!({"id": "c"}).to_string()});
        assert_eq!(check_response(Function::HttpCreateConversation, &json!({}), &created), Ok(()));
    }

    #[test]
    fn the_authorizer_must_allow_with_the_user() {
        let ws = json!({"type": "REQUEST", "methodArn": "arn"});
        let allow = json!({"policyDocument": {"Statement": [{"Effect": "Allow"}]}, "context": {"userId": "u"}});
        assert_eq!(check_response(Function::Authorizer, &ws, &allow), Ok(()));
        let deny = json!({"policyDocument": {"Statement": [{"Effect": "Deny"}]}});
        assert!(check_response(Function::Authorizer, &ws, &deny).is_err());
        let http = json!({"version": "2.0"});
        assert_eq!(
            check_response(Function::Authorizer, &http, &json!({"isAuthorized": true, "context": {"userId": "u"}})),
            Ok(())
        );
        assert!(check_response(Function::Authorizer, &http, &json!({"isAuthorized": false})).is_err());
    }

    #[test]
    fn migrate_answers_its_report() {
        let report = json!({"applied": [], "current": "V3__search"});
        assert_eq!(check_response(Function::Migrate, &json!({}), &report), Ok(()));
        assert!(check_response(Function::Migrate, &json!({}), &json!({"errorMessage": "x"})).is_err());
    }

    #[test]
    fn the_benchmark_requests_reach_their_functions() {
        // Every HTTP path the events use is routed to the function it benchmarks.
        for (method, path, function) in [
            ("POST", "/conversations", Function::HttpCreateConversation),
            ("GET", "/conversations", Function::HttpListConversations),
            ("GET", "/conversations/0190a8e4-0000-7000-8000-000000000001/messages", Function::HttpGetMessages),
            ("POST", "/conversations/0190a8e4-0000-7000-8000-000000000001/read", Function::HttpMarkRead),
            ("GET", "/messages/search", Function::HttpSearchMessages),
        ] {
            assert_eq!(match_http(method, path).map(|(r, _)| r.function), Some(function), "{method} {path}");
        }
        for (action, function) in [
            ("ping", Function::WsDefault),
            ("message:send", Function::WsSendMessage),
            ("typing:start", Function::WsTyping),
            ("message:mark_read", Function::WsMarkRead),
            ("conversation:sync", Function::WsSync),
        ] {
            let frame = FrameBody::Text(json!({"action": action}).to_string());
            assert_eq!(events::select_route(&frame).function, function, "{action}");
        }
    }
}
