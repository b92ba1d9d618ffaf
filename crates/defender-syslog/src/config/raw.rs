//! The config file as written: every key optional here, so that validation (in `validate`) can
//! say exactly which key is missing, and unknown keys refused (`deny_unknown_fields`).

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub defender: Option<RawDefender>,
    /// The Defender XDR streaming API through Event Hubs / Kafka (`defender.source = "streaming"`).
    pub streaming: Option<RawStreaming>,
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
pub struct RawStreaming {
    /// `eventhubs` (default: the Event Hubs preset) or `kafka`.
    pub kind: Option<String>,
    /// `host:port[,host:port…]`, or a list.
    pub bootstrap: Option<StringOrList>,
    pub topics: Option<StringOrList>,
    pub consumer_group: Option<String>,
    /// `sasl_ssl` (default), `ssl` or `plaintext`.
    pub security: Option<String>,
    /// Event Hubs: the namespace or hub connection string (SASL PLAIN password).
    pub connection_string: Option<String>,
    pub connection_string_file: Option<PathBuf>,
    /// Plain Kafka SASL.
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<String>,
    pub sasl_password_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    /// Advanced-hunting tables to forward (empty or absent: all).
    pub tables: Option<StringOrList>,
    /// `earliest` (default) or `latest`: where a group with no committed offset starts.
    pub start: Option<String>,
}

/// A list written as a TOML array or one comma-separated string (an environment variable).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    /// The items, split at commas, trimmed, empty ones dropped.
    pub fn items(&self) -> Vec<String> {
        let all: Vec<&str> = match self {
            StringOrList::One(s) => vec![s.as_str()],
            StringOrList::Many(v) => v.iter().map(String::as_str).collect(),
        };
        all.iter()
            .flat_map(|s| s.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
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
