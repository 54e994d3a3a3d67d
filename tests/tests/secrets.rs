//! Secrets Manager (the emulator): functions read the PostgreSQL credentials, in RDS's JSON
//! format, the authorizer the HS256 secret, at init, and refuse to start without them.

use chat_shared::auth::KeySource;
use chat_shared::config::SecretArns;
use chat_shared::domain::ConversationId;
use chat_shared::edge::{Authorizer, Services, Wanted, invoke_json};
use chat_shared::ports::ConversationStore;
use chat_tests::TestWorld;
use chat_tests::client::TestUser;
use serde_json::json;

async fn create_secret(client: &aws_sdk_secretsmanager::Client, value: &str) -> String {
    let name = format!("chat-test-{}", uuid::Uuid::new_v4().simple());
    client.create_secret().name(name).secret_string(value).send().await.expect("create secret").arn.expect("ARN")
}

#[tokio::test]
async fn functions_read_only_their_own_secrets_at_init() {
    let world = TestWorld::new().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&world.sdk);
    let pg: tokio_postgres::Config = world.config.database_url.parse().expect("URL");
    let host = match pg.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        other => panic!("a TCP host, not {other:?}"),
    };
    let rds = json!({
        "username": pg.get_user().expect("user"),
        "password": String::from_utf8(pg.get_password().unwrap_or_default().to_vec()).expect("UTF-8"),
        "engine": "postgres",
        "host": host,
        "port": pg.get_ports().first().copied().unwrap_or(5432),
        "dbname": pg.get_dbname().expect("database"),
    });
    let KeySource::Secret(jwt_secret) = world.config.jwt.key.clone() else { panic!("HS256") };
    let database_arn = create_secret(&secrets, &rds.to_string()).await;
    let jwt_arn = create_secret(&secrets, &jwt_secret).await;

    let mut config = world.config.clone();
    config.database_url = String::new();
    config.jwt.key = KeySource::Secret(String::new());
    config.secrets = SecretArns { database_url: Some(database_arn), jwt_secret: Some(jwt_arn) };

    // Without reading them nothing starts (no empty secret, no empty URL).
    assert!(Services::with_sdk(config.clone(), world.sdk.clone()).is_err());
    assert!(Authorizer::new(&config).is_err());

    // A function that uses PostgreSQL reads the database secret only.
    let services = Services::resolving(config.clone(), world.sdk.clone(), Wanted::DATABASE).await.expect("services");
    assert!(services.config.secrets.database_url.is_none());
    assert!(services.config.secrets.jwt_secret.is_some(), "the JWT secret is the authorizer's");
    assert_eq!(services.store.participants(ConversationId::new_v7()).await.expect("query"), None);

    // The authorizer reads the JWT secret only, and then verifies tokens signed with it.
    let authorizer = Authorizer::resolving(config.clone(), &world.sdk).await.expect("authorizer");
    let alice = TestUser::new(&world, "alice");
    let event = json!({"type": "REQUEST", "methodArn": "arn:aws:execute-api:us-east-1:123456789012:api/local/$connect",
        "queryStringParameters": {"token": alice.token}});
    let answer = invoke_json(&authorizer, event).await.expect("authorizer answer");
    assert_eq!(answer["policyDocument"]["Statement"][0]["Effect"], "Allow", "{answer}");
    assert_eq!(answer["context"]["userId"], alice.identity.user_id.to_string(), "{answer}");

    // A secret that does not exist stops the function at init.
    let mut missing = config;
    missing.secrets.jwt_secret = Some("arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf".into());
    let error = Authorizer::resolving(missing, &world.sdk).await.expect_err("missing secret");
    assert!(error.to_string().contains("missing-AbCdEf"), "{error}");
}
