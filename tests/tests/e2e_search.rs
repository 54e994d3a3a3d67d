//! `GET /messages/search` end to end through `chat-local`: scoping, query syntax, highlighting,
//! paging and hostile input.

use std::collections::HashSet;

use chat_tests::client::{Chat, TestUser, WsClient, create_conversation};
use serde_json::Value;

/// Searches as `user` with these query parameters: status and JSON body.
async fn search(c: &Chat, user: &TestUser, params: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}/messages/search", c.gateway.http_url()))
        .query(params)
        .bearer_auth(&user.token)
        .send()
        .await
        .expect("HTTP request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The contents of a page's hits, in order.
fn contents(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|h| h["message"]["content"].as_str().expect("content").to_owned())
        .collect()
}

/// Sends each text from `sender` into `conversation`.
async fn send_all(c: &Chat, sender: &TestUser, conversation: &str, texts: &[&str]) {
    let mut ws = WsClient::connect(&c.gateway, sender).await;
    for text in texts {
        let ack = ws.send_message(conversation, text, None).await;
        assert_eq!(ack["status"], "success", "{ack}");
    }
    ws.close().await;
}

/// A second pair, carol and dave, with their own conversation.
async fn carol_and_dave(c: &Chat) -> (TestUser, TestUser, String) {
    let (carol, dave) = (TestUser::new(&c.world, "carol"), TestUser::new(&c.world, "dave"));
    WsClient::connect(&c.gateway, &dave).await.close().await;
    let (status, body) = create_conversation(&c.gateway, &carol, &dave.id()).await;
    assert_eq!(status, 201, "{body}");
    (carol, dave, body["id"].as_str().expect("id").to_owned())
}

/// Two pairs of users share words; each sees only their own conversations' messages.
#[tokio::test]
async fn search_never_returns_another_users_conversations() {
    let c = Chat::with_env(&[]).await;
    let (carol, dave, theirs) = carol_and_dave(&c).await;
    send_all(&c, &c.alice, &c.conversation_id, &["pizza meeting tomorrow", "no words in common"]).await;
    send_all(&c, &carol, &theirs, &["pizza meeting tonight", "the pizza place downtown"]).await;

    for (user, expected) in [
        (&c.alice, vec!["pizza meeting tomorrow"]),
        (&c.bob, vec!["pizza meeting tomorrow"]),
        (&carol, vec!["pizza meeting tonight", "the pizza place downtown"]),
        (&dave, vec!["pizza meeting tonight", "the pizza place downtown"]),
    ] {
        let (status, page) = search(&c, user, &[("q", "pizza")]).await;
        assert_eq!(status, 200, "{page}");
        let mut got = contents(&page);
        got.sort();
        assert_eq!(got, expected, "{}", user.identity.display_name);
    }

    // Naming someone else's conversation does not widen the search.
    let (status, body) = search(&c, &c.alice, &[("q", "pizza"), ("conversationId", &theirs)]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("FORBIDDEN")), "{body}");
    let unknown = uuid::Uuid::now_v7().to_string();
    let (status, body) = search(&c, &c.alice, &[("q", "pizza"), ("conversationId", &unknown)]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("NOT_FOUND")), "{body}");
    let (status, page) = search(&c, &carol, &[("q", "pizza"), ("conversationId", &theirs), ("limit", "1")]).await;
    assert_eq!((status, page["items"].as_array().map(Vec::len), &page["hasMore"]), (200, Some(1), &Value::Bool(true)));
}

/// Web-search syntax: quoted phrases, `or`, `-exclusion`; stemming; best match first.
#[tokio::test]
async fn phrases_or_and_exclusion_work() {
    let c = Chat::with_env(&[]).await;
    send_all(
        &c,
        &c.alice,
        &c.conversation_id,
        &[
            "the quarterly budget review is on friday",
            "budget for the quarterly party",
            "reviewing the quarterly numbers",
            "coffee or tea?",
        ],
    )
    .await;
    let cases: [(&str, &[&str]); 5] = [
        ("\"quarterly budget\"", &["the quarterly budget review is on friday"]),
        ("budget -party", &["the quarterly budget review is on friday"]),
        ("party OR numbers", &["budget for the quarterly party", "reviewing the quarterly numbers"]),
        // "reviews" and "reviewing" stem to "review".
        ("reviews", &["reviewing the quarterly numbers", "the quarterly budget review is on friday"]),
        ("quarterly -\"quarterly budget\" -party", &["reviewing the quarterly numbers"]),
    ];
    for (q, expected) in cases {
        let (status, page) = search(&c, &c.bob, &[("q", q)]).await;
        assert_eq!(status, 200, "{q}: {page}");
        let mut got = contents(&page);
        got.sort();
        assert_eq!(got, expected, "{q}");
        let ranks: Vec<f64> = page["items"].as_array().unwrap().iter().map(|h| h["rank"].as_f64().unwrap()).collect();
        assert!(ranks.windows(2).all(|w| w[0] >= w[1]), "{q}: best first: {ranks:?}");
    }
    // Commas are text, not separators (API Gateway joins repeated parameters with commas).
    let (status, page) = search(&c, &c.bob, &[("q", "quarterly, friday")]).await;
    assert_eq!((status, contents(&page)), (200, vec!["the quarterly budget review is on friday".to_owned()]), "{page}");
    // Only stop words: a valid query that matches nothing.
    let (status, page) = search(&c, &c.bob, &[("q", "the or")]).await;
    assert_eq!((status, page["items"].as_array().map(Vec::len)), (200, Some(0)), "{page}");
}

