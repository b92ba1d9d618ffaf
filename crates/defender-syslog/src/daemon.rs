//! The daemon: one shared fetcher client, and per destination a poller → bounded channel →
//! pipeline, independent of the others (a dead collector never delays another destination).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use alert_model::ResumePoint;
use anyhow::Context;
use forwarder::transport::Transport;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Input};
use crate::health::{Board, Watched as Destination};
use crate::pipeline::{Pipeline, PipelineStats};
use crate::state::StateStore;

/// Items between a poller and its pipeline: enough for a page or two of work in flight, small
/// enough that a stalled collector stops polling instead of growing memory.
pub const CHANNEL_CAPACITY: usize = 1024;

/// Runs every destination until `shutdown` is cancelled, then drains and commits. Returns an
/// error if a poller or pipeline fails for good (e.g. the credential is refused).
pub async fn run(cfg: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let alerts = match &cfg.input {
        Input::Streaming(stream) => return crate::stream_daemon::run(&cfg, stream, shutdown).await,
        Input::Alerts(a) => a.clone(),
    };
    let store = StateStore::of(&cfg);
    store.ensure_dir()?;
    // Built by the config's second stage (as for `check --offline`): nothing here can fail for
    // a config reason.
    let client = alerts.client.0.clone();
    let poller_config = alerts.poller;
    let inner = shutdown.child_token();
    let mut tasks: JoinSet<anyhow::Result<()>> = JoinSet::new();
    let mut destinations = Vec::new();

    for d in &cfg.destinations {
        let resume = match store.load_to_resume(&d.name)? {
            Some(f) => {
                tracing::info!(
                    destination = %d.name,
                    watermark = %f.resume.watermark.map(|w| w.to_string()).unwrap_or_else(|| "-".into()),
                    in_window = f.resume.delivered.len(),
                    "Resuming from the committed cursor."
                );
                f.resume
            }
            None => {
                tracing::info!(
                    destination = %d.name,
                    lookback = %humantime::format_duration(poller_config.initial_lookback),
                    "No cursor yet (first start): reaching back initial_lookback."
                );
                ResumePoint::default()
            }
        };
        let formatter = d.formatter.clone();
        let transport = Arc::new(
            Transport::start_prepared(&d.name, d.transport.clone())
                .with_context(|| format!("destination {:?}: transport", d.name))?,
        );
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let poller = fetcher::Poller::new(
            client.clone(),
            poller_config.clone(),
            resume.clone(),
            &d.name,
        );
        let poller_stats = poller.stats();
        let pipeline_stats = Arc::new(PipelineStats::default());
        let pipeline = Pipeline {
            name: d.name.clone(),
            formatter,
            transport: transport.clone(),
            store: store.clone(),
            overlap: poller_config.overlap,
            resume,
            stats: pipeline_stats.clone(),
        };
        let (name, token) = (d.name.clone(), inner.clone());
        tasks.spawn(async move {
            poller
                .run(tx, token)
                .await
                .with_context(|| format!("destination {name:?}: fetching from Defender"))
        });
        tasks.spawn(pipeline.run(rx, inner.clone()));
        destinations.push(Destination {
            name: d.name.clone(),
            poller: poller_stats,
            transport,
            pipeline: pipeline_stats,
            poll_interval: poller_config.poll_interval,
            source: client.source().name(),
            stream: None,
        });
    }
    tracing::info!(destinations = destinations.len(), "Started.");
    let board = Arc::new(Board::new(destinations, cfg.metrics.stall_after));
    let destinations = board.watched();
    tokio::spawn(crate::health::watch(board.clone(), inner.clone()));
    let mut server = None;
    if let Some(addr) = cfg.metrics.listen {
        // Failing to bind is a start-up failure: an operator who asked for metrics gets them.
        match crate::metrics::serve(addr, board.clone(), inner.clone()).await {
            Ok(h) => server = Some(h),
            Err(e) => {
                inner.cancel();
                while tasks.join_next().await.is_some() {}
                return Err(e);
            }
        }
    }

    let mut summary = tokio::time::interval(cfg.log.stats_interval);
    summary.tick().await;
    let mut failure: Option<anyhow::Error> = None;
    loop {
        tokio::select! {
            () = inner.cancelled() => break,
            _ = summary.tick() => log_summary(destinations),
            done = tasks.join_next() => match done {
                None => break,
                Some(Ok(Ok(()))) => {
                    // A poller ends only on shutdown; a pipeline only when its poller ended.
                    if !inner.is_cancelled() {
                        tracing::warn!("A pipeline stopped unexpectedly; stopping the others.");
                        inner.cancel();
                    }
                }
                Some(Ok(Err(e))) => {
                    tracing::error!(error = %format!("{e:#}"), "Stopping: a destination failed.");
                    failure.get_or_insert(e);
                    inner.cancel();
                }
                Some(Err(join)) => {
                    failure.get_or_insert(anyhow::anyhow!("a task panicked: {join}"));
                    inner.cancel();
                }
            },
        }
    }
    inner.cancel();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Err(e)) => {
                tracing::error!(error = %format!("{e:#}"), "Destination failed while stopping.");
                failure.get_or_insert(e);
            }
            Err(join) => {
                failure.get_or_insert(anyhow::anyhow!("a task panicked: {join}"));
            }
            Ok(Ok(())) => {}
        }
    }
    log_summary(destinations);
    if let Some(h) = server {
        // The listener is closed before a reload binds the address again.
        let _ = h.await;
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn log_summary(destinations: &[Destination]) {
    for d in destinations {
        let t = d.transport.stats();
        let fetched = d.poller.alerts_fetched.load(Ordering::Relaxed);
        // The same lag as /metrics (whole seconds).
        let lag = d.fetch_lag_seconds(crate::health::now_unix_ms()) as u64;
        let queue = d.pipeline.queue.load(Ordering::Relaxed);
        tracing::info!(
            destination = %d.name,
            fetched,
            forwarded = d.pipeline.forwarded.load(Ordering::Relaxed),
            delivered = t.delivered,
            resent = t.resent,
            lag_seconds = lag,
            queue,
            connected_to = %t.connected_to.as_deref().unwrap_or("-"),
            "{}: fetched={fetched} delivered={} resent={} lag={lag}s queue={queue} requests={} throttled={} repaired={} unreadable={}",
            d.name,
            t.delivered,
            t.resent,
            d.poller.requests.load(Ordering::Relaxed),
            d.poller.throttled.load(Ordering::Relaxed),
            d.poller.alerts_repaired.load(Ordering::Relaxed),
            d.poller.alerts_unreadable.load(Ordering::Relaxed),
        );
    }
}
