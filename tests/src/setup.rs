//! A scenario's world: the simulated Defender API, a throwaway PKI, collectors, and the
//! config file for `defender-syslog run`, all under one temporary directory.

use std::path::{Path, PathBuf};

use sim::collector::Collector;
use sim::defender::{MockDefender, MockOptions};
use sim::external::Running;
use sim::pki::{PkiFiles, TestPki};

use crate::oracle::Fmt;

/// One `[[destination]]` of the generated config.
#[derive(Debug, Clone)]
pub struct Dest {
    pub name: String,
    pub format: Fmt,
    pub address: String,
    /// Present the PKI's client certificate (mutual TLS).
    pub mtls: bool,
}

impl Dest {
    pub fn new(name: &str, format: Fmt, address: String) -> Dest {
        Dest {
            name: name.into(),
            format,
            address,
            mtls: false,
        }
    }
    pub fn mtls(mut self) -> Dest {
        self.mtls = true;
        self
    }
}

#[derive(Debug)]
pub struct World {
    pub dir: tempfile::TempDir,
    pub mock: MockDefender,
    pub pki: TestPki,
    pub files: PkiFiles,
    api_ca: PathBuf,
}

impl World {
    pub async fn new() -> World {
        Self::with_mock(MockOptions::default()).await
    }

    pub async fn with_mock(opts: MockOptions) -> World {
        let dir = tempfile::tempdir().unwrap();
        let mock = MockDefender::start(opts).await.unwrap();
        let pki = TestPki::new().unwrap();
        let files = pki.write_to(dir.path()).unwrap();
        let api_ca = dir.path().join("api-ca.pem");
        std::fs::write(&api_ca, mock.ca_pem()).unwrap();
        World {
            dir,
            mock,
            pki,
            files,
            api_ca,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn config_path(&self) -> PathBuf {
        self.path("config.toml")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path("state")
    }

    pub fn log_path(&self) -> PathBuf {
        self.path("defender-syslog.log")
    }

    /// The committed state file of a destination.
    pub fn state_file(&self, dest: &str) -> PathBuf {
        self.state_dir().join(format!("{dest}.cursor.json"))
    }

    /// An in-process RFC 5425 receiver (server authentication only).
    pub async fn tls_collector(&self) -> Collector {
        sim::collector::start(sim::collector::Options::tls(
            self.pki.server_config(false).unwrap(),
        ))
        .await
        .unwrap()
    }

    /// A real rsyslog requiring our client certificate (`x509/name`, `PermittedPeer`). When
    /// rsyslogd is not installed: the test fails under CI (`CI` set), else it is skipped
    /// visibly (None).
    pub fn rsyslog_mtls(&self, test: &str) -> Option<Running> {
        if sim::external::rsyslogd().is_none() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: rsyslogd is not installed but CI is set (run .ci/install-deps)"
            );
            crate::report!(
                "SKIPPED {test}: rsyslogd is not installed (apt-get install rsyslog rsyslog-gnutls)"
            );
            return None;
        }
        let dir = self.path("rsyslog");
        std::fs::create_dir_all(&dir).unwrap();
        Some(sim::external::rsyslog(&dir, &self.files, &[TestPki::CLIENT_CN]).unwrap())
    }

    /// The config text for these destinations (short intervals for tests). `extra_defender`
    /// lines go into `[defender]`.
    pub fn config_text(&self, dests: &[Dest], extra_defender: &str) -> String {
        let m = &self.mock;
        let mut s = format!(
            r#"[defender]
source = "{source}"
tenant_id = "{tenant}"
client_id = "{client}"
client_secret = "{secret}"
api_url = "{api}"
login_url = "{login}"
ca_file = "{api_ca}"
poll_interval = "500ms"
page_size = 40
overlap = "30s"
initial_lookback = "10m"
request_timeout = "10s"
{extra_defender}

[state]
directory = "{state}"

[log]
level = "info"
stats_interval = "1s"
"#,
            source = m.source_name(),
            tenant = m.tenant_id,
            client = m.client_id,
            secret = m.client_secret,
            api = m.base_url(),
            login = m.login_url(),
            api_ca = self.api_ca.display(),
            state = self.state_dir().display(),
        );
        for d in dests {
            s.push_str(&format!(
                r#"
[[destination]]
name = "{name}"
format = "{format}"
transport = "tls"
addresses = ["{addr}"]
server_name = "localhost"
ca_file = "{ca}"
use_system_roots = false
connect_timeout = "2s"
"#,
                name = d.name,
                format = d.format.config_name(),
                addr = d.address,
                ca = self.files.ca.display(),
            ));
            if d.mtls {
                s.push_str(&format!(
                    "client_cert_file = \"{}\"\nclient_key_file = \"{}\"\n",
                    self.files.client_cert.display(),
                    self.files.client_key.display()
                ));
            }
        }
        s
    }

    /// Writes the config to [`World::config_path`] and returns the path.
    pub fn write_config(&self, dests: &[Dest]) -> PathBuf {
        self.write_config_with(dests, "")
    }

    pub fn write_config_with(&self, dests: &[Dest], extra_defender: &str) -> PathBuf {
        let p = self.config_path();
        write(&p, &self.config_text(dests, extra_defender));
        p
    }
}

pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

impl Drop for World {
    fn drop(&mut self) {
        // A failing scenario shows what the daemon said (the directory is deleted next).
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(120)..];
            eprintln!(
                "---- defender-syslog log (last {} lines) ----\n{}\n----",
                tail.len(),
                tail.join("\n")
            );
        }
    }
}
