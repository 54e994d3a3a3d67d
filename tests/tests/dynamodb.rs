//! The DynamoDB connection registry against the AWS emulator.

use aws_sdk_dynamodb::types::AttributeValue;
use chat_shared::domain::{ConnectionId, UserId};
use chat_shared::ports::{Connection, ConnectionRegistry};
use chat_tests::TestWorld;

fn connection(id: &str, user: UserId) -> Connection {
    let now = chrono::Utc::now();
    Connection {
        connection_id: ConnectionId::new(id),
        user_id: user,
        connected_at: now,
        expires_at: now + chrono::Duration::hours(2),
    }
}

fn sorted(mut ids: Vec<ConnectionId>) -> Vec<ConnectionId> {
    ids.sort();
    ids
}

async fn user_item(world: &TestWorld, user: UserId) -> Option<std::collections::HashMap<String, AttributeValue>> {
    world
        .dynamo
        .get_item()
        .table_name(&world.config.connections_table)
        .key("connectionId", AttributeValue::S(format!("user#{user}")))
        .consistent_read(true)
        .send()
        .await
        .expect("get")
        .item
}

/// A user's connections are found, each user's in one call, and removed ones disappear.
#[tokio::test]
async fn connections_are_registered_found_by_user_and_removed() {
    let world = TestWorld::new().await;
    let (alice, bob, carol) =
        (UserId::from_subject("alice"), UserId::from_subject("bob"), UserId::from_subject("carol"));
    for c in [connection("a1=", alice), connection("a2=", alice), connection("b1=", bob)] {
        world.registry.register(&c).await.expect("register");
    }
    let found = world.registry.connections_of_each(&[bob, carol, alice, bob]).await.expect("batch");
    assert_eq!(found.len(), 4, "one answer per user asked, in order");
    assert_eq!(found[0], vec![ConnectionId::new("b1=")]);
    assert!(found[1].is_empty(), "carol never connected");
    assert_eq!(sorted(found[2].clone()), vec![ConnectionId::new("a1="), ConnectionId::new("a2=")]);
    assert_eq!(found[3], found[0], "a user asked twice gets the same answer");

    world.registry.remove(alice, &ConnectionId::new("a1=")).await.expect("remove");
    world.registry.remove(alice, &ConnectionId::new("never-existed")).await.expect("removing an unknown id is fine");
    world.registry.remove(carol, &ConnectionId::new("c1=")).await.expect("removing from a user with no item is fine");
    assert!(user_item(&world, carol).await.is_none(), "removing creates no item");
    assert_eq!(world.registry.connections_of(alice).await.expect("get"), vec![ConnectionId::new("a2=")]);
    assert_eq!(world.registry.connections_of(bob).await.expect("get"), vec![ConnectionId::new("b1=")]);

    world.registry.remove(bob, &ConnectionId::new("b1=")).await.expect("remove");
    assert!(world.registry.connections_of(bob).await.expect("get").is_empty(), "the last one removed");
}

/// More users than one `BatchGetItem` takes (100) are read in several.
#[tokio::test]
async fn a_look_up_of_many_users_is_split_into_batches() {
    let world = TestWorld::new().await;
    let users: Vec<UserId> = (0..130).map(|n| UserId::from_subject(&format!("user{n}"))).collect();
    for (n, user) in users.iter().enumerate().filter(|(n, _)| n % 2 == 0) {
        world.registry.register(&connection(&format!("c{n}="), *user)).await.expect("register");
    }
    let found = world.registry.connections_of_each(&users).await.expect("batches");
    for (n, connections) in found.iter().enumerate() {
        let expected = if n % 2 == 0 { vec![ConnectionId::new(format!("c{n}="))] } else { vec![] };
        assert_eq!(connections, &expected, "user {n}");
    }
}

/// The user item has the documented attributes, its TTL is the newest connection's expiry, and
/// the table's TTL is on `expiresAt`.
#[tokio::test]
async fn the_user_item_carries_the_connections_and_a_ttl() {
    let world = TestWorld::new().await;
    let alice = UserId::from_subject("alice");
    let first = connection("x1=", alice);
    let mut second = connection("x2=", alice);
    second.expires_at = first.expires_at + chrono::Duration::seconds(30);
    world.registry.register(&first).await.expect("register");
    world.registry.register(&second).await.expect("register");
    let item = user_item(&world, alice).await.expect("item exists");
    let mut ids = item["connections"].as_ss().expect("SS").clone();
    ids.sort();
    assert_eq!(ids, ["x1=", "x2="]);
    assert_eq!(item["expiresAt"].as_n().expect("N"), &second.expires_at.timestamp().to_string());
    assert!(!item.contains_key("userId"), "user items stay out of the byUser index");

    let ttl =
        world.dynamo.describe_time_to_live().table_name(&world.config.connections_table).send().await.expect("ttl");
    let description = ttl.time_to_live_description.expect("description");
    assert_eq!(description.attribute_name.as_deref(), Some("expiresAt"));
}

