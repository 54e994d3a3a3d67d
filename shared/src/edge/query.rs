//! Query strings as API Gateway receives them.
//!
//! HTTP API events (payload 2.0) carry `queryStringParameters` with repeated names joined by
//! commas, which `aws_lambda_events` splits again on every comma, so a value containing a comma
//! (`q=coffee, tea`) would come apart. Handlers read parameters from `rawQueryString` instead,
//! decoded here; `chat-local` uses the same decoding to build its events.

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`, as in query strings).
/// Invalid escapes stay as they are; bytes that are not UTF-8 become U+FFFD.
pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    fn hex(b: u8) -> Option<u8> {
        char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The decoded `name=value` pairs of a raw query string, in order.
pub fn query_pairs(raw_query: &str) -> Vec<(String, String)> {
    raw_query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// The first value of `name` in a raw query string, decoded.
pub fn query_param(raw_query: &str, name: &str) -> Option<String> {
    query_pairs(raw_query).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_their_commas_and_the_first_repeat_wins() {
        let raw = "q=coffee%2C+tea,milk&limit=5&q=second&empty=&flag";
        assert_eq!(query_param(raw, "q").as_deref(), Some("coffee, tea,milk"));
        assert_eq!(query_param(raw, "limit").as_deref(), Some("5"));
        assert_eq!(query_param(raw, "empty").as_deref(), Some(""));
        assert_eq!(query_param(raw, "flag").as_deref(), Some(""));
        assert_eq!(query_param(raw, "missing"), None);
        assert_eq!(query_param("a%26b=1%3D2", "a&b").as_deref(), Some("1=2"));
    }
}
