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
use aws_sdk_dynamodb::types::AttributeValue;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use chat_local::{InProcessInvoker, Invoker};
use chat_shared::auth::KeySource;
use chat_shared::config::{DatabaseSettings, DatabaseTls, SecretArns};
use chat_shared::domain::{ConnectionId, UserId};
use chat_shared::edge::{Authorizer, Handlers, Services, Wanted};
use chat_shared::ports::{Connection, ConnectionRegistry};
use chat_shared::routes::Function;
use chat_tests::client::{TestUser, WsClient, create_conversation, get_json, post_json};
use chat_tests::{TestWorld, endpoints, sdk_config};
use serde_json::{Value, json};

/// AWS calls per function, as `"dynamodb:UpdateItem table"`, `"dynamodb:Scan index/byUser"`,
/// `"execute-api:ManageConnections POST"`.
///
/// Calls are attributed to the running function's package, or to [`INIT`] while the
/// services most functions build at init are built (`Services::from_config`).
#[derive(Debug, Default)]
struct Recorder {
    current: Mutex<Option<&'static str>>,
    calls: Mutex<BTreeMap<&'static str, BTreeSet<String>>>,
    unattributed: Mutex<Vec<String>>,
    /// Where DynamoDB and Secrets Manager calls go (the emulator).
    aws: String,
    management: OnceLock<String>,
    /// Secret ARN -> the name the policies use for it (`database`, `jwt`).
    secrets: Mutex<BTreeMap<String, &'static str>>,
    client: reqwest::Client,
}

/// The label of calls made while building `Services` (what most functions do at init).
const INIT: &str = "init";

impl Recorder {
    fn record(&self, call: String) {
        match *self.current.lock().expect("lock") {
            Some(label) => {
                self.calls.lock().expect("lock").entry(label).or_default().insert(call);
            }
            None => self.unattributed.lock().expect("lock").push(call),
        }
    }

