//! Least privilege, checked against behaviour: every AWS call each function makes is recorded
//! while a scenario drives every function through `chat-local`, and the set of calls must equal
//! the permissions its IAM policy in `infra/template.yaml` grants, function by function.
//!
//! The functions' AWS SDK endpoint and management API endpoint point at a recording proxy
//! that forwards to the emulator (DynamoDB) and to chat-local's management API. Invocations
//! are serialized, so each call is attributed to the one function running.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chat_local::{InProcessInvoker, Invoker};
use chat_shared::domain::{ConnectionId, UserId};
use chat_shared::edge::{Handlers, Services};
use chat_shared::ports::{Connection, ConnectionRegistry};
use chat_shared::routes::Function;
use chat_tests::client::{TestUser, WsClient, create_conversation, get_json, post_json};
use chat_tests::{TestWorld, endpoints, sdk_config};
use serde_json::{Value, json};

/// AWS calls per function, as `"dynamodb:PutItem table"`, `"dynamodb:Query index/byUser"`,
/// `"execute-api:ManageConnections POST"`.
#[derive(Debug, Default)]
struct Recorder {
    current: Mutex<Option<Function>>,
    calls: Mutex<BTreeMap<&'static str, BTreeSet<String>>>,
    unattributed: Mutex<Vec<String>>,
    dynamodb: String,
    management: OnceLock<String>,
}

impl Recorder {
    fn record(&self, call: String) {
        match *self.current.lock().expect("lock") {
            Some(function) => {
                self.calls.lock().expect("lock").entry(function.package()).or_default().insert(call);
            }
            None => self.unattributed.lock().expect("lock").push(call),
        }
    }
}

