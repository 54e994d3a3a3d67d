//! Real-time features end to end through `chat-local`: typing, read receipts, offline sync and
//! rate limits, against real PostgreSQL, Redis and the AWS emulator.

use std::time::{Duration, Instant};

use chat_tests::client::{Chat, TestUser, WsClient, start_gateway};
use chat_tests::{TestWorld, redis};
use futures_util::future::join_all;
use serde_json::{Value, json};

async fn send_frame(ws: &mut WsClient, frame: Value) {
    ws.send_text(frame.to_string()).await;
}

async fn count(world: &TestWorld, sql: &str) -> i64 {
    world.sql().await.query_one(sql, &[]).await.expect("count query").get(0)
}

/// Counts the frames named `event` that arrive within `window`.
async fn count_events(ws: &mut WsClient, event: &str, window: Duration) -> usize {
    let deadline = Instant::now() + window;
    let mut seen = 0;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match tokio::time::timeout(left, ws.wait_for(|v| v["event"] == event)).await {
            Ok(_) => seen += 1,
            Err(_) => break,
        }
    }
    seen
}

/// typing:start reaches bob within the same second; the state expires when not refreshed, and
/// a later typing:start is pushed again.
#[tokio::test]
async fn typing_reaches_the_other_participant_at_once_and_expires() {
    let c = Chat::with_env(&[]).await;
    let mut alice = WsClient::connect(&c.gateway, &c.alice).await;
    let mut bob = WsClient::connect(&c.gateway, &c.bob).await;

    let started = Instant::now();
    send_frame(&mut alice, json!({"action": "typing:start", "conversationId": c.conversation_id})).await;
    let event = bob.event("typing:start").await;
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    assert_eq!(event["data"], json!({"conversationId": c.conversation_id, "userId": c.alice.id()}));
    alice.assert_silent(Duration::from_millis(100)).await; // success sends no ack

    let key = format!("{}typing:{}:{}", c.world.config.redis_key_prefix, c.conversation_id, c.alice.id());
    let mut r = redis(&c.world).await;
    let ttl: i64 = ::redis::cmd("PTTL").arg(&key).query_async(&mut r).await.expect("pttl");
    assert!((1..=3000).contains(&ttl), "typing TTL is 3 s, got {ttl} ms");

    tokio::time::sleep(Duration::from_millis(3100)).await;
    let exists: i64 = ::redis::cmd("EXISTS").arg(&key).query_async(&mut r).await.expect("exists");
    assert_eq!(exists, 0, "typing state expires when not refreshed");
    send_frame(&mut alice, json!({"action": "typing:start", "conversationId": c.conversation_id})).await;
    bob.event("typing:start").await;
}

/// A burst of 20 typing:start within 2 seconds is pushed at most twice; typing:stop is pushed
/// once, and only while typing.
#[tokio::test]
async fn a_burst_of_typing_is_throttled_and_stop_is_pushed_once() {
    let c = Chat::with_env(&[]).await;
    let mut alice = WsClient::connect(&c.gateway, &c.alice).await;
    let mut bob = WsClient::connect(&c.gateway, &c.bob).await;

    for _ in 0..20 {
        send_frame(&mut alice, json!({"action": "typing:start", "conversationId": c.conversation_id})).await;
        tokio::time::sleep(Duration::from_millis(95)).await;
    }
    let pushes = count_events(&mut bob, "typing:start", Duration::from_millis(300)).await;
    assert!((1..=2).contains(&pushes), "20 starts in ~1.9 s gave {pushes} pushes");

    for _ in 0..2 {
        send_frame(&mut alice, json!({"action": "typing:stop", "conversationId": c.conversation_id})).await;
    }
    assert_eq!(count_events(&mut bob, "typing:stop", Duration::from_millis(500)).await, 1);
}

/// Sending a message clears the sender's typing state.
#[tokio::test]
async fn sending_a_message_clears_typing() {
    let c = Chat::with_env(&[]).await;
    let mut alice = WsClient::connect(&c.gateway, &c.alice).await;
    let mut bob = WsClient::connect(&c.gateway, &c.bob).await;
    send_frame(&mut alice, json!({"action": "typing:start", "conversationId": c.conversation_id})).await;
    bob.event("typing:start").await;
    alice.send_message(&c.conversation_id, "done typing", None).await;
    let key = format!("{}typing:{}:{}", c.world.config.redis_key_prefix, c.conversation_id, c.alice.id());
    let exists: i64 = ::redis::cmd("EXISTS").arg(&key).query_async(&mut redis(&c.world).await).await.expect("exists");
    assert_eq!(exists, 0);
}

