//! The edge: the only place that knows Lambda event types, HTTP status codes and error frames.
//!
//! Each function is a [`Handler`] (`functions/<name>/src/main.rs` runs one with [`run`]).
//! `chat-local` and tests call the same handlers through [`Handlers::invoke`], with the JSON
//! events API Gateway would send, so the in-process path is the Lambda path.

mod authorizer;
mod errors;
mod http_api;
pub mod query;
mod websocket;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use crate::adapters::secrets::Wanted;
pub use authorizer::Authorizer;
pub use errors::error_body;
pub use http_api::{HttpCreateConversation, HttpGetMessages, HttpListConversations, HttpMarkRead, HttpSearchMessages};
pub use websocket::{WsConnect, WsDefault, WsDisconnect, WsMarkRead, WsSendMessage, WsSync, WsTyping};

use crate::adapters::apigw::ApiGatewayNotifier;
use crate::adapters::dynamodb::DynamoConnectionRegistry;
use crate::adapters::postgres::PgStore;
use crate::adapters::redis::{RedisClient, RedisRateLimiter, RedisTypingTracker};
use crate::config::Config;
use crate::ports::{Cause, Clock, SystemClock};
use crate::routes::Function;

/// One Lambda function's logic: an event in, a response out. Errors are part of the response
/// (an error ack, an HTTP error body, a deny policy); a handler never fails the invocation.
#[async_trait]
pub trait Handler: Send + Sync {
    type Event: DeserializeOwned + Send;
    type Response: Serialize;

    async fn handle(&self, event: Self::Event) -> Self::Response;
}

/// Runs `handler` under the Lambda runtime until the environment is shut down.
///
/// # Errors
/// The runtime API cannot be reached.
pub async fn run<H: Handler>(handler: H) -> Result<(), lambda_runtime::Error> {
    let handler = &handler;
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<H::Event>| async move {
        Ok::<_, std::convert::Infallible>(handler.handle(event.payload).await)
    }))
    .await
}

/// Why an in-process invocation failed, as the Lambda service would report a function error.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The event does not deserialize into the handler's event type, or the response does not serialize.
    #[error("invalid event for this function: {0}")]
    Event(#[from] serde_json::Error),
    /// The function failed the invocation (only `migrate` does; the others answer errors).
    #[error("function error: {0}")]
    Function(String),
}

/// Invokes `handler` with a JSON event, as the Lambda runtime would.
///
/// # Errors
/// [`InvokeError`] when the event does not have the handler's event shape.
pub async fn invoke_json<H: Handler>(handler: &H, event: Value) -> Result<Value, InvokeError> {
    let event = serde_json::from_value(event)?;
    Ok(serde_json::to_value(handler.handle(event).await)?)
}

/// What `migrate` answers: the PostgreSQL migrations (`applied`, `current`), and how many
/// connections of the connection table's earlier layout it moved (`connectionsAdopted`).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrateReport {
    #[serde(flatten)]
    pub database: crate::adapters::postgres::MigrationReport,
    pub connections_adopted: usize,
}

/// The `migrate` function: applies the migrations the database does not have yet, then moves
/// connections opened before the per-user connection items into them
/// ([`DynamoConnectionRegistry::adopt_legacy_connections`]). Unlike the other functions it fails
/// the invocation on error, so a deploy pipeline sees it.
///
/// # Errors
/// The database cannot be reached, a migration fails, or the connection table cannot be read
/// or written.
pub async fn migrate(
    database_url: &str,
    tls: &crate::config::DatabaseTls,
    registry: &DynamoConnectionRegistry,
    connection_ttl: std::time::Duration,
) -> Result<MigrateReport, Cause> {
    let database = crate::adapters::postgres::migrate_with_tls(database_url, tls).await?;
    let connections_adopted = registry.adopt_legacy_connections(connection_ttl).await?;
    Ok(MigrateReport { database, connections_adopted })
}

/// The database URL of `settings`, read from Secrets Manager when it names a secret.
///
/// # Errors
/// The secret cannot be read or has the wrong form.
pub async fn database_url(settings: &crate::config::DatabaseSettings) -> Result<String, Cause> {
    if settings.secret_arn.is_none() {
        return Ok(settings.url.clone());
    }
    database_url_with(settings, &aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await).await
}

