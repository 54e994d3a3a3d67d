//! End to end through `chat-local`: real WebSocket and HTTP clients, real PostgreSQL, the AWS
//! emulator for DynamoDB, and chat-local's management API for pushes.

use std::time::Duration;

use chat_shared::domain::{ConnectionId, UserId};
use chat_shared::ports::{Connection, ConnectionRegistry};
use chat_tests::TestWorld;
use chat_tests::client::{Chat, TestUser, WsClient, start_gateway};
use serde_json::Value;

async fn count(world: &TestWorld, sql: &str) -> i64 {
    world.sql().await.query_one(sql, &[]).await.expect("count query").get(0)
}

/// The headline: alice sends, bob receives it live, alice's ack says delivered, and alice's
/// second device gets a copy.
#[tokio::test]
async fn a_message_reaches_the_recipient_and_the_senders_other_device() {
    let (c, mut bob) = Chat::with_bob_online().await;
    let mut alice = WsClient::connect(&c.gateway, &c.alice).await;
    let mut alice_phone = WsClient::connect(&c.gateway, &c.alice).await;

    let ack = alice.send_message(&c.conversation_id, "hello bob", Some("m-1")).await;
    assert_eq!(ack["status"], "success", "{ack}");
    let sent = &ack["data"];
    assert_eq!(sent["status"], "delivered");
    assert_eq!(sent["seq"], 1);
    assert_eq!(sent["senderId"], c.alice.id());
    assert_eq!(sent["recipientId"], c.bob.id());
    assert!(sent["deliveredAt"].is_string());

    let received = bob.event("message:received").await;
    for field in ["id", "seq", "content", "conversationId", "senderId"] {
        assert_eq!(received["data"][field], sent[field], "field {field}");
    }
    assert_eq!(received["data"]["content"], "hello bob");
    let copy = alice_phone.event("message:received").await;
    assert_eq!(copy["data"]["id"], sent["id"]);
    alice.assert_silent(Duration::from_millis(200)).await;

    let row = c
        .world
        .sql()
        .await
        .query_one("SELECT status, delivered_at IS NOT NULL, content FROM messages WHERE seq = 1", &[])
        .await
        .expect("row");
    assert_eq!(row.get::<_, String>(0), "delivered");
    assert!(row.get::<_, bool>(1));
    assert_eq!(row.get::<_, String>(2), "hello bob");
}

