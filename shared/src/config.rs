//! Configuration, read once from the environment at init.
//!
//! Every variable is listed in the README's configuration table; keep the two in step.

use std::time::Duration;

use crate::auth::{JwtAlgorithm, JwtConfig, KeySource};

/// Everything a function (or `chat-local`) needs to build its adapters.
#[derive(Debug, Clone)]
pub struct Config {
    /// PostgreSQL connection string (`DATABASE_URL`).
    pub database_url: String,
    /// Maximum pooled PostgreSQL connections per process (`DATABASE_POOL_SIZE`).
    pub database_pool_size: usize,
    /// TLS to PostgreSQL (`DATABASE_TLS`, `DATABASE_CA_FILE`).
    pub database_tls: DatabaseTls,
    /// Settings to read from Secrets Manager at init ([`crate::adapters::secrets::resolve`]).
    pub secrets: SecretArns,
    /// DynamoDB table holding connection mappings (`CONNECTIONS_TABLE`).
    pub connections_table: String,
    /// Base URL of the API Gateway Management API, `https://{api}.execute-api.{region}.amazonaws.com/{stage}`
    /// (`APIGW_MANAGEMENT_ENDPOINT`).
    pub management_endpoint: Option<String>,
    /// How long a connection lives in the registry (`CONNECTION_TTL_SECONDS`; API Gateway closes sockets after 2 hours).
    pub connection_ttl: Duration,
    /// Timeout for each outbound call to PostgreSQL, DynamoDB and the management API (`OUTBOUND_TIMEOUT_MS`).
    pub outbound_timeout: Duration,
    /// Token verification settings.
    pub jwt: JwtConfig,
    /// Redis connection string (`REDIS_URL`; `rediss://` for TLS).
    pub redis_url: String,
    /// Prefix of every Redis key (`REDIS_KEY_PREFIX`), so environments can share a Redis.
    pub redis_key_prefix: String,
    /// Extra trusted roots (PEM) for `rediss://` (`REDIS_CA_FILE`); the system roots otherwise.
    pub redis_ca_file: Option<std::path::PathBuf>,
    /// Rate limits, per user.
    pub rate_limits: RateLimits,
    /// How long a `typing:start` lasts without a refresh (`TYPING_TTL_MS`).
    pub typing_ttl: Duration,
    /// Minimum time between two `typing:start` pushes for one typist (`TYPING_PUSH_INTERVAL_MS`).
    pub typing_push_interval: Duration,
    /// Attempts per push, with jittered exponential backoff between them (`PUSH_MAX_ATTEMPTS`).
    pub push_max_attempts: u32,
}

/// Per-user rate limits: so many per minute, with a burst of a full minute's allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// `message:send` (`RATE_LIMIT_MESSAGES_PER_MINUTE`).
    pub messages_per_minute: u32,
    /// `typing:start`/`typing:stop` (`RATE_LIMIT_TYPING_PER_MINUTE`).
    pub typing_per_minute: u32,
    /// WebSocket connects (`RATE_LIMIT_CONNECTS_PER_MINUTE`).
    pub connects_per_minute: u32,
    /// HTTP API requests (`RATE_LIMIT_REST_PER_MINUTE`).
    pub rest_per_minute: u32,
    /// What to do when Redis cannot answer (`RATE_LIMIT_ON_REDIS_FAILURE=allow|deny`).
    pub on_failure: OnLimiterFailure,
}

/// The rate limiter's behaviour when Redis is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnLimiterFailure {
    /// Let the request through (logged and counted). The default: chat keeps working.
    Allow,
    /// Refuse with `SERVICE_UNAVAILABLE`.
    Deny,
}

/// A variable that is missing or unparsable.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// Secrets Manager ARNs whose values replace settings at init; `None` once resolved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecretArns {
    /// `DATABASE_SECRET_ARN`: the PostgreSQL URL, or RDS's JSON credentials; replaces `DATABASE_URL`.
    pub database_url: Option<String>,
    /// `JWT_SECRET_ARN`: the HS256 secret; replaces `JWT_SECRET`.
    pub jwt_secret: Option<String>,
}