/// [`database_url`] with the caller's AWS SDK configuration.
///
/// # Errors
/// As [`database_url`].
pub async fn database_url_with(
    settings: &crate::config::DatabaseSettings,
    sdk: &aws_config::SdkConfig,
) -> Result<String, Cause> {
    match &settings.secret_arn {
        None => Ok(settings.url.clone()),
        Some(arn) => {
            let client = aws_sdk_secretsmanager::Client::new(sdk);
            crate::adapters::secrets::database_url_from_secret(
                &crate::adapters::secrets::secret_string(&client, arn).await?,
            )
        }
    }
}

/// The shared building blocks of every function, each built once per process.
#[derive(Debug, Clone)]
pub struct Services {
    pub config: Config,
    pub store: PgStore,
    pub registry: DynamoConnectionRegistry,
    pub redis: RedisClient,
    pub clock: Arc<dyn Clock>,
    pub sdk: aws_config::SdkConfig,
}

impl Services {
    /// Builds the clients of one function from configuration, reading the database secret
    /// from Secrets Manager when `DATABASE_SECRET_ARN` names one (the JWT secret is the
    /// authorizer's alone: [`Authorizer::from_config`]). Nothing else connects yet: the
    /// PostgreSQL pool and the SDK clients connect on first use.
    ///
    /// # Errors
    /// The database secret cannot be read, or as [`Services::with_sdk`].
    pub async fn from_config(config: Config) -> Result<Self, Cause> {
        let sdk = crate::adapters::aws_sdk_config(&config).await;
        Self::resolving(config, sdk, Wanted::DATABASE).await
    }

    /// Reads the `wanted` secrets `config` names by ARN (Secrets Manager), then
    /// [`Services::with_sdk`]. [`Wanted::ALL`] is for running every function in one process
    /// ([`Handlers`]).
    ///
    /// # Errors
    /// A secret cannot be read, or as [`Services::with_sdk`].
    pub async fn resolving(mut config: Config, sdk: aws_config::SdkConfig, wanted: Wanted) -> Result<Self, Cause> {
        crate::adapters::secrets::resolve(&mut config, &sdk, wanted).await?;
        Self::with_sdk(config, sdk)
    }

    /// As [`Services::from_config`], with an AWS SDK configuration built by the caller (tests
    /// point it at an emulator without touching the process environment).
    ///
    /// # Errors
    /// A malformed database URL, or a database secret named by ARN that was not read.
    pub fn with_sdk(config: Config, sdk: aws_config::SdkConfig) -> Result<Self, Cause> {
        if config.secrets.database_url.is_some() {
            return Err("the database secret named by ARN was not read (use Services::from_config)".into());
        }
        let registry =
            DynamoConnectionRegistry::new(aws_sdk_dynamodb::Client::new(&sdk), config.connections_table.clone());
        Ok(Self {
            store: PgStore::with_tls(
                &config.database_url,
                config.database_pool_size,
                config.outbound_timeout,
                &config.database_tls,
            )?,
            registry,
            redis: RedisClient::with_ca_file(
                &config.redis_url,
                &config.redis_key_prefix,
                config.outbound_timeout,
                config.redis_ca_file.as_deref(),
            )?,
            clock: Arc::new(SystemClock),
            sdk,
            config,
        })
    }

    /// The management API notifier.
    ///
    /// # Errors
    /// `APIGW_MANAGEMENT_ENDPOINT` is not set.
    pub fn notifier(&self) -> Result<ApiGatewayNotifier, Cause> {
        let endpoint = self
            .config
            .management_endpoint
            .as_deref()
            .ok_or("APIGW_MANAGEMENT_ENDPOINT is required by functions that push")?;
        Ok(ApiGatewayNotifier::new(&self.sdk, endpoint, self.config.push_max_attempts))
    }

    /// The per-user rate limiter (Redis).
    pub fn rate_limiter(&self) -> RedisRateLimiter {
        RedisRateLimiter::new(self.redis.clone(), self.config.rate_limits)
    }

    /// Typing state (Redis).
    pub fn typing_tracker(&self) -> RedisTypingTracker {
        RedisTypingTracker::new(self.redis.clone(), self.config.typing_ttl, self.config.typing_push_interval)
    }
}

