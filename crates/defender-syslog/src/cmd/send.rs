//! `defender-syslog send`: forward the alerts of a file to every destination of the config,
//! wait until each collector acknowledged every message, and print a per-destination summary.
//!
//! Exit 0 only when every destination got every message and every input alert was readable;
//! 1 otherwise (bad alerts are reported on stderr with their line, the good ones still sent).
//! A destination that makes no delivery progress for `--timeout` (default 60 s) is given up on.
//! The input holds alerts of the config's source (`--source` overrides it).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use alert_model::{Alert, AlertReader, GraphAlert};
use anyhow::Context;
use forwarder::format::Formatter;
use forwarder::transport::{Transport, TransportError};
use tokio::sync::{mpsc, watch};

use crate::config;
use crate::deliver::{AsAlertRef, Delivery, Message};
use forwarder::transport::PreparedTransport;

/// How often progress is printed while a destination is still delivering.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);
/// Parsed alerts waiting for each destination: the reader runs at most this far ahead, so
/// memory is bounded whatever the file's size.
const QUEUE: usize = 1024;

/// Parses the input and hands every alert to every destination; returns (read, unreadable).
/// A destination that gave up keeps draining its queue, so it never blocks the others.
///
/// Destinations hand each alert back through `done` once formatted, and it is dropped here:
/// an alert is ≈100 allocations, and freeing them on the thread that made them is cheap,
/// while mimalloc's cross-thread frees cost ≈20 % of `send`'s CPU. (Formatting here instead
/// would serialise parse and format on one core: 35 % slower on the static musl build.)
fn read_into<A: AsAlertRef>(
    reader: AlertReader<std::io::BufReader<std::fs::File>, A>,
    senders: &[mpsc::Sender<Arc<A>>],
    mut done: mpsc::UnboundedReceiver<Arc<A>>,
    input_name: &str,
) -> (u64, u64) {
    let (mut good, mut bad) = (0u64, 0u64);
    for item in reader {
        match item {
            Ok(a) => {
                good += 1;
                let a = Arc::new(a);
                for tx in senders {
                    // Err: the destination task is gone; its outcome says why.
                    let _ = tx.blocking_send(a.clone());
                }
                // At most about QUEUE alerts wait here: each came back after being formatted.
                while let Ok(used) = done.try_recv() {
                    drop(used);
                }
            }
            Err(e) => {
                bad += 1;
                eprintln!("send: {input_name}:{e}");
            }
        }
    }
    (good, bad)
}

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
    let Some(alerts) = cfg.alerts() else {
        return Err(crate::usage_error(
            "send: reads alert files (Graph alerts_v2 or MDE alerts); the config's source is \"streaming\": \
             point --config at a config with an alerts source, or use `preview` to see streamed records formatted",
        ));
    };
    let source = crate::deliver::input_source(args.source.as_deref(), alerts.client.0.source());
    let input_name = args.input.display().to_string();
    let file = std::fs::File::open(&args.input)
        .map_err(|e| crate::usage_error(format!("send: cannot read {input_name}: {e}")))?;
    let input = std::io::BufReader::with_capacity(256 * 1024, file);
    eprintln!(
        "send: reading {input_name} ({source} alerts); sending to {} destination(s)",
        cfg.destinations.len()
    );
    let (read, outcomes) = match source {
        fetcher::Source::Graph => send_all::<GraphAlert>(&cfg, input, &input_name, stall)?,
        fetcher::Source::Mde => send_all::<Alert>(&cfg, input, &input_name, stall)?,
    };
    let (good, bad) = read;
    eprintln!(
        "send: {good} alert(s) read from {input_name}{}",
        if bad > 0 {
            format!(" ({bad} unreadable, skipped)")
        } else {
            String::new()
        },
    );

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

/// Reads `input` as alerts of type `A` and sends them to every destination; returns (read,
/// unreadable) and each destination's outcome in config order.
fn send_all<A: AsAlertRef>(
    cfg: &config::Config,
    input: std::io::BufReader<std::fs::File>,
    input_name: &str,
    stall: Duration,
) -> anyhow::Result<((u64, u64), Vec<Outcome>)> {
    let reader = AlertReader::<_, A>::new_of(input)
        .map_err(|e| crate::usage_error(format!("send: cannot read {input_name}: {e}")))?;
    let rt = tokio::runtime::Runtime::new().context("tokio runtime")?;
    rt.block_on(async {
        let mut senders = Vec::new();
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let mut tasks = tokio::task::JoinSet::new();
        for (i, d) in cfg.destinations.iter().enumerate() {
            let (name, format, transport) =
                (d.name.clone(), d.formatter.clone(), d.transport.clone());
            let (tx, rx) = mpsc::channel(QUEUE);
            senders.push(tx);
            let done = done_tx.clone();
            tasks.spawn(
                async move { (i, send_to(&name, &format, transport, rx, done, stall).await) },
            );
        }
        drop(done_tx);
        // Parsing runs on its own thread, ahead of formatting and TLS on the runtime's.
        let name = input_name.to_owned();
        let read = tokio::task::spawn_blocking(move || read_into(reader, &senders, done_rx, &name));
        let mut outcomes = Vec::new();
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(o) => outcomes.push(o),
                Err(e) => anyhow::bail!("a destination task failed: {e}"),
            }
        }
        outcomes.sort_by_key(|(i, _)| *i);
        let read = read.await.context("the input reader failed")?;
        Ok((
            read,
            outcomes.into_iter().map(|(_, o)| o).collect::<Vec<_>>(),
        ))
    })
}

