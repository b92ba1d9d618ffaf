//! defender-syslog: the binary. It wires the fetcher and the forwarder, and owns config, CLI,
//! logging, the state file and shutdown.
//!
//! - `alloc`: the global allocator (mimalloc, chosen by measurement).
//! - `cli`: the clap definitions (arguments as parsed).
//! - `config`: the TOML file + environment + secrets, validated into `config::Config`.
//! - `state`: persisted cursors, written atomically.
//! - `daemon`: pollers and pipelines per destination; `pipeline`: channel → format → transport →
//!   cursor commits; `logging`: journald / text / JSON.
//! - `cmd::*`: one module per subcommand.
#![forbid(unsafe_code)]

mod alloc;
mod cli;
mod cmd;
mod config;
mod daemon;
mod deadletter;
mod logging;
mod pipeline;
mod state;

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

/// A destination's validated format settings as the forwarder's options.
pub fn format_options(spec: &config::FormatSpec) -> forwarder::format::FormatOptions {
    use forwarder::format::{Format, FormatOptions, LeefVersion, MsgBody};
    let format = match spec.kind {
        config::FormatKind::Rfc5424 => Format::Rfc5424,
        config::FormatKind::Cef => Format::Cef,
        config::FormatKind::Leef => Format::Leef {
            version: match spec.leef_version {
                config::LeefVersionSpec::V1 => LeefVersion::V1,
                config::LeefVersionSpec::V2 => LeefVersion::V2,
            },
            delimiter: spec.leef_delimiter.unwrap_or('^'),
        },
    };
    let mut o = FormatOptions::new(format, spec.hostname.clone());
    o.facility = spec.facility;
    if let Some(sd) = &spec.sd_id {
        o.sd_id.clone_from(sd);
    }
    o.msg_body = match spec.msg_body {
        config::MsgBodySpec::Json => MsgBody::Json,
        config::MsgBodySpec::Summary => MsgBody::Summary,
    };
    o.max_message_bytes = spec.max_message_bytes;
    o
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
            if let Some(u) = err.downcast_ref::<UsageError>() {
                eprintln!("defender-syslog: {u}");
                return ExitCode::from(2);
            }
            eprintln!("defender-syslog: {err:#}");
            ExitCode::from(1)
        }
    }
}
