//! Command-line arguments as parsed (see `../shared/reference/interface.md`, the contract).

use std::path::PathBuf;

use std::str::FromStr;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use forwarder::format::{FormatKind, LeefVersion, MsgBody};

/// Forward Microsoft Defender for Endpoint alerts to a SIEM as syslog (RFC 5424, LEEF, CEF).
#[derive(Debug, Parser)]
#[command(name = "defender-syslog", version, about, long_about = None)]
pub struct Cli {
    /// Config file.
    #[arg(
        long,
        global = true,
        env = "DEFENDER_SYSLOG_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// Log level (error, warn, info, debug, trace); overrides `[log] level`.
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log line format.
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: poll Defender and forward to every destination until SIGTERM.
    Run,
    /// Validate the config; unless --offline, also get a token, call the API once and
    /// handshake with every destination.
    Check(CheckArgs),
    /// Print the messages that would be sent for alerts read from a file, one per line.
    Preview(PreviewArgs),
    /// Forward the alerts of a file to every destination; exit 0 once all are delivered.
    Send(SendArgs),
    /// Show or reset the persisted cursors.
    State(StateArgs),
    /// Show each destination's collector, lag, last delivery and counters: from the running
    /// daemon's [metrics] endpoint, or from the state files when none is configured.
    Status,
    /// Run the whole pipeline locally against a simulated Defender API and an embedded TLS
    /// collector; no credentials needed.
    Demo(DemoArgs),
    /// Generate the man page or shell completions (used by packaging).
    #[command(hide = true)]
    Generate(GenerateArgs),
    /// The unit's ExecReload=: SIGHUP the daemon and wait for its verdict on the new config.
    #[command(hide = true)]
    Reload(ReloadArgs),
}

#[derive(Debug, Args)]
pub struct ReloadArgs {
    /// The daemon's PID (`$MAINPID` in the unit).
    #[arg(long)]
    pub pid: i32,
    /// How long to wait for the daemon's answer.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// What to generate.
    #[arg(value_enum)]
    pub what: GenerateWhat,
    /// Directory to write into.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenerateWhat {
    Man,
    Completions,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Only validate the config; touch no network.
    #[arg(long)]
    pub offline: bool,
}

/// Parses one of the forwarder's choices by its names (`FormatKind::NAMES`, …), which clap also
/// lists in `--help` and the completions: the CLI has no enums of its own.
fn choice<T>(names: &'static [&'static str]) -> impl TypedValueParser<Value = T>
where
    T: FromStr<Err = forwarder::format::UnknownName> + Clone + Send + Sync + 'static,
{
    PossibleValuesParser::new(names).try_map(|s| s.parse::<T>())
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// Output format.
    #[arg(long, value_parser = choice::<FormatKind>(FormatKind::NAMES))]
    pub format: FormatKind,
    /// LEEF version (LEEF only).
    #[arg(long, default_value = "2.0", value_parser = choice::<LeefVersion>(LeefVersion::NAMES))]
    pub leef_version: LeefVersion,
    /// Alerts to read: NDJSON or an API page `{"value":[...]}`; `-` for standard input.
    #[arg(long, value_name = "FILE|-", default_value = "-")]
    pub input: PathBuf,
    /// What the input holds: Microsoft Graph alerts_v2 alerts (`graph`), Defender for
    /// Endpoint alerts (`mde`), or streaming API message bodies, one per line (`streaming`).
    /// Default: the config's `[defender] source` if --config is given, else `graph`.
    #[arg(long, value_parser = ["graph", "mde", "streaming"])]
    pub source: Option<String>,
    /// Take hostname, facility, SD-ID, size cap and LEEF options from this destination of the
    /// config (default: the first destination with the chosen format, if --config is given).
    #[arg(long, value_name = "NAME")]
    pub destination: Option<String>,
    /// RFC 5424 HOSTNAME (default: the config's, else this machine's FQDN).
    #[arg(long)]
    pub hostname: Option<String>,
    /// LEEF 2.0 attribute delimiter (default `^`).
    #[arg(long, value_name = "CHAR")]
    pub leef_delimiter: Option<char>,
    /// Cap on one message in bytes (default: the config's, else 8192).
    #[arg(long, value_name = "BYTES")]
    pub max_message_bytes: Option<usize>,
    /// RFC 5424 MSG: the alert as JSON, or a one-line summary.
    #[arg(long, value_parser = choice::<MsgBody>(MsgBody::NAMES))]
    pub msg_body: Option<MsgBody>,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// Alerts to send: NDJSON or an API page.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// What the input holds: Microsoft Graph alerts_v2 alerts (`graph`) or Defender for
    /// Endpoint alerts (`mde`). Default: the config's `[defender] source`.
    #[arg(long, value_parser = ["graph", "mde"])]
    pub source: Option<String>,
    /// Give up on a destination whose delivered count has not moved for this long.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub timeout: String,
}

#[derive(Debug, Args)]
pub struct StateArgs {
    #[command(subcommand)]
    pub action: StateAction,
}

#[derive(Debug, Subcommand)]
pub enum StateAction {
    /// Print each destination's persisted cursor.
    Show,
    /// Reset cursors so the next run starts from --since (default: initial_lookback).
    Reset {
        /// Timestamp (RFC 3339) or duration ago (`24h`) to restart from.
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only this destination (default: all).
        #[arg(long, value_name = "NAME")]
        destination: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Format the embedded collector receives.
    #[arg(long, default_value = "cef", value_parser = choice::<FormatKind>(FormatKind::NAMES))]
    pub format: FormatKind,
    /// The simulated source: Microsoft Graph alerts_v2 (`graph`, the default source), the
    /// Defender for Endpoint alerts API (`mde`), or the streaming API through a mock Kafka
    /// cluster (`streaming`).
    #[arg(long, default_value = "graph", value_parser = ["graph", "mde", "streaming"])]
    pub source: String,
    /// Stop after this long (humantime, e.g. `30s`); default runs until Ctrl-C.
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
}
