//! The config file of a simulated setup: the mock Defender API ([`crate::defender`]), TLS
//! collectors ([`crate::collector`], rsyslog) with the throwaway PKI ([`crate::pki`]) and a
//! state directory, as the `config.toml` that `defender-syslog run`, `send` and `check` read.
//! `demo`, the binary's smoke tests, the e2e suite and the benches all write it here, so the
//! config's shape is spelt once.
//!
//! Tables are data: every key of `[defender]` (or of a destination) is set by name, so a new
//! key (a `source`, another endpoint) is one more [`SimConfig::defender`] call. Values are
//! written with the `toml` crate, so a path or secret is always quoted correctly.

use std::path::{Path, PathBuf};

use crate::defender::MockDefender;
use crate::pki::PkiFiles;

/// What a config needs to reach the simulated Defender API.
#[derive(Debug, Clone)]
pub struct SimApi {
    /// `graph` or `mde`: which API the mock serves (the config's `source`).
    pub source: &'static str,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub api_url: String,
    pub login_url: String,
    /// The API's CA certificate (PEM).
    pub ca_file: PathBuf,
}

impl SimApi {
    /// A running mock's endpoints and throwaway credentials; its CA is written to
    /// `dir/api-ca.pem`.
    pub fn of(mock: &MockDefender, dir: &Path) -> std::io::Result<SimApi> {
        let ca_file = dir.join("api-ca.pem");
        std::fs::write(&ca_file, mock.ca_pem())?;
        Ok(SimApi {
            source: mock.source_name(),
            tenant_id: mock.tenant_id.clone(),
            client_id: mock.client_id.clone(),
            client_secret: mock.client_secret.clone(),
            api_url: mock.base_url(),
            login_url: mock.login_url(),
            ca_file,
        })
    }
}

/// What a config needs to reach a (mock) Kafka cluster carrying the Defender XDR stream.
#[derive(Debug, Clone)]
pub struct SimStream {
    /// `eventhubs` (SASL PLAIN `$ConnectionString` over TLS) or `kafka`.
    pub kind: &'static str,
    pub bootstrap: String,
    pub topics: Vec<String>,
    pub consumer_group: String,
    /// `sasl_ssl`, `ssl` or `plaintext`.
    pub security: &'static str,
    /// The Event Hubs connection string (kind `eventhubs`).
    pub connection_string: Option<String>,
    /// The brokers' CA certificate file (PEM).
    pub ca_file: Option<PathBuf>,
}

/// The `key = value` lines of one table, in the order first set; setting a key again
/// replaces its value in place.
#[derive(Debug, Clone, Default)]
struct Table {
    entries: Vec<(String, String)>,
    /// Lines written as they are after the entries.
    raw: String,
}

impl Table {
    fn set(&mut self, key: &str, value: impl Into<toml::Value>) {
        let text = value.into().to_string();
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = text,
            None => self.entries.push((key.to_owned(), text)),
        }
    }

    fn unset(&mut self, key: &str) {
        self.entries.retain(|(k, _)| k != key);
    }

    fn write(&self, header: &str, out: &mut String) {
        out.push_str(header);
        out.push('\n');
        for (k, v) in &self.entries {
            out.push_str(&format!("{k} = {v}\n"));
        }
        out.push_str(&self.raw);
        if !self.raw.is_empty() && !self.raw.ends_with('\n') {
            out.push('\n');
        }
        out.push('\n');
    }
}

fn path_value(p: &Path) -> String {
    p.display().to_string()
}

/// A `config.toml` for a simulated setup; see the module docs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    comments: Vec<String>,
    defender: Table,
    /// `[streaming]`, for the streaming source.
    streaming: Option<Table>,
    destinations: Vec<SimDestination>,
    state: Table,
    log: Table,
    /// Sections appended as they are (e.g. `[metrics]`).
    tail: String,
}

impl SimConfig {
    /// `[defender]` pointing at `api`, `[state] directory = state_dir`; no destination yet.
    pub fn new(api: &SimApi, state_dir: &Path) -> SimConfig {
        let mut defender = Table::default();
        defender.set("source", api.source);
        defender.set("tenant_id", api.tenant_id.as_str());
        defender.set("client_id", api.client_id.as_str());
        defender.set("client_secret", api.client_secret.as_str());
        defender.set("api_url", api.api_url.as_str());
        defender.set("login_url", api.login_url.as_str());
        defender.set("ca_file", path_value(&api.ca_file));
        let mut state = Table::default();
        state.set("directory", path_value(state_dir));
        SimConfig {
            comments: Vec::new(),
            defender,
            streaming: None,
            destinations: Vec::new(),
            state,
            log: Table::default(),
            tail: String::new(),
        }
    }

    /// `[defender] source = "streaming"` and `[streaming]` pointing at `stream`; no
    /// destination yet.
    pub fn streaming(stream: &SimStream, state_dir: &Path) -> SimConfig {
        let mut defender = Table::default();
        defender.set("source", "streaming");
        let mut t = Table::default();
        t.set("kind", stream.kind);
        t.set("bootstrap", stream.bootstrap.as_str());
        t.set("topics", stream.topics.clone());
        t.set("consumer_group", stream.consumer_group.as_str());
        t.set("security", stream.security);
        if let Some(c) = &stream.connection_string {
            t.set("connection_string", c.as_str());
        }
        if let Some(ca) = &stream.ca_file {
            t.set("ca_file", path_value(ca));
        }
        let mut state = Table::default();
        state.set("directory", path_value(state_dir));
        SimConfig {
            comments: Vec::new(),
            defender,
            streaming: Some(t),
            destinations: Vec::new(),
            state,
            log: Table::default(),
            tail: String::new(),
        }
    }

