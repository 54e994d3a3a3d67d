//! WebSocket `$default`: answers frames that match no route (`UNKNOWN_ACTION`, `VALIDATION_ERROR`).
//! All behaviour lives in `chat-shared`; this binary only wires it up.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    chat_shared::telemetry::init();
    chat_shared::edge::run(chat_shared::edge::WsDefault).await
}
