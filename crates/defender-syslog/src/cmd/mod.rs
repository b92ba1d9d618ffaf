//! One module per subcommand; `dispatch` maps the parsed CLI to them and to an exit code.

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run
        | Command::Check(_)
        | Command::Preview(_)
        | Command::Send(_)
        | Command::State(_)
        | Command::Demo(_) => {
            anyhow::bail!("this command is not built yet")
        }
    }
}