impl SecretArns {
    /// Whether a secret still has to be read.
    pub fn pending(&self) -> bool {
        self.database_url.is_some() || self.jwt_secret.is_some()
    }
}

/// The database settings of a process that needs nothing else (`migrate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSettings {
    /// `DATABASE_URL`; empty when `secret_arn` gives it.
    pub url: String,
    /// `DATABASE_SECRET_ARN`.
    pub secret_arn: Option<String>,
    pub tls: DatabaseTls,
}

/// TLS to PostgreSQL (`DATABASE_TLS`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DatabaseTls {
    /// Plain TCP (`disable`, the default: local development).
    #[default]
    Disable,
    /// TLS required; the server's certificate is not checked (`require`, as libpq's `sslmode=require`).
    Require,
    /// TLS required; the certificate must chain to the system roots or to `DATABASE_CA_FILE` (a PEM
    /// bundle, e.g. Amazon RDS's) and name the host (`verify-full`).
    VerifyFull { ca_file: Option<std::path::PathBuf> },
}

impl DatabaseTls {
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        match get("DATABASE_TLS").as_deref().map(str::trim) {
            None | Some("disable") => Ok(DatabaseTls::Disable),
            Some("require") => Ok(DatabaseTls::Require),
            Some("verify-full") => Ok(DatabaseTls::VerifyFull { ca_file: get("DATABASE_CA_FILE").map(Into::into) }),
            Some(other) => {
                Err(ConfigError(format!("DATABASE_TLS must be disable, require or verify-full, got {other:?}")))
            }
        }
    }
}

/// `DATABASE_URL` when it is not set: the local development database.
const DEFAULT_DATABASE_URL: &str = "postgres://postgres:postgres@127.0.0.1:5432/chat";

