//! `docs/openapi.yaml` against real responses: every route is driven through `chat-local`
//! in success and error cases, and every response body (and documented header) is validated
//! against the schema the document gives for that operation and status. A status the
//! document does not list for the operation fails too. The document's own examples must
//! match their schemas, and its paths must be exactly the route table's HTTP routes.

use std::collections::BTreeSet;
use std::sync::Mutex;

use chat_shared::routes::HTTP_ROUTES;
use chat_tests::TestWorld;
use chat_tests::client::{TestUser, WsClient, create_conversation, start_gateway};
use jsonschema::Draft;
use serde_json::{Value, json};

/// The OpenAPI document, as JSON.
struct Contract {
    doc: Value,
    /// (operation id, status) pairs seen by [`Contract::check`].
    seen: Mutex<BTreeSet<(String, u16)>>,
}

impl Contract {
    fn load() -> Contract {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml");
        let text = std::fs::read_to_string(path).expect("docs/openapi.yaml");
        let doc: Value = serde_yaml::from_str(&text).expect("docs/openapi.yaml is YAML");
        assert_eq!(doc["openapi"], "3.1.0");
        Contract { doc, seen: Mutex::new(BTreeSet::new()) }
    }

    /// The value at a local `$ref` (`#/a/b`).
    fn pointer(&self, reference: &str) -> &Value {
        let pointer = reference.strip_prefix('#').unwrap_or_else(|| panic!("only local refs: {reference}"));
        self.doc.pointer(pointer).unwrap_or_else(|| panic!("dangling $ref {reference}"))
    }

    /// `value` with every local `$ref` inlined (the document has no recursive schemas). A
    /// `$ref` with siblings becomes `allOf: [target]` plus the siblings.
    fn resolve(&self, value: &Value) -> Value {
        match value {
            Value::Object(fields) => match fields.get("$ref").and_then(Value::as_str) {
                Some(reference) => {
                    let target = self.resolve(self.pointer(reference));
                    let rest: serde_json::Map<String, Value> = fields
                        .iter()
                        .filter(|(k, _)| *k != "$ref")
                        .map(|(k, v)| (k.clone(), self.resolve(v)))
                        .collect();
                    if rest.is_empty() {
                        target
                    } else {
                        let mut merged = rest;
                        merged.insert("allOf".into(), json!([target]));
                        Value::Object(merged)
                    }
                }
                None => Value::Object(fields.iter().map(|(k, v)| (k.clone(), self.resolve(v))).collect()),
            },
            Value::Array(items) => Value::Array(items.iter().map(|v| self.resolve(v)).collect()),
            other => other.clone(),
        }
    }

    /// The operation object of `method path_template`.
    fn operation(&self, method: &str, path_template: &str) -> Value {
        let operation = &self.doc["paths"][path_template][method.to_ascii_lowercase()];
        assert!(operation.is_object(), "{method} {path_template} is not documented");
        self.resolve(operation)
    }

    /// Fails unless `instance` is valid against `schema` (draft 2020-12, formats asserted).
    fn assert_valid(schema: &Value, instance: &Value, what: &str) {
        let validator = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .should_validate_formats(true)
            .build(schema)
            .unwrap_or_else(|e| panic!("{what}: the schema does not compile: {e}\n{schema:#}"));
        let errors: Vec<String> =
            validator.iter_errors(instance).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{what}: {instance} does not match its schema:\n{}", errors.join("\n"));
    }

