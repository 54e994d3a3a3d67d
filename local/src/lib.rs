//! `chat-local`: API Gateway on a laptop. A WebSocket API, its `@connections` management API
//! and an HTTP API (payload format 2.0) in front of the chat backend's functions, so the
//! whole backend runs and is tested with no AWS account.
//!
//! # Layout
//! - [`LocalGateway`] (this file): binds both ports, wires everything, shuts down.
//! - [`invoker`]: how a function runs ([`Invoker`]); [`InProcessInvoker`] runs the handlers of
//!   `chat_shared::edge` in this process, with panics and timeouts contained;
//!   [`LambdaInvokeApiInvoker`] sends the events to the Lambda Invoke API of
//!   `cargo lambda watch` (`serve --invoke-endpoint`, see `docs/invoke-endpoint.md`).
//! - [`events`]: the Lambda events API Gateway builds (pure): WebSocket REQUEST authorizer,
//!   `$connect`, `MESSAGE`, `$disconnect`, HTTP v2 authorizer and request; route selection.
//! - [`ids`]: connection, message and request ids shaped like AWS's.
//! - `websocket`: the handshake, one task per connection (reading and writing), one per frame.
//! - `management`: `POST`/`GET`/`DELETE /@connections/{id}` on the WebSocket port.
//! - `http_api`: route matching, the authorizer, v2 responses to HTTP responses.
//! - `connections`: the open connections shared by the socket tasks and the management API.
//! - `gateway`: the state every request handler shares.
//! - `web`: the demo web client on the HTTP API port (`GET /`) and its dev sign-in
//!   (`POST /dev/token`, `GET /dev/users/{name}`); chat-local only, never deployed.
//!
//! Routes come from `chat_shared::routes`, the one route table (also checked against
//! `infra/template.yaml`).

mod connections;
pub mod events;
mod gateway;
mod http_api;
pub mod ids;
pub mod invoker;
mod management;
mod web;
mod websocket;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use chat_shared::auth::JwtConfig;
use chat_shared::config::Config;
use chat_shared::edge::{Handlers, Services};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use connections::CloseReason;
pub use http_api::{OPENAPI_PATH, OPENAPI_YAML};
pub use invoker::{InProcessInvoker, InvokeFailure, Invoker, LambdaInvokeApiInvoker};
pub use web::{DEV_TOKEN_PATH, DEV_USERS_PATH};

/// The HTTP paths only chat-local serves, outside the route table: the OpenAPI document, the
/// web client and its dev sign-in. The deployed HTTP API must route none of them.
pub fn local_only_http_paths() -> Vec<&'static str> {
    let mut paths = vec![OPENAPI_PATH];
    paths.extend(web::paths());
    paths
}

use crate::connections::{ConnectionTable, Tracker};
use crate::gateway::Gateway;

/// Any startup failure (a port in use, bad configuration).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The API id used when none is given: 10 lowercase characters, like AWS's.
pub const DEFAULT_API_ID: &str = "chatlocal0";

/// How long shutdown waits for `$disconnect` of the connections it closes.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// Where to listen and what to call the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// WebSocket API and management API (port 0 picks a free port).
    pub ws_addr: SocketAddr,
    /// HTTP API (port 0 picks a free port).
    pub http_addr: SocketAddr,
    /// WebSocket API stage: the path prefix of the WebSocket and management URLs. Letters,
    /// digits, `-` and `_` only.
    pub stage: String,
    /// API id in events and ARNs.
    pub api_id: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            ws_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 3001)),
            http_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 3000)),
            stage: "local".to_owned(),
            api_id: DEFAULT_API_ID.to_owned(),
        }
    }
}

