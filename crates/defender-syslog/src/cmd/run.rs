//! `defender-syslog run`: the daemon under systemd (`Type=notify`).
//!
//! SIGTERM / SIGINT: stop polling, drain in-flight messages, commit, exit 0. SIGHUP: reload the
//! config — validated first; an invalid file is logged and the daemon keeps its running config.
//! Either way the verdict goes to `systemctl reload` through `crate::reload`.

use std::path::Path;
use std::process::ExitCode;

use sd_notify::NotifyState;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::config;
use crate::daemon;

pub fn run(config_path: Option<&Path>, log: crate::LogOverrides) -> anyhow::Result<ExitCode> {
    let path = config::path_or_default(config_path);
    // The FQDN lookup is bounded and only done here, never by `check --offline`.
    let host = crate::hostname::fqdn(crate::hostname::FQDN_LOOKUP_BOUND);
    let mut cfg = config::load_with_hostname(&path, &host)?;
    // Before anything starts: a cursor of the other source is refused (exit 2).
    sources_match(&cfg)?;
    let mut reporter = crate::reload::Reporter::from_env();
    crate::logging::init(
        log.level.as_deref().unwrap_or(&cfg.log.level),
        log.json.unwrap_or(cfg.log.json),
    );
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut sigint = signal(SignalKind::interrupt())?;
        let mut sighup = signal(SignalKind::hangup())?;
        // Watchdog pings come from `health::watch`, only while no task is stalled.
        crate::metrics::process_start_unix();
        tracing::info!(config = %path.display(), version = env!("CARGO_PKG_VERSION"), "defender-syslog starting.");
        loop {
            let token = CancellationToken::new();
            let daemon = daemon::run(cfg.clone(), token.clone());
            tokio::pin!(daemon);
            notify(&[NotifyState::Ready, NotifyState::Status("forwarding")]);
            let reload = loop {
                tokio::select! {
                    r = &mut daemon => {
                        notify(&[NotifyState::Stopping]);
                        return r.map(|()| ExitCode::SUCCESS);
                    }
                    _ = sigterm.recv() => break None,
                    _ = sigint.recv() => break None,
                    _ = sighup.recv() => match config::load_with_hostname(&path, &host)
                        .map_err(anyhow::Error::from)
                        .and_then(|new| sources_match(&new).map(|()| new))
                    {
                        Ok(new) => {
                            reporter.applied();
                            break Some(new);
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "Reload refused: the new config is invalid; still running on the previous one.");
                            reporter.refused(&e.to_string());
                        }
                    },
                }
            };
            match reload {
                None => {
                    tracing::info!("Stopping: draining in-flight messages and committing the cursor.");
                    notify(&[NotifyState::Stopping]);
                    token.cancel();
                    daemon.await?;
                    tracing::info!("Stopped.");
                    return Ok(ExitCode::SUCCESS);
                }
                Some(new) => {
                    tracing::info!("Reloading: draining, committing, then restarting the pipelines with the new config.");
                    notify(&[NotifyState::Reloading]);
                    token.cancel();
                    daemon.await?;
                    for w in &new.warnings {
                        tracing::warn!("{w}");
                    }
                    cfg = new;
                }
            }
        }
    })
}

/// Every destination's state file belongs to the source `cfg` polls.
fn sources_match(cfg: &config::Config) -> anyhow::Result<()> {
    crate::state::StateStore::of(cfg)
        .check_sources(cfg.destinations.iter().map(|d| d.name.as_str()))?;
    Ok(())
}

fn notify(state: &[NotifyState<'_>]) {
    // Outside systemd there is no NOTIFY_SOCKET and this does nothing.
    let _ = sd_notify::notify(state);
}
