//! What the fetcher needs to know about the tenant: credentials, cloud, network.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// A secret value (client secret, private key). `Debug` and `Display` print `[redacted]`;
/// only [`Secret::expose`] gives the text, at the one place it goes on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Reads a secret file (`client_secret_file`), dropping one trailing newline. The error
    /// names the file, never its content.
    pub fn from_file(path: &std::path::Path) -> Result<Self, crate::FetchError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            crate::FetchError::Config(format!("cannot read secret file {}: {e}", path.display()))
        })?;
        let text = text.strip_suffix('\n').unwrap_or(&text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        if text.trim().is_empty() {
            return Err(crate::FetchError::Config(format!(
                "secret file {} is empty",
                path.display()
            )));
        }
        Ok(Self(text.to_owned()))
    }

    /// The secret text. Call only to put it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// How the app proves its identity to Entra ID.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A client secret (its *Value*, not its Secret ID).
    Secret(Secret),
    /// A certificate registered on the app, and its RSA private key (PEM, PKCS#8 or PKCS#1):
    /// the fetcher signs a JWT client assertion (RS256, `x5t#S256` header).
    Certificate { cert_pem: String, key_pem: Secret },
}

/// A Microsoft cloud / region: picks login authority, API host and token scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cloud {
    #[default]
    Global,
    Us,
    Eu,
    Uk,
    Au,
    Gcc,
    GccHigh,
    Dod,
}

/// The resource every commercial host accepts tokens for (WindowsDefenderATP).
const COMMERCIAL_SCOPE: &str = "https://api.securitycenter.microsoft.com/.default";

impl Cloud {
    pub const ALL: [Cloud; 8] = [
        Cloud::Global,
        Cloud::Us,
        Cloud::Eu,
        Cloud::Uk,
        Cloud::Au,
        Cloud::Gcc,
        Cloud::GccHigh,
        Cloud::Dod,
    ];

    /// The name used in the config file.
    pub fn name(self) -> &'static str {
        match self {
            Cloud::Global => "global",
            Cloud::Us => "us",
            Cloud::Eu => "eu",
            Cloud::Uk => "uk",
            Cloud::Au => "au",
            Cloud::Gcc => "gcc",
            Cloud::GccHigh => "gcc-high",
            Cloud::Dod => "dod",
        }
    }

    /// Login authority (mde-api.md §1.1: GCC stays commercial, GCC High and DoD use `.us`).
    pub fn login_url(self) -> &'static str {
        match self {
            Cloud::GccHigh | Cloud::Dod => "https://login.microsoftonline.us",
            _ => "https://login.microsoftonline.com",
        }
    }

    /// API host (mde-api.md §2.1).
    pub fn api_url(self) -> &'static str {
        match self {
            Cloud::Global => "https://api.security.microsoft.com",
            Cloud::Us => "https://us.api.security.microsoft.com",
            Cloud::Eu => "https://eu.api.security.microsoft.com",
            Cloud::Uk => "https://uk.api.security.microsoft.com",
            Cloud::Au => "https://au.api.security.microsoft.com",
            Cloud::Gcc => "https://api-gcc.securitycenter.microsoft.us",
            Cloud::GccHigh | Cloud::Dod => "https://api-gov.securitycenter.microsoft.us",
        }
    }

    /// Token scope. Commercial hosts share the WindowsDefenderATP resource; for the US
    /// government clouds Microsoft documents hosts only, so the scope is the API host (an
    /// inference, overridable with `scope`; see docs/fetcher.md).
    pub fn scope(self) -> &'static str {
        match self {
            Cloud::Gcc => "https://api-gcc.securitycenter.microsoft.us/.default",
            Cloud::GccHigh | Cloud::Dod => "https://api-gov.securitycenter.microsoft.us/.default",
            _ => COMMERCIAL_SCOPE,
        }
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown cloud name.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown cloud {0:?}: expected one of global, us, eu, uk, au, gcc, gcc-high, dod")]
pub struct UnknownCloud(pub String);

impl FromStr for Cloud {
    type Err = UnknownCloud;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cloud::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownCloud(s.chars().take(40).collect()))
    }
}

/// A request quota per app + tenant; the default is `/api/alerts`' (Graph's is
/// [`crate::Source::quota`]). Lower values may be configured (e.g. to share a tenant with
/// another integration); higher ones are clamped to the source's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetLimits {
    pub per_minute: u32,
    pub per_hour: u32,
}

impl Default for BudgetLimits {
    fn default() -> Self {
        Self {
            per_minute: 100,
            per_hour: 1500,
        }
    }
}

