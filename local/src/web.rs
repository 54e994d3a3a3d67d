//! The demo web client and the dev sign-in it uses: chat-local only, never deployed.
//!
//! - `GET /` and `GET /web/{file}`: the static client in `local/web/` (plain HTML, CSS and JS
//!   modules), embedded in the binary so `chat-local serve` needs no working directory. Every
//!   response carries a strict Content-Security-Policy: scripts, styles and images from this
//!   origin only (no inline script or style), connections to this origin and to the WebSocket
//!   API's own address.
//! - `POST /dev/token` `{"user": "alice"}`: a dev token for that name, with the derived user id
//!   and the WebSocket URL to connect to. Only when chat-local runs the functions in-process
//!   with HS256 (it then holds `JWT_SECRET`); otherwise `NOT_FOUND`.
//! - `GET /dev/users/{name}`: the user id a name signs in as (to start a conversation by name).
//!
//! Errors use the API's error body (`docs/protocol.md`, "Errors"). These routes are not in
//! `chat_shared::routes::HTTP_ROUTES` and so not in `infra/template.yaml`: anyone who reaches
//! them can sign in as anyone, which is the point on a laptop and unacceptable anywhere else.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use chat_shared::auth::{JwtAlgorithm, JwtConfig, KeySource, issue_dev_token};
use chat_shared::domain::UserId;
use chat_shared::protocol::{ErrorBody, ErrorCode, RestError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where the dev-token endpoint is.
pub const DEV_TOKEN_PATH: &str = "/dev/token";

/// Where a name's user id is looked up (`{name}` percent-encoded).
pub const DEV_USERS_PATH: &str = "/dev/users/{name}";

/// How long a dev token from [`DEV_TOKEN_PATH`] lasts (as `chat-local token`'s default).
const DEV_TOKEN_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Longest accepted user name, in characters.
const USER_NAME_MAX_CHARS: usize = 64;

/// Largest accepted `POST /dev/token` body (the HTTP API's limit).
const MAX_BODY_BYTES: usize = 16 * 1024;

/// One embedded file of the client.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// The client's files, served at their paths.
const ASSETS: &[Asset] = &[
    Asset { path: "/", content_type: "text/html; charset=utf-8", body: include_str!("../web/index.html") },
    Asset { path: "/web/app.js", content_type: "text/javascript; charset=utf-8", body: include_str!("../web/app.js") },
    Asset {
        path: "/web/connection.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/connection.js"),
    },
    Asset {
        path: "/web/model.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/model.js"),
    },
    Asset { path: "/web/style.css", content_type: "text/css; charset=utf-8", body: include_str!("../web/style.css") },
    Asset { path: "/web/icon.svg", content_type: "image/svg+xml", body: include_str!("../web/icon.svg") },
];

/// Every path the web client and its dev sign-in answer on: chat-local's own, never deployed
/// (`tests/tests/template.rs` checks that `infra/template.yaml` routes none of them).
pub fn paths() -> Vec<&'static str> {
    ASSETS.iter().map(|asset| asset.path).chain([DEV_TOKEN_PATH, DEV_USERS_PATH]).collect()
}

/// What the web routes need: where the WebSocket API is and, when chat-local can sign dev
/// tokens, the HS256 settings to sign them with.
#[derive(Debug)]
pub(crate) struct WebClient {
    ws_url: String,
    content_security_policy: HeaderValue,
    signer: Option<JwtConfig>,
}

