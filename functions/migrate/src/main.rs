//! `migrate`: applies `migrations/` to the database and moves connections of the connection
//! table's earlier layout into per-user items, then answers
//! `{"applied": [...], "current": "V3__...", "connectionsAdopted": 0}`.
//! Invoke it after every deploy (`sam remote invoke MigrateFunction`); running it again is a
//! no-op. A failure fails the invocation. All behaviour lives in `chat-shared`.

use chat_shared::adapters::dynamodb::DynamoConnectionRegistry;
use chat_shared::config::Config;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    chat_shared::telemetry::init();
    let config = Config::from_env()?;
    let settings = config.database_settings();
    let database_url = chat_shared::edge::database_url(&settings).await?;
    let registry = DynamoConnectionRegistry::from_config(&config).await;
    let (database_url, tls, registry, ttl) = (&database_url, &settings.tls, &registry, config.connection_ttl);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        chat_shared::edge::migrate(database_url, tls, registry, ttl).await
    }))
    .await
}
