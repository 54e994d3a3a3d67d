//! Test support for the integration and end-to-end tests in `tests/tests/`.
//!
//! Every test gets its own world: a fresh PostgreSQL database (named by a UUID, migrated), a
//! uniquely named DynamoDB table in the AWS emulator, a random JWT secret; both are dropped
//! when the test's [`TestWorld`] is dropped.
//!
//! Where the services are: `DATABASE_URL`, `AWS_ENDPOINT_URL` (and `REDIS_URL`) when set, as
//! `local/test` sets them. When none is set and a Docker daemon is reachable, the harness starts
//! PostgreSQL, Redis and moto with testcontainers; otherwise it uses the local services on their
//! standard ports (PostgreSQL 5432, Redis 6379, moto 4566).

use std::time::Duration;

use chat_shared::adapters::dynamodb::DynamoConnectionRegistry;
use chat_shared::adapters::postgres::{PgStore, migrate};
use chat_shared::config::Config;
use tokio::sync::OnceCell;
use uuid::Uuid;

/// Where the shared services are, resolved once per test binary.
#[derive(Debug)]
pub struct Endpoints {
    /// A URL whose user may create databases; its database name is replaced per test.
    pub admin_database_url: String,
    pub aws_endpoint_url: String,
    pub redis_url: String,
    _containers: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

static ENDPOINTS: OnceCell<Endpoints> = OnceCell::const_new();

fn docker_reachable() -> bool {
    match std::env::var("DOCKER_HOST") {
        Ok(host) => !host.is_empty(),
        Err(_) => std::path::Path::new("/var/run/docker.sock").exists(),
    }
}

/// Resolves (and, with Docker, starts) the services.
///
/// # Panics
/// If containers were needed and could not be started.
pub async fn endpoints() -> &'static Endpoints {
    ENDPOINTS
        .get_or_init(|| async {
            let configured = ["DATABASE_URL", "AWS_ENDPOINT_URL", "REDIS_URL"]
                .iter()
                .any(|k| std::env::var(k).is_ok_and(|v| !v.is_empty()));
            if !configured && docker_reachable() {
                return containers::start().await;
            }
            let env =
                |k: &str, default: &str| std::env::var(k).ok().filter(|v| !v.is_empty()).unwrap_or(default.into());
            Endpoints {
                admin_database_url: env("DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/postgres"),
                aws_endpoint_url: env("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
                redis_url: env("REDIS_URL", "redis://127.0.0.1:6379"),
                _containers: Vec::new(),
            }
        })
        .await
}

mod containers {
    use testcontainers::GenericImage;
    use testcontainers::core::{IntoContainerPort, WaitFor};
    use testcontainers::runners::AsyncRunner;
    use testcontainers_modules::{postgres::Postgres, redis::Redis};

    use super::Endpoints;

    pub async fn start() -> Endpoints {
        let pg = Postgres::default().start().await.expect("start PostgreSQL container");
        let redis = Redis::default().start().await.expect("start Redis container");
        let moto = GenericImage::new("motoserver/moto", "5.1.0")
            .with_exposed_port(5000.tcp())
            .with_wait_for(WaitFor::message_on_stderr("Running on"))
            .start()
            .await
            .expect("start moto container");
        let port = |p: Result<u16, testcontainers::TestcontainersError>| p.expect("mapped port");
        Endpoints {
            admin_database_url: format!(
                "postgres://postgres:postgres@127.0.0.1:{}/postgres",
                port(pg.get_host_port_ipv4(5432).await)
            ),
            aws_endpoint_url: format!("http://127.0.0.1:{}", port(moto.get_host_port_ipv4(5000).await)),
            redis_url: format!("redis://127.0.0.1:{}", port(redis.get_host_port_ipv4(6379).await)),
            _containers: vec![Box::new(pg), Box::new(redis), Box::new(moto)],
        }
    }
}

/// `url` (a `postgres://` URL) with its database name replaced; the query string is kept.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..].find('/').map_or(base.len(), |i| authority + i);
    let mut replaced = format!("{}/{database}", &base[..path]);
    if let Some(query) = query {
        replaced.push('?');
        replaced.push_str(query);
    }
    replaced
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_database_of_a_url_is_replaced() {
        let swap = |url| super::with_database(url, "t1");
        assert_eq!(swap("postgres://u:p@h:5432/chat"), "postgres://u:p@h:5432/t1");
        assert_eq!(swap("postgres://u@h/chat?sslmode=disable"), "postgres://u@h/t1?sslmode=disable");
        assert_eq!(swap("postgres://h:5432"), "postgres://h:5432/t1");
    }
}

