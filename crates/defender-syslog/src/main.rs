//! defender-syslog: the binary. It wires the fetcher and the forwarder, and owns config, CLI,
//! logging, the state file and shutdown.
//!
//! - `cli`: the clap definitions (parsed arguments).
//! - `cmd::*`: one module per subcommand.
#![forbid(unsafe_code)]

mod cli;
mod cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cmd::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("defender-syslog: {err:#}");
            ExitCode::from(1)
        }
    }
}
