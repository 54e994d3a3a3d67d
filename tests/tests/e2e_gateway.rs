//! API Gateway's limits as `chat-local` enforces them, end to end with the real functions
//! (in process), PostgreSQL and the AWS emulator: what a client sees (close codes) and what
//! the backend sees (`$disconnect` runs and the connection's DynamoDB item is removed).
//!
//! The limits are AWS's sizes and, for time, short values given to the gateway so each test
//! takes well under a second or two. The exact `$disconnect` event fields for each cause are
//! checked with a recording fake in `local/tests/gateway.rs`.

use std::time::{Duration, Instant};

use chat_local::Limits;
use chat_shared::domain::UserId;
use chat_shared::ports::ConnectionRegistry;
use chat_tests::TestWorld;
use chat_tests::client::{TestUser, WsClient, start_gateway, start_gateway_with_limits};
use serde_json::json;

fn user_id(user: &TestUser) -> UserId {
    user.id().parse().expect("a user id")
}

/// How many connection items `user` has in DynamoDB.
async fn items_of(world: &TestWorld, user: &TestUser) -> usize {
    world.registry.connections_of(user_id(user)).await.expect("query the registry").len()
}

/// Waits until `user` has no connection item left: `$disconnect` has run.
async fn until_no_items(world: &TestWorld, user: &TestUser) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while items_of(world, user).await > 0 {
        assert!(Instant::now() < deadline, "the connection item was not removed by $disconnect");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A 40 KB frame is over API Gateway's 32 KB frame limit: the connection is closed with 1009
/// and `$disconnect` removes its DynamoDB item.
#[tokio::test]
async fn a_40_kb_frame_closes_the_connection_with_1009_and_its_item_is_removed() {
    let world = TestWorld::new().await;
    let gateway = start_gateway(&world).await;
    let alice = TestUser::new(&world, "alice");
    let mut ws = WsClient::connect(&gateway, &alice).await;
    assert_eq!(items_of(&world, &alice).await, 1);

    ws.send_text("x".repeat(40 * 1024)).await;
    assert_eq!(ws.close_code().await, Some(1009));
    until_no_items(&world, &alice).await;
    assert_eq!(gateway.connection_count(), 0);
}

/// A message split into frames under 32 KB is reassembled and reaches its function whole
/// (a 90 KB `message:send` is refused by the function for its content, with the frame's
/// requestId); frames adding up to more than 128 KB close the connection with 1009.
#[tokio::test]
async fn fragmented_messages_are_reassembled_and_over_128_kb_close_with_1009() {
    let world = TestWorld::new().await;
    let gateway = start_gateway(&world).await;
    let alice = TestUser::new(&world, "alice");
    let mut ws = WsClient::connect(&gateway, &alice).await;

    let big = json!({
        "action": "message:send",
        "requestId": "big",
        "conversationId": uuid::Uuid::new_v4().to_string(),
        "content": "y".repeat(90 * 1024),
    });
    ws.send_fragmented_text(&big.to_string(), 30 * 1024).await.expect("frames sent");
    let ack = ws.ack("big").await;
    assert_eq!(ack["status"], "error", "{ack}");
    assert_eq!(ack["error"]["code"], "VALIDATION_ERROR", "{ack}");

    // The gateway may close before the last frame is written: that is the point.
    let _ = ws.send_fragmented_text(&"z".repeat(150 * 1024), 30 * 1024).await;
    assert_eq!(ws.close_code().await, Some(1009));
    until_no_items(&world, &alice).await;
}

/// With a 300 ms idle timeout, a connection that sends nothing is closed with 1001 "Going away"
/// (as API Gateway closes idle ones) and its item removed, while one that pings every 100 ms
/// stays open and usable well past the timeout.
#[tokio::test]
async fn an_idle_connection_is_closed_with_going_away_and_a_pinging_one_stays_open() {
    let world = TestWorld::new().await;
    let limits = Limits { idle_timeout: Duration::from_millis(300), ..Limits::default() };
    let gateway = start_gateway_with_limits(&world, limits).await;
    let (alice, bob) = (TestUser::new(&world, "alice"), TestUser::new(&world, "bob"));
    let mut idle = WsClient::connect(&gateway, &alice).await;
    let mut busy = WsClient::connect(&gateway, &bob).await;

    let pinging = async {
        for _ in 0..8 {
            busy.ping().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let (code, ()) = tokio::join!(idle.close_code(), pinging);
    assert_eq!(code, Some(1001));
    until_no_items(&world, &alice).await;

    // 800 ms in: the pinging connection is still registered and answers a frame.
    assert_eq!(items_of(&world, &bob).await, 1);
    busy.send_text(r#"{"action":"nope","requestId":"still-here"}"#).await;
    assert_eq!(busy.ack("still-here").await["error"]["code"], "UNKNOWN_ACTION");
    assert_eq!(gateway.connection_count(), 1);
}

/// A 500 ms maximum connection duration closes a connection that is busy all along, with 1001,
/// and its item is removed.
#[tokio::test]
async fn the_maximum_connection_duration_closes_even_an_active_connection() {
    let world = TestWorld::new().await;
    let limits = Limits { max_connection_duration: Duration::from_millis(500), ..Limits::default() };
    let gateway = start_gateway_with_limits(&world, limits).await;
    let alice = TestUser::new(&world, "alice");
    let mut ws = WsClient::connect(&gateway, &alice).await;
    let opened = Instant::now();

    let mut i = 0;
    while opened.elapsed() < Duration::from_millis(300) {
        i += 1;
        let request_id = format!("busy-{i}");
        ws.send_text(json!({"action": "nope", "requestId": request_id}).to_string()).await;
        assert_eq!(ws.ack(&request_id).await["status"], "error");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ws.close_code().await, Some(1001));
    assert!(opened.elapsed() >= Duration::from_millis(450), "closed after {:?}", opened.elapsed());
    until_no_items(&world, &alice).await;
}
