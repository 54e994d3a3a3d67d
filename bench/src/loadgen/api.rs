//! The HTTP API client (`POST /conversations` for pairing, the read paths of the R10 rows), over
//! plain HTTP or HTTPS, and the TLS settings shared with the WebSocket connections.
//!
//! hyper with hyper-rustls rather than reqwest: reqwest's rustls backend needs a process-wide
//! default crypto provider, which every other crate of the workspace building a reqwest client
//! would then need too once Cargo unifies features. Here the provider (aws-lc-rs, the one the
//! workspace already uses) is passed explicitly.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{ConfigBuilderExt, HttpsConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Error;

/// Bound on one HTTP request (API Gateway's integration timeout is 29 s).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// TLS client settings with the aws-lc-rs provider: the system's roots when `secure`, none
/// otherwise (plain `http://` and `ws://` never use them, and loading the roots costs time).
///
/// # Errors
/// The system's root certificates cannot be loaded.
pub fn tls_config(secure: bool) -> Result<Arc<rustls::ClientConfig>, Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions()?;
    let config = if secure {
        builder.with_native_roots()?.with_no_client_auth()
    } else {
        builder.with_root_certificates(rustls::RootCertStore::empty()).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// An answer of the HTTP API.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// The error code of a non-2xx answer (`error.code` of the body, else `HTTP <status>`).
    pub fn error_code(&self) -> Option<String> {
        if (200..300).contains(&self.status) {
            return None;
        }
        Some(self.body["error"]["code"].as_str().map_or_else(|| format!("HTTP {}", self.status), str::to_owned))
    }
}

/// The HTTP API at one base URL (`http://127.0.0.1:3000`, `https://{api}.execute-api.../`).
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Api {
    /// # Errors
    /// The TLS settings cannot be built (see [`tls_config`]).
    pub fn new(base: &str) -> Result<Api, Error> {
        let secure = base.starts_with("https://");
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(Arc::unwrap_or_clone(tls_config(secure)?))
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(512).build(https);
        Ok(Api { base: base.trim_end_matches('/').to_owned(), client })
    }

    /// `method path_and_query` as `token`'s user, with an optional JSON body.
    ///
    /// # Errors
    /// The request could not be made, timed out, or the body is not JSON.
    pub async fn call(&self, method: Method, path: &str, token: &str, body: Option<&Value>) -> Result<Answer, Error> {
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body))?;
        let exchange = async {
            let response = self.client.request(request).await?;
            let status = response.status().as_u16();
            let bytes = response.into_body().collect().await?.to_bytes();
            Ok::<_, Error>((status, bytes))
        };
        let (status, bytes) =
            tokio::time::timeout(REQUEST_TIMEOUT, exchange).await.map_err(|_| "HTTP request timed out")??;
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes)? };
        Ok(Answer { status, body })
    }

    /// `POST /conversations` with `participant`: the conversation's id.
    ///
    /// # Errors
    /// The request failed or was refused.
    pub async fn conversation_with(&self, token: &str, participant: Uuid) -> Result<Uuid, Error> {
        let answer =
            self.call(Method::POST, "/conversations", token, Some(&json!({"participantId": participant}))).await?;
        if let Some(code) = answer.error_code() {
            return Err(format!("POST /conversations: {code}: {}", answer.body).into());
        }
        answer.body["id"]
            .as_str()
            .and_then(|id| Uuid::try_parse(id).ok())
            .ok_or_else(|| format!("POST /conversations answered no id: {}", answer.body).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_come_from_the_body_or_the_status() {
        let refused =
            Answer { status: 429, body: json!({"status": "error", "error": {"code": "CHAT_RATE_LIMIT_EXCEEDED"}}) };
        assert_eq!(refused.error_code().as_deref(), Some("CHAT_RATE_LIMIT_EXCEEDED"));
        let gateway = Answer { status: 403, body: json!({"message": "Forbidden"}) };
        assert_eq!(gateway.error_code().as_deref(), Some("HTTP 403"));
        assert_eq!(Answer { status: 201, body: Value::Null }.error_code(), None);
    }
}
