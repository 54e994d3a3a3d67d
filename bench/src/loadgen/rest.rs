//! The HTTP rows of the R10 table: open-loop requests to the read paths, and the data they
//! need, made through the API (or, when asked, loaded into PostgreSQL directly).
//!
//! Requests start at Poisson-scheduled instants, each in its own task, whatever the answers
//! before them; a request's latency runs from its scheduled instant to its whole body.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use http::Method;
use indicatif::ProgressBar;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use super::api::{Answer, Api};
use super::fleet::Endpoint;
use super::ledger::Counts;
use super::schedule::{self, Stream};
use super::stats::Recorder;
use crate::Error;

/// Time between computing the schedule and the first request.
const LEAD: Duration = Duration::from_millis(200);

/// Messages in flight while filling a conversation through the WebSocket API.
const FILL_WINDOW: usize = 64;

/// One request: the path (with query) and whose token.
#[derive(Debug, Clone)]
pub struct Call {
    pub path: String,
    pub token: String,
}

/// The outcome of a request phase.
#[derive(Debug)]
pub struct RequestRun {
    pub counts: Counts,
    pub latency: Recorder,
    pub achieved_rate: f64,
    pub elapsed: Duration,
}

/// The pace of a request phase.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Requests per second (Poisson arrivals).
    pub rate: f64,
    /// Timed length.
    pub duration: Duration,
    /// Untimed requests before it.
    pub warmup: Duration,
    pub seed: u64,
}

/// `GET`s `call(i, rng)` at the `pace`; `check` turns an answer into an error code when it is
/// not the one expected (a short page, no hits).
pub async fn run_requests(
    api: &Api,
    pace: Pace,
    mut call: impl FnMut(usize, &mut ChaCha8Rng) -> Call,
    check: fn(&Answer) -> Result<(), String>,
    bar: &ProgressBar,
) -> RequestRun {
    let Pace { rate, duration, warmup, seed } = pace;
    let offsets = schedule::poisson(rate, duration + warmup, &mut schedule::rng(seed, Stream::Requests));
    let mut draws = schedule::rng(seed, Stream::Content);
    bar.set_length(offsets.len() as u64);
    bar.set_position(0);
    let began = Instant::now();
    let start = began + LEAD;
    let origin = start + warmup;
    let mut counts = Counts { scheduled: offsets.len() as u64, ..Counts::default() };
    let mut latency = Recorder::new();
    let mut tasks = JoinSet::new();
    let mut record = |counts: &mut Counts, (at, done, outcome): (Instant, Instant, Result<(), String>)| match outcome {
        Ok(()) => {
            counts.answered_ok += 1;
            if let Some(since) = at.checked_duration_since(origin) {
                latency.record(since.as_secs_f64(), done - at);
            }
        }
        Err(code) => *counts.errors.entry(code).or_default() += 1,
    };
    let (mut first, mut last) = (None, None);
    for (i, offset) in offsets.iter().enumerate() {
        let at = start + *offset;
        tokio::time::sleep_until(at.into()).await;
        first.get_or_insert(Instant::now());
        last = Some(Instant::now());
        let Call { path, token } = call(i, &mut draws);
        let api = api.clone();
        tasks.spawn(async move {
            let outcome = match api.call(Method::GET, &path, &token, None).await {
                Ok(answer) => check(&answer),
                Err(error) => Err(format!("REQUEST_FAILED ({error})")),
            };
            (at, Instant::now(), outcome)
        });
        counts.sent += 1;
        bar.inc(1);
        while let Some(Ok(done)) = tasks.try_join_next() {
            record(&mut counts, done);
        }
    }
    while let Some(joined) = tasks.join_next().await {
        if let Ok(done) = joined {
            record(&mut counts, done);
        }
    }
    let span = match (first, last) {
        (Some(first), Some(last)) => (last - first).as_secs_f64(),
        _ => 0.0,
    };
    let achieved_rate = if counts.sent < 2 { counts.sent as f64 } else { (counts.sent - 1) as f64 / span.max(1e-9) };
    RequestRun { counts, latency, achieved_rate, elapsed: began.elapsed() }
}

/// A 2xx answer whose `items` hold exactly `n` entries.
pub fn items_exactly(answer: &Answer, n: usize) -> Result<(), String> {
    if let Some(code) = answer.error_code() {
        return Err(code);
    }
    match answer.body["items"].as_array().map(Vec::len) {
        Some(len) if len == n => Ok(()),
        Some(len) => Err(format!("ITEMS_{len}_NOT_{n}")),
        None => Err("NO_ITEMS".to_owned()),
    }
}

/// A 2xx answer with at least one item.
pub fn some_items(answer: &Answer) -> Result<(), String> {
    if let Some(code) = answer.error_code() {
        return Err(code);
    }
    match answer.body["items"].as_array() {
        Some(items) if !items.is_empty() => Ok(()),
        _ => Err("NO_HITS".to_owned()),
    }
}

/// Sends `messages` (`(conversation, content)`) from one new connection of `token`'s user,
/// [`FILL_WINDOW`] at a time, and waits for every ack.
///
/// # Errors
/// The connection fails, a message is refused, or no ack comes for 30 s.
pub async fn fill_through_api(
    endpoint: &Endpoint,
    token: &str,
    messages: &[(uuid::Uuid, String)],
    bar: &ProgressBar,
) -> Result<Duration, Error> {
    let started = Instant::now();
    let socket = endpoint.open(token).await.map_err(|e| format!("filling: connect: {e}"))?;
    let (mut sink, mut stream) = socket.split();
    bar.set_length(messages.len() as u64);
    bar.set_position(0);
    let (mut next, mut acked) = (0, 0);
    while acked < messages.len() {
        while next < messages.len() && next - acked < FILL_WINDOW {
            let (conversation, content) = &messages[next];
            let frame = serde_json::json!({
                "action": "message:send", "conversationId": conversation, "content": content, "requestId": format!("f{next}")
            });
            sink.send(Message::Text(frame.to_string().into())).await.map_err(|e| format!("filling: send: {e}"))?;
            next += 1;
        }
        let frame = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .map_err(|_| format!("filling: no ack for 30 s after {acked} of {}", messages.len()))?;
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            other => return Err(format!("filling: the connection ended: {other:?}").into()),
        };
        let value: Value = serde_json::from_str(text.as_str())?;
        if !value["requestId"].as_str().is_some_and(|r| r.starts_with('f')) {
            continue;
        }
        if value["status"] != "success" {
            return Err(format!("filling: a message was refused: {value}").into());
        }
        acked += 1;
        bar.inc(1);
    }
    let _ = sink.send(Message::Close(None)).await;
    Ok(started.elapsed())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pages_are_checked_for_their_size_and_hits() {
        let page = |n: usize| Answer { status: 200, body: json!({"items": vec![json!({}); n], "nextCursor": null}) };
        assert_eq!(items_exactly(&page(50), 50), Ok(()));
        assert_eq!(items_exactly(&page(49), 50), Err("ITEMS_49_NOT_50".to_owned()));
        assert_eq!(some_items(&page(0)), Err("NO_HITS".to_owned()));
        assert_eq!(some_items(&page(3)), Ok(()));
        let refused = Answer { status: 403, body: json!({"error": {"code": "FORBIDDEN"}}) };
        assert_eq!(some_items(&refused), Err("FORBIDDEN".to_owned()));
    }
}
