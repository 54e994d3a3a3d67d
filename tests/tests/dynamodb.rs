//! The DynamoDB connection registry against the AWS emulator.

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

/// A user's connections are found through the GSI, and removed ones disappear.
#[tokio::test]
async fn connections_are_registered_found_by_user_and_removed() {
    let world = TestWorld::new().await;
    let (alice, bob) = (UserId::from_subject("alice"), UserId::from_subject("bob"));
    for c in [connection("a1=", alice), connection("a2=", alice), connection("b1=", bob)] {
        world.registry.register(&c).await.expect("register");
    }
    let mut found = world.registry.connections_of(alice).await.expect("query");
    found.sort();
    assert_eq!(found, vec![ConnectionId::new("a1="), ConnectionId::new("a2=")]);

    world.registry.remove(&ConnectionId::new("a1=")).await.expect("remove");
    world.registry.remove(&ConnectionId::new("never-existed")).await.expect("removing an unknown id is fine");
    assert_eq!(world.registry.connections_of(alice).await.expect("query"), vec![ConnectionId::new("a2=")]);
    assert_eq!(world.registry.connections_of(bob).await.expect("query"), vec![ConnectionId::new("b1=")]);
}

/// The stored item has the documented attributes, and the TTL is on `expiresAt`.
#[tokio::test]
async fn items_carry_user_timestamps_and_a_ttl() {
    let world = TestWorld::new().await;
    let c = connection("x1=", UserId::from_subject("alice"));
    world.registry.register(&c).await.expect("register");
    let item = world
        .dynamo
        .get_item()
        .table_name(&world.config.connections_table)
        .key("connectionId", aws_sdk_dynamodb::types::AttributeValue::S("x1=".into()))
        .send()
        .await
        .expect("get")
        .item
        .expect("item exists");
    assert_eq!(item["userId"].as_s().expect("S"), &c.user_id.to_string());
    assert_eq!(item["expiresAt"].as_n().expect("N"), &c.expires_at.timestamp().to_string());
    assert_eq!(item["connectedAt"].as_n().expect("N"), &c.connected_at.timestamp_millis().to_string());

    let ttl =
        world.dynamo.describe_time_to_live().table_name(&world.config.connections_table).send().await.expect("ttl");
    let description = ttl.time_to_live_description.expect("description");
    assert_eq!(description.attribute_name.as_deref(), Some("expiresAt"));
}

/// Creating the table twice is harmless (setup runs on every start).
#[tokio::test]
async fn ensuring_the_table_twice_is_idempotent() {
    let world = TestWorld::new().await;
    assert!(!world.registry.ensure_table().await.expect("second ensure"), "already existed");
}