/// With bob offline the message is stored and acknowledged as sent.
#[tokio::test]
async fn a_message_to_an_offline_recipient_is_stored_as_sent() {
    let (c, bob) = Chat::with_bob_online().await;
    bob.close().await;
    // $disconnect has removed bob's connection once the close handshake is done.
    let bob_id: UserId = c.bob.id().parse().expect("uuid");
    for _ in 0..50 {
        if c.world.registry.connections_of(bob_id).await.expect("query").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut alice = WsClient::connect(&c.gateway, &c.alice).await;
    let ack = alice.send_message(&c.conversation_id, "are you there?", None).await;
    assert_eq!(ack["status"], "success", "{ack}");
    assert_eq!(ack["data"]["status"], "sent");
    assert_eq!(ack["data"]["deliveredAt"], Value::Null);
    assert_eq!(count(&c.world, "SELECT count(*) FROM messages WHERE status = 'sent'").await, 1);
}

/// Sending the same clientMessageId twice stores one row and acks the same message twice.
#[tokio::test]
async fn a_retried_client_message_id_is_stored_once() {
    let (c, mut bob) = Chat::with_bob_online().await;
    let mut alice = WsClient::connect(&c.gateway, &c.alice).await;
    let first = alice.send_message(&c.conversation_id, "once", Some("retry-1")).await;
    let second = alice.send_message(&c.conversation_id, "once", Some("retry-1")).await;
    assert_eq!(first["status"], "success");
    assert_eq!(first["data"], second["data"]);
    assert_eq!(count(&c.world, "SELECT count(*) FROM messages").await, 1);
    bob.event("message:received").await;
    bob.assert_silent(Duration::from_millis(300)).await;
}

/// Every kind of bad frame gets its documented code, and nothing is stored or pushed.
#[tokio::test]
async fn bad_frames_get_error_codes_and_change_nothing() {
    let (c, mut bob) = Chat::with_bob_online().await;
    let mut alice = WsClient::connect(&c.gateway, &c.alice).await;
    let carol = TestUser::new(&c.world, "carol");
    let mut carol_ws = WsClient::connect(&c.gateway, &carol).await;

    alice.send_text("{not json").await;
    let malformed = alice.wait_for(|v| v["status"] == "error").await;
    assert_eq!(malformed["error"]["code"], "VALIDATION_ERROR", "{malformed}");

    alice.send_text(r#"{"action":"dance","requestId":"u1"}"#).await;
    assert_eq!(alice.ack("u1").await["error"]["code"], "UNKNOWN_ACTION");

    let too_long = "x".repeat(5001);
    let ack = alice.send_message(&c.conversation_id, &too_long, None).await;
    assert_eq!(ack["error"]["code"], "VALIDATION_ERROR", "{ack}");

    let ack = alice.send_message("not-a-uuid", "hi", None).await;
    assert_eq!(ack["error"]["code"], "VALIDATION_ERROR", "{ack}");

    alice.send_text(r#"{"action":"message:send","conversationId":5,"content":["x"],"requestId":"t1"}"#).await;
    assert_eq!(alice.ack("t1").await["error"]["code"], "VALIDATION_ERROR");

    let ack = carol_ws.send_message(&c.conversation_id, "let me in", None).await;
    assert_eq!(ack["error"]["code"], "FORBIDDEN", "{ack}");

    let ack = alice.send_message(&uuid::Uuid::now_v7().to_string(), "hello?", None).await;
    assert_eq!(ack["error"]["code"], "NOT_FOUND", "{ack}");

    assert_eq!(count(&c.world, "SELECT count(*) FROM messages").await, 0);
    assert_eq!(count(&c.world, "SELECT last_seq FROM conversations").await, 0);
    bob.assert_silent(Duration::from_millis(300)).await;
}

/// A connection that vanished (the management API answers 410) loses its DynamoDB item.
#[tokio::test]
async fn pushing_to_a_vanished_connection_removes_its_item() {
    let (c, mut bob) = Chat::with_bob_online().await;
    let bob_id: UserId = c.bob.id().parse().expect("uuid");
    let now = chrono::Utc::now();
    let stale = ConnectionId::new("StaleConnId0=");
    c.world
        .registry
        .register(&Connection { connection_id: stale.clone(), user_id: bob_id, connected_at: now, expires_at: now })
        .await
        .expect("register a connection chat-local does not know");
    let mut alice = WsClient::connect(&c.gateway, &c.alice).await;

    let ack = alice.send_message(&c.conversation_id, "hi", None).await;
    assert_eq!(ack["data"]["status"], "delivered", "the live connection still got it");
    bob.event("message:received").await;
    let left = c.world.registry.connections_of(bob_id).await.expect("query");
    assert!(!left.contains(&stale), "stale item must be gone: {left:?}");
    assert_eq!(left.len(), 1, "the live connection stays");
}

/// Handshakes without a valid token are refused (401 without a token, 403 otherwise) and
/// leave no trace.
#[tokio::test]
async fn handshakes_without_a_valid_token_are_refused_and_store_nothing() {
    use chat_tests::client::refused_handshake_status;
    let world = TestWorld::new().await;
    let gateway = start_gateway(&world).await;
    let url = gateway.ws_url();

    assert_eq!(refused_handshake_status(&url).await, 401, "no token");

    let mut other = world.config.jwt.clone();
    other.key = chat_shared::auth::KeySource::Secret("not-the-secret".into());
    let (_, forged) = chat_shared::auth::issue_dev_token(&other, "mallory", Duration::from_secs(60)).expect("token");
    assert_eq!(refused_handshake_status(&format!("{url}?token={forged}")).await, 403, "forged");

    let expired = {
        let claims = serde_json::json!({"sub": "mallory", "exp": chrono::Utc::now().timestamp() - 3600});
        let chat_shared::auth::KeySource::Secret(secret) = &world.config.jwt.key else { panic!("HS256 in tests") };
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("encode")
    };
    assert_eq!(refused_handshake_status(&format!("{url}?token={expired}")).await, 403, "expired");

    let none = {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let exp = chrono::Utc::now().timestamp() + 600;
        format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), b64(&format!(r#"{{"sub":"mallory","exp":{exp}}}"#)))
    };
    assert_eq!(refused_handshake_status(&format!("{url}?token={none}")).await, 403, "alg none");

    assert_eq!(count(&world, "SELECT count(*) FROM users").await, 0);
    let items = world.dynamo.scan().table_name(&world.config.connections_table).send().await.expect("scan");
    assert_eq!(items.count, 0, "no connection was recorded");
}

/// A bearer header works as well as the query parameter.
#[tokio::test]
async fn a_bearer_header_is_accepted_on_the_handshake() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let world = TestWorld::new().await;
    let gateway = start_gateway(&world).await;
    let user = TestUser::new(&world, "alice");
    let mut request = gateway.ws_url().into_client_request().expect("request");
    request.headers_mut().insert("authorization", format!("Bearer {}", user.token).parse().expect("header"));
    let (socket, _) = tokio_tungstenite::connect_async(request).await.expect("accepted");
    drop(socket);
    assert_eq!(count(&world, "SELECT count(*) FROM users").await, 1);
}
