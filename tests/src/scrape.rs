//! The daemon's metrics endpoint from outside: `GET /metrics` parsed into samples, `GET
//! /healthz`, the series documented in docs/operations.md, and a real Prometheus server
//! (Debian's `prometheus`) scraping the daemon on loopback.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `[metrics]` lines for the config.
pub fn metrics_section(port: u16, stall_after: &str) -> String {
    format!("\n[metrics]\nlisten = \"127.0.0.1:{port}\"\nstall_after = \"{stall_after}\"\n")
}

/// (status, body) of `GET http://127.0.0.1:{port}{path}`; None while nothing answers.
pub async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let r = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    let status = r.status().as_u16();
    Some((status, r.text().await.ok()?))
}

/// One scrape of `/metrics`: `series{labels}` → value, exactly as written.
#[derive(Debug, Clone)]
pub struct Scrape {
    pub text: String,
}

impl Scrape {
    pub async fn take(port: u16) -> Option<Scrape> {
        match get(port, "/metrics").await? {
            (200, text) => Some(Scrape { text }),
            _ => None,
        }
    }

    /// The value of the sample whose name and labels are `key`, e.g.
    /// `defender_syslog_alerts_delivered_total{destination="siem",source="mde"}`.
    pub fn value(&self, key: &str) -> Option<f64> {
        self.text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
    }

    /// [`Scrape::value`] of a per-destination series (whatever its `source`).
    pub fn dest(&self, name: &str, dest: &str) -> Option<f64> {
        let prefix = format!("{name}{{destination=\"{dest}\",source=\"");
        self.text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| {
                let rest = l.strip_prefix(&prefix)?;
                let (_, value) = rest.split_once("\"} ")?;
                value.trim().parse().ok()
            })
    }
}

/// Scrapes until `ok` holds for a scrape; panics with the last one after `timeout`.
pub async fn wait_scrape(
    port: u16,
    what: &str,
    timeout: Duration,
    ok: impl Fn(&Scrape) -> bool,
) -> Scrape {
    let start = Instant::now();
    let mut last = None;
    while start.elapsed() < timeout {
        if let Some(s) = Scrape::take(port).await {
            if ok(&s) {
                return s;
            }
            last = Some(s);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "timed out after {timeout:?} waiting for: {what}\nlast scrape:\n{}",
        last.map(|s| s.text)
            .unwrap_or_else(|| "(none answered)".into())
    );
}

/// Polls `/healthz` until its status is `status` and its body contains `reason`.
pub async fn wait_healthz(port: u16, status: u16, reason: &str, timeout: Duration) -> String {
    let start = Instant::now();
    let mut last = None;
    while start.elapsed() < timeout {
        if let Some((s, body)) = get(port, "/healthz").await {
            if s == status && body.contains(reason) {
                return body;
            }
            last = Some((s, body));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out waiting for /healthz {status} containing {reason:?}; last: {last:?}");
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// The series named in docs/operations.md's table (rows starting with a backquoted name).
pub fn documented_series() -> Vec<String> {
    let doc = std::fs::read_to_string(repo_file("docs/operations.md")).unwrap();
    doc.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(n, _)| n.to_owned()))
        .filter(|n| n.starts_with("defender_syslog_") || n.starts_with("process_"))
        .collect()
}

/// Every PromQL expression of the packaged Grafana dashboard (panels and variables).
pub fn dashboard_exprs() -> Vec<String> {
    let text = std::fs::read_to_string(repo_file("packaging/grafana-dashboard.json")).unwrap();
    let d: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            out.push(t["expr"].as_str().unwrap().to_owned());
        }
    }
    out
}

pub fn rules_file() -> PathBuf {
    repo_file("packaging/prometheus-rules.yml")
}

/// `name` on PATH (Debian puts prometheus and promtool in /usr/bin). When missing: None,
/// after a visible skip notice — or a failure under CI (`CI` set), where .ci/install-deps
/// installs it.
pub fn tool(name: &str, test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: {name} is not installed but CI is set (run .ci/install-deps)"
        );
        crate::report!("SKIPPED {test}: {name} is not installed (apt-get install prometheus)");
    }
    found
}

/// A Prometheus server on loopback scraping the daemon every second; killed on drop.
#[derive(Debug)]
pub struct Prometheus {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Prometheus {
    pub fn start(bin: &Path, dir: &Path, target_port: u16) -> Prometheus {
        let port = free_port();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {rules}\nscrape_configs:\n  - job_name: defender-syslog\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n",
                rules = rules_file().display()
            ),
        )
        .unwrap();
        let log = dir.join("prometheus.log");
        let f = std::fs::File::create(&log).unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(f.try_clone().unwrap()))
            .stderr(Stdio::from(f))
            .spawn()
            .unwrap();
        Prometheus { child, port, log }
    }

    /// `GET /api/v1/{endpoint}?{params}` → the JSON answer (None while it does not answer).
    pub async fn api(&self, endpoint: &str, params: &[(&str, &str)]) -> Option<serde_json::Value> {
        let r = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{}/api/v1/{endpoint}", self.port))
            .query(params)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .ok()?;
        serde_json::from_str(&r.text().await.ok()?).ok()
    }

    /// An instant query; the answer's `data.result` (panics on a query error).
    pub async fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        let v = self
            .api("query", &[("query", promql)])
            .await
            .unwrap_or_else(|| panic!("prometheus did not answer; log:\n{}", self.log()));
        assert_eq!(v["status"], "success", "query {promql:?}: {v}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
