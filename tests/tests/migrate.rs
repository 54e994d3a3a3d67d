//! The `migrate` function against a real PostgreSQL: it brings a fresh database to the newest
//! schema, a second run is a no-op, and the in-process invocation (as chat-local makes it)
//! answers the same report.

use aws_sdk_dynamodb::types::AttributeValue;
use chat_shared::domain::ConnectionId;
use chat_shared::ports::ConnectionRegistry;
use chat_shared::routes::Function;
use chat_tests::{TestWorld, endpoints, with_database};
use serde_json::json;

/// The migration files, in order, as refinery names them (`V1__init`).
fn migration_names() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");
    let mut names: Vec<(u32, String)> = std::fs::read_dir(dir)
        .expect("migrations/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().trim_end_matches(".sql").to_owned())
        .map(|name| (name[1..name.find("__").expect("V<n>__name")].parse().expect("version"), name))
        .collect();
    names.sort();
    names.into_iter().map(|(_, name)| name).collect()
}

#[tokio::test]
async fn migrate_applies_everything_to_a_fresh_database_then_nothing() {
    let endpoints = endpoints().await;
    let name = format!("chat_migrate_{}", uuid::Uuid::new_v4().simple());
    let (admin, connection) =
        tokio_postgres::connect(&endpoints.admin_database_url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    admin.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create database");
    let url = with_database(&endpoints.admin_database_url, &name);

    // A connection of the connection table's earlier layout (an item per connection).
    let world = TestWorld::new().await;
    let legacy = |key: &str, value: &str| (key.to_owned(), AttributeValue::S(value.to_owned()));
    let alice = chat_shared::domain::UserId::from_subject("alice");
    world
        .dynamo
        .put_item()
        .table_name(&world.config.connections_table)
        .set_item(Some([legacy("connectionId", "old="), legacy("userId", &alice.to_string())].into()))
        .send()
        .await
        .expect("put a legacy item");
    let ttl = std::time::Duration::from_secs(7200);

    let expected = migration_names();
    assert!(expected.len() >= 4, "{expected:?}");
    let first = chat_shared::edge::migrate(&url, &Default::default(), &world.registry, ttl).await.expect("first run");
    assert_eq!(first.database.applied, expected);
    assert_eq!(first.database.current.as_ref(), expected.last());
    assert_eq!(first.connections_adopted, 1);
    assert_eq!(world.registry.connections_of(alice).await.expect("get"), vec![ConnectionId::new("old=")]);

    let second = chat_shared::edge::migrate(&url, &Default::default(), &world.registry, ttl).await.expect("second run");
    assert!(second.database.applied.is_empty(), "{second:?}");
    assert_eq!(second.database.current, first.database.current);
    assert_eq!(second.connections_adopted, 0);

    // The schema is there: the search index of the newest migration exists.
    let (db, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    let index = db
        .query_one("SELECT count(*) FROM pg_indexes WHERE indexname = 'messages_participant_search_idx'", &[])
        .await
        .expect("query");
    assert_eq!(index.get::<_, i64>(0), 1);
    // V4: the search index has no pending list (inserts do not stall on merging it).
    let options = db
        .query_one("SELECT reloptions FROM pg_class WHERE relname = 'messages_participant_search_idx'", &[])
        .await
        .expect("query");
    assert_eq!(options.get::<_, Option<Vec<String>>>(0), Some(vec!["fastupdate=off".to_owned()]));
    drop(db);
    admin.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)")).await.expect("drop database");
}

#[tokio::test]
async fn the_in_process_invocation_reports_an_up_to_date_database() {
    let world = TestWorld::new().await;
    let services = chat_shared::edge::Services::with_sdk(world.config.clone(), world.sdk.clone()).expect("services");
    let mut config = world.config.clone();
    config.management_endpoint = Some("http://127.0.0.1:9".into());
    let services = chat_shared::edge::Services { config, ..services };
    let handlers = chat_shared::edge::Handlers::new(&services).expect("handlers");
    let report = handlers.invoke(Function::Migrate, json!({})).await.expect("invoke");
    assert_eq!(report, json!({"applied": [], "current": migration_names().last(), "connectionsAdopted": 0}));

    // A database that cannot be reached fails the invocation instead of answering.
    let mut broken = world.config.clone();
    broken.database_url = "postgres://postgres@127.0.0.1:1/none".into();
    broken.management_endpoint = Some("http://127.0.0.1:9".into());
    let services = chat_shared::edge::Services::with_sdk(broken, world.sdk.clone()).expect("services");
    let handlers = chat_shared::edge::Handlers::new(&services).expect("handlers");
    let error = handlers.invoke(Function::Migrate, json!({})).await.expect_err("unreachable database");
    assert!(matches!(error, chat_shared::edge::InvokeError::Function(_)), "{error}");
}
