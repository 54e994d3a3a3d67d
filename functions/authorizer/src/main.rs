//! Lambda authorizer (WebSocket `$connect` and HTTP API): verifies the JWT.
//! All behaviour lives in `chat-shared`; this binary only wires it up once per container.
//! It reads the JWT secret and nothing else: no database, no Redis, no DynamoDB.

use chat_shared::config::Config;
use chat_shared::edge;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    chat_shared::telemetry::init();
    edge::run(edge::Authorizer::from_config(Config::from_env()?).await?).await
}
