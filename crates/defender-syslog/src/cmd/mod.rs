//! One module per subcommand; `dispatch` maps the parsed CLI to them and to an exit code.

mod check;
mod demo;
mod generate;
mod preview;
mod reload;
mod run;
mod send;
mod state;
mod status;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cli.config.as_deref();
    let log = crate::LogOverrides {
        level: cli.log_level.clone(),
        json: cli.log_format.map(|f| f == crate::cli::LogFormat::Json),
    };
    match cli.command {
        Command::Run => run::run(config, log),
        Command::Check(args) => check::run(config, args),
        Command::Preview(args) => preview::run(config, args),
        Command::Send(args) => send::run(config, args),
        Command::State(args) => state::run(config, args),
        Command::Status => status::run(config),
        Command::Demo(args) => demo::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Reload(args) => reload::run(args),
    }
}
