//! Where the benchmark users and their tokens come from: HS256 dev tokens signed with the
//! configured secret (`chat-local`, or a stack whose authorizer uses `JWT_SECRET`), or a file of
//! ready-made tokens (any deployed stack: `name<TAB>token` per line).
//!
//! A user's id is what the authorizer derives from the token's `sub` (the `sub` itself when it
//! is a UUID, else its UUIDv5; `chat_shared::domain::UserId::from_subject`); for a token file
//! it is read from the token's payload (not verified: the server does that).

use std::time::Duration;

use base64::Engine;
use chat_shared::auth::{JwtConfig, issue_dev_token};
use chat_shared::domain::UserId;
use uuid::Uuid;

use crate::Error;

/// How long issued tokens live: longer than any run.
const TOKEN_TTL: Duration = Duration::from_secs(6 * 3600);

/// A benchmark user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub id: Uuid,
    pub token: String,
}

/// Hands out users, each at most once per run.
#[derive(Debug)]
pub enum Tokens {
    /// Users `bench-<run>-<n>` with dev tokens signed by this configuration.
    Issued { jwt: JwtConfig, run: String, next: u64 },
    /// The file's users in order.
    File { users: Vec<User>, next: usize },
}

impl Tokens {
    /// Dev tokens for users named `bench-<run>-<n>`.
    pub fn issued(jwt: JwtConfig, run: &str) -> Tokens {
        Tokens::Issued { jwt, run: run.to_owned(), next: 0 }
    }

    /// The users of a token file's text (see [`parse_token_file`]).
    ///
    /// # Errors
    /// As [`parse_token_file`].
    pub fn from_file_text(text: &str) -> Result<Tokens, Error> {
        Ok(Tokens::File { users: parse_token_file(text)?, next: 0 })
    }

    /// The next `n` users.
    ///
    /// # Errors
    /// The token file has fewer users left, or signing failed.
    pub fn take(&mut self, n: usize) -> Result<Vec<User>, Error> {
        match self {
            Tokens::Issued { jwt, run, next } => (0..n)
                .map(|_| {
                    let name = format!("bench-{run}-{next}");
                    *next += 1;
                    let (identity, token) = issue_dev_token(jwt, &name, TOKEN_TTL)?;
                    Ok(User { name, id: identity.user_id.as_uuid(), token })
                })
                .collect(),
            Tokens::File { users, next } => {
                let left = users.len() - *next;
                if n > left {
                    return Err(format!(
                        "the token file has {left} unused users, {n} are needed ({} used already)",
                        *next
                    )
                    .into());
                }
                *next += n;
                Ok(users[*next - n..*next].to_vec())
            }
        }
    }
}

/// Parses a token file: one user per line, `name<TAB>token`; blank lines and lines starting
/// with `#` are skipped. Each token's user id comes from its `sub`.
///
/// # Errors
/// A line without a tab, an empty name or token, a token that is not a JWT with a `sub`, or a
/// name or user given twice.
pub fn parse_token_file(text: &str) -> Result<Vec<User>, Error> {
    let mut users: Vec<User> = Vec::new();
    for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end_matches('\r'))) {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let (name, token) =
            line.split_once('\t').ok_or_else(|| format!("token file line {number}: expected name<TAB>token"))?;
        let (name, token) = (name.trim(), token.trim());
        if name.is_empty() || token.is_empty() {
            return Err(format!("token file line {number}: empty name or token").into());
        }
        let subject = subject(token).map_err(|e| format!("token file line {number}: {e}"))?;
        let id = UserId::from_subject(&subject).as_uuid();
        if let Some(other) = users.iter().find(|u| u.name == name || u.id == id) {
            return Err(format!("token file line {number}: {name} is the same user as {}", other.name).into());
        }
        users.push(User { name: name.to_owned(), id, token: token.to_owned() });
    }
    Ok(users)
}

/// The `sub` claim of a JWT, unverified.
fn subject(token: &str) -> Result<String, String> {
    let mut parts = token.split('.');
    let payload = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(payload), Some(_), None) => payload,
        _ => return Err("not a JWT (header.payload.signature)".to_owned()),
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| format!("the JWT payload is not base64url: {e}"))?;
    let claims: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("the JWT payload is not JSON: {e}"))?;
    match claims.get("sub").and_then(serde_json::Value::as_str) {
        Some(sub) if !sub.trim().is_empty() => Ok(sub.to_owned()),
        _ => Err("the JWT has no sub".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use chat_shared::auth::{JwtAlgorithm, KeySource};

    use super::*;

    fn jwt() -> JwtConfig {
        JwtConfig {
            algorithm: JwtAlgorithm::Hs256,
            key: KeySource::Secret("s".to_owned()),
            issuer: None,
            audience: None,
            leeway_seconds: 5,
        }
    }

    #[test]
    fn a_token_file_gives_each_user_the_id_the_authorizer_derives() {
        let (alice, alice_token) = issue_dev_token(&jwt(), "alice", TOKEN_TTL).unwrap();
        let (_, bob_token) = issue_dev_token(&jwt(), "7d1f6a52-1c7e-4d4a-9a36-3b8e1d2f0c11", TOKEN_TTL).unwrap();
        let text = format!("# bench users\nalice\t{alice_token}\n\nbob\t{bob_token}\r\n");
        let users = parse_token_file(&text).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!((users[0].name.as_str(), users[0].id), ("alice", alice.user_id.as_uuid()));
        assert_eq!(users[1].id.to_string(), "7d1f6a52-1c7e-4d4a-9a36-3b8e1d2f0c11");
        assert_eq!(users[1].token, bob_token);
    }

    #[test]
    fn malformed_token_files_are_refused_with_the_line() {
        let (_, token) = issue_dev_token(&jwt(), "alice", TOKEN_TTL).unwrap();
        for (text, needle) in [
            ("alice token-without-tab", "line 1: expected name<TAB>token"),
            ("alice\tnot-a-jwt", "line 1: not a JWT"),
            ("\n\talice", "line 2: empty name or token"),
            ("a\te30.e30.x", "line 1: the JWT has no sub"),
        ] {
            let error = parse_token_file(text).unwrap_err().to_string();
            assert!(error.contains(needle), "{text:?}: {error}");
        }
        let twice = format!("alice\t{token}\nalias\t{token}");
        assert!(parse_token_file(&twice).unwrap_err().to_string().contains("same user"));
    }

    #[test]
    fn users_are_handed_out_once() {
        let mut tokens = Tokens::issued(jwt(), "r1");
        let first = tokens.take(2).unwrap();
        let next = tokens.take(1).unwrap();
        assert_eq!(first[0].name, "bench-r1-0");
        assert_eq!(next[0].name, "bench-r1-2");
        assert_eq!(first[0].id, UserId::from_subject("bench-r1-0").as_uuid());

        let (_, token) = issue_dev_token(&jwt(), "alice", TOKEN_TTL).unwrap();
        let mut file = Tokens::from_file_text(&format!("alice\t{token}")).unwrap();
        assert_eq!(file.take(1).unwrap()[0].name, "alice");
        assert!(file.take(1).unwrap_err().to_string().contains("0 unused users"));
    }
}