/// Connections stored in the earlier layout (an item per connection, found through the GSI)
/// are moved into their users' items by `adopt_legacy_connections`, once.
#[tokio::test]
async fn connections_of_the_earlier_layout_are_adopted() {
    let world = TestWorld::new().await;
    let (alice, bob) = (UserId::from_subject("alice"), UserId::from_subject("bob"));
    world.registry.register(&connection("new=", alice)).await.expect("register");
    for (id, user) in [("old-a=", alice), ("old-b1=", bob), ("old-b2=", bob)] {
        world
            .dynamo
            .put_item()
            .table_name(&world.config.connections_table)
            .item("connectionId", AttributeValue::S(id.into()))
            .item("userId", AttributeValue::S(user.to_string()))
            .item("connectedAt", AttributeValue::N("1764800000000".into()))
            .item("expiresAt", AttributeValue::N("1764807200".into()))
            .send()
            .await
            .expect("put a legacy item");
    }
    assert!(world.registry.connections_of(bob).await.expect("get").is_empty(), "not seen before adoption");

    let ttl = std::time::Duration::from_secs(7200);
    assert_eq!(world.registry.adopt_legacy_connections(ttl).await.expect("adopt"), 3);
    assert_eq!(
        sorted(world.registry.connections_of(alice).await.expect("get")),
        vec![ConnectionId::new("new="), ConnectionId::new("old-a=")]
    );
    assert_eq!(
        sorted(world.registry.connections_of(bob).await.expect("get")),
        vec![ConnectionId::new("old-b1="), ConnectionId::new("old-b2=")]
    );
    let expires_at: i64 =
        user_item(&world, bob).await.expect("bob's item")["expiresAt"].as_n().expect("N").parse().expect("number");
    let in_two_hours = chrono::Utc::now().timestamp() + 7200;
    assert!((in_two_hours - 60..=in_two_hours).contains(&expires_at), "expires {expires_at}, not in about 2 h");
    let legacy = world
        .dynamo
        .get_item()
        .table_name(&world.config.connections_table)
        .key("connectionId", AttributeValue::S("old-a=".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("get");
    assert!(legacy.item.is_none(), "the legacy item is deleted once moved");
    assert_eq!(world.registry.adopt_legacy_connections(ttl).await.expect("again"), 0, "nothing left");
}

/// Creating the table twice is harmless (setup runs on every start).
#[tokio::test]
async fn ensuring_the_table_twice_is_idempotent() {
    let world = TestWorld::new().await;
    assert!(!world.registry.ensure_table().await.expect("second ensure"), "already existed");
}

/// `$disconnect` removes the connection from the user its authorizer context names; without
/// that context it removes nothing (the first push's `410 Gone` will) and still answers 200.
#[tokio::test]
async fn disconnect_takes_the_user_from_the_authorizer_context() {
    use chat_local::events::{WsConnection, WsEventType, WsRequest, ws_disconnect_event};
    use chat_shared::routes::Function;

    let world = TestWorld::new().await;
    let mut config = world.config.clone();
    config.management_endpoint = Some("http://127.0.0.1:9".into());
    let services = chat_shared::edge::Services::with_sdk(config, world.sdk.clone()).expect("services");
    let handlers = chat_shared::edge::Handlers::new(&services).expect("handlers");
    let alice = UserId::from_subject("alice");
    for id in ["d1=", "d2="] {
        world.registry.register(&connection(id, alice)).await.expect("register");
    }
    let event = |id: &str, context: serde_json::Map<String, serde_json::Value>| {
        let connection = WsConnection {
            connection_id: id.to_owned(),
            connected_at: chrono::Utc::now(),
            domain_name: "127.0.0.1:3001".into(),
            stage: "local".into(),
            api_id: chat_local::DEFAULT_API_ID.into(),
            source_ip: "127.0.0.1".into(),
            user_agent: None,
        };
        let request = WsRequest::new("$disconnect", WsEventType::Disconnect, chrono::Utc::now());
        ws_disconnect_event(&connection, &request, context, 1000, "bye")
    };
    let context = serde_json::json!({"userId": alice.to_string(), "displayName": "alice"});
    let answer = handlers
        .invoke(Function::WsDisconnect, event("d1=", context.as_object().expect("object").clone()))
        .await
        .expect("invoke");
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let answer = handlers.invoke(Function::WsDisconnect, event("d2=", serde_json::Map::new())).await.expect("invoke");
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(world.registry.connections_of(alice).await.expect("get"), vec![ConnectionId::new("d2=")]);
}
