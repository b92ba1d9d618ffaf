//! `defender-syslog send`: forward the alerts of a file to every destination of the config,
//! wait until each collector acknowledged every message, and print a per-destination summary.
//!
//! Exit 0 only when every destination got every message and every input alert was readable;
//! 1 otherwise (bad alerts are reported on stderr with their line, the good ones still sent).
//! A destination that makes no delivery progress for `--timeout` (default 60 s) is given up on.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use alert_model::Alert;
use anyhow::Context;
use forwarder::format::Formatter;
use forwarder::transport::Transport;

use forwarder::transport::TransportConfig;

use crate::config::{self, FormatSpec};

/// How often progress is printed while a destination is still delivering.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// What happened at one destination.
struct Outcome {
    name: String,
    format: &'static str,
    total: u64,
    delivered: u64,
    resent: u64,
    error: Option<String>,
}

pub fn run(config: Option<&Path>, args: crate::cli::SendArgs) -> anyhow::Result<ExitCode> {
    let path = config::path_or_default(config);
    let cfg = config::load(&path)?;
    let stall = humantime::parse_duration(&args.timeout).map_err(|_| {
        crate::usage_error(format!(
            "send: --timeout: expected a duration like \"60s\", got {:?}",
            args.timeout
        ))
    })?;
    // Connection trouble (refused, certificate verify failed) is worth seeing on stderr.
    crate::logging::init("warn", false);
    for w in &cfg.warnings {
        eprintln!("send: warning: {w}");
    }
    let bytes = std::fs::read(&args.input).map_err(|e| {
        crate::usage_error(format!("send: cannot read {}: {e}", args.input.display()))
    })?;
    let input_name = args.input.display().to_string();
    let mut alerts = Vec::new();
    let mut bad = 0usize;
    for item in alert_model::parse_alerts(&bytes) {
        match item {
            Ok(a) => alerts.push(a),
            Err(e) => {
                bad += 1;
                eprintln!("send: {input_name}:{e}");
            }
        }
    }
    eprintln!(
        "send: {} alert(s) read from {input_name}{}; sending to {} destination(s)",
        alerts.len(),
        if bad > 0 {
            format!(" ({bad} unreadable, skipped)")
        } else {
            String::new()
        },
        cfg.destinations.len()
    );

    let rt = tokio::runtime::Runtime::new().context("tokio runtime")?;
    let outcomes = rt.block_on(async {
        let alerts = std::sync::Arc::new(alerts);
        let mut tasks = tokio::task::JoinSet::new();
        for (i, d) in cfg.destinations.iter().enumerate() {
            let (name, format, transport) = (d.name.clone(), d.format.clone(), d.transport.clone());
            let alerts = alerts.clone();
            tasks.spawn(
                async move { (i, send_to(&name, &format, transport, &alerts, stall).await) },
            );
        }
        let mut outcomes = Vec::new();
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(o) => outcomes.push(o),
                Err(e) => anyhow::bail!("a destination task failed: {e}"),
            }
        }
        outcomes.sort_by_key(|(i, _)| *i);
        Ok(outcomes.into_iter().map(|(_, o)| o).collect::<Vec<_>>())
    })?;

    println!(
        "{:<24} {:<8} {:>9} {:>9} {:>7}  result",
        "destination", "format", "messages", "delivered", "resent"
    );
    let mut all_ok = bad == 0;
    for o in &outcomes {
        let result = match &o.error {
            None => "ok".to_owned(),
            Some(e) => {
                all_ok = false;
                format!("FAILED: {e}")
            }
        };
        println!(
            "{:<24} {:<8} {:>9} {:>9} {:>7}  {result}",
            o.name, o.format, o.total, o.delivered, o.resent
        );
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn send_to(
    name: &str,
    spec: &FormatSpec,
    transport_cfg: TransportConfig,
    alerts: &[Alert],
    stall: Duration,
) -> Outcome {
    let format = match spec.kind {
        config::FormatKind::Rfc5424 => "rfc5424",
        config::FormatKind::Leef => "leef",
        config::FormatKind::Cef => "cef",
    };
    let mut out = Outcome {
        name: name.to_owned(),
        format,
        total: alerts.len() as u64,
        delivered: 0,
        resent: 0,
        error: None,
    };
    let mut formatter = match Formatter::new(crate::format_options(spec)) {
        Ok(f) => f,
        Err(e) => {
            out.error = Some(format!("format options: {e}"));
            return out;
        }
    };
    let transport = match Transport::start(name, transport_cfg.clone()) {
        Ok(t) => t,
        Err(e) => {
            out.error = Some(format!("transport: {e}"));
            return out;
        }
    };
    let mut delivered = transport.delivered();
    let total = out.total;
    let sender = async {
        for a in alerts {
            let mut msg = Vec::with_capacity(2048);
            formatter.format(a, &mut msg);
            transport.send(msg).await?;
        }
        Ok::<(), forwarder::transport::TransportError>(())
    };
    tokio::pin!(sender);
    // Sending waits while the in-flight buffer is full, so the stall clock runs meanwhile too.
    let mut sending = true;
    let mut last = *delivered.borrow();
    let mut progress = tokio::time::interval(PROGRESS_EVERY);
    progress.tick().await;
    let mut stalled_since = tokio::time::Instant::now();
    let failure: Option<String> = loop {
        let now = *delivered.borrow_and_update();
        if now >= total && !sending {
            break None;
        }
        if now != last {
            last = now;
            stalled_since = tokio::time::Instant::now();
        }
        tokio::select! {
            r = &mut sender, if sending => {
                sending = false;
                if let Err(e) = r {
                    break Some(format!("send refused: {e}"));
                }
            }
            r = delivered.changed() => if r.is_err() {
                break Some("the connection task stopped".into());
            },
            _ = progress.tick() => eprintln!("send: {name}: delivered {now}/{total}"),
            () = tokio::time::sleep_until(stalled_since + stall) => {
                break Some(format!("gave up after {}s without delivery progress at {now}/{total} delivered", stall.as_secs_f32()));
            }
        }
    };
    let report = transport.shutdown(Duration::from_secs(5)).await;
    let stats = transport.stats();
    out.delivered = report.delivered.min(total);
    out.resent = stats.resent;
    out.error = failure.map(|f| match &stats.connected_to {
        Some(a) => format!("{f} (connected to {a})"),
        None if stats.delivered == 0 => format!(
            "{f} (could not connect to {}; see the warnings above)",
            transport_cfg.addresses.join(", ")
        ),
        None => f,
    });
    out
}
