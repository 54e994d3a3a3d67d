//! JWT verification (and dev-token issuing for `chat-local` and tests).
//!
//! The algorithm is pinned by configuration: a token whose header names another algorithm
//! (including `none`) is refused before any key is looked at. `exp` and `sub` are required;
//! `iss` and `aud` are checked when configured; a small leeway absorbs clock skew.

use std::collections::HashSet;
use std::str::FromStr;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::UserId;

/// The signature algorithms we accept (one at a time, chosen by configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    Hs256,
    Rs256,
    Es256,
}

impl FromStr for JwtAlgorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_uppercase().as_str() {
            "HS256" => Ok(JwtAlgorithm::Hs256),
            "RS256" => Ok(JwtAlgorithm::Rs256),
            "ES256" => Ok(JwtAlgorithm::Es256),
            other => Err(format!("JWT_ALGORITHM must be HS256, RS256 or ES256, got {other:?}")),
        }
    }
}

impl JwtAlgorithm {
    fn jsonwebtoken(self) -> Algorithm {
        match self {
            JwtAlgorithm::Hs256 => Algorithm::HS256,
            JwtAlgorithm::Rs256 => Algorithm::RS256,
            JwtAlgorithm::Es256 => Algorithm::ES256,
        }
    }
}

/// Where the verification key comes from.
#[derive(Clone)]
pub enum KeySource {
    /// HS256 shared secret.
    Secret(String),
    /// RS256/ES256 public key in PEM form.
    PublicKeyPem(String),
    /// RS256/ES256 JWKS document (JSON text); the token's `kid` selects the key.
    Jwks(String),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.write_str(match self {
            KeySource::Secret(_) => "Secret(..)",
            KeySource::PublicKeyPem(_) => "PublicKeyPem(..)",
            KeySource::Jwks(_) => "Jwks(..)",
        })
    }
}

/// Token verification settings.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub algorithm: JwtAlgorithm,
    pub key: KeySource,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub leeway_seconds: u64,
}

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: UserId,
    pub display_name: String,
}

/// Why a token was refused. The client only ever sees `UNAUTHORIZED`; this is for the logs.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no token")]
    Missing,
    #[error("token rejected: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("no key in the JWKS matches the token's kid")]
    UnknownKey,
    #[error("token subject is empty")]
    EmptySubject,
}

/// A key configuration that cannot work.
#[derive(Debug, thiserror::Error)]
#[error("JWT key configuration: {0}")]
pub struct KeyError(String);

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default, rename = "cognito:username")]
    cognito_username: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

enum Keys {
    Single(DecodingKey),
    Jwks(Vec<(Option<String>, DecodingKey)>),
}

/// Verifies tokens; built once at init.
pub struct TokenVerifier {
    keys: Keys,
    validation: Validation,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier").field("algorithms", &self.validation.algorithms).finish()
    }
}

impl TokenVerifier {
    /// # Errors
    /// A PEM or JWKS that does not parse, or a JWKS with no usable key.
    pub fn new(config: &JwtConfig) -> Result<Self, KeyError> {
        let alg = config.algorithm.jsonwebtoken();
        let bad = |e: jsonwebtoken::errors::Error| KeyError(e.to_string());
        let keys = match (&config.key, config.algorithm) {
            (KeySource::Secret(s), _) if s.is_empty() => {
                return Err(KeyError("no HS256 secret: set JWT_SECRET or JWT_SECRET_ARN".into()));
            }
            (KeySource::Secret(s), _) => Keys::Single(DecodingKey::from_secret(s.as_bytes())),
            (KeySource::PublicKeyPem(pem), JwtAlgorithm::Es256) => {
                Keys::Single(DecodingKey::from_ec_pem(pem.as_bytes()).map_err(bad)?)
            }
            (KeySource::PublicKeyPem(pem), _) => Keys::Single(DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(bad)?),
            (KeySource::Jwks(doc), _) => {
                let set: JwkSet = serde_json::from_str(doc).map_err(|e| KeyError(format!("JWKS: {e}")))?;
                let keys = set
                    .keys
                    .iter()
                    .filter_map(|jwk| DecodingKey::from_jwk(jwk).ok().map(|k| (jwk.common.key_id.clone(), k)))
                    .collect::<Vec<_>>();
                if keys.is_empty() {
                    return Err(KeyError("the JWKS has no usable key".into()));
                }
                Keys::Jwks(keys)
            }
        };
        let mut validation = Validation::new(alg);
        validation.leeway = config.leeway_seconds;
        validation.required_spec_claims = HashSet::from(["exp".to_owned(), "sub".to_owned()]);
        match &config.issuer {
            Some(iss) => validation.set_issuer(&[iss]),
            None => validation.iss = None,
        }
        match &config.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                validation.required_spec_claims.insert("aud".to_owned());
            }
            None => validation.validate_aud = false,
        }
        Ok(Self { keys, validation })
    }

    /// Verifies a bearer token and returns whom it speaks for.
    ///
    /// # Errors
    /// [`AuthError`] for a missing, malformed, forged, expired or otherwise unacceptable token.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        let key = match &self.keys {
            Keys::Single(k) => k,
            Keys::Jwks(keys) => {
                let kid = jsonwebtoken::decode_header(token)?.kid;
                keys.iter()
                    .find(|(k, _)| keys.len() == 1 && kid.is_none() || k.is_some() && *k == kid)
                    .map(|(_, key)| key)
                    .ok_or(AuthError::UnknownKey)?
            }
        };
        let claims = jsonwebtoken::decode::<Claims>(token, key, &self.validation)?.claims;
        if claims.sub.trim().is_empty() {
            return Err(AuthError::EmptySubject);
        }
        let display_name = [claims.name, claims.preferred_username, claims.cognito_username, claims.email]
            .into_iter()
            .flatten()
            .map(|n| n.trim().chars().take(100).collect::<String>())
            .find(|n| !n.is_empty())
            .unwrap_or_else(|| claims.sub.clone());
        Ok(Identity { user_id: UserId::from_subject(&claims.sub), display_name })
    }
}