/// Snippets escape the content; `<mark>` around matches is the only markup, and markers
/// hidden in the content are removed.
#[tokio::test]
async fn snippets_are_escaped_and_highlighted() {
    let c = Chat::with_env(&[]).await;
    let hostile = "<b>budget</b> & \"friends\" \u{E000}fake\u{E001} 'quoted'";
    let long = format!("{} the budget is approved {}", "words before ".repeat(30), "and words after".repeat(30));
    send_all(&c, &c.alice, &c.conversation_id, &[hostile, &long]).await;
    let (status, page) = search(&c, &c.bob, &[("q", "budget")]).await;
    assert_eq!(status, 200, "{page}");
    let hits = page["items"].as_array().expect("items");
    let hit = hits.iter().find(|h| h["message"]["content"] == hostile).expect("the short message is found");
    assert_eq!(
        hit["snippet"], "&lt;b&gt;<mark>budget</mark>&lt;/b&gt; &amp; &quot;friends&quot; fake &#39;quoted&#39;",
        "{hit}"
    );
    // A long message is cut to fragments around its matches.
    let hit = hits.iter().find(|h| h["message"]["content"] == long.as_str()).expect("the long message is found");
    let snippet = hit["snippet"].as_str().expect("snippet");
    assert!(snippet.contains("the <mark>budget</mark> is approved"), "{snippet}");
    assert!(snippet.chars().count() < 300, "{snippet}");
}

/// Cursor paging: every match exactly once, in rank order, while new matches arrive between
/// pages (they are not mixed into a walk already under way, and show up in a new search).
#[tokio::test]
async fn search_pages_cover_every_match_once_while_messages_arrive() {
    let c = Chat::with_env(&[("RATE_LIMIT_MESSAGES_PER_MINUTE", "1000")]).await;
    let texts: Vec<String> =
        (0..45).map(|n| format!("lunch plan {n}{}", if n % 3 == 0 { " lunch lunch" } else { "" })).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    send_all(&c, &c.alice, &c.conversation_id, &refs).await;

    let mut alice = WsClient::connect(&c.gateway, &c.alice).await;
    let (mut seen, mut ranks, mut cursor, mut pages) = (Vec::new(), Vec::new(), None::<String>, 0);
    loop {
        let mut params = vec![("q", "lunch"), ("limit", "20")];
        if let Some(cursor) = &cursor {
            params.push(("cursor", cursor));
        }
        let (status, page) = search(&c, &c.bob, &params).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        for hit in page["items"].as_array().expect("items") {
            seen.push(hit["message"]["content"].as_str().expect("content").to_owned());
            ranks.push(hit["rank"].as_f64().expect("rank"));
        }
        alice.send_message(&c.conversation_id, "late lunch", None).await;
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => {
                assert_eq!(page["hasMore"], false);
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (45, 45), "no gap, no repeat");
    assert!(!seen.iter().any(|s| s == "late lunch"), "the walk keeps its window");
    assert!(ranks.windows(2).all(|w| w[0] >= w[1]), "rank order across pages");

    let (_, fresh) = search(&c, &c.bob, &[("q", "late lunch"), ("limit", "50")]).await;
    assert_eq!(contents(&fresh).iter().filter(|s| *s == "late lunch").count(), 3, "{fresh}");
}

/// Hostile and malformed input never causes a 5xx: 200 for anything searchable, 400
/// `VALIDATION_ERROR` for empty, oversize or malformed parameters.
#[tokio::test]
async fn hostile_input_is_answered_without_server_errors() {
    let c = Chat::with_env(&[("RATE_LIMIT_REST_PER_MINUTE", "10000")]).await;
    send_all(&c, &c.alice, &c.conversation_id, &["it's a \\ backslash & pipe | bang ! colon : star *"]).await;
    let long_unicode = "日本語のテキスト🙂".repeat(20);
    let searchable = [
        "'",
        "\\",
        "&|!:*",
        "&",
        "|",
        "!",
        ":*",
        "a:*",
        "(",
        ")",
        "((((",
        "\"",
        "\"\"",
        "\"unclosed",
        "-",
        "--x",
        "OR",
        "or or or",
        "- - -",
        "it's",
        "\\'; DROP TABLE messages; --",
        "$1",
        "%",
        "_",
        "\u{0}",
        "a\u{0}b",
        "ﬁ",
        "ÅNGSTRÖM",
        "مرحبا بالعالم",
        "🙂",
        "\u{202E}evil",
        "\u{E000}x\u{E001}",
        &long_unicode,
    ];
    for q in searchable {
        let (status, page) = search(&c, &c.bob, &[("q", q)]).await;
        let expected = if q.chars().all(|ch| ch.is_control()) { 400 } else { 200 };
        assert_eq!(status, expected, "{q:?}: {page}");
        if status == 200 {
            assert!(page["items"].is_array(), "{q:?}: {page}");
        }
    }
    let (_, page) = search(&c, &c.bob, &[("q", "backslash & pipe")]).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");

    let too_long = "x".repeat(201);
    let too_long_after_a_comma = format!("x,{}", "y".repeat(199));
    let very_long = "a ".repeat(2500);
    let bad: [&[(&str, &str)]; 12] = [
        &[],
        &[("q", "")],
        &[("q", "   ")],
        &[("q", &too_long)],
        &[("q", &too_long_after_a_comma)],
        &[("q", &very_long)],
        &[("q", "x"), ("limit", "0")],
        &[("q", "x"), ("limit", "51")],
        &[("q", "x"), ("limit", "many")],
        &[("q", "x"), ("cursor", "not-a-cursor")],
        &[("q", "x"), ("conversationId", "not-a-uuid")],
        &[("q", "x"), ("conversationId", "")],
    ];
    for params in bad {
        let (status, body) = search(&c, &c.bob, params).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")), "{params:?}: {body}");
    }
}
