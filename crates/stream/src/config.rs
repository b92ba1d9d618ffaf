//! [`StreamConfig`] and its one translation into librdkafka properties
//! ([`StreamConfig::client_config`]).
//!
//! The properties that make the committed offsets the cursor (`enable.auto.commit=false`,
//! `enable.auto.offset.store=false`) and the identity/credential ones are set here and cannot
//! be overridden through [`StreamConfig::extra`].

use std::fmt;
use std::path::{Path, PathBuf};

use rdkafka::ClientConfig;

use crate::StreamError;

/// A password or connection string: `Debug` and `Display` print `[redacted]`; only
/// [`Secret::expose`] gives the text, for librdkafka's `sasl.password`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Reads a secret file (a connection string file or a systemd credential), dropping one
    /// trailing newline. The error names the file, never its content.
    pub fn from_file(path: &Path) -> Result<Self, StreamError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            StreamError::Config(format!("cannot read secret file {}: {e}", path.display()))
        })?;
        let text = text.strip_suffix('\n').unwrap_or(&text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        if text.is_empty() {
            return Err(StreamError::Config(format!(
                "secret file {} is empty",
                path.display()
            )));
        }
        Ok(Self(text.to_owned()))
    }

    /// The secret's text: only for librdkafka's configuration.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the secret replaced by `[redacted]` (librdkafka's
    /// messages never carry it, but a broker's error text might echo what it was sent).
    pub(crate) fn scrub(&self, text: &str) -> String {
        if self.0.len() < 4 {
            return text.to_owned();
        }
        text.replace(&self.0, "[redacted]")
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

/// The SASL mechanism of `sasl_ssl` (Event Hubs: PLAIN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl SaslMechanism {
    /// librdkafka's `sasl.mechanisms` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

impl std::str::FromStr for SaslMechanism {
    type Err = StreamError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "PLAIN" => Ok(Self::Plain),
            "SCRAM-SHA-256" => Ok(Self::ScramSha256),
            "SCRAM-SHA-512" => Ok(Self::ScramSha512),
            _ => Err(StreamError::Config(format!(
                "unknown sasl_mechanism {s:?}: expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
            ))),
        }
    }
}

/// How the client talks to the brokers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security {
    /// TLS + SASL (Event Hubs: PLAIN, user `$ConnectionString`, password the connection string).
    SaslSsl {
        mechanism: SaslMechanism,
        username: String,
        password: Secret,
    },
    /// TLS without SASL (a cluster that authenticates by client certificate is not supported).
    Ssl,
    /// No TLS, no authentication: opt-in, warned.
    Plaintext,
}

/// Where a group with no committed offset for a partition starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartAt {
    #[default]
    Earliest,
    Latest,
}

/// The Event Hubs username for connection-string authentication.
pub const EVENTHUBS_USERNAME: &str = "$ConnectionString";

/// Properties [`StreamConfig::extra`] may not set: the cursor rule and the identity.
const PROTECTED: &[&str] = &[
    "bootstrap.servers",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "security.protocol",
    "ssl.ca.location",
];

/// The stream source's configuration (the binary maps `[streaming]` to it).
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// `host:port`, comma-separated for several.
    pub bootstrap: String,
    /// Topics (Event Hubs: event hub names).
    pub topics: Vec<String>,
    pub group_id: String,
    pub security: Security,
    /// PEM CA bundle for the brokers' certificates; `None`: the system store (`probe`).
    pub ca_file: Option<PathBuf>,
    /// Azure Event Hubs' Kafka endpoint: its timeouts and keepalive.
    pub eventhubs: bool,
    /// Table names to forward (`AlertInfo`, or `AdvancedHunting-AlertInfo`), case-insensitive;
    /// empty = all.
    pub tables: Vec<String>,
    pub start: StartAt,
    pub client_id: String,
    /// librdkafka properties applied last (tests, expert tuning); the cursor, identity and
    /// credential properties are refused.
    pub extra: Vec<(String, String)>,
}

impl StreamConfig {
    /// A configuration with the defaults for everything but the essentials.
    pub fn new(
        bootstrap: impl Into<String>,
        topics: Vec<String>,
        group_id: impl Into<String>,
        security: Security,
    ) -> Self {
        Self {
            bootstrap: bootstrap.into(),
            topics,
            group_id: group_id.into(),
            security,
            ca_file: None,
            eventhubs: false,
            tables: Vec::new(),
            start: StartAt::Earliest,
            client_id: "defender-syslog".to_owned(),
            extra: Vec::new(),
        }
    }

    /// The Event Hubs preset: SASL_SSL, PLAIN, `$ConnectionString` + the connection string.
    pub fn eventhubs(
        bootstrap: impl Into<String>,
        topics: Vec<String>,
        group_id: impl Into<String>,
        connection_string: Secret,
    ) -> Self {
        let mut cfg = Self::new(
            bootstrap,
            topics,
            group_id,
            Security::SaslSsl {
                mechanism: SaslMechanism::Plain,
                username: EVENTHUBS_USERNAME.to_owned(),
                password: connection_string,
            },
        );
        cfg.eventhubs = true;
        cfg
    }

    /// The secret, if any (for scrubbing messages).
    pub(crate) fn secret(&self) -> Option<&Secret> {
        match &self.security {
            Security::SaslSsl { password, .. } => Some(password),
            _ => None,
        }
    }

