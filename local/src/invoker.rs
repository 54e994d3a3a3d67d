//! How the gateway runs a function: the [`Invoker`] trait and its in-process implementation.
//!
//! The gateway builds every event itself and hands it to an [`Invoker`] as JSON, exactly what
//! the Lambda service would receive, so where the function runs (in this process, or behind
//! the Lambda invoke API of `cargo lambda watch`) is this module's business alone.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chat_shared::edge::Handlers;
use chat_shared::routes::Function;
use serde_json::Value;

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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[tokio::test]
    async fn a_failing_invocation_reports_its_cause() {
        let out = invoke_within(&Failing, Function::WsDefault, Value::Null, Duration::from_secs(1)).await;
        assert_eq!(out, Err(InvokeFailure::Failed { function: Function::WsDefault, cause: "boom".into() }));
    }
}
