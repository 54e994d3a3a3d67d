//! AWS Secrets Manager: the PostgreSQL credentials and the HS256 secret, read once at init
//! (`DATABASE_SECRET_ARN`, `JWT_SECRET_ARN`), so they never sit in the function's environment.

use serde::Deserialize;

use crate::auth::KeySource;
use crate::config::Config;
use crate::ports::Cause;

/// The `SecretString` of `arn`.
///
/// # Errors
/// The secret cannot be read, or holds binary data only.
pub async fn secret_string(client: &aws_sdk_secretsmanager::Client, arn: &str) -> Result<String, Cause> {
    let answer = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| format!("secret {arn}: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(&e)))?;
    answer.secret_string.ok_or_else(|| format!("secret {arn} has no SecretString").into())
}

/// RDS's secret format (`username`, `password`, `host`, `port`, `dbname`), as RDS writes it
/// for a managed master password and as `aws secretsmanager create-secret` users copy it.
#[derive(Deserialize)]
struct RdsSecret {
    username: String,
    password: String,
    host: String,
    #[serde(default)]
    port: Option<serde_json::Value>,
    #[serde(default)]
    dbname: Option<String>,
}

/// A PostgreSQL URL from a secret: a `postgres://`/`postgresql://` URL as it is, or RDS's JSON
/// format (the database defaults to `postgres`, the port to 5432).
///
/// # Errors
/// Neither form.
pub fn database_url_from_secret(secret: &str) -> Result<String, Cause> {
    let trimmed = secret.trim();
    if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
        return Ok(trimmed.to_owned());
    }
    let rds: RdsSecret = serde_json::from_str(trimmed).map_err(|_| {
        "the database secret is neither a postgres:// URL nor JSON with username, password and host".to_owned()
    })?;
    let port = match rds.port {
        None | Some(serde_json::Value::Null) => 5432,
        Some(serde_json::Value::Number(n)) => n.as_u64().filter(|p| *p <= 65535).ok_or("bad port in the secret")?,
        Some(serde_json::Value::String(s)) => s.trim().parse::<u16>().map_err(|_| "bad port in the secret")?.into(),
        Some(_) => return Err("bad port in the secret".into()),
    };
    let host = if rds.host.contains(':') { format!("[{}]", rds.host) } else { rds.host };
    let database = rds.dbname.unwrap_or_else(|| "postgres".to_owned());
    Ok(format!(
        "postgres://{}:{}@{host}:{port}/{}",
        percent_encode(&rds.username),
        percent_encode(&rds.password),
        percent_encode(&database)
    ))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Which of the secrets named by ARN a process reads: each function reads only what it uses,
/// and its IAM policy grants only that (`infra/template.yaml`, checked by `tests/tests/iam.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    /// `DATABASE_SECRET_ARN`: every function that uses PostgreSQL.
    pub database: bool,
    /// `JWT_SECRET_ARN`: the authorizer only.
    pub jwt: bool,
}

impl Wanted {
    pub const ALL: Wanted = Wanted { database: true, jwt: true };
    pub const DATABASE: Wanted = Wanted { database: true, jwt: false };
    pub const JWT: Wanted = Wanted { database: false, jwt: true };
}

/// Replaces the `wanted` secrets `config` names by ARN with their values (a no-op without
/// ARNs); the others stay pending.
///
/// # Errors
/// A secret cannot be read or has the wrong form.
pub async fn resolve(config: &mut Config, sdk: &aws_config::SdkConfig, wanted: Wanted) -> Result<(), Cause> {
    let database_arn = if wanted.database { config.secrets.database_url.take() } else { None };
    let jwt_arn = if wanted.jwt { config.secrets.jwt_secret.take() } else { None };
    if database_arn.is_none() && jwt_arn.is_none() {
        return Ok(());
    }
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let read = |arn: Option<String>| {
        let client = client.clone();
        async move {
            match arn {
                Some(arn) => secret_string(&client, &arn).await.map(Some),
                None => Ok(None),
            }
        }
    };
    // Both at once: init time is cold-start time.
    let (database, jwt) = tokio::try_join!(read(database_arn), read(jwt_arn))?;
    if let Some(secret) = database {
        config.database_url = database_url_from_secret(&secret)?;
    }
    // An empty secret is refused where every key is checked: `TokenVerifier::new`.
    if let Some(secret) = jwt {
        config.jwt.key = KeySource::Secret(secret);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_secrets_in_rds_format_or_as_urls() {
        let rds = r#"{"username":"chat","password":"p@ss:w/rd","engine":"postgres","host":"db.example.com","port":5432,"dbname":"chat"}"#;
        assert_eq!(database_url_from_secret(rds).unwrap(), "postgres://chat:p%40ss%3Aw%2Frd@db.example.com:5432/chat");
        let minimal = r#"{"username":"u","password":"p","host":"h","port":"6432"}"#;
        assert_eq!(database_url_from_secret(minimal).unwrap(), "postgres://u:p@h:6432/postgres");
        let ipv6 = r#"{"username":"u","password":"p","host":"::1"}"#;
        assert_eq!(database_url_from_secret(ipv6).unwrap(), "postgres://u:p@[::1]:5432/postgres");
        assert_eq!(database_url_from_secret(" postgres://u:p@h/db\n").unwrap(), "postgres://u:p@h/db");
        for bad in ["", "hunter2", r#"{"username":"u"}"#, r#"{"username":"u","password":"p","host":"h","port":70000}"#]
        {
            assert!(database_url_from_secret(bad).is_err(), "{bad}");
        }
    }
}
