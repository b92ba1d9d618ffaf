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
    let streaming = match args.source.as_deref() {
        Some(s) => s == crate::config::STREAMING,
        None => configured.is_none(),
    };
    let source = crate::deliver::input_source(
        args.source.as_deref(),
        configured.unwrap_or(fetcher::Source::Graph),
    );
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
        _ if streaming => print_records(&formatter, &name, &bytes)?,
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

/// Prints the message of every record of the streaming API message bodies in `bytes` (one
/// body per line; blank lines skipped); returns how many were unreadable (they are printed as
/// the marked "unreadable" event the daemon would send).
fn print_records(formatter: &Formatter, name: &str, bytes: &[u8]) -> anyhow::Result<usize> {
    use alert_model::stream::{StreamEvent, StreamPos, parse_message};
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    let mut buf = Vec::with_capacity(8192);
    let mut bad = 0usize;
    let topic: std::sync::Arc<str> = std::sync::Arc::from(name);
    for (line, body) in bytes.split(|b| *b == b'\n').enumerate() {
        if body.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        // The line number stands in for the Kafka offset.
        let pos = StreamPos {
            topic: topic.clone(),
            partition: 0,
            offset: i64::try_from(line + 1).unwrap_or(i64::MAX),
        };
        for event in parse_message(&pos, None, body) {
            buf.clear();
            match &event {
                StreamEvent::Record(r) => formatter.format_record(r, &mut buf),
                StreamEvent::Unreadable(u) => {
                    bad += 1;
                    eprintln!("preview: {name}:{}: {}", line + 1, u.error);
                    formatter.format_unreadable(u, &mut buf);
                }
            }
            buf.push(b'\n');
            w.write_all(&buf)?;
        }
    }
    w.flush()?;
    Ok(bad)
}

/// Options from the config's destination when `--config` is given, else defaults; and the
/// config's source (without a config, the default source; `None` for streaming).
fn base_options(
    config_path: Option<&Path>,
    args: &PreviewArgs,
) -> anyhow::Result<(FormatOptions, Option<fetcher::Source>)> {
    let Some(path) = config_path else {
        return Ok((
            FormatOptions::new(Format::Rfc5424, crate::hostname::short()),
            Some(fetcher::Source::Graph),
        ));
    };
    let cfg = config::load(path)?;
    // None: the streaming source.
    let source = cfg.alerts().map(|a| a.client.0.source());
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