/// Typing in someone else's conversation is refused with FORBIDDEN and pushes nothing.
#[tokio::test]
async fn typing_in_a_strangers_conversation_is_forbidden() {
    let c = Chat::with_env(&[]).await;
    let mut bob = WsClient::connect(&c.gateway, &c.bob).await;
    let carol = TestUser::new(&c.world, "carol");
    let mut carol_ws = WsClient::connect(&c.gateway, &carol).await;
    send_frame(&mut carol_ws, json!({"action": "typing:start", "conversationId": c.conversation_id, "requestId": "t"}))
        .await;
    assert_eq!(carol_ws.ack("t").await["error"]["code"], "FORBIDDEN");
    bob.assert_silent(Duration::from_millis(300)).await;
}

/// mark_read: alice's connections get messages:read, PostgreSQL has read_at, and a second
/// mark_read with a lower upToSeq changes nothing.
#[tokio::test]
async fn read_receipts_reach_the_sender_and_never_move_backwards() {
    let c = Chat::with_env(&[]).await;
    let mut alice = WsClient::connect(&c.gateway, &c.alice).await;
    let mut alice_phone = WsClient::connect(&c.gateway, &c.alice).await;
    let mut bob = WsClient::connect(&c.gateway, &c.bob).await;
    for text in ["one", "two", "three"] {
        alice.send_message(&c.conversation_id, text, None).await;
    }

    send_frame(
        &mut bob,
        json!({"action": "message:mark_read", "conversationId": c.conversation_id, "upToSeq": 2, "requestId": "m1"}),
    )
    .await;
    let ack = bob.ack("m1").await;
    assert_eq!(ack["status"], "success", "{ack}");
    assert_eq!(ack["data"]["upToSeq"], 2);
    for ws in [&mut alice, &mut alice_phone] {
        let read = ws.event("messages:read").await;
        assert_eq!(read["data"]["upToSeq"], 2);
        assert_eq!(read["data"]["readerId"], c.bob.id());
        assert!(read["data"]["readAt"].is_string());
    }
    let read_rows = "SELECT count(*) FROM messages WHERE read_at IS NOT NULL AND status = 'read'";
    assert_eq!(count(&c.world, read_rows).await, 2);

    send_frame(
        &mut bob,
        json!({"action": "message:mark_read", "conversationId": c.conversation_id, "upToSeq": 1, "requestId": "m2"}),
    )
    .await;
    let ack = bob.ack("m2").await;
    assert_eq!((ack["data"]["upToSeq"].as_i64(), &ack["data"]["readAt"]), (Some(2), &Value::Null), "{ack}");
    assert_eq!(count(&c.world, read_rows).await, 2);
    alice.assert_silent(Duration::from_millis(300)).await;

    send_frame(
        &mut bob,
        json!({"action": "message:mark_read", "conversationId": c.conversation_id, "requestId": "m3"}),
    )
    .await;
    assert_eq!(bob.ack("m3").await["data"]["upToSeq"], 3, "no upToSeq reads everything");
    assert_eq!(alice.event("messages:read").await["data"]["upToSeq"], 3);
    assert_eq!(count(&c.world, read_rows).await, 3);
}

/// bob, offline, gets 120 messages; three syncs of 50 return all of them in order with no gap
/// or repeat, all become delivered, and alice is told.
#[tokio::test]
async fn an_offline_recipient_syncs_everything_in_order() {
    let c = Chat::with_env(&[("RATE_LIMIT_MESSAGES_PER_MINUTE", "1000")]).await;
    let mut alice = WsClient::connect(&c.gateway, &c.alice).await;
    for n in 1..=120 {
        let ack = alice.send_message(&c.conversation_id, &format!("message {n}"), None).await;
        assert_eq!(ack["data"]["status"], "sent", "{ack}");
    }

    let mut bob = WsClient::connect(&c.gateway, &c.bob).await;
    let (mut after, mut seqs, mut pages) = (0, Vec::new(), Vec::new());
    for page in 0..3 {
        let request_id = format!("s{page}");
        send_frame(&mut bob, json!({"action": "conversation:sync", "conversationId": c.conversation_id, "afterSeq": after, "limit": 50, "requestId": request_id})).await;
        let ack = bob.ack(&request_id).await;
        let messages = ack["data"]["messages"].as_array().expect("messages").clone();
        pages.push((messages.len(), ack["data"]["hasMore"].as_bool().expect("hasMore")));
        for m in &messages {
            assert_eq!(m["status"], "delivered");
            assert_eq!(m["content"], format!("message {}", m["seq"]));
            seqs.push(m["seq"].as_i64().expect("seq"));
        }
        after = *seqs.last().expect("a page is not empty");
    }
    assert_eq!(pages, vec![(50, true), (50, true), (20, false)]);
    assert_eq!(seqs, (1..=120).collect::<Vec<_>>());
    assert_eq!(count(&c.world, "SELECT count(*) FROM messages WHERE status = 'delivered'").await, 120);

    let mut delivered = Vec::new();
    while delivered.len() < 120 {
        let event = alice.event("message:delivered").await;
        delivered.extend(event["data"]["messageIds"].as_array().expect("ids").iter().cloned());
    }
    assert_eq!(delivered.len(), 120);
}