    /// Validates one real response against the document.
    fn check(&self, method: &str, path_template: &str, response: &Answer) {
        let operation = self.operation(method, path_template);
        let id = operation["operationId"].as_str().expect("operationId").to_owned();
        let what = format!("{method} {path_template} -> {}", response.status);
        let documented = &operation["responses"][response.status.to_string()];
        assert!(documented.is_object(), "{what}: status not documented for this operation; body {}", response.body);
        let schema = &documented["content"]["application/json"]["schema"];
        assert!(schema.is_object(), "{what}: no application/json schema");
        assert!(
            response.content_type.as_deref().is_some_and(|c| c.starts_with("application/json")),
            "{what}: content type {:?}",
            response.content_type
        );
        Self::assert_valid(schema, &response.body, &what);
        if let Some(headers) = documented["headers"].as_object() {
            for (name, header) in headers {
                let value = response.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v);
                match value {
                    None => assert!(header["required"] != true, "{what}: required header {name} missing"),
                    Some(raw) => {
                        let parsed = match header["schema"]["type"].as_str() {
                            Some("integer") => {
                                json!(raw.parse::<i64>().unwrap_or_else(|_| panic!("{what}: {name}: {raw}")))
                            }
                            _ => json!(raw),
                        };
                        Self::assert_valid(&header["schema"], &parsed, &format!("{what} header {name}"));
                    }
                }
            }
        }
        self.seen.lock().expect("lock").insert((id, response.status));
    }
}

/// A response as the test saw it.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: Option<String>,
    headers: Vec<(String, String)>,
    body: Value,
}

/// Sends a request to chat-local; `body` is sent as JSON text when given.
async fn call(
    gateway: &chat_local::LocalGateway,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", gateway.http_url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_owned());
    }
    let response = request.send().await.expect("HTTP request");
    let status = response.status().as_u16();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let content_type = headers.iter().find(|(n, _)| n == "content-type").map(|(_, v)| v.clone());
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: body is not JSON ({e}): {text}"));
    Answer { status, content_type, headers, body }
}

/// Calls and validates; returns the answer for further assertions.
async fn exchange(
    contract: &Contract,
    gateway: &chat_local::LocalGateway,
    (method, template): (&str, &str),
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    expected: u16,
) -> Answer {
    let answer = call(gateway, method, path, token, body).await;
    assert_eq!(answer.status, expected, "{method} {path}: {}", answer.body);
    contract.check(method, template, &answer);
    answer
}

const CREATE: (&str, &str) = ("POST", "/conversations");
const LIST: (&str, &str) = ("GET", "/conversations");
const HISTORY: (&str, &str) = ("GET", "/conversations/{conversationId}/messages");
const READ: (&str, &str) = ("POST", "/conversations/{conversationId}/read");
const SEARCH: (&str, &str) = ("GET", "/messages/search");

#[test]
fn the_document_covers_exactly_the_route_table() {
    let contract = Contract::load();
    let mut documented = BTreeSet::new();
    for (path, item) in contract.doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            documented.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    let routes: BTreeSet<(String, String)> =
        HTTP_ROUTES.iter().map(|r| (r.method.to_owned(), r.path.to_owned())).collect();
    assert_eq!(documented, routes);
}

