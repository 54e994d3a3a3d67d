//! The real `aws-sdk-apigatewaymanagement` client against `chat-local`'s management API.

use aws_sdk_apigatewaymanagement::primitives::Blob;
use chat_shared::domain::UserId;
use chat_shared::ports::ConnectionRegistry;
use chat_tests::TestWorld;
use chat_tests::client::{TestUser, WsClient, start_gateway};

/// Post, get and delete on a live connection; GoneException for an unknown one.
#[tokio::test]
async fn the_sdk_client_posts_gets_deletes_and_sees_gone() {
    let world = TestWorld::new().await;
    let gateway = start_gateway(&world).await;
    let alice = TestUser::new(&world, "alice");
    let mut ws = WsClient::connect(&gateway, &alice).await;
    let user: UserId = alice.id().parse().expect("uuid");
    let connection = world.registry.connections_of(user).await.expect("query").pop().expect("registered on $connect");
    let id = connection.as_str().to_owned();
    assert_eq!(id.len(), 16, "AWS-shaped id: {id}");

    let config =
        aws_sdk_apigatewaymanagement::config::Builder::from(&world.sdk).endpoint_url(gateway.management_url()).build();
    let client = aws_sdk_apigatewaymanagement::Client::from_conf(config);

    client.post_to_connection().connection_id(&id).data(Blob::new(r#"{"event":"hello"}"#)).send().await.expect("post");
    assert_eq!(ws.event("hello").await["event"], "hello");

    let info = client.get_connection().connection_id(&id).send().await.expect("get");
    assert!(info.connected_at.is_some());
    assert!(info.last_active_at.is_some());
    assert_eq!(info.identity.and_then(|i| i.source_ip), Some("127.0.0.1".to_owned()));

    client.delete_connection().connection_id(&id).send().await.expect("delete");
    let gone = client.post_to_connection().connection_id(&id).data(Blob::new("x")).send().await.expect_err("gone");
    assert!(gone.as_service_error().is_some_and(|e| e.is_gone_exception()), "{gone:?}");

    let unknown = client.get_connection().connection_id("NoSuchConn00=").send().await.expect_err("unknown");
    assert!(unknown.as_service_error().is_some_and(|e| e.is_gone_exception()), "{unknown:?}");

    // The DELETE closed the socket, and $disconnect removed the mapping.
    for _ in 0..50 {
        if world.registry.connections_of(user).await.expect("query").is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the connection item was not removed after DELETE");
}
