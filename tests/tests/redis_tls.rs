//! `rediss://` (ElastiCache with in-transit encryption) against a real redis-server started
//! here with TLS only, its certificate signed by a CA made for the test.

use std::process::Stdio;
use std::time::Duration;

use chat_shared::adapters::redis::{RedisClient, RedisTypingTracker};
use chat_shared::domain::{ConversationId, UserId};
use chat_shared::ports::{PortError, TypingTracker};
use chat_tests::tls::TestCa;
use tokio::process::{Child, Command};

/// A TLS-only redis-server on a free port, killed on drop.
struct TlsRedis {
    port: u16,
    _child: Child,
}

impl TlsRedis {
    async fn start(ca: &TestCa) -> TlsRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--bind", "127.0.0.1", "--tls-port", &port.to_string()])
            .arg("--tls-cert-file")
            .arg(&ca.server_cert_file)
            .arg("--tls-key-file")
            .arg(&ca.server_key_file)
            .arg("--tls-ca-cert-file")
            .arg(&ca.ca_file)
            .args(["--tls-auth-clients", "no", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&ca.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server (Debian's redis-server package) must be on PATH");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return TlsRedis { port, _child: child };
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("redis-server with TLS did not start on port {port}");
    }
}

fn tracker(client: RedisClient) -> RedisTypingTracker {
    RedisTypingTracker::new(client, Duration::from_secs(3), Duration::from_secs(2))
}

#[tokio::test]
async fn rediss_urls_speak_tls_and_check_the_certificate() {
    let ca = TestCa::new();
    let redis = TlsRedis::start(&ca).await;
    let url = format!("rediss://127.0.0.1:{}", redis.port);
    let (conversation, user) = (ConversationId::new_v7(), UserId::from_subject("alice"));
    let timeout = Duration::from_secs(2);

    let trusted = tracker(RedisClient::with_ca_file(&url, "tls:", timeout, Some(&ca.ca_file)).expect("client"));
    assert!(trusted.started(conversation, user).await.expect("typing over TLS"), "first start pushes");
    assert!(trusted.stopped(conversation, user).await.expect("stop over TLS"), "was typing");

    // The system roots do not know the test CA: the connection is refused, not made in the clear.
    let untrusted = tracker(RedisClient::new(&url, "tls:", timeout).expect("client"));
    let refused = untrusted.started(conversation, user).await;
    assert!(
        matches!(&refused, Err(PortError::Unavailable(e)) if format!("{e:?}").contains("UnknownIssuer")),
        "{refused:?}"
    );
    // A CA file that cannot be read is a configuration error, found at init.
    let missing = ca.dir.join("missing.pem");
    let error = RedisClient::with_ca_file(&url, "tls:", timeout, Some(&missing)).expect_err("unreadable CA file");
    assert!(error.to_string().contains("REDIS_CA_FILE"), "{error}");
    // A plain redis:// client cannot talk to the TLS port either.
    let plain =
        tracker(RedisClient::new(&format!("redis://127.0.0.1:{}", redis.port), "tls:", timeout).expect("client"));
    assert!(plain.started(conversation, user).await.is_err());
}
