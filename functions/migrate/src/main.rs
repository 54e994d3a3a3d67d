//! `migrate`: applies `migrations/` to the database, then answers `{"applied": [...], "current": "V3__..."}`.
//! Invoke it after every deploy (`sam remote invoke MigrateFunction`); running it again is a
//! no-op. A failed migration fails the invocation. All behaviour lives in `chat-shared`.

use chat_shared::config::Config;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    chat_shared::telemetry::init();
    let settings = Config::database_from_env()?;
    let database_url = chat_shared::edge::database_url(&settings).await?;
    let (database_url, tls) = (&database_url, &settings.tls);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        chat_shared::edge::migrate(database_url, tls).await
    }))
    .await
}
