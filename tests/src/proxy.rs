//! A TCP proxy that can be taken down and brought back, to test outages and recoveries of
//! real services (PostgreSQL, the AWS emulator) without stopping them for everyone else.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Forwards `127.0.0.1:<port>` to a target while up; while down, it cuts every open connection
/// and refuses new ones (accepts and closes them at once); while stalled, connections stay open
/// but no byte moves (a network black hole).
#[derive(Debug)]
pub struct FlakyProxy {
    addr: SocketAddr,
    down: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl FlakyProxy {
    /// Starts forwarding to `target` (`host:port`).
    ///
    /// # Panics
    /// If no local port can be bound.
    pub async fn start(target: String) -> FlakyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let down = Arc::new(AtomicBool::new(false));
        let stalled = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let (down, stalled, links) = (down.clone(), stalled.clone(), links.clone());
            tokio::spawn(async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    if down.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let (target, stalled) = (target.clone(), stalled.clone());
                    let link = tokio::spawn(async move {
                        if let Ok(outbound) = TcpStream::connect(&target).await {
                            let (from_client, to_client) = inbound.into_split();
                            let (from_target, to_target) = outbound.into_split();
                            tokio::join!(
                                pump(from_client, to_target, stalled.clone()),
                                pump(from_target, to_client, stalled)
                            );
                        }
                    });
                    links.lock().expect("links").push(link);
                }
            })
        };
        FlakyProxy { addr, down, stalled, links, accept }
    }

    /// Stops (or resumes) moving bytes on every connection, without closing any.
    pub fn set_stalled(&self, stalled: bool) {
        self.stalled.store(stalled, Ordering::SeqCst);
    }

    /// `host:port` of the proxy.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Takes the proxy down (cutting open connections) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        if down {
            for link in self.links.lock().expect("links").drain(..) {
                link.abort();
            }
        }
    }
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.set_down(true);
    }
}

/// Copies bytes one way until either side closes, holding them while `stalled`.
async fn pump(mut from: impl AsyncRead + Unpin, mut to: impl AsyncWrite + Unpin, stalled: Arc<AtomicBool>) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        while stalled.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// `host:port` of a URL such as `postgres://u:p@127.0.0.1:5432/db` or `http://127.0.0.1:4566`.
pub fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    authority.rsplit_once('@').map_or(authority, |(_, h)| h).to_owned()
}

/// `url` with its `host:port` replaced by `addr`.
pub fn through(url: &str, addr: SocketAddr) -> String {
    url.replacen(&host_port(url), &addr.to_string(), 1)
}

/// Headers that describe one hop, not the message: a proxy must not pass them on (RFC 9110
/// 7.6.1), or `Connection: close` from an emulator would close the client's kept-alive link.
const HOP_BY_HOP: &[&str] =
    &["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "host"];

/// Forwards one HTTP request to `upstream` (`http://host:port`, the path and query are the
/// request's) and answers what it answered; 502 when it cannot be reached.
pub async fn forward_http(
    client: &reqwest::Client,
    upstream: &str,
    method: axum::http::Method,
    uri: &axum::http::Uri,
    headers: &axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;

    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = client.request(method, format!("{upstream}{path_and_query}")).body(body);
    for (name, value) in headers {
        if !HOP_BY_HOP.contains(&name.as_str()) && name != "content-length" {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(answer) => {
            let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut out = HeaderMap::new();
            for (name, value) in answer.headers() {
                if !HOP_BY_HOP.contains(&name.as_str()) && name != "content-length" {
                    out.append(name.clone(), value.clone());
                }
            }
            (status, out, answer.bytes().await.unwrap_or_default()).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_and_port_are_found_in_urls() {
        assert_eq!(super::host_port("postgres://u:p@127.0.0.1:5432/db?x=1"), "127.0.0.1:5432");
        assert_eq!(super::host_port("http://127.0.0.1:4566"), "127.0.0.1:4566");
        let addr = "127.0.0.1:9".parse().expect("addr");
        assert_eq!(super::through("postgres://u@127.0.0.1:5432/db", addr), "postgres://u@127.0.0.1:9/db");
    }
}
