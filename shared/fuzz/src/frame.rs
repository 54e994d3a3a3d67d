//! `ClientFrame::parse`: invariants that hold whatever the action, and a frame generator.
//!
//! Nothing here names a `ClientFrame` variant or an action, so adding an action needs no change:
//! the generator takes its action names from [`routes::WS_ROUTES`], the route table.

use arbitrary::{Arbitrary, Unstructured};
use chat_shared::protocol::{ClientFrame, FrameErrorKind, MAX_REQUEST_ID_LEN};
use chat_shared::routes;
use serde_json::{Map, Value};

/// Parses `body` and panics if the result breaks an invariant.
///
/// # Panics
/// - `parse` panics or is not deterministic;
/// - a parsed frame: the body is not a JSON object with a string `action` that is the frame's
///   [`ClientFrame::action`] and has its own WebSocket route, its request id is longer than [`MAX_REQUEST_ID_LEN`] or is not the body's
///   `requestId`, or the same object re-serialised parses differently;
/// - an error: `Malformed` for a JSON object (or not for a non-object), a request id or an
///   unknown action that is not the one in the body.
pub fn check(body: &str) {
    let result = ClientFrame::parse(body);
    assert_eq!(result, ClientFrame::parse(body), "parse is not deterministic");

    let json = serde_json::from_str::<Value>(body).ok();
    let object = json.as_ref().and_then(Value::as_object);
    let field = |name: &str| object.and_then(|o| o.get(name));

    match &result {
        Ok((frame, request_id)) => {
            let object = object.expect("a frame that parsed is a JSON object");
            assert_eq!(request_id.as_deref(), expected_request_id(field("requestId")));
            assert!(request_id.as_ref().is_none_or(|id| id.len() <= MAX_REQUEST_ID_LEN), "{request_id:?}");

            let action = field("action").and_then(Value::as_str).expect("a frame that parsed has a string action");
            assert_eq!(frame.action(), action, "the frame is not the body's action");
            assert_eq!(routes::ws_route(action).route_key, action, "parse accepts an action with no route");

            let canonical = serde_json::to_string(object).expect("a JSON object serialises");
            assert_eq!(ClientFrame::parse(&canonical), result, "the re-serialised frame parses differently");
        }
        Err(error) => {
            assert_eq!(matches!(error.kind, FrameErrorKind::Malformed(_)), object.is_none(), "{error:?}");
            if let Some(id) = &error.request_id {
                assert!(id.len() <= MAX_REQUEST_ID_LEN, "{id:?}");
                assert_eq!(Some(id.as_str()), expected_request_id(field("requestId")));
            }
            if let FrameErrorKind::UnknownAction(action) = &error.kind {
                assert_eq!(action.as_deref(), field("action").and_then(Value::as_str));
            }
        }
    }
}

/// The request id a frame may report for a raw `requestId` value: absent and `null` mean none,
/// a string is itself, anything else cannot belong to a parsed frame.
fn expected_request_id(raw: Option<&Value>) -> Option<&str> {
    match raw {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => panic!("a requestId of {other} was accepted"),
    }
}

/// A JSON object shaped like a client frame, serialised: a (mostly) known action, a request id
/// (sometimes missing, mistyped or too long) and fields under (mostly) known names.
#[derive(Debug)]
pub struct JsonFrame(pub String);

/// Field names that frames use besides `action` and `requestId`; the fuzzer finds others through
/// comparison feedback.
const FIELD_HINTS: &[&str] = &["conversationId", "content", "clientMessageId", "upToSeq", "afterSeq", "limit"];

impl<'a> Arbitrary<'a> for JsonFrame {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let mut object = Map::new();
        match u.int_in_range(0u8..=9)? {
            0 => {}
            1 => {
                object.insert("action".into(), value(u, 1)?);
            }
            2 | 3 => {
                object.insert("action".into(), Value::String(string(u)?));
            }
            _ => {
                let route = u.choose(routes::WS_ROUTES)?;
                object.insert("action".into(), Value::String(route.route_key.into()));
            }
        }
        match u.int_in_range(0u8..=5)? {
            0 => {}
            1 => {
                object.insert("requestId".into(), value(u, 1)?);
            }
            2 => {
                let len = u.int_in_range(MAX_REQUEST_ID_LEN - 2..=MAX_REQUEST_ID_LEN + 2)?;
                object.insert("requestId".into(), Value::String("r".repeat(len)));
            }
            _ => {
                object.insert("requestId".into(), Value::String(string(u)?));
            }
        }
        // Each known field half of the time, a string half of that: a frame with all the fields
        // an action needs is likely enough that the fuzzer reaches the action's own checks.
        for name in FIELD_HINTS {
            if u.ratio(1u8, 2)? {
                let value = if u.ratio(1u8, 2)? { Value::String(string(u)?) } else { value(u, 2)? };
                object.insert((*name).to_owned(), value);
            }
        }
        for _ in 0..u.int_in_range(0u8..=3)? {
            object.insert(u.arbitrary()?, value(u, 3)?);
        }
        let text = if u.arbitrary()? { serde_json::to_string_pretty(&object) } else { serde_json::to_string(&object) };
        Ok(JsonFrame(text.expect("a JSON object serialises")))
    }
}

/// Any JSON value, strings and scalars more often than containers, nested at most `depth` deep.
fn value(u: &mut Unstructured<'_>, depth: u8) -> arbitrary::Result<Value> {
    let kinds = if depth == 0 { 6 } else { 8 };
    Ok(match u.choose_index(kinds)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::from(u.int_in_range(-2i64..=3)?),
        3 => Value::from(u.arbitrary::<i64>()?),
        4 => Value::from(u.arbitrary::<f64>()?), // NaN and infinities become `null`
        5 => Value::String(string(u)?),
        6 => Value::Array((0..u.int_in_range(0u8..=3)?).map(|_| value(u, depth - 1)).collect::<Result<_, _>>()?),
        _ => {
            let mut map = Map::new();
            for _ in 0..u.int_in_range(0u8..=3)? {
                let key = if u.arbitrary()? { (*u.choose(FIELD_HINTS)?).to_owned() } else { u.arbitrary()? };
                map.insert(key, value(u, depth - 1)?);
            }
            Value::Object(map)
        }
    })
}

/// A string: arbitrary text, a UUID, blank, or a run of one character (for length limits).
fn string(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    Ok(match u.int_in_range(0u8..=5)? {
        0 => uuid(u.arbitrary()?),
        1 => " \t\n".chars().take(u.int_in_range(0..=3)?).collect(),
        2 => u.arbitrary::<char>()?.to_string().repeat(u.int_in_range(0..=300)?),
        _ => u.arbitrary()?,
    })
}

fn uuid(bytes: [u8; 16]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_frames_are_json_objects_that_pass_the_checks_and_some_parse() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut parsed = 0;
        for _ in 0..2_000 {
            let bytes: Vec<u8> = (0..256)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let JsonFrame(text) = JsonFrame::arbitrary_take_rest(Unstructured::new(&bytes)).unwrap();
            assert!(serde_json::from_str::<Value>(&text).unwrap().is_object(), "{text}");
            check(&text);
            parsed += usize::from(ClientFrame::parse(&text).is_ok());
        }
        assert!(parsed > 0, "no generated frame parsed");
    }

    #[test]
    fn the_seed_frames_pass_the_checks() {
        for body in crate::seeds("frame_parse").into_iter().chain(crate::seeds("frame_parse_lossy")) {
            check(&String::from_utf8_lossy(&body));
        }
    }
}