/// API Gateway's time and size limits, as enforced here. The defaults are AWS's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// WebSocket integration timeout (29 s).
    pub ws_integration_timeout: Duration,
    /// HTTP API integration timeout (29 s; AWS allows raising it to 30).
    pub http_integration_timeout: Duration,
    /// A connection with no frame either way for this long is closed (10 minutes).
    pub idle_timeout: Duration,
    /// A connection is closed after this long, busy or not (2 hours).
    pub max_connection_duration: Duration,
    /// Largest inbound WebSocket frame (32 KiB); larger closes the connection with 1009.
    pub max_frame_bytes: usize,
    /// Largest inbound WebSocket message (128 KiB); larger closes the connection with 1009.
    pub max_message_bytes: usize,
    /// Largest `PostToConnection` payload (128 KiB); larger is 413.
    pub max_post_bytes: usize,
    /// How long a `PostToConnection` waits for room in the connection's queue (256 frames)
    /// when the client is not reading (5 s); then it is 429 `LimitExceededException`.
    pub post_queue_wait: Duration,
    /// Largest HTTP API request body (10 MiB); larger is 413.
    pub max_http_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            ws_integration_timeout: Duration::from_secs(29),
            http_integration_timeout: Duration::from_secs(29),
            idle_timeout: Duration::from_secs(10 * 60),
            max_connection_duration: Duration::from_secs(2 * 60 * 60),
            max_frame_bytes: 32 * 1024,
            max_message_bytes: 128 * 1024,
            max_post_bytes: 128 * 1024,
            post_queue_wait: Duration::from_secs(5),
            max_http_body_bytes: 10 * 1024 * 1024,
        }
    }
}

/// A running emulator. Dropping it stops the listeners and closes every socket without
/// waiting; [`LocalGateway::shutdown`] also waits for `$disconnect` of each.
#[derive(Debug)]
pub struct LocalGateway {
    ws_addr: SocketAddr,
    http_addr: SocketAddr,
    gateway: Arc<Gateway>,
    /// Dropping or sending on it stops both listeners.
    stop: Option<watch::Sender<()>>,
    servers: Vec<JoinHandle<()>>,
}

impl LocalGateway {
    /// Binds both listeners (port 0 allowed), sets `config.management_endpoint` to
    /// `http://{bound ws addr}/{stage}` unless already set, builds the services and every
    /// function's handler, and starts serving with the default [`Limits`].
    ///
    /// # Errors
    /// A listener cannot be bound, the stage name is invalid, or the services cannot be
    /// built from `config`.
    pub async fn start(config: Config, options: Options) -> Result<LocalGateway, BoxError> {
        Self::start_with(config, options, Limits::default()).await
    }

    /// [`LocalGateway::start`] with other limits (e.g. shorter timeouts).
    ///
    /// # Errors
    /// As [`LocalGateway::start`].
    pub async fn start_with(config: Config, options: Options, limits: Limits) -> Result<LocalGateway, BoxError> {
        let sdk = chat_shared::adapters::aws_sdk_config(&config).await;
        Self::start_in_process(config, sdk, options, limits).await
    }

    /// [`LocalGateway::start`] with an AWS SDK configuration built by the caller (tests point
    /// it at an emulator without touching the process environment).
    ///
    /// # Errors
    /// As [`LocalGateway::start`].
    pub async fn start_with_sdk(
        config: Config,
        sdk: aws_config::SdkConfig,
        options: Options,
    ) -> Result<LocalGateway, BoxError> {
        Self::start_in_process(config, sdk, options, Limits::default()).await
    }

    /// [`LocalGateway::start_with_sdk`] with other limits (tests shorten the timeouts).
    ///
    /// # Errors
    /// As [`LocalGateway::start`].
    pub async fn start_with_sdk_and_limits(
        config: Config,
        sdk: aws_config::SdkConfig,
        options: Options,
        limits: Limits,
    ) -> Result<LocalGateway, BoxError> {
        Self::start_in_process(config, sdk, options, limits).await
    }

