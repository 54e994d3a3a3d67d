//! The wire contract, in one place: inbound WebSocket frames, acks, pushed events, REST DTOs
//! and the error body. `docs/protocol.md` describes the same shapes for client authors.

mod dto;
mod error;
mod inbound;
mod outbound;

pub use dto::{
    ConversationDto, CreateConversationRequest, MarkReadRequest, MessageDto, PageDto, ParticipantDto, SearchHitDto,
};
pub use error::{ErrorBody, ErrorCode, RestError};
pub use inbound::{
    ClientFrame, FrameError, FrameErrorKind, MAX_REQUEST_ID_LEN, MarkReadFrame, SendMessageFrame, SyncFrame,
    TypingFrame,
};
pub use outbound::{Ack, AckStatus, DeliveredEvent, Pong, PushEvent, ReadEvent, SyncPage, TypingEvent};

/// RFC 3339 UTC timestamps with milliseconds (`2026-11-24T06:03:04.123Z`).
pub(crate) mod timestamp {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn format(t: &DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let raw = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&raw).map(|t| t.to_utc()).map_err(serde::de::Error::custom)
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|raw| DateTime::parse_from_rfc3339(&raw).map(|t| t.to_utc()).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}
