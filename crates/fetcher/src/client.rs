//! The shared API client: one reqwest client (rustls, gzip/deflate, proxy, extra roots), the
//! token cache and the request budget. Cheap to clone.

use std::sync::Arc;
use std::time::Duration;

use alert_model::Timestamp;
use serde::Deserialize;

use crate::budget::Budget;
use crate::config::{ApiConfig, Credential};
use crate::error::{FetchError, one_line};
use crate::token::{Signer, Token, TokenSource};

/// The Defender client shared by every poller of a process.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// Which API (the token source is `source`).
    api: crate::Source,
    api_url: String,
    source: TokenSource,
    token: tokio::sync::Mutex<Option<Token>>,
    generation: std::sync::atomic::AtomicU64,
    budget: Budget,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("api_url", &self.inner.api_url)
            .field("token_endpoint", &self.inner.source.endpoint)
            .finish_non_exhaustive()
    }
}

/// What `check` reports after one token and one API call.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    pub api_url: String,
    /// The alerts endpoint called.
    pub alerts_url: String,
    pub source: crate::Source,
    pub token_endpoint: String,
    pub scope: String,
    /// `expires_in` of the token Entra ID issued.
    pub token_lifetime: Duration,
    /// Alerts the probe page returned (0 or 1).
    pub alerts_returned: usize,
    /// `lastUpdateTime` of the most recently updated alert, if any.
    pub newest_last_update: Option<Timestamp>,
}

/// A 200 response of the alerts endpoint whose body is read as it arrives (already
/// decompressed), so a whole page is never held in memory.
#[derive(Debug)]
pub(crate) struct RawPage {
    resp: reqwest::Response,
}

impl RawPage {
    /// The next piece of the body; `Ok(None)` at its end. Err: the body was cut off.
    pub(crate) async fn chunk(&mut self) -> Result<Option<bytes::Bytes>, String> {
        self.resp.chunk().await.map_err(|e| describe_reqwest(&e))
    }
}

#[derive(Deserialize, Default)]
struct MdeErrorBody {
    #[serde(default)]
    error: MdeError,
}

#[derive(Deserialize, Default)]
struct MdeError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// The `{"error":{"code","message"}}` of an error answer and its message on one line. Empty
/// bodies (e.g. 404 with Content-Length: 0) are normal: the fields default.
fn error_body(body: &[u8]) -> (MdeError, String) {
    let err = serde_json::from_slice::<MdeErrorBody>(body)
        .unwrap_or_default()
        .error;
    let message = if err.message.is_empty() {
        if body.is_empty() {
            "(empty body)".to_owned()
        } else {
            "(no message)".to_owned()
        }
    } else {
        one_line(&err.message)
    };
    (err, message)
}

/// reqwest's error text, with its source chain (timeouts, TLS, DNS), on one line.
pub(crate) fn describe_reqwest(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut s = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut src = e.source();
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&one_line(&cause.to_string()));
        src = cause.source();
    }
    s
}