    fn attribute(&self, label: Option<&'static str>) {
        *self.current.lock().expect("lock") = label;
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
    let upstream = if uri.path().contains("/@connections/") {
        recorder.record(format!("execute-api:ManageConnections {method}"));
        recorder.management.get().expect("management upstream").clone()
    } else {
        let (service, operation) = headers
            .get("x-amz-target")
            .and_then(|t| t.to_str().ok())
            .and_then(|t| t.split_once('.'))
            .map_or(("unknown", "unknown".to_owned()), |(service, op)| {
                (if service.starts_with("DynamoDB") { "dynamodb" } else { "secretsmanager" }, op.to_owned())
            });
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let on = if service == "dynamodb" {
            request["IndexName"].as_str().map_or_else(|| "table".to_owned(), |index| format!("index/{index}"))
        } else {
            let id = request["SecretId"].as_str().unwrap_or_default();
            recorder.secrets.lock().expect("lock").get(id).copied().unwrap_or("unknown secret").to_owned()
        };
        recorder.record(format!("{service}:{operation} {on}"));
        recorder.aws.clone()
    };
    chat_tests::proxy::forward_http(&recorder.client, &upstream, method, &uri, &headers, body).await
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
        self.recorder.attribute(Some(function.package()));
        let result = self.inner.invoke(function, event).await;
        self.recorder.attribute(None);
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
        // `!If [Condition, !Ref SomeManagedPolicy, !Ref AWS::NoValue]`: the managed policy's document
        // (the test deploys with every condition true).
        let document = match policy {
            serde_yaml::Value::Tagged(tagged) if tagged.tag == "!If" => {
                let id = match &tagged.value[1] {
                    serde_yaml::Value::Tagged(r) if r.tag == "!Ref" => r.value.as_str().unwrap_or_default().to_owned(),
                    other => panic!("{}: unexpected policy {other:?}", function.logical_id()),
                };
                let managed = &template["Resources"][id.as_str()];
                assert_eq!(managed["Type"].as_str(), Some("AWS::IAM::ManagedPolicy"), "{id}");
                managed["Properties"]["PolicyDocument"].clone()
            }
            inline => inline.clone(),
        };
        let statements = document["Statement"].as_sequence().cloned().unwrap_or_else(|| {
            panic!(
                "{}: only inline documents and conditional managed policies, found {policy:?}",
                function.logical_id()
            )
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
                } else if action == "secretsmanager:GetSecretValue" {
                    ["database", "jwt"]
                        .into_iter()
                        .find(|name| target.to_ascii_lowercase().contains(&format!("{name}secretarn")))
                        .unwrap_or_else(|| panic!("{action} on {target}"))
                        .to_owned()
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

/// Whether the function builds `Services` at init (and so reads the database secret).
fn builds_services(function: Function) -> bool {
    let main = format!("{}/../functions/{}/src/main.rs", env!("CARGO_MANIFEST_DIR"), function.package());
    std::fs::read_to_string(&main).unwrap_or_else(|e| panic!("{main}: {e}")).contains("Services::from_config")
}

/// A secret in the emulator; returns its ARN.
async fn create_secret(client: &aws_sdk_secretsmanager::Client, value: &str) -> String {
    let name = format!("chat-test-{}", uuid::Uuid::new_v4().simple());
    let created = client.create_secret().name(name).secret_string(value).send().await.expect("create secret");
    created.arn.expect("ARN")
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
    let recorder = Arc::new(Recorder { aws: endpoints().await.aws_endpoint_url.clone(), ..Recorder::default() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let proxy_addr: SocketAddr = listener.local_addr().expect("addr");
    let app = axum::Router::new().fallback(proxy).with_state(recorder.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let options = chat_local::Options {
        ws_addr: "127.0.0.1:0".parse().expect("addr"),
        http_addr: "127.0.0.1:0".parse().expect("addr"),
        ..chat_local::Options::default()
    };
    // The stack as deployed with both secrets in Secrets Manager.
    let secrets = aws_sdk_secretsmanager::Client::new(&world.sdk);
    let KeySource::Secret(jwt_secret) = world.config.jwt.key.clone() else { panic!("HS256") };
    let (database_arn, jwt_arn) =
        (create_secret(&secrets, &world.config.database_url).await, create_secret(&secrets, &jwt_secret).await);
    recorder.secrets.lock().expect("lock").extend([(database_arn.clone(), "database"), (jwt_arn.clone(), "jwt")]);
    let mut config = world.config.clone();
    config.management_endpoint = Some(format!("http://{proxy_addr}/{}", options.stage));
    config.database_url = String::new();
    config.jwt.key = KeySource::Secret(String::new());
    config.secrets = SecretArns { database_url: Some(database_arn.clone()), jwt_secret: Some(jwt_arn) };
    let sdk = sdk_config(&format!("http://{proxy_addr}"), config.outbound_timeout).await;
    recorder.attribute(Some(INIT));
    let services = Services::resolving(config.clone(), sdk.clone(), Wanted::DATABASE).await.expect("services");
    // The authorizer builds no services: it reads the JWT secret at init, nothing else.
    recorder.attribute(Some(Function::Authorizer.package()));
    let authorizer = Authorizer::resolving(config, &sdk).await.expect("authorizer");
    // migrate reads the database secret only, and builds no services.
    recorder.attribute(Some(Function::Migrate.package()));
    let settings = DatabaseSettings { url: String::new(), secret_arn: Some(database_arn), tls: DatabaseTls::Disable };
    chat_shared::edge::database_url_with(&settings, &sdk).await.expect("migrate's database URL");
    recorder.attribute(None);
    let handlers = Arc::new(Handlers::with_authorizer(&services, authorizer).expect("handlers"));
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
    // migrate moves a connection of the table's earlier layout (an item per connection).
    world
        .dynamo
        .put_item()
        .table_name(&world.config.connections_table)
        .item("connectionId", AttributeValue::S(format!("legacy{}", uuid::Uuid::new_v4().simple())))
        .item("userId", AttributeValue::S(bob.id()))
        .send()
        .await
        .expect("put a legacy connection item");
    let migrated = invoker.invoke(Function::Migrate, json!({})).await.expect("migrate");
    assert_eq!(migrated["connectionsAdopted"], 1, "{migrated}");
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
    let at_init = recorded.get(INIT).cloned().unwrap_or_default();
    assert_eq!(at_init.len(), 1, "the database secret is read at init: {at_init:?}");
    let mut mismatches = Vec::new();
    for function in Function::ALL {
        let mut made = recorded.get(function.package()).cloned().unwrap_or_default();
        if builds_services(function) {
            made.extend(at_init.iter().cloned());
        }
        let grants = granted(&template, function);
        if made != grants {
            mismatches.push(format!("{}: calls {made:?}, policy grants {grants:?}", function.package()));
        }
    }
    assert!(mismatches.is_empty(), "policies differ from behaviour:\n{}", mismatches.join("\n"));
    assert!(recorder.unattributed.lock().expect("lock").is_empty(), "calls made outside an invocation");
    // The scenario really exercised the push paths.
    assert!(recorded.get("ws-send-message").is_some_and(|c| c.contains("dynamodb:UpdateItem table")), "{recorded:?}");
}
