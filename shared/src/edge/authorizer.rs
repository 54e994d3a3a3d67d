//! The Lambda authorizer, for both APIs:
//! - WebSocket `$connect` (REQUEST type): answers an IAM policy, Allow or Deny, with the
//!   context `{userId, displayName}`; API Gateway answers the handshake 403 on Deny.
//! - HTTP API (payload format 2.0, simple responses): answers `{isAuthorized, context}`.
//!
//! The token comes from the `token` query parameter (browsers cannot set headers on a
//! WebSocket) or from `Authorization: Bearer`.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::Handler;
use crate::adapters::secrets::Wanted;
use crate::auth::{TokenVerifier, bearer_token};
use crate::config::Config;
use crate::ports::Cause;

/// Verifies the caller's token.
#[derive(Debug, Clone)]
pub struct Authorizer {
    verifier: Arc<TokenVerifier>,
}

impl Authorizer {
    /// The authorizer function at init: reads the JWT secret from Secrets Manager when
    /// `JWT_SECRET_ARN` names one (and nothing else: it needs no database, no Redis), then
    /// checks the key settings.
    ///
    /// # Errors
    /// The secret cannot be read, or as [`Authorizer::new`].
    pub async fn from_config(config: Config) -> Result<Self, Cause> {
        if config.secrets.jwt_secret.is_none() {
            return Self::new(&config);
        }
        let sdk = crate::adapters::aws_sdk_config(&config).await;
        Self::resolving(config, &sdk).await
    }

    /// As [`Authorizer::from_config`], with an AWS SDK configuration built by the caller.
    ///
    /// # Errors
    /// As [`Authorizer::from_config`].
    pub async fn resolving(mut config: Config, sdk: &aws_config::SdkConfig) -> Result<Self, Cause> {
        crate::adapters::secrets::resolve(&mut config, sdk, Wanted::JWT).await?;
        Self::new(&config)
    }

    /// # Errors
    /// The JWT secret named by ARN was not read, or the key settings are unusable (no HS256
    /// secret, a bad PEM or JWKS).
    pub fn new(config: &Config) -> Result<Self, Cause> {
        if config.secrets.jwt_secret.is_some() {
            return Err("the JWT secret named by ARN was not read (use Authorizer::from_config)".into());
        }
        Ok(Self { verifier: Arc::new(TokenVerifier::new(&config.jwt)?) })
    }

    pub fn from_verifier(verifier: Arc<TokenVerifier>) -> Self {
        Self { verifier }
    }
}

/// The token from an authorizer event of either shape.
fn token(event: &Value) -> Option<&str> {
    let query = event.get("queryStringParameters").and_then(|q| q.get("token")).and_then(Value::as_str);
    let header = event.get("headers").and_then(Value::as_object).and_then(|headers| {
        headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("authorization")).and_then(|(_, v)| v.as_str())
    });
    query.filter(|t| !t.is_empty()).or_else(|| header.and_then(bearer_token))
}

#[async_trait]
impl Handler for Authorizer {
    type Event = Value;
    type Response = Value;

    async fn handle(&self, event: Value) -> Value {
        let identity = match token(&event).map(|t| self.verifier.verify(t)) {
            Some(Ok(identity)) => Some(identity),
            Some(Err(error)) => {
                tracing::info!(%error, "token refused");
                None
            }
            None => {
                tracing::info!("no token");
                None
            }
        };
        let context =
            identity.as_ref().map(|i| json!({"userId": i.user_id.to_string(), "displayName": i.display_name}));
        if event.get("version").and_then(Value::as_str) == Some("2.0") {
            return match context {
                Some(context) => json!({"isAuthorized": true, "context": context}),
                None => json!({"isAuthorized": false}),
            };
        }
        let resource = event.get("methodArn").cloned().unwrap_or(Value::String("*".into()));
        let effect = if context.is_some() { "Allow" } else { "Deny" };
        let mut response = json!({
            "principalId": identity.as_ref().map_or_else(|| "anonymous".to_owned(), |i| i.user_id.to_string()),
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]
            }
        });
        if let Some(context) = context {
            response["context"] = context;
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{JwtAlgorithm, JwtConfig, KeySource, issue_dev_token};
    use std::time::Duration;

    fn setup() -> (Authorizer, String) {
        let config = JwtConfig {
            algorithm: JwtAlgorithm::Hs256,
            key: KeySource::Secret("s".into()),
            issuer: None,
            audience: None,
            leeway_seconds: 0,
        };
        let (_, token) = issue_dev_token(&config, "alice", Duration::from_secs(60)).unwrap();
        (Authorizer::from_verifier(Arc::new(TokenVerifier::new(&config).unwrap())), token)
    }

    #[tokio::test]
    async fn a_websocket_request_with_a_good_token_is_allowed_with_the_user_in_context() {
        let (auth, token) = setup();
        let out = auth
            .handle(json!({"type": "REQUEST", "methodArn": "arn:x", "queryStringParameters": {"token": token}}))
            .await;
        assert_eq!(out["policyDocument"]["Statement"][0]["Effect"], "Allow");
        assert_eq!(out["policyDocument"]["Statement"][0]["Resource"], "arn:x");
        assert_eq!(out["context"]["displayName"], "alice");
    }

    #[tokio::test]
    async fn a_websocket_request_with_a_bad_token_is_denied() {
        let (auth, _) = setup();
        let out = auth
            .handle(json!({"type": "REQUEST", "methodArn": "arn:x", "queryStringParameters": {"token": "nope"}}))
            .await;
        assert_eq!(out["policyDocument"]["Statement"][0]["Effect"], "Deny");
        assert!(out.get("context").is_none());
    }

    #[tokio::test]
    async fn an_http_request_uses_simple_responses_and_the_bearer_header() {
        let (auth, token) = setup();
        let ok = auth.handle(json!({"version": "2.0", "headers": {"authorization": format!("Bearer {token}")}})).await;
        assert_eq!(ok["isAuthorized"], true);
        assert!(ok["context"]["userId"].is_string());
        let denied = auth.handle(json!({"version": "2.0", "headers": {}})).await;
        assert_eq!(denied, json!({"isAuthorized": false}));
    }
}