    /// Checks the configuration: every error says which setting is wrong.
    pub fn validate(&self) -> Result<(), StreamError> {
        let bad = |m: String| Err(StreamError::Config(m));
        if self.bootstrap.trim().is_empty() {
            return bad("streaming.bootstrap is empty: expected host:port".into());
        }
        for server in self.bootstrap.split(',').map(str::trim) {
            let port = server.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>()));
            if !matches!(port, Some((h, Ok(p))) if !h.is_empty() && p != 0) {
                return bad(format!(
                    "streaming.bootstrap: {server:?} is not host:port (Event Hubs: \
                     <namespace>.servicebus.windows.net:9093)"
                ));
            }
        }
        if self.topics.is_empty() || self.topics.iter().any(|t| t.trim().is_empty()) {
            return bad("streaming.topics: name at least one topic (event hub), none empty".into());
        }
        if self.group_id.trim().is_empty() {
            return bad("streaming.consumer_group is empty".into());
        }
        if self.tables.iter().any(|t| table_name(t).is_empty()) {
            return bad("streaming.tables: an empty table name".into());
        }
        if let Security::SaslSsl { username, .. } = &self.security
            && username.is_empty()
        {
            return bad("streaming: sasl_ssl needs a username".into());
        }
        if self.eventhubs {
            match &self.security {
                Security::SaslSsl {
                    mechanism: SaslMechanism::Plain,
                    username,
                    ..
                } if username == EVENTHUBS_USERNAME => {}
                _ => {
                    return bad(format!(
                        "streaming: Event Hubs accepts SASL_SSL with mechanism PLAIN and user \
                         {EVENTHUBS_USERNAME} (password = the connection string) only"
                    ));
                }
            }
        }
        if let Some((key, _)) = self.extra.iter().find(|(k, _)| {
            PROTECTED.contains(&k.as_str()) || k.starts_with("sasl.") || k.starts_with("ssl.key")
        }) {
            return bad(format!(
                "streaming: librdkafka property {key:?} is set by the source itself"
            ));
        }
        Ok(())
    }

    /// The librdkafka properties of this configuration (validated first).
    pub fn client_config(&self) -> Result<ClientConfig, StreamError> {
        self.validate()?;
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.bootstrap.trim())
            .set("group.id", &self.group_id)
            .set("client.id", &self.client_id)
            // The cursor: offsets are committed explicitly, only past delivered messages.
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set(
                "auto.offset.reset",
                match self.start {
                    StartAt::Earliest => "earliest",
                    StartAt::Latest => "latest",
                },
            )
            // Figures for StreamStats (high watermark, committed) at a bounded cost.
            .set("statistics.interval.ms", "5000")
            // Bounded prefetch so RSS stays flat whatever the backlog.
            .set("queued.max.messages.kbytes", "16384")
            .set("queued.min.messages", "10000")
            .set("fetch.max.bytes", "8388608")
            // When that bound is reached librdkafka stops fetching for this long (default
            // 1 s): at 50k records/s the 16 MiB drain in a fraction of that and the consumer
            // would sit idle (measured: 16k records/s at 25 % CPU). Retry soon instead.
            .set("fetch.queue.backoff.ms", "20");
        match &self.security {
            Security::SaslSsl {
                mechanism,
                username,
                password,
            } => {
                c.set("security.protocol", "SASL_SSL")
                    .set("sasl.mechanisms", mechanism.as_str())
                    .set("sasl.username", username)
                    .set("sasl.password", password.expose());
            }
            Security::Ssl => {
                c.set("security.protocol", "SSL");
            }
            Security::Plaintext => {
                c.set("security.protocol", "PLAINTEXT");
            }
        }
        if !matches!(self.security, Security::Plaintext) {
            // Vendored OpenSSL's built-in CA path is wrong on an appliance: probe the system's.
            let ca = match &self.ca_file {
                Some(p) => p.to_string_lossy().into_owned(),
                None => "probe".to_owned(),
            };
            c.set("ssl.ca.location", ca);
        }
        if self.eventhubs {
            // Azure closes idle connections after 240 s; its documented client settings.
            c.set("metadata.max.age.ms", "180000")
                .set("socket.keepalive.enable", "true")
                .set("request.timeout.ms", "60000")
                // What bounds a consumer's requests (request.timeout.ms is producer-only).
                .set("socket.timeout.ms", "60000")
                .set("session.timeout.ms", "30000")
                .set("heartbeat.interval.ms", "3000")
                .set("max.poll.interval.ms", "300000");
        }
        for (k, v) in &self.extra {
            c.set(k, v);
        }
        Ok(c)
    }

    /// The table filter, normalised (lower case, without `AdvancedHunting-`).
    pub(crate) fn table_filter(&self) -> Vec<String> {
        self.tables
            .iter()
            .map(|t| table_name(t).to_ascii_lowercase())
            .collect()
    }
}

/// `AdvancedHunting-AlertInfo` → `AlertInfo` (case-insensitive prefix), trimmed.
fn table_name(t: &str) -> &str {
    let t = t.trim();
    let prefix = alert_model::stream::CATEGORY_PREFIX;
    match t.get(..prefix.len()) {
        Some(p) if p.eq_ignore_ascii_case(prefix) => &t[prefix.len()..],
        _ => t,
    }
}

#[cfg(test)]
mod tests;