impl Config {
    /// The database settings (`DATABASE_URL` or `DATABASE_SECRET_ARN`, `DATABASE_TLS`,
    /// `DATABASE_CA_FILE`).
    fn database_from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<DatabaseSettings, ConfigError> {
        let tls = DatabaseTls::from_lookup(&get)?;
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let (url, secret_arn) = match (get("DATABASE_URL"), get("DATABASE_SECRET_ARN")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError("give DATABASE_URL or DATABASE_SECRET_ARN, not both".into()));
            }
            (url, None) => (url.unwrap_or_else(|| DEFAULT_DATABASE_URL.into()), None),
            (None, Some(arn)) => (String::new(), Some(arn)),
        };
        Ok(DatabaseSettings { url, secret_arn, tls })
    }

    /// The database settings this configuration was read with (what `migrate` connects with).
    pub fn database_settings(&self) -> DatabaseSettings {
        DatabaseSettings {
            url: self.database_url.clone(),
            secret_arn: self.secrets.database_url.clone(),
            tls: self.database_tls.clone(),
        }
    }

    /// Reads the configuration from the process environment.
    ///
    /// # Errors
    /// A variable that is set but invalid, or a JWT key setting that does not fit the algorithm.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `get`, so tests can supply their own variables.
    ///
    /// # Errors
    /// As [`Config::from_env`].
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let database = Self::database_from_lookup(&get)?;
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let number = |k: &str, default: u64| -> Result<u64, ConfigError> {
            match get(k) {
                None => Ok(default),
                Some(v) => v.trim().parse().map_err(|_| ConfigError(format!("{k} must be a whole number, got {v:?}"))),
            }
        };
        let positive = |k: &str, default: u32| -> Result<u32, ConfigError> {
            match u32::try_from(number(k, u64::from(default))?) {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(ConfigError(format!("{k} must be a whole number from 1 to {}", u32::MAX))),
            }
        };
        let algorithm = match get("JWT_ALGORITHM") {
            None => JwtAlgorithm::Hs256,
            Some(v) => v.parse().map_err(ConfigError)?,
        };
        let mut jwt_secret_arn = None;
        let key = match algorithm {
            JwtAlgorithm::Hs256 => match (get("JWT_SECRET"), get("JWT_SECRET_ARN")) {
                (Some(secret), None) => KeySource::Secret(secret),
                // Read at init; until then no token verifies (an empty secret is refused).
                (None, Some(arn)) => {
                    jwt_secret_arn = Some(arn);
                    KeySource::Secret(String::new())
                }
                (Some(_), Some(_)) => return Err(ConfigError("give JWT_SECRET or JWT_SECRET_ARN, not both".into())),
                // Only the authorizer verifies tokens (and chat-local signs dev ones); they refuse
                // an empty secret, so the other functions need no JWT settings at all.
                (None, None) => KeySource::Secret(String::new()),
            },
            JwtAlgorithm::Rs256 | JwtAlgorithm::Es256 => match (get("JWT_PUBLIC_KEY_PEM"), get("JWT_JWKS")) {
                (Some(pem), None) => KeySource::PublicKeyPem(pem),
                (None, Some(jwks)) => KeySource::Jwks(jwks),
                _ => {
                    return Err(ConfigError("RS256/ES256 need exactly one of JWT_PUBLIC_KEY_PEM or JWT_JWKS".into()));
                }
            },
        };
        Ok(Config {
            database_url: database.url,
            database_pool_size: number("DATABASE_POOL_SIZE", 4)? as usize,
            database_tls: database.tls,
            secrets: SecretArns { database_url: database.secret_arn, jwt_secret: jwt_secret_arn },
            connections_table: get("CONNECTIONS_TABLE").unwrap_or_else(|| "Connections".into()),
            management_endpoint: get("APIGW_MANAGEMENT_ENDPOINT"),
            connection_ttl: Duration::from_secs(number("CONNECTION_TTL_SECONDS", 7200)?),
            outbound_timeout: Duration::from_millis(number("OUTBOUND_TIMEOUT_MS", 3000)?),
            jwt: JwtConfig {
                algorithm,
                key,
                issuer: get("JWT_ISSUER"),
                audience: get("JWT_AUDIENCE"),
                leeway_seconds: number("JWT_LEEWAY_SECONDS", 30)?,
            },
            redis_url: get("REDIS_URL").unwrap_or_else(|| "redis://127.0.0.1:6379".into()),
            redis_key_prefix: get("REDIS_KEY_PREFIX").unwrap_or_else(|| "chat:".into()),
            redis_ca_file: get("REDIS_CA_FILE").map(Into::into),
            rate_limits: RateLimits {
                messages_per_minute: positive("RATE_LIMIT_MESSAGES_PER_MINUTE", 10)?,
                typing_per_minute: positive("RATE_LIMIT_TYPING_PER_MINUTE", 120)?,
                connects_per_minute: positive("RATE_LIMIT_CONNECTS_PER_MINUTE", 30)?,
                rest_per_minute: positive("RATE_LIMIT_REST_PER_MINUTE", 300)?,
                on_failure: match get("RATE_LIMIT_ON_REDIS_FAILURE").as_deref().map(str::trim) {
                    None | Some("allow") => OnLimiterFailure::Allow,
                    Some("deny") => OnLimiterFailure::Deny,
                    Some(other) => {
                        return Err(ConfigError(format!(
                            "RATE_LIMIT_ON_REDIS_FAILURE must be allow or deny, got {other:?}"
                        )));
                    }
                },
            },
            typing_ttl: Duration::from_millis(number("TYPING_TTL_MS", 3000)?),
            typing_push_interval: Duration::from_millis(number("TYPING_PUSH_INTERVAL_MS", 2000)?),
            push_max_attempts: positive("PUSH_MAX_ATTEMPTS", 3)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_apply_when_unset() {
        let c = config(&[("JWT_SECRET", "s")]).unwrap();
        assert_eq!(c.connections_table, "Connections");
        assert_eq!(c.connection_ttl, Duration::from_secs(7200));
    }

    #[test]
    fn rs256_needs_exactly_one_key_source() {
        assert!(config(&[("JWT_ALGORITHM", "RS256")]).is_err());
        assert!(config(&[("JWT_ALGORITHM", "RS256"), ("JWT_JWKS", "{}"), ("JWT_PUBLIC_KEY_PEM", "x")]).is_err());
        assert!(config(&[("JWT_ALGORITHM", "RS256"), ("JWT_JWKS", "{}")]).is_ok());
    }

    #[test]
    fn rate_limits_default_to_the_specification_and_are_validated() {
        let c = config(&[("JWT_SECRET", "s")]).unwrap();
        assert_eq!(c.rate_limits.messages_per_minute, 10);
        assert_eq!(c.rate_limits.on_failure, OnLimiterFailure::Allow);
        assert!(config(&[("JWT_SECRET", "s"), ("RATE_LIMIT_MESSAGES_PER_MINUTE", "0")]).is_err());
        assert!(config(&[("JWT_SECRET", "s"), ("RATE_LIMIT_ON_REDIS_FAILURE", "maybe")]).is_err());
        let deny = config(&[("JWT_SECRET", "s"), ("RATE_LIMIT_ON_REDIS_FAILURE", "deny")]).unwrap();
        assert_eq!(deny.rate_limits.on_failure, OnLimiterFailure::Deny);
    }

    #[test]
    fn database_tls_modes() {
        assert_eq!(config(&[("JWT_SECRET", "s")]).unwrap().database_tls, DatabaseTls::Disable);
        let require = config(&[("JWT_SECRET", "s"), ("DATABASE_TLS", "require")]).unwrap();
        assert_eq!(require.database_tls, DatabaseTls::Require);
        let verify =
            config(&[("JWT_SECRET", "s"), ("DATABASE_TLS", "verify-full"), ("DATABASE_CA_FILE", "/opt/rds.pem")]);
        assert_eq!(verify.unwrap().database_tls, DatabaseTls::VerifyFull { ca_file: Some("/opt/rds.pem".into()) });
        let err = config(&[("JWT_SECRET", "s"), ("DATABASE_TLS", "prefer")]).unwrap_err();
        assert!(err.0.contains("DATABASE_TLS"), "{err}");
    }

    #[test]
    fn secrets_come_from_a_value_or_an_arn_never_both() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:chat-AbCdEf";
        let c = config(&[("JWT_SECRET_ARN", arn), ("DATABASE_SECRET_ARN", arn)]).unwrap();
        assert_eq!(c.secrets, SecretArns { database_url: Some(arn.into()), jwt_secret: Some(arn.into()) });
        assert!(c.secrets.pending());
        assert!(c.database_url.is_empty());
        let settings = c.database_settings();
        assert_eq!((settings.url.as_str(), settings.secret_arn.as_deref()), ("", Some(arn)), "what migrate reads");
        assert!(!config(&[("JWT_SECRET", "s")]).unwrap().secrets.pending());
        assert!(config(&[("JWT_SECRET", "s"), ("JWT_SECRET_ARN", arn)]).is_err());
        assert!(
            config(&[("JWT_SECRET", "s"), ("DATABASE_URL", "postgres://h/db"), ("DATABASE_SECRET_ARN", arn)]).is_err()
        );
        // Without JWT settings (every function but the authorizer) the key is empty, which
        // the verifier and the dev token signer refuse.
        assert!(matches!(config(&[]).unwrap().jwt.key, KeySource::Secret(s) if s.is_empty()));
    }

    #[test]
    fn numbers_are_validated() {
        let err = config(&[("JWT_SECRET", "s"), ("DATABASE_POOL_SIZE", "many")]).unwrap_err();
        assert!(err.0.contains("DATABASE_POOL_SIZE"));
    }
}
