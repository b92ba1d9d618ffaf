//! defender-syslog: the binary. It wires the fetcher and the forwarder, and owns config, CLI,
//! logging, the state file and shutdown.
//!
//! - `cli`: the clap definitions (arguments as parsed).
//! - `config`: the TOML file + environment + secrets, validated into `config::Config`.
//! - `state`: persisted cursors, written atomically.
//! - `cmd::*`: one module per subcommand.
#![forbid(unsafe_code)]

mod cli;
mod cmd;
mod config;
mod state;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cmd::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            // A bad config is exit 2 (systemd's RestartPreventExitStatus=2): restarting cannot fix it.
            if let Some(c) = err.downcast_ref::<config::ConfigError>() {
                eprintln!("defender-syslog: {c}");
                return ExitCode::from(2);
            }
            eprintln!("defender-syslog: {err:#}");
            ExitCode::from(1)
        }
    }
}
