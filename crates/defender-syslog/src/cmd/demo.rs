//! `defender-syslog demo`: the whole product on loopback, with no credentials and no config.
//!
//! Starts the simulated Defender API (`sim::defender`: Microsoft Graph alerts_v2 by default,
//! the MDE alerts API with `--source mde`; seeded with the repository's sample alerts of that
//! API, plus new alerts and updates every few seconds), an in-process TLS collector with a
//! throwaway CA (`sim::collector`, `sim::pki`), writes a real `config.toml` for them into a
//! temporary directory, loads it with the normal config loader and runs the normal daemon
//! (`daemon::run`) between them. What the collector receives is parsed with the strict parsers
//! of `sim::parse` and printed, one or two lines per message; Ctrl-C or `--duration` ends it with
//! a summary (versions the API served vs versions the collector received).

use std::collections::HashSet;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use alert_model::VersionKey;
use anyhow::Context;
use sim::collector::Collector;
use sim::defender::{MockDefender, MockOptions};
use sim::pki::TestPki;
use sim::setup::{SimApi, SimConfig, SimDestination};
use tokio_util::sync::CancellationToken;

use forwarder::format::FormatKind;

use crate::cli::DemoArgs;
use crate::config;

/// The SD-ID the RFC 5424 formatter uses by default.
const SD_ID: &str = "defender@32473";

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let duration = match &args.duration {
        None => None,
        Some(d) => Some(humantime::parse_duration(d).map_err(|_| {
            crate::usage_error(format!(
                "demo: --duration: expected a duration like \"30s\" or \"2m\", got {d:?}"
            ))
        })?),
    };
    crate::logging::init("warn", false);
    let rt = tokio::runtime::Runtime::new().context("tokio runtime")?;
    if args.source == crate::config::STREAMING {
        return rt.block_on(super::demo_stream::demo(args.format, duration));
    }
    let graph = args.source == "graph";
    rt.block_on(demo(args.format, graph, duration))
}

async fn demo(
    format: FormatKind,
    graph: bool,
    duration: Option<Duration>,
) -> anyhow::Result<ExitCode> {
    let dir = tempfile::Builder::new()
        .prefix("defender-syslog-demo-")
        .tempdir()
        .context("temporary directory")?;
    let (samples, opts, api) = if graph {
        let api = "Microsoft Graph alerts_v2 API";
        (
            alert_model::samples::GRAPH_ALERTS_NDJSON,
            MockOptions::graph(),
            api,
        )
    } else {
        let api = "Defender for Endpoint alerts API";
        (
            alert_model::samples::ALERTS_NDJSON,
            MockOptions::default(),
            api,
        )
    };
    let seed: Vec<serde_json::Value> = samples
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let seeded = seed.len();
    let mock = MockDefender::start(MockOptions {
        alerts: seed,
        ..opts
    })
    .await
    .context("simulated Defender API")?;
    let activity = mock.spawn_activity(Duration::from_secs(4));

    let pki = TestPki::new().context("demo CA")?;
    let files = pki.write_to(dir.path()).context("writing the demo CA")?;
    let collector = sim::collector::start(sim::collector::Options::tls(
        pki.server_config(false).context("collector TLS")?,
    ))
    .await
    .context("embedded TLS collector")?;

    let config_path = write_config(dir.path(), &mock, &collector, &files.ca, format)?;
    let cfg = config::load(&config_path)?;

    let fmt_name = format_name(format);
    println!("defender-syslog demo — {fmt_name} over TLS, Ctrl-C to stop");
    println!(
        "  simulated {api}  {}  ({seeded} sample alerts; new alerts and updates every 4 s; `--source mde` for the other API)",
        mock.base_url()
    );
    println!(
        "  embedded TLS collector  {}  (throwaway CA {})",
        collector.address(),
        files.ca.display()
    );
    println!(
        "  config                  {}  (poll_interval 2s)",
        config_path.display()
    );
    println!();

    let token = CancellationToken::new();
    let mut daemon = tokio::spawn(crate::daemon::run(cfg, token.clone()));
    let width = terminal_size::terminal_size()
        .map(|(w, _)| usize::from(w.0))
        .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok())
        .unwrap_or(120)
        .max(40);
    let mut shown = Shown::default();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let stop_after = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stop_after);
    let mut daemon_result = None;
    loop {
        tokio::select! {
            _ = tick.tick() => shown.print_new(&collector, format, width),
            () = &mut stop_after => break,
            r = tokio::signal::ctrl_c() => {
                r.context("Ctrl-C handler")?;
                break;
            }
            r = &mut daemon => {
                daemon_result = Some(r);
                break;
            }
        }
    }
    activity.abort();
    token.cancel();
    let result = match daemon_result {
        Some(r) => r,
        None => daemon.await,
    };
    // The drain delivered what was in flight: show it too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    shown.print_new(&collector, format, width);
    let served: HashSet<VersionKey> = mock
        .served_versions()
        .iter()
        .filter_map(sim::defender::ServedVersion::key)
        .collect();
    let missing = served.difference(&shown.keys).count();
    println!();
    println!(
        "summary: the API served {} alert versions; the collector received {} messages = {} distinct versions ({} duplicates, {} not received, {} unparseable)",
        served.len(),
        shown.messages,
        shown.keys.len(),
        shown.messages - shown.keys.len() - shown.unparseable,
        missing,
        shown.unparseable
    );
    collector.stop().await;
    match result {
        Ok(Ok(())) => Ok(ExitCode::SUCCESS),
        Ok(Err(e)) => Err(e.context("the pipeline stopped")),
        Err(e) => anyhow::bail!("the pipeline task failed: {e}"),
    }
}