    /// Sets a `[streaming]` key (only for a config made by [`Self::streaming`]).
    pub fn stream(mut self, key: &str, value: impl Into<toml::Value>) -> Self {
        if let Some(t) = self.streaming.as_mut() {
            t.set(key, value);
        }
        self
    }

    /// A `# …` line at the top of the file.
    pub fn comment(mut self, line: &str) -> Self {
        self.comments.push(format!("# {line}"));
        self
    }

    /// Sets a `[defender]` key (durations are strings: `"500ms"`).
    pub fn defender(mut self, key: &str, value: impl Into<toml::Value>) -> Self {
        self.defender.set(key, value);
        self
    }

    /// Removes a `[defender]` key (e.g. `client_secret`, to set `client_secret_file`).
    pub fn defender_unset(mut self, key: &str) -> Self {
        self.defender.unset(key);
        self
    }

    /// Lines added to `[defender]` as they are.
    pub fn defender_lines(mut self, text: &str) -> Self {
        self.defender.raw.push_str(text);
        self
    }

    pub fn destination(mut self, d: SimDestination) -> Self {
        self.destinations.push(d);
        self
    }

    /// Sets a `[log]` key.
    pub fn log(mut self, key: &str, value: impl Into<toml::Value>) -> Self {
        self.log.set(key, value);
        self
    }

    /// Text appended at the end of the file as it is (whole sections).
    pub fn section(mut self, text: &str) -> Self {
        self.tail.push_str(text);
        self
    }

    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        for c in &self.comments {
            out.push_str(c);
            out.push('\n');
        }
        self.defender.write("[defender]", &mut out);
        if let Some(t) = &self.streaming {
            t.write("[streaming]", &mut out);
        }
        self.state.write("[state]", &mut out);
        if !self.log.entries.is_empty() || !self.log.raw.is_empty() {
            self.log.write("[log]", &mut out);
        }
        for d in &self.destinations {
            d.0.write("[[destination]]", &mut out);
        }
        out.push_str(&self.tail);
        out
    }

    /// Writes [`Self::to_toml`] to `path`.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.to_toml())
    }
}

/// One `[[destination]]`.
#[derive(Debug, Clone)]
pub struct SimDestination(Table);

impl SimDestination {
    /// RFC 5425 to `addresses`, verified against `ca_file` alone (no system roots) as
    /// `localhost`, the name the throwaway PKI's server certificate carries.
    pub fn tls(name: &str, format: &str, addresses: &[String], ca_file: &Path) -> SimDestination {
        let mut t = Table::default();
        t.set("name", name);
        t.set("format", format);
        t.set("transport", "tls");
        t.set("addresses", addresses.to_vec());
        t.set("server_name", "localhost");
        t.set("ca_file", path_value(ca_file));
        t.set("use_system_roots", false);
        SimDestination(t)
    }

    /// Sets any key of the destination (`connect_timeout`, `hostname`, `max_message_bytes`, …).
    pub fn set(mut self, key: &str, value: impl Into<toml::Value>) -> Self {
        self.0.set(key, value);
        self
    }

    /// Presents the PKI's client certificate (mutual TLS).
    pub fn client_cert(self, files: &PkiFiles) -> Self {
        self.set("client_cert_file", path_value(&files.client_cert))
            .set("client_key_file", path_value(&files.client_key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> SimApi {
        SimApi {
            source: "mde",
            tenant_id: "t".into(),
            client_id: "c".into(),
            client_secret: "s\"x\\y".into(),
            api_url: "https://127.0.0.1:1".into(),
            login_url: "https://127.0.0.1:2".into(),
            ca_file: "/tmp/ca.pem".into(),
        }
    }

    #[test]
    fn writes_every_table_and_quotes_what_needs_it() {
        let text = SimConfig::new(&api(), Path::new("/tmp/state"))
            .defender("poll_interval", "500ms")
            .defender("page_size", 40)
            .defender("poll_interval", "2s")
            .destination(
                SimDestination::tls(
                    "siem",
                    "cef",
                    &["127.0.0.1:6514".into()],
                    Path::new("/tmp/c.pem"),
                )
                .set("connect_timeout", "2s"),
            )
            .log("level", "info")
            .to_toml();
        let v: toml::Table = text.parse().unwrap();
        let d = &v["defender"];
        assert_eq!(d["client_secret"].as_str(), Some("s\"x\\y"));
        assert_eq!(
            d["poll_interval"].as_str(),
            Some("2s"),
            "set again: replaced"
        );
        assert_eq!(d["page_size"].as_integer(), Some(40));
        assert_eq!(v["state"]["directory"].as_str(), Some("/tmp/state"));
        assert_eq!(v["log"]["level"].as_str(), Some("info"));
        let dest = &v["destination"].as_array().unwrap()[0];
        assert_eq!(dest["addresses"][0].as_str(), Some("127.0.0.1:6514"));
        assert_eq!(dest["use_system_roots"].as_bool(), Some(false));
        assert_eq!(dest["connect_timeout"].as_str(), Some("2s"));
        // Tests edit the text by line: plain values are written as plain basic strings.
        assert!(text.contains("\npoll_interval = \"2s\"\n"), "{text}");
    }
}
