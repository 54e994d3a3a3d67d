//! HTTP API `GET /messages/search`: ranked full-text search over the caller's conversations.
//! All behaviour lives in `chat-shared`; this binary only wires it up once per container.

use chat_shared::config::Config;
use chat_shared::edge::{self, Services};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    chat_shared::telemetry::init();
    let services = Services::from_config(Config::from_env()?).await?;
    edge::run(edge::HttpSearchMessages::new(&services)).await
}