fn format_name(format: FormatKind) -> &'static str {
    format.as_str()
}

/// A real config file, loaded through the normal loader (so the demo exercises it too).
fn write_config(
    dir: &Path,
    mock: &MockDefender,
    collector: &Collector,
    collector_ca: &Path,
    format: FormatKind,
) -> anyhow::Result<std::path::PathBuf> {
    let api = SimApi::of(mock, dir).context("writing the API CA")?;
    let dest = SimDestination::tls(
        "demo-collector",
        format_name(format),
        &[collector.address()],
        collector_ca,
    )
    .set("hostname", "demo.defender-syslog.test");
    let config = SimConfig::new(&api, &dir.join("state"))
        .comment("Written by `defender-syslog demo`: a simulated Defender API and an embedded collector.")
        .comment("client_secret is the simulator's throwaway secret; initial_lookback reaches the dated sample alerts.")
        .defender("poll_interval", "2s")
        .defender("overlap", "1m")
        .defender("initial_lookback", "3650d")
        .destination(dest)
        .log("stats_interval", "30s");
    let path = dir.join("config.toml");
    config.write(&path).context("writing the demo config")?;
    Ok(path)
}

/// What has been printed so far.
#[derive(Default)]
struct Shown {
    messages: usize,
    unparseable: usize,
    keys: HashSet<VersionKey>,
    ids: HashSet<String>,
}

/// The fields the demo shows, from a parsed message.
struct Summary {
    id: String,
    last_update_time: String,
    severity: String,
    title: String,
    status: String,
}

impl Shown {
    fn print_new(&mut self, collector: &Collector, format: FormatKind, width: usize) {
        if collector.count() <= self.messages {
            return;
        }
        let all = collector.messages();
        for raw in &all[self.messages.min(all.len())..] {
            self.messages += 1;
            let line = String::from_utf8_lossy(raw);
            match summarize(&line, format) {
                Ok(s) => {
                    let key = alert_model::Timestamp::parse(&s.last_update_time)
                        .ok()
                        .map(|t| VersionKey {
                            id: s.id.clone(),
                            last_update_time: t,
                        });
                    let kind = match &key {
                        Some(k) if self.keys.contains(k) => "resent",
                        _ if self.ids.contains(&s.id) => "update",
                        _ => "new",
                    };
                    if let Some(k) = key {
                        self.keys.insert(k);
                    }
                    self.ids.insert(s.id.clone());
                    println!(
                        "{}",
                        cut(
                            &format!(
                                "#{:<4} {kind:<6} {:<13} {:<10} {}  {}  {}",
                                self.messages,
                                s.severity,
                                s.status,
                                s.last_update_time,
                                s.id,
                                s.title
                            ),
                            width
                        )
                    );
                }
                Err(e) => {
                    self.unparseable += 1;
                    println!("#{:<4} UNPARSEABLE ({e})", self.messages);
                }
            }
            println!("      {}", cut(&line, width.saturating_sub(6)));
        }
    }
}

fn summarize(line: &str, format: FormatKind) -> Result<Summary, String> {
    let m = sim::parse::rfc5424::parse(line).map_err(|e| format!("RFC 5424: {e}"))?;
    let body = m.msg.clone().unwrap_or_default();
    let field = |v: Option<&str>| v.unwrap_or("-").to_owned();
    match format {
        FormatKind::Rfc5424 => Ok(Summary {
            id: field(m.sd_param(SD_ID, "id")),
            last_update_time: field(m.sd_param(SD_ID, "lastUpdateTime")),
            severity: field(m.sd_param(SD_ID, "severity")),
            title: field(m.sd_param(SD_ID, "title")),
            status: field(m.sd_param(SD_ID, "status")),
        }),
        FormatKind::Leef => {
            let e = sim::parse::leef::parse(&body).map_err(|e| format!("LEEF: {e}"))?;
            Ok(Summary {
                id: field(e.get("alertId")),
                last_update_time: field(e.get("lastUpdateTime")),
                severity: field(e.get("severity")),
                title: field(e.get("title")),
                status: field(e.get("status")),
            })
        }
        FormatKind::Cef => {
            let e = sim::parse::cef::parse(&body).map_err(|e| format!("CEF: {e}"))?;
            Ok(Summary {
                id: field(e.get("cs2")),
                last_update_time: field(e.get("cs3")),
                severity: e.severity.clone(),
                title: e.name.clone(),
                status: field(e.get("cs5")),
            })
        }
    }
}

/// `s` cut to `width` characters (with `…` when cut).
fn cut(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}
