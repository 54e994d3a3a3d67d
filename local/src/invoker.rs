//! How the gateway runs a function: the [`Invoker`] trait and its two implementations.
//!
//! The gateway builds every event itself and hands it to an [`Invoker`] as JSON, exactly what
//! the Lambda service would receive, so where the function runs is this module's business
//! alone:
//! - [`InProcessInvoker`] (the default) runs the handlers of `chat_shared::edge` in this process;
//! - [`LambdaInvokeApiInvoker`] (`chat-local serve --invoke-endpoint URL`) sends the event to the
//!   Lambda Invoke API of `cargo lambda watch`, where each function runs as its own binary.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chat_shared::edge::Handlers;
use chat_shared::routes::Function;
use serde_json::{Map, Value};

/// Runs one Lambda function with a JSON event and returns its JSON response.
#[async_trait]
pub trait Invoker: Send + Sync + std::fmt::Debug {
    /// Invokes `function` with `event`.
    ///
    /// # Errors
    /// A description of why the invocation failed (the function errored or panicked, the event
    /// did not fit it, or it could not be reached). API Gateway treats all of these alike.
    async fn invoke(&self, function: Function, event: Value) -> Result<Value, String>;
}

/// Why an invocation produced no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeFailure {
    /// The function did not answer within the integration timeout.
    #[error("{function:?} did not answer within {timeout:?}")]
    TimedOut { function: Function, timeout: Duration },
    /// The function failed.
    #[error("{function:?} failed: {cause}")]
    Failed { function: Function, cause: String },
}

/// Invokes `function` through `invoker`, giving up after `timeout` as API Gateway's
/// integration timeout does.
///
/// # Errors
/// [`InvokeFailure`] when the invocation fails or times out.
pub async fn invoke_within(
    invoker: &dyn Invoker,
    function: Function,
    event: Value,
    timeout: Duration,
) -> Result<Value, InvokeFailure> {
    match tokio::time::timeout(timeout, invoker.invoke(function, event)).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(cause)) => Err(InvokeFailure::Failed { function, cause }),
        Err(_) => Err(InvokeFailure::TimedOut { function, timeout }),
    }
}

/// Runs the functions' handlers in this process (the default).
///
/// Each invocation runs in its own task, so a panicking handler fails that invocation (as a
/// crashed Lambda would) instead of the connection or request that triggered it, and an
/// invocation abandoned by a timeout is aborted rather than left running.
#[derive(Debug, Clone)]
pub struct InProcessInvoker {
    handlers: Arc<Handlers>,
}

impl InProcessInvoker {
    pub fn new(handlers: Arc<Handlers>) -> Self {
        Self { handlers }
    }
}

/// Aborts the task when dropped (when the awaiting future is cancelled by a timeout).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[async_trait]
impl Invoker for InProcessInvoker {
    async fn invoke(&self, function: Function, event: Value) -> Result<Value, String> {
        let handlers = self.handlers.clone();
        let mut task = AbortOnDrop(tokio::spawn(async move { handlers.invoke(function, event).await }));
        match (&mut task.0).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(error.to_string()),
            Err(join) if join.is_panic() => Err("the handler panicked".to_owned()),
            Err(join) => Err(join.to_string()),
        }
    }
}

/// Sends each event to the Lambda Invoke API (`POST {endpoint}/2015-03-31/functions/{name}/invocations`),
/// as `cargo lambda watch` serves it; the function name is the binary's, [`Function::package`].
///
/// Every way the call can go wrong is a failed invocation: the endpoint cannot be reached,
/// answers a non-2xx status, flags a function error (`X-Amz-Function-Error`), or answers with
/// a Lambda error body (`{"errorType": ..., "errorMessage": ...}`). The caller bounds each call
/// with the integration timeout ([`invoke_within`]); dropping the call aborts the request.
#[derive(Debug, Clone)]
pub struct LambdaInvokeApiInvoker {
    /// Without a trailing `/`.
    endpoint: String,
    /// Built once: its connection pool is reused by every invocation.
    client: reqwest::Client,
}

/// How long connecting to the Invoke API may take before the invocation fails.
const INVOKE_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long after the integration timeout the HTTP client itself gives up, so that the
/// integration timeout, not the backstop, decides (and reports "timed out").
const BACKSTOP_MARGIN: Duration = Duration::from_secs(1);

/// How much of an unexpected answer's body goes into the failure's description.
const BODY_EXCERPT: usize = 300;

