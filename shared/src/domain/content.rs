//! Message content: parse, don't validate.

use std::fmt;

/// At most this many characters (Unicode scalar values) in a message.
pub const MAX_CONTENT_CHARS: usize = 5000;

/// Why a message body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("content must not be empty")]
    Empty,
    #[error("content must be at most {MAX_CONTENT_CHARS} characters, got {0}")]
    TooLong(usize),
    #[error("content must not contain control characters other than newline and tab")]
    ControlCharacter,
}

/// Message text that is trimmed, non-empty, at most [`MAX_CONTENT_CHARS`] characters, and free of
/// control characters except `\n` and `\t`. The only way to get one is [`MessageContent::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageContent(String);

impl MessageContent {
    /// # Errors
    /// [`ContentError`] when the trimmed text is empty, too long, or has a control character.
    pub fn parse(raw: &str) -> Result<Self, ContentError> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(ContentError::Empty);
        }
        if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(ContentError::ControlCharacter);
        }
        let chars = text.chars().count();
        if chars > MAX_CONTENT_CHARS {
            return Err(ContentError::TooLong(chars));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for MessageContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn trims_and_keeps_inner_newlines_and_tabs() {
        let c = MessageContent::parse("  hi\n\tthere \n").unwrap();
        assert_eq!(c.as_str(), "hi\n\tthere");
    }

    #[test]
    fn refuses_empty_and_whitespace_only() {
        assert_eq!(MessageContent::parse(""), Err(ContentError::Empty));
        assert_eq!(MessageContent::parse(" \n\t "), Err(ContentError::Empty));
    }

    #[test]
    fn counts_scalar_values_not_bytes() {
        assert!(MessageContent::parse(&"é".repeat(5000)).is_ok());
        assert_eq!(MessageContent::parse(&"é".repeat(5001)), Err(ContentError::TooLong(5001)));
        assert!(MessageContent::parse(&"😀".repeat(5000)).is_ok());
    }

    #[test]
    fn refuses_control_characters() {
        assert_eq!(MessageContent::parse("a\u{0}b"), Err(ContentError::ControlCharacter));
        assert_eq!(MessageContent::parse("a\rb"), Err(ContentError::ControlCharacter));
        assert_eq!(MessageContent::parse("a\u{7f}b"), Err(ContentError::ControlCharacter));
    }

    proptest! {
        #[test]
        fn parsed_content_always_holds_its_invariants(raw in any::<String>()) {
            if let Ok(c) = MessageContent::parse(&raw) {
                let s = c.as_str();
                prop_assert!(!s.is_empty());
                prop_assert_eq!(s, s.trim());
                prop_assert!(s.chars().count() <= MAX_CONTENT_CHARS);
                prop_assert!(s.chars().all(|c| !c.is_control() || c == '\n' || c == '\t'));
            }
        }

        #[test]
        fn clean_text_within_the_limit_is_accepted(raw in "[a-zA-Z0-9 é😀\n\t]{0,300}") {
            let trimmed = raw.trim();
            prop_assert_eq!(MessageContent::parse(&raw).is_ok(), !trimmed.is_empty());
        }
    }
}
