//! The config file as written: every key optional here, so that validation (in `validate`) can
//! say exactly which key is missing, and unknown keys refused (`deny_unknown_fields`).

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub defender: Option<RawDefender>,
    #[serde(default)]
    pub destination: Vec<RawDestination>,
    #[serde(default)]
    pub state: RawState,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub metrics: RawMetrics,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefender {
    /// `graph` (default) or `mde`.
    pub source: Option<String>,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub certificate_file: Option<PathBuf>,
    pub private_key_file: Option<PathBuf>,
    pub cloud: Option<String>,
    pub api_url: Option<String>,
    pub login_url: Option<String>,
    /// Token scope override (rarely needed: the cloud picks it).
    pub scope: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub proxy: Option<String>,
    pub poll_interval: Option<String>,
    pub page_size: Option<u32>,
    pub overlap: Option<String>,
    pub initial_lookback: Option<String>,
    /// Lower the request budget (e.g. when another integration shares the app).
    pub max_requests_per_minute: Option<u32>,
    pub max_requests_per_hour: Option<u32>,
    pub request_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDestination {
    pub name: Option<String>,
    pub format: Option<String>,
    pub leef_version: Option<String>,
    pub leef_delimiter: Option<String>,
    pub transport: Option<String>,
    pub addresses: Option<Vec<String>>,
    pub ca_file: Option<PathBuf>,
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    pub server_name: Option<String>,
    pub pin_sha256: Option<Vec<String>>,
    pub use_system_roots: Option<bool>,
    pub framing: Option<String>,
    pub max_message_bytes: Option<usize>,
    pub max_inflight_bytes: Option<usize>,
    pub hostname: Option<String>,
    pub facility: Option<RawFacility>,
    pub sd_id: Option<String>,
    pub msg_body: Option<String>,
    pub connect_timeout: Option<String>,
    pub failback_after: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    pub directory: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub level: Option<String>,
    pub stats_interval: Option<String>,
    pub format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    pub listen: Option<String>,
    pub stall_after: Option<String>,
}

/// A syslog facility as a number (0–23) or a name (`local4`, `auth`, …).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawFacility {
    Number(i64),
    Name(String),
}
