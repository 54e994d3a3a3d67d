//! `POST /conversations` end to end through `chat-local`'s HTTP API.

use chat_tests::TestWorld;
use chat_tests::client::{TestUser, WsClient, create_conversation, post_json, start_gateway};
use futures_util::future::join_all;

/// A gateway, and alice and bob, where bob has connected once (so the chat knows him).
async fn alice_and_bob() -> (TestWorld, chat_local::LocalGateway, TestUser, TestUser) {
    let world = TestWorld::new().await;
    let gateway = start_gateway(&world).await;
    let (alice, bob) = (TestUser::new(&world, "alice"), TestUser::new(&world, "bob"));
    WsClient::connect(&gateway, &bob).await.close().await;
    (world, gateway, alice, bob)
}

/// The first call creates (201), the next finds (200) — from either side.
#[tokio::test]
async fn get_or_create_answers_201_then_200_with_the_same_conversation() {
    let (_world, gateway, alice, bob) = alice_and_bob().await;

    let (status, created) = create_conversation(&gateway, &alice, &bob.id()).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["otherParticipant"]["id"], bob.id());
    assert_eq!(created["otherParticipant"]["displayName"], "bob");
    assert_eq!(created["lastMessage"], serde_json::Value::Null);
    assert_eq!((created["lastSeq"].as_i64(), created["unreadCount"].as_i64()), (Some(0), Some(0)));

    let (status, found) = create_conversation(&gateway, &bob, &alice.id()).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["id"], created["id"]);
    assert_eq!(found["otherParticipant"]["displayName"], "alice");
}

/// Concurrent calls for one pair agree on one conversation.
#[tokio::test]
async fn concurrent_creates_return_one_conversation() {
    let (_world, gateway, alice, bob) = alice_and_bob().await;
    let bob_id = bob.id();
    let results = join_all((0..8).map(|_| create_conversation(&gateway, &alice, &bob_id))).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(created, 1, "{results:?}");
    assert!(results.iter().all(|(s, b)| (*s == 200 || *s == 201) && b["id"] == results[0].1["id"]));
}

/// Bad requests get documented codes and statuses, and create nothing.
#[tokio::test]
async fn bad_requests_are_refused_with_codes() {
    let world = TestWorld::new().await;
    let gateway = start_gateway(&world).await;
    let alice = TestUser::new(&world, "alice");

    let (status, body) = create_conversation(&gateway, &alice, &alice.id()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")), "{body}");

    let stranger = uuid::Uuid::new_v4().to_string();
    let (status, body) = create_conversation(&gateway, &alice, &stranger).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("NOT_FOUND")), "{body}");

    let (status, body) = create_conversation(&gateway, &alice, "bob").await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")), "{body}");

    let (status, body) = post_json(&gateway, "/conversations", Some(&alice.token), "{oops").await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")), "{body}");

    let array = format!(r#"["{}"]"#, uuid::Uuid::new_v4());
    let (status, body) = post_json(&gateway, "/conversations", Some(&alice.token), &array).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("VALIDATION_ERROR")),
        "arrays are not bodies: {body}"
    );

    let (status, body) = post_json(&gateway, "/conversations", Some(&alice.token), r#"{"participantId": 7}"#).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")), "{body}");

    let huge = format!(r#"{{"participantId": "{}"}}"#, "x".repeat(20_000));
    let (status, body) = post_json(&gateway, "/conversations", Some(&alice.token), &huge).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("PAYLOAD_TOO_LARGE")), "{body}");

    let (status, _) = post_json(&gateway, "/conversations", None, "{}").await;
    assert_eq!(status, 401, "no token: API Gateway answers 401 itself");
    let (status, _) = post_json(&gateway, "/conversations", Some("forged.token.here"), "{}").await;
    assert_eq!(status, 403, "bad token: the authorizer denies");

    let conversations: i64 =
        world.sql().await.query_one("SELECT count(*) FROM conversations", &[]).await.expect("count").get(0);
    assert_eq!(conversations, 0);
}