/// How to reach the tenant. `Debug` hides the proxy URL's user and password.
#[derive(Clone)]
pub struct ApiConfig {
    /// Which API to read (Graph alerts_v2 or the MDE alerts API).
    pub source: crate::Source,
    pub tenant_id: String,
    pub client_id: String,
    pub credential: Credential,
    pub cloud: Cloud,
    /// Overrides the cloud's API host, e.g. `https://api.securitycenter.microsoft.com`.
    pub api_url: Option<String>,
    /// Overrides the cloud's login authority.
    pub login_url: Option<String>,
    /// Overrides the cloud's token scope (must end in `/.default`).
    pub scope: Option<String>,
    /// Extra trust roots (PEM file), e.g. a TLS-inspecting proxy's CA.
    pub ca_file: Option<PathBuf>,
    /// Extra trust roots given inline (PEM), e.g. the simulated API's CA in `demo`.
    pub extra_ca_pem: Vec<String>,
    /// Explicit proxy URL; otherwise `HTTPS_PROXY`/`NO_PROXY` apply if `env_proxy`.
    pub proxy: Option<String>,
    pub env_proxy: bool,
    pub connect_timeout: Duration,
    /// Whole-request timeout (large pages with evidence take a while).
    pub request_timeout: Duration,
    pub budget: BudgetLimits,
}

impl fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proxy = self.proxy.as_deref().map(redact_userinfo);
        f.debug_struct("ApiConfig")
            .field("source", &self.source)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("credential", &self.credential)
            .field("cloud", &self.cloud)
            .field("api_url", &self.api_url)
            .field("login_url", &self.login_url)
            .field("scope", &self.scope)
            .field("ca_file", &self.ca_file)
            .field("extra_ca_pem", &self.extra_ca_pem.len())
            .field("proxy", &proxy)
            .field("env_proxy", &self.env_proxy)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("budget", &self.budget)
            .finish()
    }
}

/// `http://user:pass@host:3128` → `http://[redacted]@host:3128`.
fn redact_userinfo(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}[redacted]{}", &url[..s + 3], &url[at..]),
        _ => url.to_owned(),
    }
}

impl ApiConfig {
    /// A config for the MDE API in the global cloud with default network settings (set
    /// `source` and `budget` for Graph, or use [`ApiConfig::with_source`]).
    pub fn new(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        credential: Credential,
    ) -> Self {
        Self {
            source: crate::Source::Mde,
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            credential,
            cloud: Cloud::Global,
            api_url: None,
            login_url: None,
            scope: None,
            ca_file: None,
            extra_ca_pem: Vec::new(),
            proxy: None,
            env_proxy: true,
            connect_timeout: Duration::from_secs(15),
            request_timeout: Duration::from_secs(120),
            budget: BudgetLimits::default(),
        }
    }

    /// This config for `source`, with that source's default request budget.
    pub fn with_source(mut self, source: crate::Source) -> Self {
        self.source = source;
        self.budget = source.quota();
        self
    }

    pub fn effective_api_url(&self) -> String {
        self.api_url
            .as_deref()
            .unwrap_or(self.source.api_url(self.cloud))
            .trim_end_matches('/')
            .to_owned()
    }

    pub fn effective_login_url(&self) -> String {
        self.login_url
            .as_deref()
            .unwrap_or(self.cloud.login_url())
            .trim_end_matches('/')
            .to_owned()
    }

    pub fn effective_scope(&self) -> String {
        self.scope
            .clone()
            .unwrap_or_else(|| self.source.scope(self.cloud))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "[redacted] [redacted]");
        let c = Credential::Certificate {
            cert_pem: "CERT".into(),
            key_pem: Secret::new("KEYDATA"),
        };
        assert!(!format!("{c:?}").contains("KEYDATA"));
        let mut cfg = ApiConfig::new("t", "c", Credential::Secret(Secret::new("hunter2")));
        cfg.proxy = Some("http://bob:pr0xyPass@proxy.example:3128".into());
        let dbg = format!("{cfg:?}");
        assert!(
            !dbg.contains("hunter2") && !dbg.contains("pr0xyPass") && !dbg.contains("bob"),
            "{dbg}"
        );
        assert!(dbg.contains("proxy.example:3128"));
    }

    #[test]
    fn secret_files() {
        let dir = std::env::temp_dir().join(format!("fetcher-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("s");
        std::fs::write(&f, "abc~def\r\n").unwrap();
        assert_eq!(Secret::from_file(&f).unwrap().expose(), "abc~def");
        std::fs::write(&f, "\n").unwrap();
        let e = Secret::from_file(&f).unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let e = Secret::from_file(&dir.join("missing"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn clouds_round_trip_and_pick_hosts() {
        for c in Cloud::ALL {
            assert_eq!(c.name().parse::<Cloud>().unwrap(), c);
            assert!(c.scope().ends_with("/.default"));
            assert!(c.api_url().starts_with("https://"));
        }
        assert_eq!(Cloud::Gcc.login_url(), "https://login.microsoftonline.com");
        assert_eq!(Cloud::Dod.login_url(), "https://login.microsoftonline.us");
        assert_eq!(
            Cloud::GccHigh.api_url(),
            "https://api-gov.securitycenter.microsoft.us"
        );
        assert!(
            "mars"
                .parse::<Cloud>()
                .unwrap_err()
                .to_string()
                .contains("gcc-high")
        );
    }
}