impl Client {
    pub fn new(cfg: ApiConfig) -> Result<Client, FetchError> {
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            .user_agent(concat!("defender-syslog/", env!("CARGO_PKG_VERSION")))
            .gzip(true)
            .deflate(true);
        let mut pems = cfg.extra_ca_pem.clone();
        if let Some(path) = &cfg.ca_file {
            pems.push(std::fs::read_to_string(path).map_err(|e| {
                FetchError::Config(format!("cannot read ca_file {}: {e}", path.display()))
            })?);
        }
        for pem in &pems {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|_| FetchError::Config("ca_file holds no valid PEM certificate".into()))?;
            if certs.is_empty() {
                return Err(FetchError::Config(
                    "ca_file holds no PEM certificate".into(),
                ));
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        if let Some(p) = &cfg.proxy {
            // The URL may carry proxy credentials: never echo it.
            let proxy = reqwest::Proxy::all(p)
                .map_err(|_| FetchError::Config("proxy is not a valid URL".into()))?
                .no_proxy(reqwest::NoProxy::from_env());
            b = b.proxy(proxy);
        } else if !cfg.env_proxy {
            b = b.no_proxy();
        }
        let http = b
            .build()
            .map_err(|e| FetchError::Config(format!("HTTP client: {}", describe_reqwest(&e))))?;
        let login_url = cfg.effective_login_url();
        let scope = cfg.effective_scope();
        if !scope.ends_with("/.default") {
            return Err(FetchError::Config(format!(
                "scope {scope:?} must end in /.default for client credentials"
            )));
        }
        if cfg.tenant_id.trim().is_empty() || cfg.client_id.trim().is_empty() {
            return Err(FetchError::Config(
                "tenant_id and client_id are required".into(),
            ));
        }
        let signer = match &cfg.credential {
            Credential::Certificate { cert_pem, key_pem } => Some(Signer::new(cert_pem, key_pem)?),
            Credential::Secret(s) if s.expose().is_empty() => {
                return Err(FetchError::Config("client secret is empty".into()));
            }
            Credential::Secret(_) => None,
        };
        let source = TokenSource {
            endpoint: format!("{login_url}/{}/oauth2/v2.0/token", cfg.tenant_id.trim()),
            login_url,
            tenant: cfg.tenant_id.trim().to_owned(),
            client_id: cfg.client_id.trim().to_owned(),
            scope,
            credential: cfg.credential.clone(),
            signer,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                api: cfg.source,
                api_url: cfg.effective_api_url(),
                source,
                token: tokio::sync::Mutex::new(None),
                generation: std::sync::atomic::AtomicU64::new(0),
                budget: Budget::within(cfg.budget, cfg.source.quota()),
            }),
        })
    }

    pub fn api_url(&self) -> &str {
        &self.inner.api_url
    }

    /// Which API this client reads.
    pub fn source(&self) -> crate::Source {
        self.inner.api
    }

    /// The alerts endpoint, e.g. `https://graph.microsoft.com/v1.0/security/alerts_v2`.
    pub fn alerts_url(&self) -> String {
        format!("{}{}", self.inner.api_url, self.inner.api.alerts_path())
    }

    /// Requests started in the last minute and in the last hour (all pollers together).
    pub fn budget_used(&self) -> (usize, usize) {
        self.inner.budget.used()
    }

    /// A valid token: the cached one unless it is near expiry or was rejected.
    async fn token(&self) -> Result<Token, FetchError> {
        let mut slot = self.inner.token.lock().await;
        if let Some(t) = slot.as_ref()
            && t.fresh()
        {
            return Ok(t.clone());
        }
        let generation = self
            .inner
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let t = self
            .inner
            .source
            .fetch(&self.inner.http, generation)
            .await?;
        tracing::info!(
            token_endpoint = %self.inner.source.endpoint,
            expires_in_s = t.lifetime.as_secs(),
            "got an access token from Entra ID"
        );
        *slot = Some(t.clone());
        Ok(t)
    }

    /// Drops the cached token if it is still the one that was rejected.
    async fn invalidate(&self, generation: u64) {
        let mut slot = self.inner.token.lock().await;
        if slot.as_ref().is_some_and(|t| t.generation == generation) {
            *slot = None;
        }
    }

    /// `GET {alerts endpoint}?{query}` within the budget; on 401 (or 403 saying the token
    /// expired) the token is refreshed once and the request retried. `stats` counts every
    /// request sent to the API and its answer's status class.
    pub(crate) async fn get_alerts(
        &self,
        query: &str,
        stats: &crate::PollerStats,
    ) -> Result<RawPage, FetchError> {
        let endpoint = self.alerts_url();
        let url = format!("{endpoint}?{query}");
        let mut refreshed = false;
        loop {
            let token = self.token().await?;
            // Waiting for the request budget is a healthy idle state, not a stall.
            stats.idle_for(self.inner.budget.wait_estimate());
            self.inner.budget.acquire().await;
            stats
                .requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut req = self
                .inner
                .http
                .get(&url)
                .bearer_auth(token.value.expose())
                .header("accept", "application/json");
            if self.inner.api == crate::Source::Graph {
                // Otherwise evolvable enums carry `unknownFutureValue` instead of the new value.
                req = req.header("prefer", "include-unknown-enum-members");
            }
            let resp = req.send().await.map_err(|e| {
                stats
                    .requests_failed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                FetchError::Transport {
                    endpoint: endpoint.clone(),
                    message: describe_reqwest(&e),
                }
            })?;
            let status = resp.status().as_u16();
            stats.count_status(status);
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            if status == 200 {
                return Ok(RawPage { resp });
            }
            let body = resp.bytes().await.map_err(|e| FetchError::Malformed {
                endpoint: endpoint.clone(),
                message: format!("body cut off: {}", describe_reqwest(&e)),
            })?;
            let (err, message) = error_body(&body);
            if status == 401
                && err.code == "InvalidAuthenticationToken"
                && message.to_ascii_lowercase().contains("audience")
            {
                // Another token for the same scope has the same audience: a config error.
                return Err(FetchError::WrongAudience {
                    scope: self.inner.source.scope.clone(),
                    message,
                });
            }
            let expired = status == 401
                || (status == 403 && message.to_ascii_lowercase().contains("expired"));
            if expired && !refreshed {
                tracing::info!(
                    status,
                    "the API rejected the access token; getting a new one"
                );
                self.invalidate(token.generation).await;
                refreshed = true;
                continue;
            }
            return Err(self.error(status, expired, err, message, retry_after));
        }
    }

    /// The error for a non-200 answer (a 429 also blocks the budget until `Retry-After`).
    fn error(
        &self,
        status: u16,
        expired: bool,
        err: MdeError,
        message: String,
        retry_after: Option<Duration>,
    ) -> FetchError {
        match status {
            401 | 403 if expired => FetchError::Unauthorized { message },
            403 => FetchError::Forbidden {
                api: self.inner.api,
                message,
            },
            429 => {
                // Never earlier than the server asked; 60 s if it did not say.
                let wait = retry_after.unwrap_or(Duration::from_secs(60));
                self.inner.budget.throttled(wait);
                FetchError::Throttled { retry_after: wait }
            }
            400 => FetchError::BadRequest {
                code: if err.code.is_empty() {
                    "BadRequest".into()
                } else {
                    one_line(&err.code)
                },
                message,
            },
            _ => FetchError::Http {
                status,
                code: if err.code.is_empty() {
                    "-".into()
                } else {
                    one_line(&err.code)
                },
                message,
            },
        }
    }

    /// For `check`: a token, then one `$top=1` call (newest first).
    pub async fn probe(&self) -> Result<ProbeReport, FetchError> {
        let token = self.token().await?;
        let counter = crate::PollerStats::default();
        let query = match self.inner.api {
            crate::Source::Mde => "$top=1&$orderby=lastUpdateTime+desc",
            crate::Source::Graph => "$top=1&$orderby=lastUpdateDateTime%20desc",
        };
        let page = self.get_alerts(query, &counter).await?;
        let endpoint = self.alerts_url();
        let body = page.resp.bytes().await.map_err(|e| FetchError::Malformed {
            endpoint: endpoint.clone(),
            message: format!("body cut off: {}", describe_reqwest(&e)),
        })?;
        let times: Vec<Result<Option<Timestamp>, _>> = match self.inner.api {
            crate::Source::Mde => alert_model::parse_alerts(&body)
                .into_iter()
                .map(|a| a.map(|a| a.last_update_time))
                .collect(),
            crate::Source::Graph => alert_model::parse_alerts_of::<alert_model::GraphAlert>(&body)
                .into_iter()
                .map(|a| a.map(|a| a.last_update_date_time))
                .collect(),
        };
        if times.iter().any(Result::is_err) {
            return Err(FetchError::Malformed {
                endpoint,
                message: "the probe page is not an alert list".into(),
            });
        }
        let newest = times.iter().filter_map(|t| *t.as_ref().ok()?).max();
        Ok(ProbeReport {
            api_url: self.inner.api_url.clone(),
            alerts_url: endpoint,
            source: self.inner.api,
            token_endpoint: self.inner.source.endpoint.clone(),
            scope: self.inner.source.scope.clone(),
            token_lifetime: token.lifetime,
            alerts_returned: times.len(),
            newest_last_update: newest,
        })
    }
}

/// `Retry-After`: delta-seconds (what Defender sends) or an HTTP date.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let fmt = time::format_description::well_known::Rfc2822;
    let at = time::OffsetDateTime::parse(v, &fmt).ok()?;
    let d = at - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(d).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