/// Every example in the document matches the schema it illustrates.
#[test]
fn the_documents_examples_match_their_schemas() {
    let contract = Contract::load();
    let mut checked = 0;
    for (path, item) in contract.doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let operation = contract.resolve(operation);
            let mut media = vec![(format!("{method} {path} request"), operation["requestBody"]["content"].clone())];
            for (status, response) in operation["responses"].as_object().expect("responses") {
                media.push((format!("{method} {path} {status}"), response["content"].clone()));
            }
            for (what, content) in media {
                let Some(content) = content.as_object() else { continue };
                for body in content.values() {
                    for (name, example) in body["examples"].as_object().into_iter().flatten() {
                        Contract::assert_valid(&body["schema"], &example["value"], &format!("{what} example {name}"));
                        checked += 1;
                    }
                }
            }
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                if let Some(example) = parameter.get("example") {
                    Contract::assert_valid(
                        &parameter["schema"],
                        example,
                        &format!("{method} {path} {}", parameter["name"]),
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 20, "only {checked} examples");
}

/// The validator is strict: a wrong format or a missing field fails.
#[test]
fn the_validator_rejects_what_the_document_forbids() {
    let contract = Contract::load();
    let schema = contract.resolve(&json!({"$ref": "#/components/schemas/ReadPosition"}));
    let good = json!({"conversationId": "x", "upToSeq": 0, "readAt": "2026-11-24T06:03:04.123Z"});
    Contract::assert_valid(&schema, &good, "good");
    for bad in [
        json!({"conversationId": "x", "upToSeq": 0, "readAt": "2026-11-24T06:03:04Z"}),
        json!({"conversationId": "x", "upToSeq": -1, "readAt": null}),
        json!({"conversationId": "x", "upToSeq": 0}),
    ] {
        let outcome = std::panic::catch_unwind(|| Contract::assert_valid(&schema, &bad, "bad"));
        assert!(outcome.is_err(), "{bad} passed");
    }
    let uuid = contract.resolve(&json!({"$ref": "#/components/schemas/Uuid"}));
    assert!(std::panic::catch_unwind(|| Contract::assert_valid(&uuid, &json!("not-a-uuid"), "uuid")).is_err());
}

/// chat-local serves the document itself, without authentication.
#[tokio::test]
async fn chat_local_serves_the_document() {
    let world = TestWorld::new().await;
    let gateway = start_gateway(&world).await;
    let response = reqwest::get(format!("{}{}", gateway.http_url(), chat_local::OPENAPI_PATH)).await.expect("GET");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/yaml");
    let text = response.text().await.expect("body");
    let on_disk = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml")).expect("file");
    assert_eq!(text, on_disk);
}

/// Every route, through success and error answers, conforms to the document.
#[tokio::test]
async fn real_responses_conform_to_the_document() {
    let contract = Contract::load();
    let world = TestWorld::new().await;
    let gateway = start_gateway(&world).await;
    let g = &gateway;
    let c = &contract;
    let (alice, bob, carol) =
        (TestUser::new(&world, "alice"), TestUser::new(&world, "bob"), TestUser::new(&world, "carol"));
    for user in [&bob, &carol] {
        WsClient::connect(g, user).await.close().await;
    }
    let (a, b, k) = (Some(alice.token.as_str()), Some(bob.token.as_str()), Some(carol.token.as_str()));
    let huge = json!({"participantId": "x".repeat(20 * 1024)}).to_string();
    let create = |id: &str| json!({"participantId": id}).to_string();

    // POST /conversations
    let created = exchange(c, g, CREATE, "/conversations", a, Some(&create(&bob.id())), 201).await;
    let conversation = created.body["id"].as_str().expect("id").to_owned();
    exchange(c, g, CREATE, "/conversations", b, Some(&create(&alice.id())), 200).await;
    for bad in [create(&alice.id()), create("bob"), "{oops".into(), r#"{"participantId": 7}"#.into(), String::new()] {
        exchange(c, g, CREATE, "/conversations", a, Some(&bad), 400).await;
    }
    exchange(c, g, CREATE, "/conversations", a, Some(&create(&uuid::Uuid::now_v7().to_string())), 404).await;
    exchange(c, g, CREATE, "/conversations", a, Some(&huge), 413).await;
    exchange(c, g, CREATE, "/conversations", None, Some(&create(&bob.id())), 401).await;
    exchange(c, g, CREATE, "/conversations", Some("forged.token.here"), Some(&create(&bob.id())), 403).await;

    // Some history: three messages from alice, one with a clientMessageId, one delivered.
    let mut ws = WsClient::connect(g, &alice).await;
    ws.send_message(&conversation, "one", Some("m-1")).await;
    ws.send_message(&conversation, "two <b>", None).await;
    ws.send_message(&conversation, "three\nlines", None).await;
    let mut bob_ws = WsClient::connect(g, &bob).await;
    bob_ws
        .send_text(
            json!({"action": "conversation:sync", "conversationId": conversation, "afterSeq": 1, "requestId": "s"})
                .to_string(),
        )
        .await;
    bob_ws.ack("s").await;

    // GET /conversations
    let page = exchange(c, g, LIST, "/conversations", b, None, 200).await;
    assert!(page.body["items"][0]["lastMessage"].is_object(), "{}", page.body);
    exchange(c, g, CREATE, "/conversations", a, Some(&create(&carol.id())), 201).await;
    let first = exchange(c, g, LIST, "/conversations?limit=1", a, None, 200).await;
    let cursor = first.body["nextCursor"].as_str().expect("a next page").to_owned();
    let last = exchange(c, g, LIST, &format!("/conversations?limit=1&cursor={cursor}"), a, None, 200).await;
    assert_eq!(last.body["hasMore"], false);
    exchange(c, g, LIST, "/conversations", k, None, 200).await;
    for bad in
        ["/conversations?cursor=nope", "/conversations?limit=0", "/conversations?limit=101", "/conversations?limit=x"]
    {
        exchange(c, g, LIST, bad, a, None, 400).await;
    }
    exchange(c, g, LIST, "/conversations", None, None, 401).await;
    exchange(c, g, LIST, "/conversations", Some("forged.token.here"), None, 403).await;

    // GET /conversations/{conversationId}/messages
    let base = format!("/conversations/{conversation}/messages");
    let newest = exchange(c, g, HISTORY, &format!("{base}?limit=2"), b, None, 200).await;
    let before = newest.body["nextCursor"].as_str().expect("an older page").to_owned();
    exchange(c, g, HISTORY, &format!("{base}?limit=2&before={before}"), b, None, 200).await;
    exchange(c, g, HISTORY, &format!("{base}?after=1"), a, None, 200).await;
    exchange(c, g, HISTORY, &format!("{base}?after=100"), a, None, 200).await;
    for bad in ["?before=abc", "?before=5&after=1", "?limit=0", "?limit=101", "?after=-1"] {
        exchange(c, g, HISTORY, &format!("{base}{bad}"), b, None, 400).await;
    }
    exchange(c, g, HISTORY, "/conversations/not-a-uuid/messages", b, None, 400).await;
    exchange(c, g, HISTORY, &format!("/conversations/{}/messages", uuid::Uuid::now_v7()), b, None, 404).await;
    let foreign = exchange(c, g, HISTORY, &base, k, None, 403).await;
    assert_eq!(foreign.body["error"]["code"], "FORBIDDEN");
    exchange(c, g, HISTORY, &base, None, None, 401).await;
    exchange(c, g, HISTORY, &base, Some("forged.token.here"), None, 403).await;

    // POST /conversations/{conversationId}/read
    let read = format!("/conversations/{conversation}/read");
    let moved = exchange(c, g, READ, &read, b, Some(r#"{"upToSeq": 2}"#), 200).await;
    assert!(moved.body["readAt"].is_string(), "{}", moved.body);
    exchange(c, g, READ, &read, b, Some(""), 200).await;
    let unchanged = exchange(c, g, READ, &read, b, None, 200).await;
    assert_eq!(unchanged.body["readAt"], Value::Null);
    exchange(c, g, READ, &read, a, Some(r#"{"upToSeq": null}"#), 200).await;
    for bad in [r#"{"upToSeq": -1}"#, r#"{"upToSeq": "2"}"#, "{oops"] {
        exchange(c, g, READ, &read, b, Some(bad), 400).await;
    }
    exchange(c, g, READ, "/conversations/not-a-uuid/read", b, None, 400).await;
    exchange(c, g, READ, &format!("/conversations/{}/read", uuid::Uuid::now_v7()), b, None, 404).await;
    exchange(c, g, READ, &read, k, None, 403).await;
    exchange(c, g, READ, &read, b, Some(&huge), 413).await;
    exchange(c, g, READ, &read, None, None, 401).await;
    exchange(c, g, READ, &read, Some("forged.token.here"), None, 403).await;

    // GET /messages/search
    let hits = exchange(c, g, SEARCH, "/messages/search?q=two&limit=1", b, None, 200).await;
    assert_eq!(hits.body["items"][0]["snippet"], "<mark>two</mark> &lt;b&gt;", "{}", hits.body);
    let many = exchange(c, g, SEARCH, "/messages/search?q=one%20or%20two%20or%20three&limit=1", a, None, 200).await;
    let cursor = many.body["nextCursor"].as_str().expect("a next page").to_owned();
    exchange(c, g, SEARCH, &format!("/messages/search?q=one%20or%20two%20or%20three&cursor={cursor}"), a, None, 200)
        .await;
    exchange(c, g, SEARCH, &format!("/messages/search?q=lines&conversationId={conversation}"), a, None, 200).await;
    exchange(c, g, SEARCH, "/messages/search?q=two", k, None, 200).await;
    for bad in ["", "?q=", "?q=%20", "?q=x&limit=0", "?q=x&limit=51", "?q=x&cursor=nope", "?q=x&conversationId=1"] {
        exchange(c, g, SEARCH, &format!("/messages/search{bad}"), a, None, 400).await;
    }
    exchange(c, g, SEARCH, &format!("/messages/search?q={}", "x".repeat(201)), a, None, 400).await;
    exchange(c, g, SEARCH, &format!("/messages/search?q=x&conversationId={}", uuid::Uuid::now_v7()), a, None, 404)
        .await;
    exchange(c, g, SEARCH, &format!("/messages/search?q=x&conversationId={conversation}"), k, None, 403).await;
    exchange(c, g, SEARCH, "/messages/search?q=x", None, None, 401).await;
    exchange(c, g, SEARCH, "/messages/search?q=x", Some("forged.token.here"), None, 403).await;

    let seen = contract.seen.lock().expect("lock").clone();
    let expected: BTreeSet<(String, u16)> = [
        ("createConversation", [200, 201, 400, 401, 403, 404, 413].as_slice()),
        ("listConversations", &[200, 400, 401, 403]),
        ("getMessages", &[200, 400, 401, 403, 404]),
        ("markRead", &[200, 400, 401, 403, 404, 413]),
        ("searchMessages", &[200, 400, 401, 403, 404]),
    ]
    .into_iter()
    .flat_map(|(id, statuses)| statuses.iter().map(move |s| (id.to_owned(), *s)))
    .collect();
    assert_eq!(seen, expected);
}

/// 429 answers carry `retryAfter` and `Retry-After` as documented, on every route.
#[tokio::test]
async fn rate_limited_responses_conform_to_the_document() {
    let contract = Contract::load();
    let world = TestWorld::with_env(&[("RATE_LIMIT_REST_PER_MINUTE", "1")]).await;
    let gateway = start_gateway(&world).await;
    let (alice, bob) = (TestUser::new(&world, "alice"), TestUser::new(&world, "bob"));
    WsClient::connect(&gateway, &bob).await.close().await;
    let (status, body) = create_conversation(&gateway, &alice, &bob.id()).await;
    assert_eq!(status, 201, "{body}");
    let conversation = body["id"].as_str().expect("id").to_owned();
    let a = Some(alice.token.as_str());
    let create = json!({"participantId": bob.id()}).to_string();
    for (route, path, body) in [
        (CREATE, "/conversations".to_owned(), Some(create.as_str())),
        (LIST, "/conversations".to_owned(), None),
        (HISTORY, format!("/conversations/{conversation}/messages"), None),
        (READ, format!("/conversations/{conversation}/read"), None),
        (SEARCH, "/messages/search?q=x".to_owned(), None),
    ] {
        let answer = exchange(&contract, &gateway, route, &path, a, body, 429).await;
        assert_eq!(answer.body["error"]["code"], "CHAT_RATE_LIMIT_EXCEEDED");
    }
}
