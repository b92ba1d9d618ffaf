//! `defender-syslog status`: a table per destination for an admin on the box — from the
//! running daemon's `/metrics` and `/healthz` when `[metrics] listen` is set, else from the
//! state files (committed cursors only).

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use alert_model::Timestamp;

use crate::config::{self, Config};
use crate::state::StateStore;

pub fn run(config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let path = config::path_or_default(config_path);
    let cfg = config::load(&path)?;
    if cfg.alerts().is_none() && cfg.metrics.listen.is_none() {
        return Ok(crate::cmd::streaming_cursor_note(&cfg, "status"));
    }
    let Some(addr) = cfg.metrics.listen else {
        println!(
            "No [metrics] listen in {}: showing the committed cursors from the state files.\n",
            path.display()
        );
        return from_state_files(&cfg);
    };
    let url = format!("http://{addr}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match rt.block_on(fetch(&url)) {
        Ok((metrics, health)) => {
            print_live(&cfg, &url, &Samples::parse(&metrics), &health);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!(
                "The daemon does not answer at {url} ({e}); is it running? Committed cursors from the state files:\n"
            );
            from_state_files(&cfg)?;
            Ok(ExitCode::from(1))
        }
    }
}

async fn fetch(url: &str) -> anyhow::Result<(String, String)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .no_proxy()
        .build()?;
    let metrics = client
        .get(format!("{url}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    // 503 carries the reason too.
    let health = client
        .get(format!("{url}/healthz"))
        .send()
        .await?
        .text()
        .await?;
    Ok((metrics, health.trim().to_owned()))
}

/// Samples of one scrape keyed by name, then by the label text inside the braces.
#[derive(Debug, Default)]
struct Samples(HashMap<String, Vec<(String, f64)>>);

impl Samples {
    fn parse(text: &str) -> Samples {
        let mut map: HashMap<String, Vec<(String, f64)>> = HashMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(v) = value.parse::<f64>() else {
                continue;
            };
            let (name, labels) = match series.split_once('{') {
                Some((n, l)) => (n, l.trim_end_matches('}')),
                None => (series, ""),
            };
            map.entry(name.to_owned())
                .or_default()
                .push((labels.to_owned(), v));
        }
        Samples(map)
    }

    /// The sample of `name` whose labels include every `label="value"` in `want`.
    fn get(&self, name: &str, want: &[(&str, &str)]) -> Option<f64> {
        self.0.get(name)?.iter().find_map(|(labels, v)| {
            want.iter()
                .all(|(k, val)| labels.contains(&format!("{k}=\"{val}\"")))
                .then_some(*v)
        })
    }

    fn labels_of(&self, name: &str, dest: &str) -> Option<String> {
        self.0.get(name)?.iter().find_map(|(labels, _)| {
            labels
                .contains(&format!("destination=\"{dest}\""))
                .then(|| labels.clone())
        })
    }
}

fn when(unix: Option<f64>, now: f64) -> String {
    match unix {
        Some(t) if t > 0.0 => match Timestamp::from_unix_nanos(t as i128 * 1_000_000_000) {
            Some(ts) => format!("{ts} ({} ago)", ago(now - t)),
            None => format!("{t}"),
        },
        _ => "never".into(),
    }
}

fn ago(secs: f64) -> String {
    humantime::format_duration(Duration::from_secs(secs.max(0.0) as u64)).to_string()
}

