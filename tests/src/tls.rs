//! A certificate authority made for one test, and a server certificate it signed for
//! `127.0.0.1`, written as PEM files into a directory removed on drop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};

/// The CA and a server certificate for `127.0.0.1` (not `localhost`).
#[derive(Debug)]
pub struct TestCa {
    pub dir: PathBuf,
    /// The CA's certificate (`ca.pem`).
    pub ca_file: PathBuf,
    /// The server's certificate (`server.pem`) and key (`server.key`, PKCS#8).
    pub server_cert_file: PathBuf,
    pub server_key_file: PathBuf,
    pub server_cert: CertificateDer<'static>,
    server_key_der: Vec<u8>,
}

impl TestCa {
    /// # Panics
    /// If the certificates cannot be made or written.
    pub fn new() -> TestCa {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "chat test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key")).expect("CA");
        let server_key = KeyPair::generate().expect("server key");
        let server = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .expect("server params")
            .signed_by(&server_key, &ca)
            .expect("server certificate");

        let dir = std::env::temp_dir().join(format!("chat-test-ca-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (ca_file, server_cert_file, server_key_file) =
            (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key"));
        std::fs::write(&ca_file, ca.pem()).expect("write CA");
        std::fs::write(&server_cert_file, server.pem()).expect("write server certificate");
        std::fs::write(&server_key_file, server_key.serialize_pem()).expect("write server key");
        TestCa {
            dir,
            ca_file,
            server_cert_file,
            server_key_file,
            server_cert: server.der().clone(),
            server_key_der: server_key.serialize_der(),
        }
    }

    /// A rustls server configuration presenting the server certificate.
    ///
    /// # Panics
    /// If rustls refuses the certificate.
    pub fn server_config(&self) -> rustls::ServerConfig {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![self.server_cert.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone())),
            )
            .expect("server config")
    }
}

impl TestCa {
    /// An HTTPS reverse proxy on a loopback port in front of `upstream` (`http://host:port`),
    /// presenting the `127.0.0.1` certificate: HTTPS in front of an emulator that speaks HTTP.
    /// Client connections are kept alive whatever the upstream does (moto closes every
    /// connection), as AWS endpoints keep them. Serves for as long as the runtime runs.
    ///
    /// # Errors
    /// No loopback port can be bound.
    pub async fn https_front(&self, upstream: String) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let tls =
            TlsListener { tcp: listener, acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(self.server_config())) };
        let front = Arc::new((reqwest::Client::new(), upstream));
        let app = axum::Router::new().fallback(
            |axum::extract::State(front): axum::extract::State<Arc<(reqwest::Client, String)>>,
             method: axum::http::Method,
             uri: axum::http::Uri,
             headers: axum::http::HeaderMap,
             body: axum::body::Bytes| async move {
                crate::proxy::forward_http(&front.0, &front.1, method, &uri, &headers, body).await
            },
        );
        tokio::spawn(async move { axum::serve(tls, app.with_state(front)).await });
        Ok(addr)
    }
}

/// A TCP listener whose connections are TLS-terminated before axum sees them.
struct TlsListener {
    tcp: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, peer)) = self.tcp.accept().await else { continue };
            // A failed handshake is the client's problem: wait for the next one.
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, peer);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
