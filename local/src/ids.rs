//! Identifiers shaped like API Gateway's: connection, message and request ids.
//!
//! API Gateway's connection ids are 16 characters of standard base64 encoding 11 random bytes
//! (`L0SM9cOFvHcCIhw=`); message and request ids have the same shape. Clients and functions
//! must treat them as opaque, and the `=`, `+` and `/` they may contain are why the management
//! API receives them percent-encoded.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Number of random bytes behind every id (11 bytes encode to 16 base64 characters).
const ID_BYTES: usize = 11;

/// A fresh id: standard base64 of 11 random bytes, always 16 characters ending in `=`.
pub fn aws_id() -> String {
    STANDARD.encode(rand::random::<[u8; ID_BYTES]>())
}

/// A fresh WebSocket connection id.
pub fn connection_id() -> String {
    aws_id()
}

/// A fresh id for one inbound message (`requestContext.messageId`).
pub fn message_id() -> String {
    aws_id()
}

/// A fresh request id (`requestContext.requestId` / `extendedRequestId`).
pub fn request_id() -> String {
    aws_id()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn connection_ids_are_sixteen_characters_of_base64_over_eleven_bytes() {
        for _ in 0..1000 {
            let id = connection_id();
            assert_eq!(id.len(), 16, "{id}");
            assert!(id.ends_with('='), "{id}");
            assert!(!id.ends_with("=="), "{id}");
            assert!(id[..15].chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/'), "{id}");
            assert_eq!(STANDARD.decode(&id).map(|b| b.len()).ok(), Some(ID_BYTES), "{id}");
        }
    }

    #[test]
    fn ids_do_not_repeat() {
        let ids: HashSet<String> = (0..10_000).map(|_| aws_id()).collect();
        assert_eq!(ids.len(), 10_000);
    }

    #[test]
    fn message_and_request_ids_share_the_shape() {
        assert_eq!(message_id().len(), 16);
        assert_eq!(request_id().len(), 16);
    }
}
