//! Entra ID client-credentials tokens (v2 endpoint, `scope=<api>/.default`): cached, refreshed
//! before `expires_in` runs out, invalidated on 401 / expired-token 403. Certificate
//! credentials sign an RS256 JWT client assertion with `x5t` and `x5t#S256` headers (ring).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Deserialize;
use tokio::time::Instant;

use crate::config::{Credential, Secret};
use crate::error::{FetchError, one_line};

/// A cached access token.
#[derive(Clone)]
pub(crate) struct Token {
    pub value: Secret,
    pub generation: u64,
    refresh_at: Instant,
    pub lifetime: Duration,
}

/// Signs client assertions for certificate credentials.
pub(crate) struct Signer {
    key: ring::signature::RsaKeyPair,
    x5t: String,
    x5t_s256: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("x5t#S256", &self.x5t_s256)
            .finish_non_exhaustive()
    }
}

impl Signer {
    pub fn new(cert_pem: &str, key_pem: &Secret) -> Result<Self, FetchError> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|_| {
            FetchError::Config("certificate_file holds no PEM CERTIFICATE block".into())
        })?;
        // The error text of a key parse could echo key material: keep it generic.
        let key = PrivateKeyDer::from_pem_slice(key_pem.expose().as_bytes())
            .map_err(|_| FetchError::Config("private_key_file holds no PEM private key".into()))?;
        let rsa = match &key {
            PrivateKeyDer::Pkcs8(k) => ring::signature::RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => ring::signature::RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => {
                return Err(FetchError::Config(
                    "certificate credentials need an RSA private key (Entra ID accepts RS256/PS256 client assertions only)".into(),
                ));
            }
        }
        .map_err(|_| {
            FetchError::Config(
                "the private key is not a usable RSA key (2048 bits or more, PKCS#8 or PKCS#1)".into(),
            )
        })?;
        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, cert.as_ref());
        let sha256 = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
        Ok(Self {
            key: rsa,
            x5t: B64.encode(sha1.as_ref()),
            x5t_s256: B64.encode(sha256.as_ref()),
        })
    }

    /// A fresh assertion for `audience` (the token endpoint URL), valid 10 minutes.
    pub fn assertion(&self, client_id: &str, audience: &str) -> Result<Secret, FetchError> {
        let now = alert_model::Timestamp::now().unix_nanos() / 1_000_000_000;
        let rng = ring::rand::SystemRandom::new();
        let mut jti = [0u8; 16];
        ring::rand::SecureRandom::fill(&rng, &mut jti)
            .map_err(|_| FetchError::Config("no system randomness for the JWT id".into()))?;
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": self.x5t, "x5t#S256": self.x5t_s256});
        let claims = serde_json::json!({
            "aud": audience, "iss": client_id, "sub": client_id,
            "jti": jti.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "nbf": now as i64, "iat": now as i64, "exp": now as i64 + 600,
        });
        let signing_input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let mut sig = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &rng,
                signing_input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| FetchError::Config("signing the client assertion failed".into()))?;
        Ok(Secret::new(format!("{signing_input}.{}", B64.encode(sig))))
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct AadError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<u32>,
}

/// Everything needed to ask Entra ID for a token.
pub(crate) struct TokenSource {
    pub endpoint: String,
    pub login_url: String,
    pub tenant: String,
    pub client_id: String,
    pub scope: String,
    pub credential: Credential,
    pub signer: Option<Signer>,
}

impl TokenSource {
    pub async fn fetch(
        &self,
        http: &reqwest::Client,
        generation: u64,
    ) -> Result<Token, FetchError> {
        let mut form: Vec<(&str, String)> = vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", self.client_id.clone()),
            ("scope", self.scope.clone()),
        ];
        match (&self.credential, &self.signer) {
            (Credential::Secret(s), _) => form.push(("client_secret", s.expose().to_owned())),
            (Credential::Certificate { .. }, Some(signer)) => {
                let a = signer.assertion(&self.client_id, &self.endpoint)?;
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push(("client_assertion", a.expose().to_owned()));
            }
            (Credential::Certificate { .. }, None) => {
                return Err(FetchError::Config(
                    "certificate credential without a signer".into(),
                ));
            }
        }
        let started = Instant::now();
        let resp = http
            .post(&self.endpoint)
            .form(&form)
            .send()
            .await
            .map_err(|e| FetchError::Transport {
                endpoint: self.endpoint.clone(),
                message: crate::client::describe_reqwest(&e),
            })?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| FetchError::Transport {
            endpoint: self.endpoint.clone(),
            message: crate::client::describe_reqwest(&e),
        })?;
        if status == 200 {
            let t: TokenResponse =
                serde_json::from_slice(&body).map_err(|_| FetchError::Malformed {
                    endpoint: self.endpoint.clone(),
                    message: "token response is not the expected JSON".into(),
                })?;
            // v2 sends a number, some proxies/v1 a string.
            let secs = match t.expires_in {
                Some(serde_json::Value::Number(n)) => n.as_u64(),
                Some(serde_json::Value::String(s)) => s.parse().ok(),
                _ => None,
            }
            .unwrap_or(3599);
            let lifetime = Duration::from_secs(secs);
            // Refresh with a margin: a fifth of the lifetime, at most 5 minutes.
            let margin = (lifetime / 5).min(Duration::from_secs(300));
            return Ok(Token {
                value: Secret::new(t.access_token),
                generation,
                refresh_at: started + lifetime.saturating_sub(margin),
                lifetime,
            });
        }
        let err: AadError = serde_json::from_slice(&body).unwrap_or_default();
        let code = err.error_codes.first().copied().unwrap_or(0);
        Err(match code {
            7000215 => FetchError::WrongSecret {
                client_id: self.client_id.clone(),
            },
            7000222 => FetchError::SecretExpired {
                client_id: self.client_id.clone(),
            },
            90002 => FetchError::UnknownTenant {
                tenant: self.tenant.clone(),
                login_url: self.login_url.clone(),
            },
            700016 => FetchError::UnknownClient {
                client_id: self.client_id.clone(),
                tenant: self.tenant.clone(),
            },
            700027 | 700023 | 7000274 | 700024 => FetchError::CertificateRejected { code },
            _ => FetchError::Token {
                status,
                error: if err.error.is_empty() {
                    "(no error code)".into()
                } else {
                    one_line(&err.error)
                },
                code,
                description: if err.error_description.is_empty() {
                    format!("HTTP {status} with {} bytes of body", body.len())
                } else {
                    one_line(&err.error_description)
                },
            },
        })
    }
}

impl Token {
    pub fn fresh(&self) -> bool {
        Instant::now() < self.refresh_at
    }
}
