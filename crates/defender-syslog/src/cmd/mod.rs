//! One module per subcommand; `dispatch` maps the parsed CLI to them and to an exit code.

mod check;
mod demo;
mod demo_stream;
mod generate;
mod preview;
mod reload;
mod run;
mod send;
mod state;
mod status;

use std::process::ExitCode;

use crate::config::{Config, Input};

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

/// What `state` / `status` say for the streaming source, whose cursor is not a file: the
/// consumer group's committed offsets live in Kafka (Event Hubs keeps them per group).
pub fn streaming_cursor_note(cfg: &Config, command: &str) -> ExitCode {
    if let Input::Streaming(s) = &cfg.input {
        println!(
            "source streaming: the cursor is consumer group {:?}'s committed offsets in Kafka, per partition of {} \
             (nothing in {}).\n\
             {command}: to see them and the lag, set [metrics] listen and run `defender-syslog status`, or use \
             kafka-consumer-groups.sh --describe --group {:?}; to start over, use a new consumer_group \
             (with start = \"earliest\" or \"latest\").",
            s.group_id,
            s.topics.join(", "),
            cfg.state_dir.display(),
            s.group_id,
        );
    }
    ExitCode::SUCCESS
}
