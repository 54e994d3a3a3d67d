//! Adapters: the ports implemented over real services. Driver errors are translated here.

pub mod apigw;
pub mod dynamodb;
pub mod pg_tls;
pub mod postgres;
pub mod redis;
pub mod secrets;

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;

use crate::config::Config;

/// The AWS SDK configuration: region, credentials and endpoint from the standard sources
/// (`AWS_REGION`, `AWS_ENDPOINT_URL`, the Lambda role), with every call bounded by the
/// configured outbound timeout.
pub async fn aws_sdk_config(config: &Config) -> aws_config::SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(config.outbound_timeout.min(Duration::from_secs(1)))
        .operation_attempt_timeout(config.outbound_timeout)
        .operation_timeout(config.outbound_timeout * 2)
        .build();
    aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts).load().await
}