/// Every function's handler, for running them all in one process (`chat-local`, tests).
#[derive(Debug)]
pub struct Handlers {
    pub authorizer: Authorizer,
    pub ws_connect: WsConnect,
    pub ws_disconnect: WsDisconnect,
    pub ws_default: WsDefault,
    pub ws_send_message: WsSendMessage,
    pub ws_typing: WsTyping,
    pub ws_mark_read: WsMarkRead,
    pub ws_sync: WsSync,
    pub http_create_conversation: HttpCreateConversation,
    pub http_list_conversations: HttpListConversations,
    pub http_get_messages: HttpGetMessages,
    pub http_mark_read: HttpMarkRead,
    pub http_search_messages: HttpSearchMessages,
    /// For `migrate`, which needs the database and the connection table only.
    pub database_url: String,
    pub database_tls: crate::config::DatabaseTls,
    /// The connection table and connections' lifetime, for `migrate`.
    pub registry: DynamoConnectionRegistry,
    pub connection_ttl: std::time::Duration,
}

impl Handlers {
    /// # Errors
    /// As [`Authorizer::new`] (the JWT settings of `services.config`) and [`Services::notifier`].
    pub fn new(services: &Services) -> Result<Self, Cause> {
        Self::with_authorizer(services, Authorizer::new(&services.config)?)
    }

    /// # Errors
    /// As [`Services::notifier`].
    pub fn with_authorizer(services: &Services, authorizer: Authorizer) -> Result<Self, Cause> {
        Ok(Self {
            authorizer,
            ws_connect: WsConnect::new(services),
            ws_disconnect: WsDisconnect::new(services),
            ws_default: WsDefault,
            ws_send_message: WsSendMessage::new(services)?,
            ws_typing: WsTyping::new(services)?,
            ws_mark_read: WsMarkRead::new(services)?,
            ws_sync: WsSync::new(services)?,
            http_create_conversation: HttpCreateConversation::new(services),
            http_list_conversations: HttpListConversations::new(services),
            http_get_messages: HttpGetMessages::new(services),
            http_mark_read: HttpMarkRead::new(services)?,
            http_search_messages: HttpSearchMessages::new(services),
            database_url: services.config.database_url.clone(),
            database_tls: services.config.database_tls.clone(),
            registry: services.registry.clone(),
            connection_ttl: services.config.connection_ttl,
        })
    }

    /// Invokes `function` with a JSON event and returns its JSON response, as Lambda would.
    ///
    /// # Errors
    /// [`InvokeError`] when the event does not have the function's event shape.
    pub async fn invoke(&self, function: Function, event: Value) -> Result<Value, InvokeError> {
        match function {
            Function::Authorizer => invoke_json(&self.authorizer, event).await,
            Function::WsConnect => invoke_json(&self.ws_connect, event).await,
            Function::WsDisconnect => invoke_json(&self.ws_disconnect, event).await,
            Function::WsDefault => invoke_json(&self.ws_default, event).await,
            Function::WsSendMessage => invoke_json(&self.ws_send_message, event).await,
            Function::WsTyping => invoke_json(&self.ws_typing, event).await,
            Function::WsMarkRead => invoke_json(&self.ws_mark_read, event).await,
            Function::WsSync => invoke_json(&self.ws_sync, event).await,
            Function::HttpCreateConversation => invoke_json(&self.http_create_conversation, event).await,
            Function::HttpListConversations => invoke_json(&self.http_list_conversations, event).await,
            Function::HttpGetMessages => invoke_json(&self.http_get_messages, event).await,
            Function::HttpMarkRead => invoke_json(&self.http_mark_read, event).await,
            Function::HttpSearchMessages => invoke_json(&self.http_search_messages, event).await,
            Function::Migrate => {
                let report = migrate(&self.database_url, &self.database_tls, &self.registry, self.connection_ttl)
                    .await
                    .map_err(|e| InvokeError::Function(e.to_string()))?;
                Ok(serde_json::to_value(report)?)
            }
        }
    }
}

/// The caller, from the authorizer's context (`{userId, displayName}`), as API Gateway passes it
/// to every later event (flat for WebSocket events, under `lambda` for the HTTP API).
fn identity_from(fields: &std::collections::HashMap<String, Value>) -> Option<crate::auth::Identity> {
    let user_id = fields.get("userId")?.as_str()?.parse().ok()?;
    let display_name = fields.get("displayName").and_then(Value::as_str).unwrap_or_default().to_owned();
    Some(crate::auth::Identity { user_id, display_name })
}

/// The request body as text (`None` for base64 that is not UTF-8).
fn decode_body(body: Option<&str>, base64_encoded: bool) -> Option<String> {
    use base64::Engine;
    let body = body.unwrap_or_default();
    if !base64_encoded {
        return Some(body.to_owned());
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(body).ok()?;
    String::from_utf8(bytes).ok()
}