#[derive(Serialize)]
struct DevClaims<'a> {
    sub: &'a str,
    name: &'a str,
    iat: i64,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

/// Issues an HS256 token for local development and tests: `sub` and `name` are the user name.
///
/// # Errors
/// Only if signing fails (it does not for HS256 with any secret).
pub fn issue_dev_token(
    config: &JwtConfig,
    user_name: &str,
    ttl: std::time::Duration,
) -> Result<(Identity, String), KeyError> {
    let KeySource::Secret(secret) = &config.key else {
        return Err(KeyError("dev tokens need HS256 with JWT_SECRET".into()));
    };
    if secret.is_empty() {
        return Err(KeyError("no HS256 secret: set JWT_SECRET".into()));
    }
    let now = chrono::Utc::now().timestamp();
    let claims = DevClaims {
        sub: user_name,
        name: user_name,
        iat: now,
        exp: now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
        iss: config.issuer.as_deref(),
        aud: config.audience.as_deref(),
    };
    let token =
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes()))
            .map_err(|e| KeyError(e.to_string()))?;
    Ok((Identity { user_id: UserId::from_subject(user_name), display_name: user_name.to_owned() }, token))
}

/// Extracts the token from `Authorization: Bearer <token>`.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim()).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use std::time::Duration;

    fn hs(secret: &str) -> JwtConfig {
        JwtConfig {
            algorithm: JwtAlgorithm::Hs256,
            key: KeySource::Secret(secret.into()),
            issuer: None,
            audience: None,
            leeway_seconds: 5,
        }
    }

    fn b64(json: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn a_dev_token_verifies_as_its_user() {
        let config = hs("s3cret");
        let (identity, token) = issue_dev_token(&config, "alice", Duration::from_secs(60)).unwrap();
        let verified = TokenVerifier::new(&config).unwrap().verify(&token).unwrap();
        assert_eq!(verified, identity);
        assert_eq!(verified.display_name, "alice");
    }

    #[test]
    fn an_empty_hs256_secret_is_refused_up_front() {
        // Anyone could sign for an empty key; JWT_SECRET_ARN's placeholder must never verify.
        let err = TokenVerifier::new(&hs("")).unwrap_err();
        assert!(err.to_string().contains("JWT_SECRET_ARN"), "{err}");
        // Nor does anything sign with one.
        assert!(issue_dev_token(&hs(""), "alice", Duration::from_secs(60)).is_err());
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let (_, token) = issue_dev_token(&hs("other"), "alice", Duration::from_secs(60)).unwrap();
        assert!(TokenVerifier::new(&hs("s3cret")).unwrap().verify(&token).is_err());
    }

    #[test]
    fn an_expired_token_is_refused_beyond_the_leeway() {
        let config = hs("s3cret");
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({"sub": "alice", "exp": now - 60});
        let token = jsonwebtoken::encode(&Header::default(), &claims, &EncodingKey::from_secret(b"s3cret")).unwrap();
        let err = TokenVerifier::new(&config).unwrap().verify(&token).unwrap_err();
        assert!(err.to_string().contains("Expired"), "{err}");
    }

    #[test]
    fn a_token_without_exp_is_refused() {
        let claims = serde_json::json!({"sub": "alice"});
        let token = jsonwebtoken::encode(&Header::default(), &claims, &EncodingKey::from_secret(b"s3cret")).unwrap();
        assert!(TokenVerifier::new(&hs("s3cret")).unwrap().verify(&token).is_err());
    }

    #[test]
    fn alg_none_is_refused() {
        let exp = chrono::Utc::now().timestamp() + 600;
        let token =
            format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), b64(&format!(r#"{{"sub":"alice","exp":{exp}}}"#)));
        assert!(TokenVerifier::new(&hs("s3cret")).unwrap().verify(&token).is_err());
    }

    #[test]
    fn another_algorithm_than_the_pinned_one_is_refused() {
        let claims = serde_json::json!({"sub": "alice", "exp": chrono::Utc::now().timestamp() + 600});
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS512), &claims, &EncodingKey::from_secret(b"s3cret"))
            .unwrap();
        assert!(TokenVerifier::new(&hs("s3cret")).unwrap().verify(&token).is_err());
    }

    #[test]
    fn issuer_and_audience_are_checked_when_configured() {
        let mut config = hs("s3cret");
        config.issuer = Some("https://issuer".into());
        config.audience = Some("chat".into());
        let (_, good) = issue_dev_token(&config, "alice", Duration::from_secs(60)).unwrap();
        let verifier = TokenVerifier::new(&config).unwrap();
        assert!(verifier.verify(&good).is_ok());
        let (_, no_iss) = issue_dev_token(&hs("s3cret"), "alice", Duration::from_secs(60)).unwrap();
        assert!(verifier.verify(&no_iss).is_err());
    }

    fn asymmetric(algorithm: JwtAlgorithm, key: KeySource) -> JwtConfig {
        JwtConfig { algorithm, key, issuer: None, audience: None, leeway_seconds: 5 }
    }

    fn signed(alg: Algorithm, kid: Option<&str>, private_pem: &str) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        let claims = serde_json::json!({"sub": "carol", "exp": chrono::Utc::now().timestamp() + 600, "email": "c@x"});
        let key = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(private_pem.as_bytes()).unwrap(),
            _ => EncodingKey::from_rsa_pem(private_pem.as_bytes()).unwrap(),
        };
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }

    const ES_PRIVATE: &str = include_str!("../testdata/jwt/es256-test-private.pem");
    const ES_PUBLIC: &str = include_str!("../testdata/jwt/es256-test-public.pem");
    const RS_PRIVATE: &str = include_str!("../testdata/jwt/rs256-test-private.pem");
    const RS_PUBLIC: &str = include_str!("../testdata/jwt/rs256-test-public.pem");
    const RS_JWKS: &str = include_str!("../testdata/jwt/rs256-test-jwks.json");

    #[test]
    fn es256_tokens_verify_with_a_pem_public_key() {
        let verifier =
            TokenVerifier::new(&asymmetric(JwtAlgorithm::Es256, KeySource::PublicKeyPem(ES_PUBLIC.into()))).unwrap();
        let identity = verifier.verify(&signed(Algorithm::ES256, None, ES_PRIVATE)).unwrap();
        assert_eq!(identity.display_name, "c@x");
        assert!(verifier.verify(&signed(Algorithm::RS256, None, RS_PRIVATE)).is_err(), "RS256 is not the pinned alg");
    }

    #[test]
    fn rs256_tokens_verify_with_a_pem_or_a_jwks_selected_by_kid() {
        let pem =
            TokenVerifier::new(&asymmetric(JwtAlgorithm::Rs256, KeySource::PublicKeyPem(RS_PUBLIC.into()))).unwrap();
        assert!(pem.verify(&signed(Algorithm::RS256, None, RS_PRIVATE)).is_ok());

        let jwks = TokenVerifier::new(&asymmetric(JwtAlgorithm::Rs256, KeySource::Jwks(RS_JWKS.into()))).unwrap();
        assert!(jwks.verify(&signed(Algorithm::RS256, Some("test-rsa-1"), RS_PRIVATE)).is_ok());
        assert!(matches!(
            jwks.verify(&signed(Algorithm::RS256, Some("other-kid"), RS_PRIVATE)),
            Err(AuthError::UnknownKey)
        ));
    }

    #[test]
    fn an_hs256_token_signed_with_the_public_key_is_refused_by_an_rs256_verifier() {
        // The classic algorithm-confusion attack: HMAC keyed with the (public) RSA key.
        let claims = serde_json::json!({"sub": "mallory", "exp": chrono::Utc::now().timestamp() + 600});
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(RS_PUBLIC.as_bytes()),
        )
        .unwrap();
        let verifier =
            TokenVerifier::new(&asymmetric(JwtAlgorithm::Rs256, KeySource::PublicKeyPem(RS_PUBLIC.into()))).unwrap();
        assert!(verifier.verify(&token).is_err());
    }

    #[test]
    fn unusable_key_material_fails_at_init() {
        assert!(TokenVerifier::new(&asymmetric(JwtAlgorithm::Rs256, KeySource::PublicKeyPem("nope".into()))).is_err());
        assert!(TokenVerifier::new(&asymmetric(JwtAlgorithm::Rs256, KeySource::Jwks("{\"keys\":[]}".into()))).is_err());
        assert!(TokenVerifier::new(&asymmetric(JwtAlgorithm::Rs256, KeySource::Jwks("not json".into()))).is_err());
    }

    #[test]
    fn garbage_is_refused() {
        let verifier = TokenVerifier::new(&hs("s3cret")).unwrap();
        for t in ["", "x", "a.b.c", "....", "eyJ.eyJ.sig"] {
            assert!(verifier.verify(t).is_err(), "{t}");
        }
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_tokens_never_panic(token in ".{0,400}") {
            let _ = TokenVerifier::new(&hs("s3cret")).unwrap().verify(&token);
        }
    }
}
