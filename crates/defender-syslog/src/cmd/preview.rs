//! `defender-syslog preview`: print the exact messages a collector would receive (minus
//! transport framing), one per line, for alerts read from a file or standard input: alerts of
//! the config's source (`graph` without a config; `--source` overrides it).

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use forwarder::format::{DEFAULT_LEEF_DELIMITER, Format, FormatKind, FormatOptions, Formatter};

use crate::cli::PreviewArgs;
use crate::config;
use crate::deliver::AsAlertRef;

pub fn run(config_path: Option<&Path>, args: PreviewArgs) -> anyhow::Result<ExitCode> {
    let (mut opts, configured) = base_options(config_path, &args)?;
    let source = crate::deliver::input_source(args.source.as_deref(), configured);
    if let Some(h) = &args.hostname {
        opts.hostname.clone_from(h);
    }
    if let Some(n) = args.max_message_bytes {
        opts.max_message_bytes = n;
    }
    if let Some(m) = args.msg_body {
        opts.msg_body = m;
    }
    let delimiter = match (&opts.format, args.leef_delimiter) {
        (_, Some(d)) => d,
        (Format::Leef { delimiter, .. }, None) => *delimiter,
        _ => DEFAULT_LEEF_DELIMITER,
    };
    opts.format = Format::from_kind(args.format, args.leef_version, delimiter);
    let formatter =
        Formatter::new(opts).map_err(|e| crate::usage_error(format!("preview: {e}")))?;

    let (name, bytes) = read_input(&args.input)?;
    let bad = match source {
        fetcher::Source::Graph => print_all::<alert_model::GraphAlert>(&formatter, &name, &bytes)?,
        fetcher::Source::Mde => print_all::<alert_model::Alert>(&formatter, &name, &bytes)?,
    };
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Prints the message of every alert of type `A` in `bytes`; returns how many were bad.
fn print_all<A: AsAlertRef>(
    formatter: &Formatter,
    name: &str,
    bytes: &[u8],
) -> anyhow::Result<usize> {
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    let mut buf = Vec::with_capacity(8192);
    let mut bad = 0usize;
    for item in alert_model::parse_alerts_of::<A>(bytes) {
        match item {
            Ok(alert) => {
                buf.clear();
                formatter.format_ref(alert.alert_ref(), &mut buf);
                buf.push(b'\n');
                w.write_all(&buf)?;
            }
            Err(e) => {
                bad += 1;
                eprintln!("preview: {name}:{e}");
            }
        }
    }
    w.flush()?;
    Ok(bad)
}

/// Options from the config's destination when `--config` is given, else defaults; and the
/// config's source (without a config, the default source).
fn base_options(
    config_path: Option<&Path>,
    args: &PreviewArgs,
) -> anyhow::Result<(FormatOptions, fetcher::Source)> {
    let Some(path) = config_path else {
        return Ok((
            FormatOptions::new(Format::Rfc5424, crate::hostname::short()),
            fetcher::Source::Graph,
        ));
    };
    let cfg = config::load(path)?;
    let source = cfg.client.0.source();
    let wanted: FormatKind = args.format;
    let dest = match &args.destination {
        Some(n) => cfg
            .destinations
            .iter()
            .find(|d| &d.name == n)
            .ok_or_else(|| {
                crate::usage_error(format!(
                    "preview: no destination named {n:?} in {}",
                    path.display()
                ))
            })?,
        None => match cfg
            .destinations
            .iter()
            .find(|d| d.format().format.kind() == wanted)
        {
            Some(d) => d,
            None => {
                return Ok((
                    FormatOptions::new(Format::Rfc5424, crate::hostname::short()),
                    source,
                ));
            }
        },
    };
    Ok((dest.format().clone(), source))
}

fn read_input(path: &Path) -> anyhow::Result<(String, Vec<u8>)> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes)?;
        return Ok(("<stdin>".into(), bytes));
    }
    let bytes =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    Ok((path.display().to_string(), bytes))
}