impl LambdaInvokeApiInvoker {
    /// An invoker for the Invoke API at `endpoint` (`http://127.0.0.1:9000`). `max_timeout` is
    /// the longest integration timeout in use: every request is also cut off by the client a
    /// little after it, a backstop should a caller not bound the call itself.
    ///
    /// # Errors
    /// `endpoint` is not an `http://` URL (this build has no TLS for it), or the HTTP client
    /// cannot be built.
    pub fn new(endpoint: &str, max_timeout: Duration) -> Result<Self, String> {
        let endpoint = endpoint.trim().trim_end_matches('/');
        let authority = endpoint
            .strip_prefix("http://")
            .ok_or_else(|| format!("invoke endpoint {endpoint:?} must be an http:// URL"))?;
        if authority.is_empty() || authority.contains(['?', '#']) {
            return Err(format!("invoke endpoint {endpoint:?} must be http://HOST:PORT"));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(INVOKE_CONNECT_TIMEOUT)
            .timeout(max_timeout + BACKSTOP_MARGIN)
            .build()
            .map_err(|e| format!("HTTP client for the invoke endpoint: {e}"))?;
        Ok(Self { endpoint: endpoint.to_owned(), client })
    }

    /// The endpoint, without a trailing `/`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Where `function` is invoked.
    pub fn invocation_url(&self, function: Function) -> String {
        format!("{}/2015-03-31/functions/{}/invocations", self.endpoint, function.package())
    }
}

#[async_trait]
impl Invoker for LambdaInvokeApiInvoker {
    async fn invoke(&self, function: Function, event: Value) -> Result<Value, String> {
        let url = self.invocation_url(function);
        let response = self
            .client
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(event.to_string())
            .send()
            .await
            .map_err(|e| describe_send_error(&url, &e))?;
        let status = response.status();
        let function_error =
            response.headers().get("x-amz-function-error").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let body = response.bytes().await.map_err(|e| format!("reading the answer of {url}: {e}"))?;
        invoke_api_answer(status.as_u16(), function_error.as_deref(), &body)
            .map_err(|cause| format!("{} via {url}: {cause}", function.package()))
    }
}

fn describe_send_error(url: &str, error: &reqwest::Error) -> String {
    use std::error::Error as _;
    // reqwest's own text is "error sending request"; the cause (connection refused...) is below it.
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    let hint = if error.is_connect() { " (is `cargo lambda watch` running there?)" } else { "" };
    format!("cannot invoke {url}: {text}{hint}")
}

/// The function's response from an Invoke API answer, or why there is none.
fn invoke_api_answer(status: u16, function_error: Option<&str>, body: &[u8]) -> Result<Value, String> {
    let parsed: Option<Value> =
        if body.trim_ascii().is_empty() { Some(Value::Null) } else { serde_json::from_slice(body).ok() };
    if let Some(kind) = function_error {
        let detail = parsed.as_ref().and_then(|v| v.as_object()).map_or_else(|| excerpt(body), lambda_error_text);
        return Err(format!("function error ({kind}): {detail}"));
    }
    if !(200..300).contains(&status) {
        let detail = parsed
            .as_ref()
            .and_then(|v| v.as_object())
            .filter(|o| is_lambda_error(o))
            .map_or_else(|| excerpt(body), lambda_error_text);
        return Err(format!("HTTP {status}: {detail}"));
    }
    match parsed {
        Some(Value::Object(object)) if is_lambda_error(&object) => {
            Err(format!("function error: {}", lambda_error_text(&object)))
        }
        Some(response) => Ok(response),
        None => Err(format!("the answer is not JSON: {}", excerpt(body))),
    }
}

/// A Lambda error body: `errorType` and/or `errorMessage`, and nothing a response would have.
fn is_lambda_error(object: &Map<String, Value>) -> bool {
    const ERROR_FIELDS: [&str; 5] = ["errorType", "errorMessage", "stackTrace", "requestId", "cause"];
    (object.get("errorType").is_some_and(Value::is_string) || object.get("errorMessage").is_some_and(Value::is_string))
        && object.keys().all(|k| ERROR_FIELDS.contains(&k.as_str()))
}

fn lambda_error_text(object: &Map<String, Value>) -> String {
    let field = |name| object.get(name).and_then(Value::as_str).unwrap_or("?");
    if object.contains_key("errorType") || object.contains_key("errorMessage") {
        format!("{}: {}", field("errorType"), field("errorMessage"))
    } else {
        Value::Object(object.clone()).to_string()
    }
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_owned();
    }
    match text.char_indices().nth(BODY_EXCERPT) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug)]
    struct Slow;

    #[async_trait]
    impl Invoker for Slow {
        async fn invoke(&self, _: Function, _: Value) -> Result<Value, String> {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(Value::Null)
        }
    }

    #[derive(Debug)]
    struct Failing;

    #[async_trait]
    impl Invoker for Failing {
        async fn invoke(&self, _: Function, _: Value) -> Result<Value, String> {
            Err("boom".into())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_invocation_that_outlives_the_timeout_times_out() {
        let out = invoke_within(&Slow, Function::WsDefault, Value::Null, Duration::from_secs(29)).await;
        assert_eq!(
            out,
            Err(InvokeFailure::TimedOut { function: Function::WsDefault, timeout: Duration::from_secs(29) })
        );
    }

    #[test]
    fn the_invoke_api_answer_is_the_response_unless_it_reports_an_error() {
        assert_eq!(invoke_api_answer(200, None, br#"{"statusCode":200}"#), Ok(json!({"statusCode": 200})));
        assert_eq!(invoke_api_answer(200, None, b""), Ok(Value::Null));
        assert_eq!(invoke_api_answer(200, None, b"null"), Ok(Value::Null));
        // A response that merely has an errorMessage among its own fields is a response.
        let body = br#"{"statusCode":400,"errorMessage":"x"}"#;
        assert_eq!(invoke_api_answer(200, None, body), Ok(json!({"statusCode": 400, "errorMessage": "x"})));
    }

    #[test]
    fn lambda_errors_non_2xx_and_garbage_fail_the_invocation() {
        let error = br#"{"errorType":"Runtime.ExitError","errorMessage":"exit status 101"}"#;
        let failed = |status, header, body: &[u8]| invoke_api_answer(status, header, body).expect_err("a failure");
        assert_eq!(
            failed(200, Some("Unhandled"), error),
            "function error (Unhandled): Runtime.ExitError: exit status 101"
        );
        assert_eq!(failed(200, None, error), "function error: Runtime.ExitError: exit status 101");
        assert_eq!(failed(500, None, error), "HTTP 500: Runtime.ExitError: exit status 101");
        assert_eq!(failed(404, None, b"function not found"), "HTTP 404: function not found");
        assert_eq!(failed(502, None, b""), "HTTP 502: (empty body)");
        assert_eq!(failed(200, Some("Handled"), b"boom"), "function error (Handled): boom");
        assert!(failed(200, None, b"<html>").starts_with("the answer is not JSON"));
        let long = "x".repeat(1000);
        assert!(failed(500, None, long.as_bytes()).ends_with("..."));
    }

    #[test]
    fn the_invocation_url_names_the_functions_binary() {
        let invoker = LambdaInvokeApiInvoker::new("http://127.0.0.1:9000/", Duration::from_secs(1)).expect("valid");
        assert_eq!(invoker.endpoint(), "http://127.0.0.1:9000");
        assert_eq!(
            invoker.invocation_url(Function::WsSendMessage),
            "http://127.0.0.1:9000/2015-03-31/functions/ws-send-message/invocations"
        );
        for bad in ["127.0.0.1:9000", "https://example.com", "http://", "ftp://x"] {
            assert!(LambdaInvokeApiInvoker::new(bad, Duration::from_secs(1)).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_fails_the_invocation() {
        // Bind then drop a listener: its port is (for a moment) certainly closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let invoker = LambdaInvokeApiInvoker::new(&format!("http://127.0.0.1:{port}"), Duration::from_secs(5))
            .expect("valid endpoint");
        let out = invoke_within(&invoker, Function::WsDefault, json!({}), Duration::from_secs(5)).await;
        match out {
            Err(InvokeFailure::Failed { function: Function::WsDefault, cause }) => {
                assert!(cause.contains("cannot invoke") && cause.contains("cargo lambda watch"), "{cause}");
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_failing_invocation_reports_its_cause() {
        let out = invoke_within(&Failing, Function::WsDefault, Value::Null, Duration::from_secs(1)).await;
        assert_eq!(out, Err(InvokeFailure::Failed { function: Function::WsDefault, cause: "boom".into() }));
    }
}
