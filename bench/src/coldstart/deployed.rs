//! `--deployed`: the functions' configuration as `infra/template.yaml` deploys it, on loopback.
//!
//! - the database URL and the HS256 secret live in Secrets Manager (moto) and are read at init
//!   (`DATABASE_SECRET_ARN`, `JWT_SECRET_ARN`), not given in the environment;
//! - PostgreSQL is reached over TLS (`DATABASE_TLS=require`; the local server has TLS on);
//! - every AWS endpoint is HTTPS: an HTTPS reverse proxy with a CA made for the run sits in
//!   front of moto and of the in-process management API, and keeps connections alive as AWS
//!   does (moto closes each one, which would cost a TLS handshake per call); the functions trust
//!   the system roots plus that CA through `SSL_CERT_FILE`, one bundle file, as on
//!   `provided.al2023`.
//!
//! Redis stays plain (`rediss://` is optional in the template).

use std::path::Path;

use chat_tests::tls::TestCa;

use crate::Error;

/// Where Debian (and Ubuntu) keep the system roots as one bundle.
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The TLS fronts and the variables that replace the local configuration's.
#[derive(Debug)]
pub struct Deployed {
    /// Set for every function, after the local configuration.
    pub env: Vec<(String, String)>,
    /// Removed from every function's environment: the secrets' plain values.
    pub removed: &'static [&'static str],
    _ca: TestCa,
}

impl Deployed {
    /// Stores the secrets in the emulator and starts the TLS fronts.
    ///
    /// # Errors
    /// An emulator call fails, a URL has no `host:port`, or a file cannot be written.
    pub async fn setup(
        sdk: &aws_config::SdkConfig,
        aws_endpoint: &str,
        management_url: &str,
        database_url: &str,
        jwt_secret: &str,
        out_dir: &Path,
    ) -> Result<Deployed, Error> {
        let secrets = aws_sdk_secretsmanager::Client::new(sdk);
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let mut arns = Vec::new();
        for (name, value) in [("database", database_url), ("jwt", jwt_secret)] {
            let created = secrets
                .create_secret()
                .name(format!("chat-coldstart-{name}-{tag}"))
                .secret_string(value)
                .send()
                .await
                .map_err(|e| format!("creating the {name} secret in the emulator: {e}"))?;
            arns.push(created.arn.ok_or("the emulator returned no secret ARN")?);
        }
        let ca = TestCa::new();
        let aws_front = ca.https_front(origin(aws_endpoint)?).await?;
        let management_front = ca.https_front(origin(management_url)?).await?;
        let bundle = out_dir.join("deployed-ca-bundle.pem");
        write_bundle(&ca.ca_file, &bundle)?;
        let stage_path = management_url.split_once("://").and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]));
        let env = vec![
            ("AWS_ENDPOINT_URL".to_owned(), format!("https://{aws_front}")),
            ("APIGW_MANAGEMENT_ENDPOINT".to_owned(), format!("https://{management_front}{}", stage_path.unwrap_or(""))),
            ("DATABASE_TLS".to_owned(), "require".to_owned()),
            ("DATABASE_SECRET_ARN".to_owned(), arns[0].clone()),
            ("JWT_SECRET_ARN".to_owned(), arns[1].clone()),
            ("SSL_CERT_FILE".to_owned(), bundle.display().to_string()),
        ];
        Ok(Deployed { env, removed: &["DATABASE_URL", "JWT_SECRET"], _ca: ca })
    }
}

/// `http://host:port` of an `http://host:port/...` URL.
fn origin(url: &str) -> Result<String, Error> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url}: expected http://HOST:PORT"))?;
    Ok(format!("http://{}", rest.split('/').next().unwrap_or(rest)))
}

/// The system roots followed by the run's CA.
fn write_bundle(ca_file: &Path, bundle: &Path) -> Result<(), Error> {
    let system = std::fs::read_to_string(SYSTEM_BUNDLE).map_err(|e| format!("{SYSTEM_BUNDLE}: {e}"))?;
    let ca = std::fs::read_to_string(ca_file)?;
    std::fs::write(bundle, format!("{system}\n{ca}")).map_err(|e| format!("{}: {e}", bundle.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fronted_urls_lose_their_path() {
        assert_eq!(origin("http://127.0.0.1:4566").unwrap(), "http://127.0.0.1:4566");
        assert_eq!(origin("http://127.0.0.1:3001/local").unwrap(), "http://127.0.0.1:3001");
        assert!(origin("https://moto/").is_err());
    }
}
