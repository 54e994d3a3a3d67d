//! Identifiers. UUID-backed ids parse from their canonical string form only.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A malformed identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} must be a UUID")]
pub struct IdError {
    pub what: &'static str,
}

/// A UUID in its canonical hyphenated form only (not simple, braced or URN forms).
fn parse_hyphenated(s: &str) -> Option<Uuid> {
    let hyphens_at = [8, 13, 18, 23];
    let shaped = s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| if hyphens_at.contains(&i) { b == b'-' } else { b.is_ascii_hexdigit() });
    shaped.then(|| Uuid::try_parse(s).ok()).flatten()
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            /// Only the hyphenated form (`8-4-4-4-12` hex digits, either case) is accepted.
            fn from_str(s: &str) -> Result<Self, IdError> {
                parse_hyphenated(s).map(Self).ok_or(IdError { what: $what })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A user; the JWT `sub` claim (a UUID, or a UUIDv5 derived from a non-UUID subject).
    UserId, "userId"
);
uuid_id!(
    /// A one-on-one conversation.
    ConversationId, "conversationId"
);
uuid_id!(
    /// A message; UUIDv7, so ids sort by creation time.
    MessageId, "messageId"
);

impl MessageId {
    /// A new time-ordered (v7) id.
    pub fn new_v7() -> Self {
        Self(Uuid::now_v7())
    }
}

impl ConversationId {
    /// A new time-ordered (v7) id.
    pub fn new_v7() -> Self {
        Self(Uuid::now_v7())
    }
}

impl UserId {
    /// Namespace for subjects that are not UUIDs (`auth0|abc`, `alice`).
    const SUBJECT_NAMESPACE: Uuid = Uuid::from_u128(0x6f0b_2c51_8a5e_4c8e_9d34_1f6b_6a0e_c7a1);

    /// The user id for a token subject: the subject itself when it is a UUID, else a stable UUIDv5.
    pub fn from_subject(subject: &str) -> Self {
        match Uuid::try_parse(subject) {
            Ok(id) => Self(id),
            Err(_) => Self(Uuid::new_v5(&Self::SUBJECT_NAMESPACE, subject.as_bytes())),
        }
    }
}

/// An API Gateway connection id (`L0SM9cOFvHcCIhw=`): opaque, printable ASCII.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConnectionId(String);

impl ConnectionId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client-chosen idempotency key for `message:send`: 1 to 64 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientMessageId(String);

impl ClientMessageId {
    pub const MAX_LEN: usize = 64;

    /// # Errors
    /// Empty, longer than 64 bytes, or containing anything but visible ASCII.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let ok = !raw.is_empty() && raw.len() <= Self::MAX_LEN && raw.bytes().all(|b| b.is_ascii_graphic());
        if ok { Ok(Self(raw.to_owned())) } else { Err(IdError { what: "clientMessageId" }) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_uuid_subjects_map_to_stable_ids() {
        let a = UserId::from_subject("auth0|alice");
        assert_eq!(a, UserId::from_subject("auth0|alice"));
        assert_ne!(a, UserId::from_subject("auth0|bob"));
        let uuid = "7d1f6f3e-8f6e-4a53-9a36-0d1d3c7b5e10";
        assert_eq!(UserId::from_subject(uuid).to_string(), uuid);
    }

    #[test]
    fn ids_reject_non_uuids_and_non_canonical_forms() {
        assert!("x".parse::<ConversationId>().is_err());
        assert!("".parse::<UserId>().is_err());
        let canonical = "7d1f6f3e-8f6e-4a53-9a36-0d1d3c7b5e10";
        for other in [
            "7d1f6f3e8f6e4a539a360d1d3c7b5e10",
            "{7d1f6f3e-8f6e-4a53-9a36-0d1d3c7b5e10}",
            "urn:uuid:7d1f6f3e-8f6e-4a53-9a36-0d1d3c7b5e10",
            " 7d1f6f3e-8f6e-4a53-9a36-0d1d3c7b5e10",
        ] {
            assert!(other.parse::<ConversationId>().is_err(), "{other}");
        }
        let upper = canonical.to_uppercase().parse::<ConversationId>().unwrap();
        assert_eq!(upper.to_string(), canonical, "echoed in lowercase");
    }

    #[test]
    fn client_message_ids_are_bounded_visible_ascii() {
        assert!(ClientMessageId::parse("abc-123").is_ok());
        assert!(ClientMessageId::parse("").is_err());
        assert!(ClientMessageId::parse("has space").is_err());
        assert!(ClientMessageId::parse(&"x".repeat(65)).is_err());
    }
}