/// One test's private database, table and configuration.
#[derive(Debug)]
pub struct TestWorld {
    pub config: Config,
    pub database_name: String,
    pub admin_database_url: String,
    pub store: PgStore,
    pub registry: DynamoConnectionRegistry,
    pub dynamo: aws_sdk_dynamodb::Client,
    pub sdk: aws_config::SdkConfig,
}

impl TestWorld {
    /// Creates and migrates a database, creates a table, and builds a configuration for them.
    ///
    /// # Panics
    /// If a service cannot be reached: the test cannot run without it.
    pub async fn new() -> TestWorld {
        Self::with_env(&[]).await
    }

    /// As [`TestWorld::new`], with extra configuration variables (`RATE_LIMIT_...`, ...).
    ///
    /// # Panics
    /// As [`TestWorld::new`].
    pub async fn with_env(overrides: &[(&str, &str)]) -> TestWorld {
        let endpoints = endpoints().await;
        let id = Uuid::new_v4().simple().to_string();
        let database_name = format!("chat_test_{id}");
        let (admin, connection) = tokio_postgres::connect(&endpoints.admin_database_url, tokio_postgres::NoTls)
            .await
            .expect("connect to PostgreSQL (is it running? see local/services.sh)");
        tokio::spawn(connection);
        admin.batch_execute(&format!("CREATE DATABASE {database_name}")).await.expect("create test database");
        let database_url = with_database(&endpoints.admin_database_url, &database_name);
        migrate(&database_url).await.expect("migrate test database");

        let table = format!("Connections_{id}");
        let secret = Uuid::new_v4().to_string();
        let prefix = format!("test:{id}:");
        let defaults = [
            ("DATABASE_URL", database_url.as_str()),
            ("CONNECTIONS_TABLE", table.as_str()),
            ("JWT_SECRET", secret.as_str()),
            ("OUTBOUND_TIMEOUT_MS", "2000"),
            ("REDIS_URL", endpoints.redis_url.as_str()),
            ("REDIS_KEY_PREFIX", prefix.as_str()),
        ];
        let lookup =
            |k: &str| overrides.iter().chain(defaults.iter()).find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned());
        let config = Config::from_lookup(lookup).expect("test configuration");
        let sdk = sdk_config(&endpoints.aws_endpoint_url, config.outbound_timeout).await;
        let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
        let registry = DynamoConnectionRegistry::new(dynamo.clone(), table);
        registry.ensure_table().await.expect("create test table (is the AWS emulator running?)");
        let store = PgStore::new(&config.database_url, 8, config.outbound_timeout).expect("pool");
        TestWorld {
            config,
            database_name,
            admin_database_url: endpoints.admin_database_url.clone(),
            store,
            registry,
            dynamo,
            sdk,
        }
    }

    /// A direct PostgreSQL client on this test's database, for assertions.
    pub async fn sql(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.config.database_url, tokio_postgres::NoTls)
            .await
            .expect("connect to the test database");
        tokio::spawn(connection);
        client
    }
}

/// An SDK configuration for the emulator with test credentials, built without touching the
/// process environment.
pub async fn sdk_config(endpoint: &str, timeout: Duration) -> aws_config::SdkConfig {
    let credentials = aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "chat-tests");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .timeout_config(aws_config::timeout::TimeoutConfig::builder().operation_timeout(timeout).build())
        .load()
        .await
}

impl Drop for TestWorld {
    fn drop(&mut self) {
        let admin = self.admin_database_url.clone();
        let database = self.database_name.clone();
        let registry = self.registry.clone();
        // Drop runs inside the test's runtime; clean up on a thread with its own runtime.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async move {
                let _ = registry.delete_table().await;
                if let Ok((client, connection)) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await {
                    tokio::spawn(connection);
                    let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

pub mod client;
pub mod proxy;
pub mod tls;

/// A running gateway for `config` (which may differ from the world's, e.g. point through a
/// [`proxy::FlakyProxy`]), using `sdk` for AWS calls.
pub async fn start_gateway_with(config: Config, sdk: aws_config::SdkConfig) -> chat_local::LocalGateway {
    let options = chat_local::Options {
        ws_addr: "127.0.0.1:0".parse().expect("addr"),
        http_addr: "127.0.0.1:0".parse().expect("addr"),
        ..chat_local::Options::default()
    };
    chat_local::LocalGateway::start_with_sdk(config, sdk, options).await.expect("start chat-local")
}

/// A Redis connection for assertions.
pub async fn redis(world: &TestWorld) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(world.config.redis_url.as_str()).expect("redis url");
    client.get_multiplexed_async_connection().await.expect("connect to Redis (is it running?)")
}
