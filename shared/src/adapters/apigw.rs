//! Pushes through the API Gateway Management API (`POST /@connections/{id}`).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::config::retry::RetryConfig;
use aws_sdk_apigatewaymanagement::error::SdkError;
use aws_sdk_apigatewaymanagement::primitives::Blob;

use crate::domain::ConnectionId;
use crate::ports::{Notifier, PortError, PushError};

/// The management API client, pointed at `https://{api}.execute-api.{region}.amazonaws.com/{stage}`
/// on AWS, or at `chat-local`.
#[derive(Debug, Clone)]
pub struct ApiGatewayNotifier {
    client: Client,
}

impl ApiGatewayNotifier {
    /// A notifier for the management API at `endpoint`. Each push is tried up to
    /// `max_attempts` times on transient failures (timeouts, 5xx, throttling), with jittered
    /// exponential backoff; `410 Gone` is final.
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: &str, max_attempts: u32) -> Self {
        let retry = RetryConfig::standard()
            .with_max_attempts(max_attempts.max(1))
            .with_initial_backoff(Duration::from_millis(20))
            .with_max_backoff(Duration::from_millis(200));
        let config =
            aws_sdk_apigatewaymanagement::config::Builder::from(sdk).endpoint_url(endpoint).retry_config(retry).build();
        Self { client: Client::from_conf(config) }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

#[async_trait]
impl Notifier for ApiGatewayNotifier {
    async fn push(&self, connection_id: &ConnectionId, payload: &[u8]) -> Result<(), PushError> {
        let sent = self
            .client
            .post_to_connection()
            .connection_id(connection_id.as_str())
            .data(Blob::new(payload))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_gone_exception()) => Err(PushError::Gone),
            // A 410 without the GoneException error type is still gone.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 410) => Err(PushError::Gone),
            Err(e @ (SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_))) => {
                Err(PushError::Failed(PortError::Unavailable(Box::new(e))))
            }
            Err(e) => Err(PushError::Failed(PortError::Internal(Box::new(e)))),
        }
    }
}