/// Records the call, then forwards it and answers what the upstream answered.
async fn proxy(
    State(recorder): State<Arc<Recorder>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    let upstream = if uri.path().contains("/@connections/") {
        recorder.record(format!("execute-api:ManageConnections {method}"));
        recorder.management.get().expect("management upstream").clone()
    } else {
        let operation = headers
            .get("x-amz-target")
            .and_then(|t| t.to_str().ok())
            .and_then(|t| t.split_once('.'))
            .map_or("unknown", |(_, op)| op)
            .to_owned();
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let on = request["IndexName"].as_str().map_or_else(|| "table".to_owned(), |index| format!("index/{index}"));
        recorder.record(format!("dynamodb:{operation} {on}"));
        recorder.dynamodb.clone()
    };
    let mut forward = reqwest::Client::new().request(method, format!("{upstream}{path_and_query}")).body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            forward = forward.header(name, value);
        }
    }
    match forward.send().await {
        Ok(answer) => {
            let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut out = HeaderMap::new();
            for (name, value) in answer.headers() {
                if name != "content-length" && name != "transfer-encoding" {
                    out.insert(name.clone(), value.clone());
                }
            }
            let bytes = answer.bytes().await.unwrap_or_default();
            (status, out, bytes).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// Runs one invocation at a time and tells the recorder which function is running.
#[derive(Debug)]
struct Attributing {
    inner: InProcessInvoker,
    recorder: Arc<Recorder>,
    one_at_a_time: tokio::sync::Mutex<()>,
}

#[async_trait]
impl Invoker for Attributing {
    async fn invoke(&self, function: Function, event: Value) -> Result<Value, String> {
        let _turn = self.one_at_a_time.lock().await;
        *self.recorder.current.lock().expect("lock") = Some(function);
        let result = self.inner.invoke(function, event).await;
        *self.recorder.current.lock().expect("lock") = None;
        result
    }
}

/// The permissions a function's inline policy grants, in the recorder's notation.
fn granted(template: &serde_yaml::Value, function: Function) -> BTreeSet<String> {
    let resource = &template["Resources"][function.logical_id()];
    assert!(resource.is_mapping(), "{} is not in the template", function.logical_id());
    let mut granted = BTreeSet::new();
    let Some(policies) = resource["Properties"]["Policies"].as_sequence() else { return granted };
    for policy in policies {
        let statements = policy["Statement"].as_sequence().unwrap_or_else(|| {
            panic!("{}: only inline policy documents are allowed, found {policy:?}", function.logical_id())
        });
        for statement in statements {
            assert_eq!(statement["Effect"].as_str(), Some("Allow"), "{statement:?}");
            let actions: Vec<&str> = match &statement["Action"] {
                serde_yaml::Value::String(one) => vec![one.as_str()],
                serde_yaml::Value::Sequence(many) => many.iter().filter_map(|a| a.as_str()).collect(),
                other => panic!("{}: action {other:?}", function.logical_id()),
            };
            let target = format!("{:?}", statement["Resource"]);
            for action in actions {
                let on = if action.starts_with("dynamodb:") {
                    assert!(target.contains("ConnectionsTable.Arn"), "{action} on {target}");
                    match target.split_once("/index/") {
                        Some((_, index)) => format!("index/{}", index.trim_end_matches(|c: char| !c.is_alphanumeric())),
                        None => "table".to_owned(),
                    }
                } else if action == "execute-api:ManageConnections" {
                    let method =
                        ["POST", "GET", "DELETE"].into_iter().find(|m| target.contains(&format!("/{m}/@connections/")));
                    method.unwrap_or_else(|| panic!("{action}: no method in {target}")).to_owned()
                } else {
                    panic!("{}: unexpected action {action}", function.logical_id())
                };
                granted.insert(format!("{action} {on}"));
            }
        }
    }
    granted
}

/// A connection that is gone: pushing to it answers 410, and the function must forget it.
async fn stale_connection(world: &TestWorld, user: &TestUser) {
    let connection = Connection {
        connection_id: ConnectionId::new(format!("gone{}", uuid::Uuid::new_v4().simple())),
        user_id: UserId::from_uuid(user.identity.user_id.as_uuid()),
        connected_at: chrono::Utc::now(),
        expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
    };
    world.registry.register(&connection).await.expect("register a stale connection");
}

#[tokio::test]
async fn each_functions_policy_grants_exactly_the_aws_calls_it_makes() {
    let world = TestWorld::with_env(&[("RATE_LIMIT_MESSAGES_PER_MINUTE", "1000")]).await;
    let recorder = Arc::new(Recorder { dynamodb: endpoints().await.aws_endpoint_url.clone(), ..Recorder::default() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let proxy_addr: SocketAddr = listener.local_addr().expect("addr");
    let app = axum::Router::new().fallback(proxy).with_state(recorder.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let options = chat_local::Options {
        ws_addr: "127.0.0.1:0".parse().expect("addr"),
        http_addr: "127.0.0.1:0".parse().expect("addr"),
        ..chat_local::Options::default()
    };
    let mut config = world.config.clone();
    config.management_endpoint = Some(format!("http://{proxy_addr}/{}", options.stage));
    let sdk = sdk_config(&format!("http://{proxy_addr}"), config.outbound_timeout).await;
    let services = Services::with_sdk(config, sdk).expect("services");
    let handlers = Arc::new(Handlers::new(&services).expect("handlers"));
    let invoker = Arc::new(Attributing {
        inner: InProcessInvoker::new(handlers),
        recorder: recorder.clone(),
        one_at_a_time: tokio::sync::Mutex::new(()),
    });
    let gateway = chat_local::LocalGateway::start_with_invoker(
        options,
        chat_local::Limits::default(),
        invoker.clone(),
        "us-east-1",
    )
    .await
    .expect("start chat-local");
    let management = gateway.management_url();
    let origin_end = management.match_indices('/').nth(2).map_or(management.len(), |(i, _)| i);
    recorder.management.set(management[..origin_end].to_owned()).expect("set once");

    // The scenario: every function, on its success path and on the 410 cleanup path.
    let (alice, bob) = (TestUser::new(&world, "alice"), TestUser::new(&world, "bob"));
    let mut alice_ws = WsClient::connect(&gateway, &alice).await;
    let mut bob_ws = WsClient::connect(&gateway, &bob).await;
    let (status, body) = create_conversation(&gateway, &alice, &bob.id()).await;
    assert_eq!(status, 201, "{body}");
    let conversation = body["id"].as_str().expect("id").to_owned();

    stale_connection(&world, &bob).await;
    let ack = alice_ws.send_message(&conversation, "hello", None).await;
    assert_eq!(ack["status"], "success", "{ack}");
    bob_ws.event("message:received").await;

    stale_connection(&world, &bob).await;
    alice_ws.send_text(json!({"action": "typing:start", "conversationId": conversation}).to_string()).await;
    bob_ws.event("typing:start").await;

    // A message sent while bob is away stays `sent` until his sync delivers it.
    bob_ws.close().await;
    alice_ws.send_message(&conversation, "while you were away", None).await;
    let mut bob_ws = WsClient::connect(&gateway, &bob).await;
    stale_connection(&world, &alice).await;
    let sync = json!({"action": "conversation:sync", "conversationId": conversation, "afterSeq": 0, "requestId": "s"});
    bob_ws.send_text(sync.to_string()).await;
    bob_ws.ack("s").await;
    alice_ws.event("message:delivered").await;

    alice_ws.send_message(&conversation, "again", None).await;
    stale_connection(&world, &alice).await;
    bob_ws
        .send_text(
            json!({"action": "message:mark_read", "conversationId": conversation, "upToSeq": 1, "requestId": "r"})
                .to_string(),
        )
        .await;
    bob_ws.ack("r").await;

    stale_connection(&world, &alice).await;
    let (status, body) =
        post_json(&gateway, &format!("/conversations/{conversation}/read"), Some(&bob.token), "").await;
    assert_eq!(status, 200, "{body}");

    bob_ws.send_text(json!({"action": "ping", "requestId": "p"}).to_string()).await;
    bob_ws.ack("p").await;
    for path in [
        "/conversations".to_owned(),
        format!("/conversations/{conversation}/messages"),
        "/messages/search?q=hello".to_owned(),
    ] {
        let (status, _, body) = get_json(&gateway, &bob, &path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    bob_ws.close().await;
    alice_ws.close().await;
    invoker.invoke(Function::Migrate, json!({})).await.expect("migrate");
    // $disconnect runs after the close; wait until both have run.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while recorder.calls.lock().expect("lock").get("ws-disconnect").is_none_or(|c| c.is_empty())
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = invoker.one_at_a_time.lock().await;

    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml")).expect("template");
    let template: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
    let recorded = recorder.calls.lock().expect("lock").clone();
    let mut mismatches = Vec::new();
    for function in Function::ALL {
        let made = recorded.get(function.package()).cloned().unwrap_or_default();
        let grants = granted(&template, function);
        if made != grants {
            mismatches.push(format!("{}: calls {made:?}, policy grants {grants:?}", function.package()));
        }
    }
    assert!(mismatches.is_empty(), "policies differ from behaviour:\n{}", mismatches.join("\n"));
    assert!(recorder.unattributed.lock().expect("lock").is_empty(), "calls made outside an invocation");
    // The scenario really exercised the push paths.
    assert!(recorded.get("ws-send-message").is_some_and(|c| c.contains("dynamodb:DeleteItem table")), "{recorded:?}");
}
