//! The failure policy (DESIGN.md §5), end to end: with Redis, DynamoDB or PostgreSQL out of
//! reach, nothing acknowledged is lost and nothing hangs.

use std::time::{Duration, Instant};

use chat_tests::client::{TestUser, WsClient, create_conversation};
use chat_tests::proxy::{FlakyProxy, host_port, through};
use chat_tests::{TestWorld, endpoints, sdk_config, start_gateway_with};
use serde_json::json;

/// A port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Alice and bob (bob connected once), their conversation, through `gateway`.
async fn converse(world: &TestWorld, gateway: &chat_local::LocalGateway) -> (TestUser, TestUser, String) {
    let (alice, bob) = (TestUser::new(world, "alice"), TestUser::new(world, "bob"));
    WsClient::connect(gateway, &bob).await.close().await;
    let (status, body) = create_conversation(gateway, &alice, &bob.id()).await;
    assert_eq!(status, 201, "{body}");
    (alice, bob, body["id"].as_str().expect("id").to_owned())
}

async fn count(world: &TestWorld, sql: &str) -> i64 {
    world.sql().await.query_one(sql, &[]).await.expect("count query").get(0)
}

/// With Redis unreachable, messages still go through (the limiter lets them pass by default)
/// and typing is dropped without an error.
#[tokio::test]
async fn without_redis_sending_works_and_typing_is_dropped() {
    let url = format!("redis://127.0.0.1:{}", closed_port());
    let world = TestWorld::with_env(&[("REDIS_URL", &url)]).await;
    let gateway = start_gateway_with(world.config.clone(), world.sdk.clone()).await;
    let (alice, bob, conversation) = converse(&world, &gateway).await;
    let mut alice_ws = WsClient::connect(&gateway, &alice).await;
    let mut bob_ws = WsClient::connect(&gateway, &bob).await;

    let started = Instant::now();
    let ack = alice_ws.send_message(&conversation, "redis is down", None).await;
    assert_eq!(ack["data"]["status"], "delivered", "{ack}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    bob_ws.event("message:received").await;

    alice_ws
        .send_text(json!({"action": "typing:start", "conversationId": conversation, "requestId": "t"}).to_string())
        .await;
    alice_ws.assert_silent(Duration::from_millis(500)).await;
    bob_ws.assert_silent(Duration::from_millis(100)).await;
}

/// Configured to deny when Redis is down, the limiter refuses: a handshake answers 503 and
/// nothing is recorded. (The same policy on `message:send` answers SERVICE_UNAVAILABLE: see the
/// unit tests of `app::rate_limit`.)
#[tokio::test]
async fn without_redis_a_deny_policy_refuses_and_records_nothing() {
    let url = format!("redis://127.0.0.1:{}", closed_port());
    let world = TestWorld::with_env(&[("REDIS_URL", &url), ("RATE_LIMIT_ON_REDIS_FAILURE", "deny")]).await;
    let gateway = start_gateway_with(world.config.clone(), world.sdk.clone()).await;
    let alice = TestUser::new(&world, "alice");
    let status =
        chat_tests::client::refused_handshake_status(&format!("{}?token={}", gateway.ws_url(), alice.token)).await;
    assert_eq!(status, 503);
    assert_eq!(count(&world, "SELECT count(*) FROM users").await, 0);
    let items = world.dynamo.scan().table_name(&world.config.connections_table).send().await.expect("scan");
    assert_eq!(items.count, 0);
}

/// With DynamoDB unreachable, a send is stored and acked `sent`; bob gets it by sync later.
#[tokio::test]
async fn without_dynamodb_a_message_is_stored_sent_and_synced_later() {
    let world = TestWorld::new().await;
    let aws = endpoints().await.aws_endpoint_url.clone();
    let proxy = FlakyProxy::start(host_port(&aws)).await;
    let sdk = sdk_config(&through(&aws, proxy.addr()), world.config.outbound_timeout).await;
    let gateway = start_gateway_with(world.config.clone(), sdk).await;
    let (alice, bob, conversation) = converse(&world, &gateway).await;
    let mut alice_ws = WsClient::connect(&gateway, &alice).await;
    let mut bob_ws = WsClient::connect(&gateway, &bob).await;

    proxy.set_down(true);
    let started = Instant::now();
    let ack = alice_ws.send_message(&conversation, "dynamo is down", None).await;
    assert_eq!(ack["status"], "success", "{ack}");
    assert_eq!(ack["data"]["status"], "sent");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    bob_ws.assert_silent(Duration::from_millis(200)).await;

    proxy.set_down(false);
    bob_ws
        .send_text(
            json!({"action": "conversation:sync", "conversationId": conversation, "afterSeq": 0, "requestId": "s"})
                .to_string(),
        )
        .await;
    let page = bob_ws.ack("s").await;
    assert_eq!(page["data"]["messages"][0]["content"], "dynamo is down", "{page}");
    assert_eq!(page["data"]["messages"][0]["status"], "delivered");
}

/// With PostgreSQL unreachable, a send answers SERVICE_UNAVAILABLE and pushes nothing; the
/// retry with the same clientMessageId after recovery stores exactly one message.
#[tokio::test]
async fn without_postgres_a_send_is_refused_and_its_retry_stores_one_message() {
    let world = TestWorld::new().await;
    let proxy = FlakyProxy::start(host_port(&world.config.database_url)).await;
    let mut config = world.config.clone();
    config.database_url = through(&world.config.database_url, proxy.addr());
    let gateway = start_gateway_with(config, world.sdk.clone()).await;
    let (alice, bob, conversation) = converse(&world, &gateway).await;
    let mut alice_ws = WsClient::connect(&gateway, &alice).await;
    let mut bob_ws = WsClient::connect(&gateway, &bob).await;

    proxy.set_down(true);
    let started = Instant::now();
    let ack = alice_ws.send_message(&conversation, "postgres is down", Some("retry-me")).await;
    assert_eq!(ack["error"]["code"], "SERVICE_UNAVAILABLE", "{ack}");
    assert!(started.elapsed() < Duration::from_secs(6), "took {:?}", started.elapsed());
    bob_ws.assert_silent(Duration::from_millis(200)).await;
    assert_eq!(count(&world, "SELECT count(*) FROM messages").await, 0);

    proxy.set_down(false);
    let first = alice_ws.send_message(&conversation, "postgres is down", Some("retry-me")).await;
    let again = alice_ws.send_message(&conversation, "postgres is down", Some("retry-me")).await;
    assert_eq!(first["status"], "success", "{first}");
    assert_eq!(first["data"]["id"], again["data"]["id"]);
    assert_eq!(count(&world, "SELECT count(*) FROM messages").await, 1);
    bob_ws.event("message:received").await;
}

/// With PostgreSQL stalled mid-connection (a network black hole), a send answers
/// SERVICE_UNAVAILABLE within the outbound timeout instead of hanging; after recovery the
/// retry stores one message.
#[tokio::test]
async fn a_stalled_postgres_cannot_make_a_send_hang() {
    let world = TestWorld::new().await;
    let proxy = FlakyProxy::start(host_port(&world.config.database_url)).await;
    let mut config = world.config.clone();
    config.database_url = through(&world.config.database_url, proxy.addr());
    let gateway = start_gateway_with(config, world.sdk.clone()).await;
    let (alice, _, conversation) = converse(&world, &gateway).await;
    let mut alice_ws = WsClient::connect(&gateway, &alice).await;
    alice_ws.send_message(&conversation, "warm the pool", None).await;

    proxy.set_stalled(true);
    let started = Instant::now();
    let ack = alice_ws.send_message(&conversation, "stalled", Some("stall-1")).await;
    assert_eq!(ack["error"]["code"], "SERVICE_UNAVAILABLE", "{ack}");
    let took = started.elapsed();
    assert!(took < world.config.outbound_timeout * 2, "took {took:?}");

    proxy.set_stalled(false);
    proxy.set_down(true);
    proxy.set_down(false);
    let retry = alice_ws.send_message(&conversation, "stalled", Some("stall-1")).await;
    assert_eq!(retry["status"], "success", "{retry}");
    assert_eq!(count(&world, "SELECT count(*) FROM messages WHERE client_message_id = 'stall-1'").await, 1);
}

/// A store that outlasts the outbound timeout: the send answers SERVICE_UNAVAILABLE, yet the
/// insert commits afterwards (docs/protocol.md). The message is stored and not pushed; the retry
/// with the same clientMessageId returns that message, pushes it once, and stores nothing more.
#[tokio::test]
async fn a_store_that_commits_after_the_timeout_is_settled_by_the_retry() {
    let world = TestWorld::with_env(&[("OUTBOUND_TIMEOUT_MS", "500")]).await;
    // The insert of this one message takes 1.5 s, three times the timeout.
    world
        .sql()
        .await
        .batch_execute(
            "CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS \
               $$ BEGIN PERFORM pg_sleep(1.5); RETURN NEW; END $$; \
             CREATE TRIGGER slow_insert AFTER INSERT ON messages FOR EACH ROW \
               WHEN (NEW.client_message_id = 'late-1') EXECUTE FUNCTION slow_insert();",
        )
        .await
        .expect("the slow trigger");
    let gateway = start_gateway_with(world.config.clone(), world.sdk.clone()).await;
    let (alice, bob, conversation) = converse(&world, &gateway).await;
    let mut alice_ws = WsClient::connect(&gateway, &alice).await;
    let mut bob_ws = WsClient::connect(&gateway, &bob).await;

    let started = Instant::now();
    let ack = alice_ws.send_message(&conversation, "late", Some("late-1")).await;
    assert_eq!(ack["error"]["code"], "SERVICE_UNAVAILABLE", "{ack}");
    assert!(started.elapsed() < Duration::from_millis(1400), "answered after {:?}", started.elapsed());

    // The insert commits after the answer: stored, not pushed.
    let stored = "SELECT count(*) FROM messages WHERE client_message_id = 'late-1'";
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(&world, stored).await == 0 {
        assert!(Instant::now() < deadline, "the slow insert never committed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bob_ws.assert_silent(Duration::from_millis(200)).await;

    let retry = alice_ws.send_message(&conversation, "late", Some("late-1")).await;
    assert_eq!(retry["status"], "success", "{retry}");
    assert_eq!(retry["data"]["status"], "delivered", "{retry}");
    let pushed = bob_ws.event("message:received").await;
    assert_eq!(pushed["data"]["id"], retry["data"]["id"]);
    assert_eq!(pushed["data"]["content"], "late");
    bob_ws.assert_silent(Duration::from_millis(200)).await;
    assert_eq!(count(&world, stored).await, 1);
    assert_eq!(count(&world, "SELECT count(*) FROM messages").await, 1);
}