/// One destination's side of the reader: alerts in, used alerts back, and how many it took.
struct Queue<A> {
    rx: mpsc::Receiver<Arc<A>>,
    done: mpsc::UnboundedSender<Arc<A>>,
    taken: AtomicU64,
}

/// Sends every alert of `rx` to one destination. After a failure it keeps taking (and
/// counting) alerts until the reader is done, so one dead destination never stalls the others.
async fn send_to<A: AsAlertRef>(
    name: &str,
    formatter: &Formatter,
    transport_cfg: PreparedTransport,
    rx: mpsc::Receiver<Arc<A>>,
    done: mpsc::UnboundedSender<Arc<A>>,
    stall: Duration,
) -> Outcome {
    let format = formatter.options().format.kind().as_str();
    let mut out = Outcome {
        name: name.to_owned(),
        format,
        total: 0,
        delivered: 0,
        resent: 0,
        error: None,
    };
    let mut queue = Queue {
        rx,
        done,
        taken: AtomicU64::new(0),
    };
    let error = deliver(name, formatter, &transport_cfg, &mut queue, stall, &mut out).await;
    out.error = error;
    let mut total = queue.taken.load(Relaxed);
    while queue.rx.recv().await.is_some() {
        total += 1;
    }
    out.total = total;
    out
}

/// The delivery loop of [`send_to`]: returns why it gave up, if it did.
async fn deliver<A: AsAlertRef>(
    name: &str,
    formatter: &Formatter,
    transport_cfg: &PreparedTransport,
    queue: &mut Queue<A>,
    stall: Duration,
    out: &mut Outcome,
) -> Option<String> {
    let Queue { rx, done, taken } = queue;
    let queued: &AtomicU64 = taken;
    let transport = match Transport::start_prepared(name, transport_cfg.clone()) {
        Ok(t) => t,
        Err(e) => return Some(format!("transport: {e}")),
    };
    let mut delivery = Delivery::new(formatter.clone(), Arc::new(transport));
    let mut delivered = delivery.delivered();
    let sender = async {
        while let Some(a) = rx.recv().await {
            queued.fetch_add(1, Relaxed);
            delivery.push(Message::Alert(a.alert_ref())).await?;
            // Back to the reader thread, which frees it (see `read_into`).
            let _ = done.send(a);
        }
        Ok(())
    };
    let failure = until_delivered(name, sender, &mut delivered, queued, stall).await;
    let report = delivery.finish(Duration::from_secs(5)).await;
    let stats = delivery.transport().stats();
    out.delivered = report.delivered.min(queued.load(Relaxed));
    out.resent = stats.resent;
    failure.map(|f| match &stats.connected_to {
        Some(a) => format!("{f} (connected to {a})"),
        None if stats.delivered == 0 => format!(
            "{f} (could not connect to {}; see the warnings above)",
            transport_cfg.config().addresses.join(", ")
        ),
        None => f,
    })
}

/// Runs `sender` (the alerts it takes are counted in `queued`) and waits until the transport
/// reports all of them delivered; why it gave up, if it did.
async fn until_delivered(
    name: &str,
    sender: impl Future<Output = Result<(), TransportError>>,
    delivered: &mut watch::Receiver<u64>,
    queued: &AtomicU64,
    stall: Duration,
) -> Option<String> {
    tokio::pin!(sender);
    // Sending waits while the in-flight buffer is full, so the stall clock runs meanwhile too;
    // it does not run while everything taken so far is delivered (waiting for the reader).
    let mut sending = true;
    let mut last = *delivered.borrow();
    let mut progress = tokio::time::interval(PROGRESS_EVERY);
    progress.tick().await;
    let mut stalled_since = tokio::time::Instant::now();
    loop {
        let now = *delivered.borrow_and_update();
        let total = queued.load(Relaxed);
        if now >= total && !sending {
            return None;
        }
        if now != last || now >= total {
            last = now;
            stalled_since = tokio::time::Instant::now();
        }
        tokio::select! {
            r = &mut sender, if sending => {
                sending = false;
                if let Err(e) = r {
                    return Some(format!("send refused: {e}"));
                }
            }
            r = delivered.changed() => if r.is_err() {
                return Some("the connection task stopped".into());
            },
            _ = progress.tick() => eprintln!("send: {name}: delivered {now}/{total}{}",
                if sending { " so far" } else { "" }),
            () = tokio::time::sleep_until(stalled_since + stall) => {
                return Some(format!("gave up after {}s without delivery progress at {now}/{total} delivered", stall.as_secs_f32()));
            }
        }
    }
}
