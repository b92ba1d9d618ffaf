//! `defender-syslog state show|reset`: inspect or move the persisted cursors.

use std::path::Path;
use std::process::ExitCode;

use alert_model::{ResumePoint, Timestamp};

use crate::cli::{StateAction, StateArgs};
use crate::config;
use crate::state::StateStore;

pub fn run(config_path: Option<&Path>, args: StateArgs) -> anyhow::Result<ExitCode> {
    let path = config::path_or_default(config_path);
    let cfg = config::load(&path)?;
    let Some(alerts) = cfg.alerts() else {
        return Ok(crate::cmd::streaming_cursor_note(&cfg, "state"));
    };
    let poller = &alerts.poller;
    let store = StateStore::of(&cfg);
    let names: Vec<String> = cfg.destinations.iter().map(|d| d.name.clone()).collect();
    match args.action {
        StateAction::Show => {
            println!(
                "{:<16} {:<6} {:<32} {:>9}  COMMITTED",
                "DESTINATION", "SOURCE", "WATERMARK (lastUpdateTime)", "IN-WINDOW"
            );
            let mut bad = false;
            for name in &names {
                match store.load(name) {
                    Ok(Some(f)) => println!(
                        "{:<16} {:<6} {:<32} {:>9}  {}",
                        name,
                        f.source,
                        f.resume
                            .watermark
                            .map(|t| t.to_string())
                            .unwrap_or_else(|| "-".into()),
                        f.resume.delivered.len(),
                        f.updated
                    ),
                    Ok(None) => println!(
                        "{name:<16} {:<6} {:<32} {:>9}  never (first run reaches back {})",
                        "-",
                        "-",
                        "-",
                        humantime::format_duration(poller.initial_lookback)
                    ),
                    Err(e) => {
                        bad = true;
                        println!("{name:<16} ERROR: {e}");
                    }
                }
            }
            for orphan in store.list()?.into_iter().filter(|n| !names.contains(n)) {
                println!(
                    "{orphan:<16} (state file of a destination no longer in the config: {})",
                    store.path(&orphan).display()
                );
            }
            Ok(if bad {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        StateAction::Reset { since, destination } => {
            let targets: Vec<&String> = match &destination {
                Some(d) => {
                    let Some(n) = names.iter().find(|n| *n == d) else {
                        return Err(crate::usage_error(format!(
                            "no destination named {d:?} in {}",
                            path.display()
                        )));
                    };
                    vec![n]
                }
                None => names.iter().collect(),
            };
            let watermark = match since.as_deref() {
                None => Timestamp::now().saturating_sub(poller.initial_lookback),
                Some(s) => parse_since(s)?,
            };
            store.ensure_dir()?;
            for name in targets {
                store.save(
                    name,
                    &ResumePoint {
                        watermark: Some(watermark),
                        delivered: Vec::new(),
                    },
                )?;
                println!(
                    "{name}: cursor reset; the next run forwards every alert version with lastUpdateTime >= {}",
                    watermark.saturating_sub(poller.overlap)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// An RFC 3339 timestamp, or a duration ago (`24h`).
fn parse_since(s: &str) -> anyhow::Result<Timestamp> {
    if let Ok(t) = Timestamp::parse(s.trim()) {
        return Ok(t);
    }
    match humantime::parse_duration(s.trim()) {
        Ok(d) => Ok(Timestamp::now().saturating_sub(d)),
        // A bad argument is a usage error: exit 2, like a bad config.
        Err(_) => Err(crate::usage_error(format!(
            "--since: expected an RFC 3339 time (2026-11-20T08:00:00Z) or a duration ago (24h), got {s:?}"
        ))),
    }
}
