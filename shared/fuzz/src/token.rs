//! Token parsing: `TokenVerifier::verify` with an HS256 key, and `bearer_token`.
//!
//! The fuzzer cannot forge an HMAC, so every token it makes must be refused. The seed corpus
//! holds tokens signed with [`SECRET`] only when they are refused for another reason (expired,
//! no `exp`, empty `sub`), so they reach claim validation without ever verifying.

use std::sync::OnceLock;

use chat_shared::auth::{JwtAlgorithm, JwtConfig, KeySource, TokenVerifier, bearer_token};

/// The HS256 secret the fuzzed verifier checks signatures with.
pub const SECRET: &str = "chat-shared-fuzz-secret";

/// The verifier's settings: HS256 with [`SECRET`], as `chat-local` configures it.
pub fn config() -> JwtConfig {
    JwtConfig {
        algorithm: JwtAlgorithm::Hs256,
        key: KeySource::Secret(SECRET.into()),
        issuer: None,
        audience: None,
        leeway_seconds: 5,
    }
}

/// Built once per process: building it per input would measure key setup, not parsing.
fn verifier() -> &'static TokenVerifier {
    static VERIFIER: OnceLock<TokenVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| TokenVerifier::new(&config()).expect("an HS256 secret is always a usable key"))
}

/// Verifies `token`.
///
/// # Panics
/// If `verify` panics or accepts the token.
pub fn check_verify(token: &str) {
    let result = verifier().verify(token);
    assert!(result.is_err(), "a token the fuzzer made up verified: {result:?}");
}

/// Extracts a bearer token from `header` and verifies it.
///
/// # Panics
/// If `bearer_token` panics or returns a token that is empty, untrimmed, not the end of the
/// header, from a scheme other than `Bearer`, or that does not round-trip through
/// `Bearer {token}`; or if [`check_verify`] panics on the token.
pub fn check_bearer(header: &str) {
    let Some(token) = bearer_token(header) else { return };
    assert!(!token.is_empty());
    assert_eq!(token, token.trim(), "the token is not trimmed");
    assert!(header.trim_end().ends_with(token), "the token is not the end of the header");
    let scheme = header.trim_start().split_once(' ').map(|(scheme, _)| scheme);
    assert!(scheme.is_some_and(|s| s.eq_ignore_ascii_case("bearer")), "scheme {scheme:?}");
    assert_eq!(bearer_token(&format!("Bearer {token}")), Some(token), "the token does not round-trip");
    check_verify(token);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_tokens_and_headers_pass_the_checks() {
        for token in crate::seeds("token_verify") {
            check_verify(&String::from_utf8_lossy(&token));
        }
        for header in crate::seeds("bearer_token") {
            check_bearer(&String::from_utf8_lossy(&header));
        }
    }

    #[test]
    fn a_token_signed_with_the_secret_does_verify() {
        // The check would be vacuous if the verifier refused everything.
        let (_, token) = chat_shared::auth::issue_dev_token(&config(), "alice", std::time::Duration::from_secs(60))
            .expect("HS256 signing works");
        assert!(verifier().verify(&token).is_ok());
    }
}
