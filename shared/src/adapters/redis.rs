//! Redis: typing state with a TTL, and per-user rate limits. Each operation is one atomic
//! script call (one round trip, exact under concurrency), and every call is bounded by the
//! outbound timeout. The connection is made lazily, so a Redis outage at cold start does not
//! stop a function from starting: its calls fail (and the callers degrade) until Redis is back.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::RateLimits;
use crate::domain::{ConversationId, UserId};
use crate::ports::{Cause, Limit, PortError, RateDecision, RateLimiter, TypingTracker};

/// GCRA (generic cell rate algorithm): the key holds the theoretical arrival time (TAT) in
/// milliseconds. A request fits when TAT - now <= tolerance; it then advances TAT by one
/// emission interval. Returns 0 when allowed, else the milliseconds until it would be.
/// The clock is Redis's own (`TIME`), so Lambda clock skew cannot matter.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
if tat - now > tolerance then return tat - now - tolerance end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return 0
";

/// The key holds the time of the last `typing:start` push. A start within the push interval
/// only refreshes the TTL (returns 0); otherwise it records now and asks for a push (returns 1).
const TYPING_START: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = tonumber(redis.call('GET', KEYS[1]))
if last and now - last < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  return 0
end
redis.call('SET', KEYS[1], now, 'PX', ARGV[1])
return 1
";

/// A lazily connected Redis client with a key prefix; cheap to clone.
#[derive(Clone)]
pub struct RedisClient {
    manager: ConnectionManager,
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for RedisClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisClient").field("prefix", &self.prefix).finish()
    }
}

impl RedisClient {
    /// Does not connect; the first command does.
    ///
    /// # Errors
    /// A malformed URL.
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> Result<Self, Cause> {
        Self::with_ca_file(url, prefix, timeout, None)
    }

    /// [`RedisClient::new`]; a `rediss://` URL is TLS, its certificate checked against the
    /// system roots (ElastiCache's certificates are public) or, when given, `ca_file` (PEM).
    ///
    /// # Errors
    /// A malformed URL, or a CA file that cannot be read.
    pub fn with_ca_file(url: &str, prefix: &str, timeout: Duration, ca_file: Option<&Path>) -> Result<Self, Cause> {
        // rustls needs a process-wide provider here: both aws-lc-rs and ring are linked.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = match ca_file {
            None => redis::Client::open(url)?,
            Some(path) => {
                let root_cert = std::fs::read(path).map_err(|e| format!("REDIS_CA_FILE {}: {e}", path.display()))?;
                redis::Client::build_with_tls(
                    url,
                    redis::TlsCertificates { client_tls: None, root_cert: Some(root_cert) },
                )?
            }
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(100));
        let manager = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self { manager, prefix: prefix.to_owned(), timeout })
    }

    fn key(&self, parts: std::fmt::Arguments<'_>) -> String {
        format!("{}{parts}", self.prefix)
    }

    async fn run<T: redis::FromRedisValue>(&self, script: &Script, key: &str, args: &[u64]) -> Result<T, PortError> {
        let mut connection = self.manager.clone();
        let mut invocation = script.key(key);
        for arg in args {
            invocation.arg(*arg);
        }
        match tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(redis_error(e)),
            Err(elapsed) => Err(PortError::Unavailable(Box::new(elapsed))),
        }
    }

    async fn delete(&self, key: &str) -> Result<bool, PortError> {
        let mut connection = self.manager.clone();
        let mut command = redis::cmd("DEL");
        command.arg(key);
        match tokio::time::timeout(self.timeout, command.query_async::<i64>(&mut connection)).await {
            Ok(Ok(deleted)) => Ok(deleted > 0),
            Ok(Err(e)) => Err(redis_error(e)),
            Err(elapsed) => Err(PortError::Unavailable(Box::new(elapsed))),
        }
    }
}

fn redis_error(e: redis::RedisError) -> PortError {
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
        PortError::Unavailable(Box::new(e))
    } else {
        PortError::Internal(Box::new(e))
    }
}

/// Typing state: `{prefix}typing:{conversationId}:{userId}` with a TTL.
#[derive(Debug, Clone)]
pub struct RedisTypingTracker {
    redis: RedisClient,
    script: Script,
    ttl_ms: u64,
    push_interval_ms: u64,
}

impl RedisTypingTracker {
    pub fn new(redis: RedisClient, ttl: Duration, push_interval: Duration) -> Self {
        Self {
            redis,
            script: Script::new(TYPING_START),
            ttl_ms: duration_ms(ttl),
            push_interval_ms: duration_ms(push_interval),
        }
    }

    /// The Redis key of a typist (tests inspect it).
    pub fn key(&self, conversation: ConversationId, user: UserId) -> String {
        self.redis.key(format_args!("typing:{conversation}:{user}"))
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait]
impl TypingTracker for RedisTypingTracker {
    async fn started(&self, conversation: ConversationId, user: UserId) -> Result<bool, PortError> {
        let pushed: i64 =
            self.redis.run(&self.script, &self.key(conversation, user), &[self.ttl_ms, self.push_interval_ms]).await?;
        Ok(pushed == 1)
    }

    async fn stopped(&self, conversation: ConversationId, user: UserId) -> Result<bool, PortError> {
        self.redis.delete(&self.key(conversation, user)).await
    }
}

/// Per-user GCRA limits: `{prefix}rate:{limit}:{userId}`.
#[derive(Debug, Clone)]
pub struct RedisRateLimiter {
    redis: RedisClient,
    script: Script,
    limits: RateLimits,
}

impl RedisRateLimiter {
    pub fn new(redis: RedisClient, limits: RateLimits) -> Self {
        Self { redis, script: Script::new(GCRA), limits }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check(&self, limit: Limit, user: UserId) -> Result<RateDecision, PortError> {
        let per_minute = u64::from(match limit {
            Limit::Messages => self.limits.messages_per_minute,
            Limit::Typing => self.limits.typing_per_minute,
            Limit::Connects => self.limits.connects_per_minute,
            Limit::Rest => self.limits.rest_per_minute,
        });
        // A full minute's allowance may come at once; then one per interval.
        let interval = (60_000 / per_minute).max(1);
        let tolerance = interval * (per_minute - 1);
        let key = self.redis.key(format_args!("rate:{}:{user}", limit.name()));
        let wait_ms: u64 = self.redis.run(&self.script, &key, &[interval, tolerance]).await?;
        Ok(if wait_ms == 0 {
            RateDecision::Allowed
        } else {
            RateDecision::Limited { retry_after: Duration::from_millis(wait_ms) }
        })
    }
}
