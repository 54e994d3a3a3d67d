//! `GET /messages/search`: ranked full-text search over the caller's conversations.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::domain::{ConversationId, Message, MessageId, UserId};
use crate::ports::{HIGHLIGHT_START, HIGHLIGHT_STOP, MessageSearch, Scoped, SearchCursor, SearchRequest};

use super::{AppError, Page, parse_limit};

/// Page size for search (default, max).
pub const SEARCH_LIMITS: (i64, i64) = (20, 50);
/// Longest accepted query, in characters.
pub const SEARCH_QUERY_MAX_CHARS: usize = 200;
/// Ranking looks at this many of the most recent matches, never at an unbounded set.
pub const SEARCH_WINDOW: i64 = 1000;

/// A search result as the API returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    pub message: Message,
    pub rank: f32,
    /// A fragment of the content, HTML-escaped, with each match in `<mark>...</mark>`: the only
    /// markup it can contain.
    pub snippet: String,
}

/// The query as the store gets it: trimmed, control characters (NUL included) turned into
/// spaces, 1 to [`SEARCH_QUERY_MAX_CHARS`] characters.
fn parse_query(raw: Option<&str>) -> Result<String, AppError> {
    let raw = raw.unwrap_or_default();
    if raw.chars().count() > SEARCH_QUERY_MAX_CHARS {
        return Err(AppError::Validation(format!("q must be at most {SEARCH_QUERY_MAX_CHARS} characters")));
    }
    let query: String = raw.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let query = query.trim();
    if query.is_empty() {
        return Err(AppError::Validation("q must not be empty".into()));
    }
    Ok(query.to_owned())
}

/// A search cursor on the wire: base64url of `<rank bits, hex>.<message id>.<newest id>`.
fn encode_cursor(cursor: SearchCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{:08x}.{}.{}", cursor.rank.to_bits(), cursor.id, cursor.newest))
}

fn decode_cursor(raw: &str) -> Result<SearchCursor, AppError> {
    let invalid = || AppError::Validation("cursor is not valid".into());
    let text = URL_SAFE_NO_PAD.decode(raw.trim()).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(invalid)?;
    let mut parts = text.split('.');
    let (Some(rank), Some(id), Some(newest), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    let rank = u32::from_str_radix(rank, 16).map(f32::from_bits).ok().filter(|r| r.is_finite()).ok_or_else(invalid)?;
    let id: MessageId = id.parse().map_err(|_| invalid())?;
    let newest: MessageId = newest.parse().map_err(|_| invalid())?;
    Ok(SearchCursor { rank, id, newest })
}

/// Turns a store snippet (matches between [`HIGHLIGHT_START`] and [`HIGHLIGHT_STOP`]) into
/// HTML: everything escaped, the markers as balanced `<mark>` tags.
pub fn snippet_html(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 32);
    let mut open = false;
    for c in raw.chars() {
        match c {
            HIGHLIGHT_START if !open => {
                out.push_str("<mark>");
                open = true;
            }
            HIGHLIGHT_STOP if open => {
                out.push_str("</mark>");
                open = false;
            }
            HIGHLIGHT_START | HIGHLIGHT_STOP => {}
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    if open {
        out.push_str("</mark>");
    }
    out
}

/// Searches the viewer's conversations (or one of them), best match first.
///
/// # Errors
/// `Validation` for an empty or too long query, a bad conversation id, limit or cursor;
/// `NotFound` for an unknown conversation; `Forbidden` when the viewer is not in it; `Unavailable`.
pub async fn search(
    store: &dyn MessageSearch,
    viewer: UserId,
    query: Option<&str>,
    conversation_id: Option<&str>,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<Page<SearchResult>, AppError> {
    let query = parse_query(query)?;
    let conversation = conversation_id
        .map(|raw| raw.parse::<ConversationId>().map_err(|e| AppError::Validation(e.to_string())))
        .transpose()?;
    let limit = parse_limit(limit, SEARCH_LIMITS)?;
    let after = cursor.map(decode_cursor).transpose()?;
    let request = SearchRequest { query, conversation, window: SEARCH_WINDOW, after, limit: limit + 1 };
    let mut results = match store.search(viewer, &request).await? {
        Scoped::Found(results) => results,
        Scoped::ConversationNotFound => {
            let id = conversation.map(|c| c.to_string()).unwrap_or_default();
            return Err(AppError::NotFound(format!("conversation {id} not found")));
        }
        Scoped::NotParticipant => {
            return Err(AppError::Forbidden("you are not a participant of this conversation".into()));
        }
    };
    let has_more = results.hits.len() as i64 > limit;
    results.hits.truncate(limit as usize);
    let newest = after.map(|a| a.newest).or(results.newest);
    let next_cursor = match (has_more, results.hits.last(), newest) {
        (true, Some(last), Some(newest)) => {
            Some(encode_cursor(SearchCursor { rank: last.rank, id: last.message.id, newest }))
        }
        _ => None,
    };
    let items = results
        .hits
        .into_iter()
        .map(|hit| SearchResult { snippet: snippet_html(&hit.snippet), message: hit.message, rank: hit.rank })
        .collect();
    Ok(Page { items, next_cursor, has_more })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_bounded_and_cleaned() {
        assert_eq!(parse_query(Some("  coffee \"next week\" ")).unwrap(), "coffee \"next week\"");
        assert_eq!(parse_query(Some("a\0b\nc")).unwrap(), "a b c");
        assert_eq!(parse_query(Some(&"é".repeat(200))).unwrap().chars().count(), 200);
        for bad in [None, Some(""), Some("   "), Some("\0\t"), Some(&*"x".repeat(201)), Some(&*"x".repeat(5000))] {
            assert!(matches!(parse_query(bad), Err(AppError::Validation(_))), "{bad:?}");
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = SearchCursor { rank: 0.123_456_7, id: MessageId::new_v7(), newest: MessageId::new_v7() };
        assert_eq!(decode_cursor(&encode_cursor(cursor)).unwrap(), cursor);
        let id = MessageId::new_v7();
        for bad in [
            String::new(),
            "!!".into(),
            URL_SAFE_NO_PAD.encode(format!("zz.{id}.{id}")),
            URL_SAFE_NO_PAD.encode(format!("{:08x}.{id}.{id}", f32::NAN.to_bits())),
            URL_SAFE_NO_PAD.encode(format!("3f800000.{id}")),
            URL_SAFE_NO_PAD.encode(format!("3f800000.{id}.{id}.{id}")),
            URL_SAFE_NO_PAD.encode(format!("3f800000.{id}.nope")),
        ] {
            assert!(matches!(decode_cursor(&bad), Err(AppError::Validation(_))), "{bad}");
        }
    }

    #[test]
    fn snippets_escape_content_and_only_markers_become_markup() {
        let raw = format!("<b>&\"'{HIGHLIGHT_START}meet{HIGHLIGHT_STOP} at <script>");
        assert_eq!(snippet_html(&raw), "&lt;b&gt;&amp;&quot;&#39;<mark>meet</mark> at &lt;script&gt;");
        // Unbalanced markers still give balanced tags.
        assert_eq!(snippet_html(&format!("{HIGHLIGHT_STOP}a{HIGHLIGHT_START}b")), "a<mark>b</mark>");
        assert_eq!(snippet_html(&format!("{HIGHLIGHT_START}{HIGHLIGHT_START}a")), "<mark>a</mark>");
    }
}