fn print_live(cfg: &Config, url: &str, s: &Samples, health: &str) {
    let now = Timestamp::now().unix_millis() as f64 / 1000.0;
    let version = s
        .labels_of_any("defender_syslog_build_info")
        .unwrap_or_default();
    let up = s
        .get("process_start_time_seconds", &[])
        .map(|t| ago(now - t))
        .unwrap_or_else(|| "?".into());
    println!("defender-syslog {version}, up {up}, from {url}");
    println!("health: {health}");
    for d in &cfg.destinations {
        let n = d.name.as_str();
        let l = [("destination", n)];
        let g = |name: &str| s.get(name, &l);
        let c = |name: &str| g(name).map_or_else(|| "-".into(), |v| format!("{v}"));
        let collector = if g("defender_syslog_collector_connected") == Some(1.0) {
            let addr = s
                .labels_of("defender_syslog_collector_address_info", n)
                .and_then(|l| {
                    l.split("address=\"")
                        .nth(1)
                        .map(|a| a.trim_end_matches('"').to_owned())
                })
                .unwrap_or_default();
            format!("connected to {addr}")
        } else {
            "NOT CONNECTED".into()
        };
        let class = |k: &str| {
            s.get(
                "defender_syslog_api_requests_total",
                &[("destination", n), ("class", k)],
            )
            .map_or_else(|| "-".into(), |v| format!("{v}"))
        };
        println!("\n{n}");
        let rows = [
            (
                "collector",
                format!(
                    "{collector} ({} connects, {} failovers)",
                    c("defender_syslog_collector_connects_total"),
                    c("defender_syslog_collector_failovers_total")
                ),
            ),
            (
                "lag",
                g("defender_syslog_cursor_lag_seconds")
                    .map_or_else(|| "-".into(), |v| format!("{v:.1}s")),
            ),
            (
                "last delivery",
                when(g("defender_syslog_last_delivery_timestamp_seconds"), now),
            ),
            (
                "last poll",
                when(g("defender_syslog_last_poll_timestamp_seconds"), now),
            ),
            (
                "committed cursor",
                when(g("defender_syslog_cursor_watermark_timestamp_seconds"), now),
            ),
            (
                "alerts",
                format!(
                    "fetched {} · forwarded {} · delivered {} · resent {}",
                    c("defender_syslog_alerts_fetched_total"),
                    c("defender_syslog_alerts_forwarded_total"),
                    c("defender_syslog_alerts_delivered_total"),
                    c("defender_syslog_alerts_resent_total")
                ),
            ),
            (
                "",
                format!(
                    "deduplicated {} · repaired {} · unreadable {}",
                    c("defender_syslog_alerts_deduplicated_total"),
                    c("defender_syslog_alerts_repaired_total"),
                    c("defender_syslog_alerts_unreadable_total")
                ),
            ),
            (
                "queue",
                format!(
                    "{} items · {} bytes buffered · {} bytes sent",
                    c("defender_syslog_queue_items"),
                    c("defender_syslog_buffered_bytes"),
                    c("defender_syslog_sent_bytes_total")
                ),
            ),
            (
                "API requests",
                format!(
                    "2xx {} · 4xx {} · 5xx {} · other {} · no answer {} · throttled {}",
                    class("2xx"),
                    class("4xx"),
                    class("5xx"),
                    class("other"),
                    class("failed"),
                    c("defender_syslog_api_throttled_total")
                ),
            ),
        ];
        for (k, v) in rows {
            println!("  {k:<17} {v}");
        }
    }
}

impl Samples {
    /// `version` of the build info, e.g. `0.1.0`.
    fn labels_of_any(&self, name: &str) -> Option<String> {
        let (labels, _) = self.0.get(name)?.first()?;
        labels
            .split("version=\"")
            .nth(1)
            .map(|v| v.trim_end_matches('"').to_owned())
    }
}

fn from_state_files(cfg: &Config) -> anyhow::Result<ExitCode> {
    let store = StateStore::of(cfg);
    let now = Timestamp::now();
    let mut bad = false;
    for d in &cfg.destinations {
        println!("{}", d.name);
        match store.load(&d.name) {
            Ok(Some(f)) => {
                let (w, behind) = match f.resume.watermark {
                    Some(w) => (
                        w.to_string(),
                        format!(
                            " ({} before now)",
                            ago(((now.unix_millis() - w.unix_millis()) / 1000) as f64)
                        ),
                    ),
                    None => ("-".into(), String::new()),
                };
                println!("  {:<17} {w}{behind}", "committed cursor");
                println!("  {:<17} {}", "committed at", f.updated);
                println!(
                    "  {:<17} {} delivered versions inside the overlap window",
                    "",
                    f.resume.delivered.len()
                );
            }
            Ok(None) => println!(
                "  {:<17} none yet (the first run reaches back {})",
                "committed cursor",
                cfg.alerts()
                    .map(|a| humantime::format_duration(a.poller.initial_lookback).to_string())
                    .unwrap_or_default()
            ),
            Err(e) => {
                bad = true;
                println!("  ERROR: {e}");
            }
        }
    }
    Ok(if bad {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
