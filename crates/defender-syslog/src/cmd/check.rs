//! `defender-syslog check [--offline]`: validate the config; unless offline, also get a token,
//! call the API once and handshake with every destination. Prints a ✓/✗ table; exit 0 only if
//! every row passed (2 for a bad config, 1 for a failed network check).

use std::path::Path;
use std::process::ExitCode;

use forwarder::transport::Transport;

use crate::config;
use crate::state::StateStore;

pub fn run(config_path: Option<&Path>, args: crate::cli::CheckArgs) -> anyhow::Result<ExitCode> {
    let path = config::path_or_default(config_path);
    let cfg = config::load(&path)?;
    println!(
        "✓ config       {} ({} destination(s); credential: {})",
        path.display(),
        cfg.destinations.len(),
        cfg.credential_source
    );
    for w in &cfg.warnings {
        println!("! warning      {w}");
    }
    // Even offline (the unit's ExecStartPre): `run` would refuse this config (exit 2).
    let store = StateStore::of(&cfg);
    store.check_sources(cfg.destinations.iter().map(|d| d.name.as_str()))?;
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
        // Built when the config was loaded (the same client `run` uses).
        let client = cfg.client.0.clone();
        match client.probe().await {
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
