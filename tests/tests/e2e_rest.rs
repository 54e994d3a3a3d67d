//! The REST read paths end to end through `chat-local`: conversation list, history, read.

use chat_tests::TestWorld;
use chat_tests::client::{Chat, TestUser, WsClient, create_conversation, get_json as get, post_json, start_gateway};
use serde_json::{Value, json};

async fn unread(c: &Chat, user: &TestUser) -> i64 {
    let (status, _, page) = get(&c.gateway, user, "/conversations").await;
    assert_eq!(status, 200, "{page}");
    let item = page["items"].as_array().expect("items").iter().find(|i| i["id"] == c.conversation_id).cloned();
    item.expect("the conversation is listed")["unreadCount"].as_i64().expect("unreadCount")
}

/// Unread counts stay right across sends, sync (delivery is not reading), reads over HTTP and
/// over WebSocket, on two devices.
#[tokio::test]
async fn unread_counts_follow_sends_syncs_and_reads_on_two_devices() {
    let c = Chat::with_env(&[]).await;
    let mut alice = WsClient::connect(&c.gateway, &c.alice).await;
    for text in ["one", "two", "three"] {
        alice.send_message(&c.conversation_id, text, None).await;
    }
    assert_eq!((unread(&c, &c.bob).await, unread(&c, &c.alice).await), (3, 0));

    let mut bob_laptop = WsClient::connect(&c.gateway, &c.bob).await;
    let mut bob_phone = WsClient::connect(&c.gateway, &c.bob).await;
    bob_laptop.send_text(json!({"action": "conversation:sync", "conversationId": c.conversation_id, "afterSeq": 0, "requestId": "s"}).to_string()).await;
    bob_laptop.ack("s").await;
    assert_eq!(unread(&c, &c.bob).await, 3, "delivered is not read");

    let path = format!("/conversations/{}/read", c.conversation_id);
    let (status, body) = post_json(&c.gateway, &path, Some(&c.bob.token), r#"{"upToSeq": 2}"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["upToSeq"], 2);
    assert_eq!(alice.event("messages:read").await["data"]["upToSeq"], 2);
    for device in [&mut bob_laptop, &mut bob_phone] {
        assert_eq!(
            device.event("messages:read").await["data"]["readerId"],
            c.bob.id(),
            "the reader's devices hear it too"
        );
    }
    assert_eq!(unread(&c, &c.bob).await, 1);

    bob_phone.send_message(&c.conversation_id, "reply", None).await;
    assert_eq!((unread(&c, &c.bob).await, unread(&c, &c.alice).await), (1, 1));

    bob_phone
        .send_text(
            json!({"action": "message:mark_read", "conversationId": c.conversation_id, "requestId": "r"}).to_string(),
        )
        .await;
    bob_phone.ack("r").await;
    let (status, body) = post_json(&c.gateway, &path, Some(&c.alice.token), "").await;
    assert_eq!((status, body["upToSeq"].as_i64()), (200, Some(4)), "{body}");
    assert_eq!((unread(&c, &c.bob).await, unread(&c, &c.alice).await), (0, 0));
}

/// History pages walked backwards concatenate to the whole conversation, with no gap or
/// repeat, while new messages keep arriving between page requests.
#[tokio::test]
async fn history_pages_concatenate_while_messages_arrive() {
    let c = Chat::with_env(&[("RATE_LIMIT_MESSAGES_PER_MINUTE", "1000")]).await;
    let mut alice = WsClient::connect(&c.gateway, &c.alice).await;
    for n in 1..=120 {
        alice.send_message(&c.conversation_id, &format!("m{n}"), None).await;
    }
    let base = format!("/conversations/{}/messages", c.conversation_id);
    let (mut seqs, mut cursor, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let path = match &cursor {
            Some(before) => format!("{base}?before={before}"),
            None => base.clone(),
        };
        let (status, _, page) = get(&c.gateway, &c.bob, &path).await;
        assert_eq!(status, 200, "{page}");
        let mut page_seqs: Vec<i64> =
            page["items"].as_array().expect("items").iter().map(|m| m["seq"].as_i64().expect("seq")).collect();
        assert!(page_seqs.windows(2).all(|w| w[0] < w[1]), "ascending within a page");
        page_seqs.extend(seqs);
        seqs = page_seqs;
        pages += 1;
        // New messages arrive between page requests.
        alice.send_message(&c.conversation_id, "late", None).await;
        match page["nextCursor"].as_str() {
            Some(next) => {
                assert_eq!(page["hasMore"], true);
                cursor = Some(next.to_owned());
            }
            None => {
                assert_eq!(page["hasMore"], false);
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seqs, (1..=120).collect::<Vec<_>>());

    let (_, _, forward) = get(&c.gateway, &c.bob, &format!("{base}?after=100&limit=100")).await;
    let first_late =
        forward["items"].as_array().expect("items").iter().map(|m| m["seq"].as_i64().expect("seq")).collect::<Vec<_>>();
    assert_eq!(first_late, (101..=123).collect::<Vec<_>>(), "forward paging sees the late ones");
    assert_eq!(forward["nextCursor"], Value::Null);
}

/// Bad parameters and foreign conversations are refused with documented codes.
#[tokio::test]
async fn history_and_list_refuse_bad_input() {
    let c = Chat::with_env(&[]).await;
    let carol = TestUser::new(&c.world, "carol");
    let base = format!("/conversations/{}/messages", c.conversation_id);
    let cases = [
        (&c.bob, format!("{base}?before=abc"), 400, "VALIDATION_ERROR"),
        (&c.bob, format!("{base}?before=5&after=1"), 400, "VALIDATION_ERROR"),
        (&c.bob, format!("{base}?limit=0"), 400, "VALIDATION_ERROR"),
        (&c.bob, format!("{base}?limit=101"), 400, "VALIDATION_ERROR"),
        (&c.bob, "/conversations/not-a-uuid/messages".to_owned(), 400, "VALIDATION_ERROR"),
        (&c.bob, format!("/conversations/{}/messages", uuid::Uuid::now_v7()), 404, "NOT_FOUND"),
        (&carol, base.clone(), 403, "FORBIDDEN"),
        (&c.bob, "/conversations?cursor=nope".to_owned(), 400, "VALIDATION_ERROR"),
        (&c.bob, "/conversations?limit=1000".to_owned(), 400, "VALIDATION_ERROR"),
    ];
    for (user, path, status, code) in cases {
        let (got, _, body) = get(&c.gateway, user, &path).await;
        assert_eq!((got, body["error"]["code"].as_str()), (status, Some(code)), "{path}: {body}");
    }
    let read = format!("/conversations/{}/read", c.conversation_id);
    for bad in ["[]", "[3]", "7", "\r", r#"{"upToSeq": -1}"#, r#"{"upToSeq": "2"}"#] {
        let (status, body) = post_json(&c.gateway, &read, Some(&c.bob.token), bad).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")), "{bad}: {body}");
    }
    let (status, body) = post_json(&c.gateway, &read, Some(&carol.token), "").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("FORBIDDEN")), "{body}");
}

/// The list is ordered by latest activity and pages through every conversation once.
#[tokio::test]
async fn the_conversation_list_pages_by_latest_activity() {
    let world = TestWorld::new().await;
    let gateway = start_gateway(&world).await;
    let alice = TestUser::new(&world, "alice");
    let mut ids = Vec::new();
    for n in 0..5 {
        let friend = TestUser::new(&world, &format!("friend{n}"));
        WsClient::connect(&gateway, &friend).await.close().await;
        let (_, body) = create_conversation(&gateway, &alice, &friend.id()).await;
        ids.push(body["id"].as_str().expect("id").to_owned());
    }
    // Activity in conversation 1 makes it the most recent.
    let mut ws = WsClient::connect(&gateway, &alice).await;
    ws.send_message(&ids[1], "bump", None).await;

    let (mut seen, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let path = cursor
            .as_ref()
            .map_or("/conversations?limit=2".to_owned(), |c| format!("/conversations?limit=2&cursor={c}"));
        let (status, _, page) = get(&gateway, &alice, &path).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(page["items"].as_array().expect("items").iter().map(|i| i["id"].as_str().expect("id").to_owned()));
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let mut expected: Vec<String> = ids.iter().rev().cloned().collect();
    expected.retain(|id| *id != ids[1]);
    expected.insert(0, ids[1].clone());
    assert_eq!(seen, expected);
}

/// REST calls over the per-user limit get 429 with Retry-After.
#[tokio::test]
async fn rest_calls_over_the_limit_get_429_with_retry_after() {
    let c = Chat::with_env(&[("RATE_LIMIT_REST_PER_MINUTE", "2")]).await;
    // the fixture already spent one (POST /conversations).
    let (first, _, _) = get(&c.gateway, &c.alice, "/conversations").await;
    let (second, retry, body) = get(&c.gateway, &c.alice, "/conversations").await;
    assert_eq!((first, second), (200, 429), "{body}");
    assert_eq!(body["error"]["code"], "CHAT_RATE_LIMIT_EXCEEDED");
    let retry: u64 = retry.expect("Retry-After").parse().expect("seconds");
    assert!(retry > 0 && Some(retry) == body["error"]["retryAfter"].as_u64());
}
