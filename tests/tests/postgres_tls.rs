//! TLS to PostgreSQL (`DATABASE_TLS`), against the real PostgreSQL behind a TLS-terminating
//! proxy with a certificate authority made for the test: PostgreSQL's `SSLRequest` is answered
//! by the proxy, which then relays the decrypted stream to the server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chat_shared::adapters::postgres::{PgStore, migrate_with_tls};
use chat_shared::config::DatabaseTls;
use chat_shared::domain::ConversationId;
use chat_shared::ports::{ConversationStore, PortError};
use chat_tests::TestWorld;
use chat_tests::tls::TestCa;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// PostgreSQL's `SSLRequest`: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 4, 210, 22, 47];

/// A proxy in front of PostgreSQL that speaks TLS (or refuses it, answering `N`).
struct TlsFront {
    addr: SocketAddr,
    /// The CA's certificate, as a PEM file.
    ca_file: PathBuf,
    handshakes: Arc<AtomicUsize>,
    _ca: TestCa,
}

impl TlsFront {
    /// Starts the proxy for `upstream`; the server certificate names `127.0.0.1` only.
    async fn start(upstream: SocketAddr, speak_tls: bool) -> TlsFront {
        let ca = TestCa::new();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(ca.server_config()));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let handshakes = Arc::new(AtomicUsize::new(0));
        let counter = handshakes.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (acceptor, counter) = (acceptor.clone(), counter.clone());
                tokio::spawn(async move {
                    let _ = relay(client, upstream, speak_tls.then_some(acceptor), &counter).await;
                });
            }
        });
        TlsFront { addr, ca_file: ca.ca_file.clone(), handshakes, _ca: ca }
    }
}

async fn relay(
    mut client: TcpStream,
    upstream: SocketAddr,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    handshakes: &AtomicUsize,
) -> std::io::Result<()> {
    let mut request = [0u8; 8];
    client.read_exact(&mut request).await?;
    if request != SSL_REQUEST {
        return Err(std::io::Error::other("the client did not ask for TLS first"));
    }
    let mut server = TcpStream::connect(upstream).await?;
    match acceptor {
        Some(acceptor) => {
            client.write_all(b"S").await?;
            let mut tls = acceptor.accept(client).await?;
            handshakes.fetch_add(1, Ordering::SeqCst);
            tokio::io::copy_bidirectional(&mut tls, &mut server).await?;
        }
        None => {
            client.write_all(b"N").await?;
            tokio::io::copy_bidirectional(&mut client, &mut server).await?;
        }
    }
    Ok(())
}

/// `url` with its `host:port` replaced.
fn via(url: &str, addr: &str) -> String {
    let start = url.find('@').map_or_else(|| url.find("://").map_or(0, |i| i + 3), |i| i + 1);
    let end = url[start..].find('/').map_or(url.len(), |i| start + i);
    format!("{}{addr}{}", &url[..start], &url[end..])
}

fn upstream(world: &TestWorld) -> SocketAddr {
    let config: tokio_postgres::Config = world.config.database_url.parse().expect("URL");
    let port = config.get_ports().first().copied().unwrap_or(5432);
    match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => {
            format!("{host}:{port}").parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], port)))
        }
        _ => SocketAddr::from(([127, 0, 0, 1], port)),
    }
}

/// One read through a store with `tls` at `url`.
async fn read_through(url: &str, tls: &DatabaseTls) -> Result<(), PortError> {
    let store = PgStore::with_tls(url, 1, Duration::from_secs(3), tls).expect("store");
    store.participants(ConversationId::new_v7()).await.map(|_| ())
}

/// The error and its sources, as text (`""` for a success).
fn chain(result: &Result<(), PortError>) -> String {
    let mut text = String::new();
    let mut next: Option<&dyn std::error::Error> = result.as_ref().err().map(|e| e as &dyn std::error::Error);
    while let Some(error) = next {
        text.push_str(&format!("{error:?} / "));
        next = error.source();
    }
    text
}

#[tokio::test]
async fn verify_full_trusts_the_given_ca_and_checks_the_host_name() {
    let world = TestWorld::new().await;
    let front = TlsFront::start(upstream(&world), true).await;
    let url = via(&world.config.database_url, &front.addr.to_string());
    let verify = DatabaseTls::VerifyFull { ca_file: Some(front.ca_file.clone()) };

    read_through(&url, &verify).await.expect("verify-full with the CA");
    assert_eq!(front.handshakes.load(Ordering::SeqCst), 1);
    let report = migrate_with_tls(&url, &verify).await.expect("migrate over TLS");
    assert!(report.applied.is_empty(), "{report:?}");

    // The system roots do not know the test CA.
    let untrusted = read_through(&url, &DatabaseTls::VerifyFull { ca_file: None }).await;
    assert!(chain(&untrusted).contains("UnknownIssuer"), "{}", chain(&untrusted));
    // The certificate names 127.0.0.1, not localhost.
    let by_name = via(&world.config.database_url, &format!("localhost:{}", front.addr.port()));
    let mismatch = read_through(&by_name, &verify).await;
    assert!(chain(&mismatch).contains("NotValidForName"), "{}", chain(&mismatch));
    // A CA file that is not a certificate is a configuration error, found at start.
    let garbage = front.ca_file.with_file_name("garbage.pem");
    std::fs::write(&garbage, "not a certificate").expect("write");
    let bad = PgStore::with_tls(&url, 1, Duration::from_secs(3), &DatabaseTls::VerifyFull { ca_file: Some(garbage) });
    assert!(bad.is_err());
}

#[tokio::test]
async fn require_encrypts_without_checking_the_certificate() {
    let world = TestWorld::new().await;
    let front = TlsFront::start(upstream(&world), true).await;
    let url = via(&world.config.database_url, &front.addr.to_string());
    read_through(&url, &DatabaseTls::Require).await.expect("require");
    assert_eq!(front.handshakes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_server_refusing_tls_is_never_used_in_plain_text() {
    let world = TestWorld::new().await;
    let front = TlsFront::start(upstream(&world), false).await;
    let url = via(&world.config.database_url, &front.addr.to_string());
    for tls in [DatabaseTls::Require, DatabaseTls::VerifyFull { ca_file: Some(front.ca_file.clone()) }] {
        let refused = read_through(&url, &tls).await;
        assert!(refused.is_err(), "{tls:?} went on without TLS");
        assert!(migrate_with_tls(&url, &tls).await.is_err(), "{tls:?}: migrate went on without TLS");
    }
}