/// Sync validates its input.
#[tokio::test]
async fn sync_refuses_bad_limits() {
    let c = Chat::with_env(&[]).await;
    let mut bob = WsClient::connect(&c.gateway, &c.bob).await;
    for (limit, rid) in [(0, "a"), (501, "b")] {
        send_frame(&mut bob, json!({"action": "conversation:sync", "conversationId": c.conversation_id, "afterSeq": 0, "limit": limit, "requestId": rid})).await;
        assert_eq!(bob.ack(rid).await["error"]["code"], "VALIDATION_ERROR");
    }
    send_frame(
        &mut bob,
        json!({"action": "conversation:sync", "conversationId": c.conversation_id, "afterSeq": -1, "requestId": "c"}),
    )
    .await;
    assert_eq!(bob.ack("c").await["error"]["code"], "VALIDATION_ERROR");
}

/// 50 concurrent sends from 5 connections of one user: exactly 10 are stored and acked, 40 are
/// refused with CHAT_RATE_LIMIT_EXCEEDED and a positive retryAfter.
#[tokio::test]
async fn the_message_rate_limit_is_exact_under_concurrency() {
    let c = Chat::with_env(&[]).await;
    let mut devices = Vec::new();
    for _ in 0..5 {
        devices.push(WsClient::connect(&c.gateway, &c.alice).await);
    }
    let acks = join_all(devices.iter_mut().enumerate().map(|(d, ws)| {
        let conversation_id = c.conversation_id.clone();
        async move {
            for n in 0..10 {
                let frame = json!({"action": "message:send", "conversationId": conversation_id, "content": "burst", "requestId": format!("d{d}-{n}")});
                ws.send_text(frame.to_string()).await;
            }
            let mut acks = Vec::new();
            for n in 0..10 {
                acks.push(ws.ack(&format!("d{d}-{n}")).await);
            }
            acks
        }
    }))
    .await;
    let acks: Vec<Value> = acks.into_iter().flatten().collect();
    let ok = acks.iter().filter(|a| a["status"] == "success").count();
    let limited: Vec<&Value> = acks.iter().filter(|a| a["error"]["code"] == "CHAT_RATE_LIMIT_EXCEEDED").collect();
    assert_eq!((ok, limited.len()), (10, 40), "{acks:?}");
    assert!(limited.iter().all(|a| a["error"]["retryAfter"].as_u64().is_some_and(|s| s > 0)));
    assert_eq!(count(&c.world, "SELECT count(*) FROM messages").await, 10);
}

/// ping answers pong (keep-alive under API Gateway's idle timeout).
#[tokio::test]
async fn ping_is_answered_with_pong() {
    let c = Chat::with_env(&[]).await;
    let mut alice = WsClient::connect(&c.gateway, &c.alice).await;
    send_frame(&mut alice, json!({"action": "ping", "requestId": "p"})).await;
    let ack = alice.ack("p").await;
    assert_eq!(ack["data"]["pong"], true, "{ack}");
}

/// Connects over the per-user limit are refused at the handshake with 429.
#[tokio::test]
async fn connects_over_the_limit_are_refused_with_429() {
    let world = TestWorld::with_env(&[("RATE_LIMIT_CONNECTS_PER_MINUTE", "2")]).await;
    let gateway = start_gateway(&world).await;
    let alice = TestUser::new(&world, "alice");
    let _first = WsClient::connect(&gateway, &alice).await;
    let _second = WsClient::connect(&gateway, &alice).await;
    let url = format!("{}?token={}", gateway.ws_url(), alice.token);
    assert_eq!(chat_tests::client::refused_handshake_status(&url).await, 429);
}