    /// Starts serving with every function invoked through the Lambda Invoke API at `endpoint`
    /// (`cargo lambda watch`, e.g. `http://127.0.0.1:9000`). Builds no services: the functions
    /// read their own configuration, and must be given `APIGW_MANAGEMENT_ENDPOINT` (this
    /// gateway's [`LocalGateway::management_url`]) to push.
    ///
    /// # Errors
    /// `endpoint` is not an `http://` URL, a listener cannot be bound, or the stage name is
    /// invalid.
    pub async fn start_with_invoke_endpoint(
        endpoint: &str,
        options: Options,
        limits: Limits,
        region: &str,
    ) -> Result<LocalGateway, BoxError> {
        let backstop = limits.ws_integration_timeout.max(limits.http_integration_timeout);
        let invoker = Arc::new(LambdaInvokeApiInvoker::new(endpoint, backstop)?);
        Self::start_with_invoker(options, limits, invoker, region).await
    }

    async fn start_in_process(
        mut config: Config,
        sdk: aws_config::SdkConfig,
        options: Options,
        limits: Limits,
    ) -> Result<LocalGateway, BoxError> {
        let (ws, http) = bind(&options)?;
        if config.management_endpoint.is_none() {
            config.management_endpoint = Some(management_url(ws.local_addr()?, &options.stage));
        }
        let region = sdk.region().map_or_else(|| "us-east-1".to_owned(), ToString::to_string);
        // The web client's dev sign-in signs with the key the authorizer verifies with.
        let dev_signer = config.jwt.clone();
        let services = Services::with_sdk(config, sdk)?;
        let handlers = Handlers::new(&services)?;
        let invoker = Arc::new(InProcessInvoker::new(Arc::new(handlers)));
        Self::serve(ws, http, options, limits, invoker, region, Some(dev_signer))
    }

    /// Starts serving with functions run by `invoker` (e.g. through `cargo lambda watch`, or a
    /// fake in tests). The functions must already know the management endpoint. chat-local
    /// holds no token key then, so the web client's `POST /dev/token` answers `NOT_FOUND`.
    ///
    /// # Errors
    /// A listener cannot be bound or the stage name is invalid.
    pub async fn start_with_invoker(
        options: Options,
        limits: Limits,
        invoker: Arc<dyn Invoker>,
        region: &str,
    ) -> Result<LocalGateway, BoxError> {
        let (ws, http) = bind(&options)?;
        Self::serve(ws, http, options, limits, invoker, region.to_owned(), None)
    }

    /// `dev_signer`: the token settings `POST /dev/token` signs with, if any.
    fn serve(
        ws: TcpListener,
        http: TcpListener,
        options: Options,
        limits: Limits,
        invoker: Arc<dyn Invoker>,
        region: String,
        dev_signer: Option<JwtConfig>,
    ) -> Result<LocalGateway, BoxError> {
        let ws_addr = ws.local_addr()?;
        let http_addr = http.local_addr()?;
        let web = Arc::new(web::WebClient::new(loopback_if_unspecified(ws_addr), &options.stage, dev_signer));
        let gateway = Arc::new(Gateway {
            invoker,
            stage: options.stage.into(),
            api_id: options.api_id.into(),
            region,
            limits,
            connections: ConnectionTable::default(),
            tracker: Arc::new(Tracker::default()),
        });
        let (stop, stopped) = watch::channel(());
        let servers = vec![
            spawn_server("WebSocket", ws, websocket::router(gateway.clone()), stopped.clone()),
            spawn_server("HTTP", http, http_api::router(gateway.clone(), web), stopped),
        ];
        tracing::info!(ws = %ws_addr, http = %http_addr, stage = %gateway.stage, "chat-local is serving");
        Ok(LocalGateway { ws_addr, http_addr, gateway, stop: Some(stop), servers })
    }

