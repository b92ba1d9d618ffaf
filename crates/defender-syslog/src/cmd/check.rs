//! `defender-syslog check [--offline]`: validate the config; unless offline, also get a token,
//! call the API once and handshake with every destination. Prints a ✓/✗ table; exit 0 only if
//! every row passed (2 for a bad config, 1 for a failed network check).

use std::path::Path;
use std::process::ExitCode;

use forwarder::transport::Transport;

use crate::config::{self, Input};
use crate::state::StateStore;

pub fn run(config_path: Option<&Path>, args: crate::cli::CheckArgs) -> anyhow::Result<ExitCode> {
    let path = config::path_or_default(config_path);
    let cfg = config::load(&path)?;
    println!(
        "✓ config       {} (source {}; {} destination(s); credential: {})",
        path.display(),
        cfg.source_name(),
        cfg.destinations.len(),
        cfg.credential_source
    );
    for w in &cfg.warnings {
        println!("! warning      {w}");
    }
    // Even offline (the unit's ExecStartPre): `run` would refuse this config (exit 2).
    let store = StateStore::of(&cfg);
    // The streaming source keeps no cursor file: a leftover one of an alerts source is unused.
    if cfg.alerts().is_some() {
        store.check_sources(cfg.destinations.iter().map(|d| d.name.as_str()))?;
    }
    if args.offline {
        return Ok(ExitCode::SUCCESS);
    }
    let mut ok = true;
    match store.ensure_dir() {
        Ok(()) => println!("✓ state        {} is writable", cfg.state_dir.display()),
        Err(e) => {
            ok = false;
            println!("✗ state        {e}");
        }
    }
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        match &cfg.input {
            Input::Streaming(s) => match stream_source::probe(s).await {
                Ok(r) => println!("✓ streaming    {}", probe_summary(s, &r)),
                Err(e) => {
                    ok = false;
                    println!("✗ streaming    {e}");
                }
            },
            // Built when the config was loaded (the same client `run` uses).
            Input::Alerts(a) => match a.client.0.probe().await {
            Ok(r) => println!(
                "✓ defender     source {}: token from {} for {} (valid {}s), GET {}?$top=1 returned {} alert(s){}",
                r.source,
                r.token_endpoint,
                r.scope,
                r.token_lifetime.as_secs(),
                r.alerts_url,
                r.alerts_returned,
                r.newest_last_update.map(|t| format!(", newest lastUpdateTime {t}")).unwrap_or_default()
            ),
            Err(e) => {
                ok = false;
                println!("✗ defender     {e}");
            }
            },
        }
        for d in &cfg.destinations {
            match Transport::probe(d.transport.config()).await {
                Err(e) => {
                    ok = false;
                    println!("✗ {:<12} {e}", d.name);
                }
                Ok(report) => {
                    for r in report.results {
                        match r.outcome {
                            Ok(p) => println!(
                                "✓ {:<12} {} ({}){}{}",
                                d.name,
                                r.address,
                                p.peer,
                                p.tls_version.map(|v| format!(" {v}")).unwrap_or_default(),
                                p.peer_cert_sha256.map(|f| format!(" cert sha256 {f}")).unwrap_or_default()
                            ),
                            Err(e) => {
                                ok = false;
                                println!("✗ {:<12} {}: {e}", d.name, r.address);
                            }
                        }
                    }
                }
            }
        }
    });
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One line for the streaming probe: brokers, each topic's partitions and the group.
fn probe_summary(cfg: &stream_source::StreamConfig, r: &stream_source::ProbeReport) -> String {
    let topics: Vec<String> = r
        .topics
        .iter()
        .map(|t| {
            let committed = t.committed.iter().filter(|(_, o)| o.is_some()).count();
            format!(
                "{} ({} partitions, {committed} with committed offsets)",
                t.name, t.partitions
            )
        })
        .collect();
    let group = match &r.group {
        stream_source::GroupReport::Described { state, members } => {
            format!("group {:?}: {state}, {members} member(s)", cfg.group_id)
        }
        stream_source::GroupReport::NotVisible(why) => {
            format!(
                "group {:?}: not described by the broker ({why})",
                cfg.group_id
            )
        }
    };
    format!(
        "{} broker(s) reached via {} (TLS and authentication accepted); topic {}; {group}",
        r.brokers.len(),
        cfg.bootstrap,
        topics.join(", ")
    )
}
