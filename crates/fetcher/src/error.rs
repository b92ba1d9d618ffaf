//! Errors, each saying what to do. None of them carries a secret or a token.

use std::time::Duration;

/// What can go wrong talking to Entra ID or Defender.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("fetcher configuration: {0}")]
    Config(String),
    #[error(
        "Entra ID rejected the client secret for app {client_id} (AADSTS7000215): put the secret's \
         Value (not its Secret ID) in client_secret / client_secret_file, and check it was not rotated"
    )]
    WrongSecret { client_id: String },
    #[error(
        "the client secret of app {client_id} has expired (AADSTS7000222): create a new one under \
         App registrations → Certificates & secrets"
    )]
    SecretExpired { client_id: String },
    #[error(
        "tenant {tenant:?} was not found at {login_url} (AADSTS90002): check tenant_id (the \
         Directory (tenant) ID GUID or a verified domain) and that `cloud` matches the tenant's cloud"
    )]
    UnknownTenant { tenant: String, login_url: String },
    #[error(
        "app {client_id} is not known in tenant {tenant} (AADSTS700016): check client_id (the \
         Application (client) ID) and that the app is registered or consented in this tenant"
    )]
    UnknownClient { client_id: String, tenant: String },
    #[error(
        "Entra ID rejected the certificate client assertion (AADSTS{code}): upload this \
         certificate to the app registration (Certificates & secrets) and check it has not expired"
    )]
    CertificateRejected { code: u32 },
    #[error("Entra ID refused a token ({status}, {error}, AADSTS{code}): {description}")]
    Token {
        status: u16,
        error: String,
        code: u32,
        description: String,
    },
    #[error("{}", forbidden(*api, message))]
    Forbidden { api: crate::Source, message: String },
    #[error(
        "Microsoft Graph rejected the token's audience (401 InvalidAuthenticationToken): it was \
         issued for scope {scope}, and Graph accepts only its own host + /.default (e.g. \
         https://graph.microsoft.com/.default). Remove a defender.scope meant for the MDE API, or \
         set defender.source = \"mde\" to read the MDE API. Server said: {message}"
    )]
    WrongAudience { scope: String, message: String },
    #[error(
        "{endpoint} returned alerts out of lastUpdateDateTime order ({before} before {after}): the \
         service ignored $orderby=lastUpdateDateTime asc, and paging on would lose alerts, so the \
         poller stops. Check api_url points at Microsoft Graph (or a proxy that keeps the query \
         string), or set defender.source = \"mde\""
    )]
    OrderIgnored {
        endpoint: String,
        before: String,
        after: String,
    },
    #[error("the Defender API rejected the token twice (401): {message}")]
    Unauthorized { message: String },
    #[error("the Defender API rejected the query (400 {code}): {message}")]
    BadRequest { code: String, message: String },
    #[error("throttled by the Defender API (429); retrying after {retry_after:?}")]
    Throttled { retry_after: Duration },
    #[error("the Defender API answered {status} {code}: {message}")]
    Http {
        status: u16,
        code: String,
        message: String,
    },
    #[error("{endpoint} unreachable: {message}")]
    Transport { endpoint: String, message: String },
    #[error("malformed response from {endpoint}: {message}")]
    Malformed { endpoint: String, message: String },
}

impl FetchError {
    /// Worth retrying without a configuration change.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Throttled { .. }
            | FetchError::Transport { .. }
            | FetchError::Malformed { .. }
            | FetchError::Unauthorized { .. } => true,
            FetchError::Token { status, .. } => *status >= 500 || *status == 429,
            FetchError::Http { status, .. } => *status >= 500 || *status == 404 || *status == 408,
            _ => false,
        }
    }
}

/// The 403 text: exactly which permission is missing, for the source that said it (the two
/// APIs want different permissions of different APIs, and they are easy to mix up).
fn forbidden(api: crate::Source, message: &str) -> String {
    match api {
        crate::Source::Mde => format!(
            "the Defender API answered 403 Forbidden: the app needs the WindowsDefenderATP application \
             permission Alert.Read.All with admin consent (App registrations → API permissions → APIs \
             my organization uses → WindowsDefenderATP → Application permissions → Alert.Read.All, then \
             'Grant admin consent'). Server said: {message}"
        ),
        crate::Source::Graph => format!(
            "Microsoft Graph answered 403 Forbidden: the app needs the application permission \
             Microsoft Graph → Application → SecurityAlert.Read.All with admin consent (App \
             registrations → API permissions → Add a permission → Microsoft Graph → Application \
             permissions → SecurityAlert.Read.All, then 'Grant admin consent'). The WindowsDefenderATP \
             Alert.Read.All permission of the MDE API does not cover Graph. Server said: {message}"
        ),
    }
}

/// Cuts a server-provided message to one short line (bodies can be huge or multi-line).
pub(crate) fn one_line(s: &str) -> String {
    let first = s.lines().next().unwrap_or("").trim();
    let mut out: String = first
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect();
    if first.chars().count() > 300 {
        out.push('…');
    }
    out
}