impl WebClient {
    /// `ws_addr` is where the WebSocket API listens (a loopback address, not an unspecified
    /// one) and `stage` its stage; `jwt` the backend's token settings, kept only if they can
    /// sign (HS256 with a secret).
    pub(crate) fn new(ws_addr: SocketAddr, stage: &str, jwt: Option<JwtConfig>) -> Self {
        let signer = jwt.filter(|jwt| {
            jwt.algorithm == JwtAlgorithm::Hs256 && matches!(&jwt.key, KeySource::Secret(s) if !s.is_empty())
        });
        let policy = format!(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self' ws://{ws_addr}; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        );
        WebClient {
            ws_url: format!("ws://{ws_addr}/{stage}"),
            // A socket address has no byte a header value refuses.
            content_security_policy: HeaderValue::from_str(&policy)
                .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'")),
            signer,
        }
    }
}

/// The web client's routes, for the HTTP API port's router.
pub(crate) fn router<S>(client: Arc<WebClient>) -> Router<S> {
    let mut router = Router::new();
    for asset in ASSETS {
        router = router.route(asset.path, get(move |State(client): State<Arc<WebClient>>| serve_asset(client, asset)));
    }
    router.route(DEV_TOKEN_PATH, post(dev_token)).route(DEV_USERS_PATH, get(dev_user)).with_state(client)
}

async fn serve_asset(client: Arc<WebClient>, asset: &'static Asset) -> Response {
    let mut response = Response::new(Body::from(asset.body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, client.content_security_policy.clone());
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // The files change with the binary; a reload after a rebuild must not run stale code.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A user name as dev tokens carry it: trimmed, 1 to [`USER_NAME_MAX_CHARS`] characters, no
/// control characters. It becomes the token's `sub` and `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DevUserName(String);

impl DevUserName {
    fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("user must not be empty".into());
        }
        if name.chars().count() > USER_NAME_MAX_CHARS {
            return Err(format!("user must be at most {USER_NAME_MAX_CHARS} characters"));
        }
        if name.chars().any(char::is_control) {
            return Err("user must not contain control characters".into());
        }
        Ok(DevUserName(name.to_owned()))
    }

    fn user_id(&self) -> UserId {
        UserId::from_subject(&self.0)
    }
}

#[derive(Debug, Deserialize)]
struct TokenRequest {
    user: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenResponse {
    user_id: String,
    display_name: String,
    token: String,
    ws_url: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct UserResponse {
    user_id: String,
    display_name: String,
}

/// `POST /dev/token`.
async fn dev_token(State(client): State<Arc<WebClient>>, body: Body) -> Response {
    let Some(signer) = &client.signer else {
        return error(
            ErrorCode::NotFound,
            "dev tokens are only issued when chat-local runs the functions itself with HS256 and JWT_SECRET",
        );
    };
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return error(ErrorCode::PayloadTooLarge, "the body is larger than 16 KiB");
    };
    // An object, not anything serde could read a struct from (an array would do).
    let request = match serde_json::from_slice::<Value>(&body) {
        Ok(object @ Value::Object(_)) => serde_json::from_value::<TokenRequest>(object).ok(),
        _ => None,
    };
    let Some(request) = request else {
        return error(ErrorCode::ValidationError, "the body must be {\"user\": \"<name>\"}");
    };
    let name = match DevUserName::parse(&request.user) {
        Ok(name) => name,
        Err(message) => return error(ErrorCode::ValidationError, &message),
    };
    match issue_dev_token(signer, &name.0, DEV_TOKEN_TTL) {
        Ok((identity, token)) => json(
            StatusCode::OK,
            &TokenResponse {
                user_id: identity.user_id.to_string(),
                display_name: identity.display_name,
                token,
                ws_url: client.ws_url.clone(),
            },
        ),
        Err(cause) => {
            tracing::error!(error = %cause, "issuing a dev token");
            error(ErrorCode::InternalError, "internal error")
        }
    }
}

/// `GET /dev/users/{name}`.
async fn dev_user(name: Result<Path<String>, PathRejection>) -> Response {
    let Ok(Path(name)) = name else {
        return error(ErrorCode::ValidationError, "the name must be percent-encoded UTF-8");
    };
    match DevUserName::parse(&name) {
        Ok(name) => json(StatusCode::OK, &UserResponse { user_id: name.user_id().to_string(), display_name: name.0 }),
        Err(message) => error(ErrorCode::ValidationError, &message),
    }
}

fn json(status: StatusCode, body: &impl Serialize) -> Response {
    // Serializing these plain structs cannot fail.
    let text = serde_json::to_string(body).unwrap_or_default();
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn error(code: ErrorCode, message: &str) -> Response {
    let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json(status, &RestError { status: "error", error: &ErrorBody::new(code, message) })
}

#[cfg(test)]
mod tests {
    use chat_shared::auth::TokenVerifier;
    use serde_json::json;

    use super::*;

    fn hs256(secret: &str) -> JwtConfig {
        JwtConfig {
            algorithm: JwtAlgorithm::Hs256,
            key: KeySource::Secret(secret.into()),
            issuer: None,
            audience: None,
            leeway_seconds: 30,
        }
    }

    fn client(jwt: Option<JwtConfig>) -> Arc<WebClient> {
        Arc::new(WebClient::new("127.0.0.1:4001".parse().expect("an address"), "local", jwt))
    }

    async fn json_of(response: Response) -> Value {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("a body");
        serde_json::from_slice(&bytes).expect("JSON")
    }

    async fn token_for(client: Arc<WebClient>, body: &str) -> (StatusCode, Value) {
        let response = dev_token(State(client), Body::from(body.to_owned())).await;
        (response.status(), json_of(response).await)
    }

    fn asset(path: &str) -> &'static Asset {
        ASSETS.iter().find(|a| a.path == path).unwrap_or_else(|| panic!("no asset {path}"))
    }

    #[tokio::test]
    async fn the_page_is_html_under_a_policy_that_allows_only_this_origin_and_the_websocket_api() {
        let response = serve_asset(client(None), asset("/")).await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().expect("ASCII");
        assert!(policy.starts_with("default-src 'self'; script-src 'self'; style-src 'self';"), "{policy}");
        assert!(policy.contains("connect-src 'self' ws://127.0.0.1:4001;"), "{policy}");
        assert!(!policy.contains("unsafe"), "{policy}");
    }

    #[test]
    fn every_script_the_page_loads_is_served_and_no_script_is_inline() {
        let page = asset("/").body;
        for module in ["/web/app.js", "/web/connection.js", "/web/model.js"] {
            assert_eq!(asset(module).content_type, "text/javascript; charset=utf-8");
        }
        assert!(page.contains(r#"<script type="module" src="/web/app.js"></script>"#), "{page}");
        assert_eq!(page.matches("<script").count(), 1, "one external module, nothing inline");
        assert!(!page.contains("style="), "no inline style (the policy refuses it)");
        for asset in ASSETS {
            assert!(!asset.body.contains("innerHTML"), "{} must build the DOM from text", asset.path);
        }
    }

    #[tokio::test]
    async fn a_dev_token_verifies_and_names_its_user_and_the_websocket_url() {
        let (status, body) = token_for(client(Some(hs256("s3cret"))), r#"{"user":"  alice  "}"#).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["displayName"], "alice");
        assert_eq!(body["userId"], UserId::from_subject("alice").to_string());
        assert_eq!(body["wsUrl"], "ws://127.0.0.1:4001/local");
        let token = body["token"].as_str().expect("a token");
        let identity = TokenVerifier::new(&hs256("s3cret")).expect("a verifier").verify(token).expect("valid");
        assert_eq!(identity.user_id.to_string(), body["userId"].as_str().expect("an id"));
        assert_eq!(identity.display_name, "alice");
    }

    #[tokio::test]
    async fn bad_names_and_bodies_are_validation_errors() {
        let too_long = format!(r#"{{"user":"{}"}}"#, "a".repeat(USER_NAME_MAX_CHARS + 1));
        for body in [r#"{"user":""}"#, r#"{"user":"   "}"#, r#"{"user":"a\u0007b"}"#, &too_long, r#"{"name":"x"}"#] {
            let (status, error) = token_for(client(Some(hs256("s3cret"))), body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(error["status"], "error", "{body}");
            assert_eq!(error["error"]["code"], "VALIDATION_ERROR", "{body}");
        }
        for body in ["", "not json", r#"["alice"]"#, r#"{"user":5}"#] {
            let (status, error) = token_for(client(Some(hs256("s3cret"))), body).await;
            assert_eq!((status, &error["error"]["code"]), (StatusCode::BAD_REQUEST, &json!("VALIDATION_ERROR")));
        }
        let exactly_max = format!(r#"{{"user":"{}"}}"#, "é".repeat(USER_NAME_MAX_CHARS));
        assert_eq!(token_for(client(Some(hs256("s3cret"))), &exactly_max).await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn an_oversized_body_is_payload_too_large() {
        let body = format!(r#"{{"user":"{}"}}"#, "a".repeat(MAX_BODY_BYTES));
        let (status, error) = token_for(client(Some(hs256("s3cret"))), &body).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(error["error"]["code"], "PAYLOAD_TOO_LARGE");
    }

    #[tokio::test]
    async fn without_an_hs256_secret_no_dev_token_is_issued() {
        let rs256 =
            JwtConfig { algorithm: JwtAlgorithm::Rs256, key: KeySource::PublicKeyPem("pem".into()), ..hs256("") };
        for jwt in [None, Some(hs256("")), Some(rs256)] {
            let (status, error) = token_for(client(jwt), r#"{"user":"alice"}"#).await;
            assert_eq!(status, StatusCode::NOT_FOUND);
            assert_eq!(error["error"]["code"], "NOT_FOUND");
        }
    }

    #[tokio::test]
    async fn a_name_looks_up_the_user_id_its_token_would_carry() {
        let response = dev_user(Ok(Path("bob".to_owned()))).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            json_of(response).await,
            json!({"userId": UserId::from_subject("bob").to_string(), "displayName": "bob"})
        );
        let blank = dev_user(Ok(Path(" ".to_owned()))).await;
        assert_eq!(blank.status(), StatusCode::BAD_REQUEST);
        assert_eq!(json_of(blank).await["error"]["code"], "VALIDATION_ERROR");
    }
}