    /// `ws://127.0.0.1:PORT/{stage}`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/{}", loopback_if_unspecified(self.ws_addr), self.gateway.stage)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn http_url(&self) -> String {
        format!("http://{}", loopback_if_unspecified(self.http_addr))
    }

    /// `http://127.0.0.1:WSPORT/{stage}`, the management API's base URL.
    pub fn management_url(&self) -> String {
        management_url(self.ws_addr, &self.gateway.stage)
    }

    /// How many WebSocket connections are open.
    pub fn connection_count(&self) -> usize {
        self.gateway.connections.len()
    }

    /// Closes every socket (each gets its `$disconnect`, waited for up to 10 s), then stops
    /// both listeners.
    pub async fn shutdown(mut self) {
        self.gateway.connections.close_all_and_seal(&CloseReason::going_away());
        if tokio::time::timeout(SHUTDOWN_WAIT, self.gateway.tracker.idle()).await.is_err() {
            tracing::warn!("some $disconnect invocations had not finished at shutdown");
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        for mut server in std::mem::take(&mut self.servers) {
            if tokio::time::timeout(Duration::from_secs(2), &mut server).await.is_err() {
                server.abort();
            }
        }
        tracing::info!("chat-local stopped");
    }
}

impl Drop for LocalGateway {
    fn drop(&mut self) {
        self.gateway.connections.close_all_and_seal(&CloseReason::going_away());
        self.stop.take();
        for server in &self.servers {
            server.abort();
        }
    }
}

/// Checks the stage and binds both listeners.
fn bind(options: &Options) -> Result<(TcpListener, TcpListener), BoxError> {
    let stage_ok =
        !options.stage.is_empty() && options.stage.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !stage_ok {
        return Err(format!("stage {:?} must be letters, digits, '-' or '_'", options.stage).into());
    }
    let ws = listen(options.ws_addr).map_err(|e| format!("WebSocket API on {}: {e}", options.ws_addr))?;
    let http = listen(options.http_addr).map_err(|e| format!("HTTP API on {}: {e}", options.http_addr))?;
    Ok((ws, http))
}

/// Connections the kernel queues for `accept` on each listener. `TcpListener::bind` asks for
/// 128: hundreds of clients connecting at once (a fleet reconnecting, `chat-bench idle`)
/// overflowed it, and each dropped SYN cost its client a one-second retransmit.
const ACCEPT_BACKLOG: u32 = 4096;

/// Binds `addr` with [`ACCEPT_BACKLOG`] (the kernel caps it at `net.core.somaxconn`).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    // As TcpListener::bind does: a restarted chat-local can bind a port in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

fn spawn_server(
    name: &'static str,
    listener: TcpListener,
    router: axum::Router,
    mut stopped: watch::Receiver<()>,
) -> JoinHandle<()> {
    // Small frames are the norm here; Nagle's algorithm would hold them back.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY");
        }
    });
    let app = router.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                // Resolves on a send and when the sender is dropped alike.
                let _ = stopped.changed().await;
            })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, api = name, "listener failed");
        }
    })
}

fn loopback_if_unspecified(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip = match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    }
}

fn management_url(ws_addr: SocketAddr, stage: &str) -> String {
    format!("http://{}/{stage}", loopback_if_unspecified(ws_addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn both_listeners_bind_free_ports_and_a_port_in_use_is_named() {
        let free = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let options = Options { ws_addr: free, http_addr: free, ..Options::default() };
        let (ws, http) = bind(&options).expect("free ports bind");
        let ws_addr = ws.local_addr().unwrap();
        assert_ne!(ws_addr.port(), 0);
        assert_ne!(ws_addr, http.local_addr().unwrap());
        let client = tokio::net::TcpStream::connect(ws_addr).await.expect("the listener accepts");
        drop(client);

        let taken = Options { ws_addr, ..options };
        let error = bind(&taken).expect_err("the WebSocket port is in use").to_string();
        assert!(error.starts_with(&format!("WebSocket API on {ws_addr}:")), "{error}");
    }

    #[test]
    fn default_options_match_the_documented_ports_and_a_valid_api_id() {
        let options = Options::default();
        assert_eq!(options.ws_addr.port(), 3001);
        assert_eq!(options.http_addr.port(), 3000);
        assert_eq!(options.stage, "local");
        assert_eq!(options.api_id.len(), 10);
        assert!(options.api_id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    }

    #[test]
    fn urls_name_loopback_for_unspecified_addresses() {
        let any: SocketAddr = "0.0.0.0:4000".parse().expect("an address");
        assert_eq!(management_url(any, "local"), "http://127.0.0.1:4000/local");
    }
}
