//! defender-syslog: the binary. It wires the fetcher and the forwarder, and owns config, CLI,
//! logging, the state file and shutdown.
//!
//! - `alloc`: the global allocator (mimalloc, chosen by measurement).
//! - `cli`: the clap definitions (arguments as parsed).
//! - `config`: the TOML file + environment + secrets, validated into `config::Config`.
//! - `state`: persisted cursors, written atomically.
//! - `daemon`: pollers and pipelines per destination; `pipeline`: channel → format → transport →
//!   cursor commits; `deliver`: format → transport → delivered count (`run` and `send` share
//!   it); `logging`: journald / text / JSON.
//! - `health`: progress / idle / stall per destination, for `/healthz` and the watchdog;
//!   `metrics`: the Prometheus endpoint.
//! - `hostname`: the default RFC 5424 HOSTNAME; `reload`: the daemon's verdict for `systemctl reload`.
//! - `cmd::*`: one module per subcommand.
#![forbid(unsafe_code)]

mod alloc;
mod cli;
mod cmd;
mod config;
mod daemon;
mod deadletter;
mod deliver;
mod health;
mod hostname;
mod logging;
mod metrics;
mod pipeline;
mod reload;
mod state;
mod stream_daemon;
mod stream_pipeline;

/// `--log-level` / `--log-format` from the command line, overriding `[log]`.
#[derive(Debug, Clone, Default)]
pub struct LogOverrides {
    pub level: Option<String>,
    pub json: Option<bool>,
}

use std::process::ExitCode;

use clap::Parser;

/// A usage problem (exit 2) that is not a config-file problem.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(String);

pub fn usage_error(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

fn main() -> ExitCode {
    alloc::no_huge_pages();
    let cli = cli::Cli::parse();
    match cmd::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            // A bad config is exit 2 (systemd's RestartPreventExitStatus=2): restarting cannot fix it.
            if let Some(c) = err.downcast_ref::<config::ConfigError>() {
                eprintln!("defender-syslog: {c}");
                return ExitCode::from(2);
            }
            // Also a config problem: the config's source does not own the existing cursor.
            if let Some(s) = err.downcast_ref::<state::StateError>()
                && matches!(s, state::StateError::SourceSwitched { .. })
            {
                eprintln!("defender-syslog: {s}");
                return ExitCode::from(2);
            }
            if let Some(u) = err.downcast_ref::<UsageError>() {
                eprintln!("defender-syslog: {u}");
                return ExitCode::from(2);
            }
            eprintln!("defender-syslog: {err:#}");
            ExitCode::from(1)
        }
    }
}
