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
    /// Terminates TLS on a loopback port in front of `upstream`, a plain TCP service (HTTPS in
    /// front of an emulator that speaks HTTP), presenting the `127.0.0.1` certificate. Serves
    /// for as long as the runtime runs.
    ///
    /// # Errors
    /// No loopback port can be bound.
    pub async fn tls_front(&self, upstream: SocketAddr) -> std::io::Result<SocketAddr> {
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(self.server_config()));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let (Ok(mut tls), Ok(mut server)) =
                        (acceptor.accept(client).await, TcpStream::connect(upstream).await)
                    else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
                });
            }
        });
        Ok(addr)
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
