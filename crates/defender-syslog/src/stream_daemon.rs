//! The daemon for the streaming source: one Kafka consumer (a member of the configured
//! consumer group) → bounded channel → the destination's pipeline. Scale-out is the consumer
//! group's: every appliance that joins it gets a share of the partitions, and a dead one's
//! partitions move to the others from their committed offsets.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use forwarder::transport::Transport;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::deadletter::DeadLetter;
use crate::health::{Board, Watched};
use crate::pipeline::PipelineStats;
use crate::stream_pipeline::StreamPipeline;
use stream_source::{StreamConfig, StreamSource, StreamStats};

/// Kafka messages between the consumer and the pipeline (each up to 1 MB on Event Hubs, most
/// far smaller): small, so that a stalled collector pauses the consumer instead of growing
/// memory.
pub const CHANNEL_CAPACITY: usize = 64;

/// Runs the consumer and the pipeline until `shutdown`, then drains and commits.
pub async fn run(
    cfg: &Config,
    stream: &StreamConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let Some(d) = cfg.destinations.first() else {
        anyhow::bail!("no destination configured");
    };
    std::fs::create_dir_all(&cfg.state_dir)
        .with_context(|| format!("state directory {}", cfg.state_dir.display()))?;
    let source = StreamSource::new(stream.clone(), &d.name)
        .with_context(|| format!("destination {:?}: Kafka consumer", d.name))?;
    let transport: Arc<Transport> = Arc::new(
        Transport::start_prepared(&d.name, d.transport.clone())
            .with_context(|| format!("destination {:?}: transport", d.name))?,
    );
    let stats = Arc::new(PipelineStats::default());
    let stream_stats = source.stats();
    let pipeline = StreamPipeline {
        name: d.name.clone(),
        formatter: d.formatter.clone(),
        transport: transport.clone(),
        committer: source.committer(),
        dead_letter: DeadLetter::new(&cfg.state_dir, &d.name),
        stats: stats.clone(),
    };
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let inner = shutdown.child_token();
    let mut tasks: JoinSet<anyhow::Result<()>> = JoinSet::new();
    let token = inner.clone();
    let topics = stream.topics.join(",");
    tasks.spawn(async move {
        source
            .run(tx, token)
            .await
            .with_context(|| format!("consuming {topics}"))
    });
    tasks.spawn(pipeline.run(rx, inner.clone()));
    // Health, the watchdog and /metrics read the alert sources' counters; the bridge keeps the
    // poller's side of them filled from the consumer's figures.
    let watched = Watched {
        name: d.name.clone(),
        poller: Arc::default(),
        pipeline: stats,
        transport,
        poll_interval: BRIDGE_EVERY,
        source: crate::config::STREAMING,
        stream: Some(stream_stats.clone()),
    };
    let poller = watched.poller.clone();
    // Filled before the first health sample, which would otherwise see a poller never active.
    let mut errors_seen = fill_poller_stats(&poller, &stream_stats, 0);
    let board = Arc::new(Board::new(vec![watched], cfg.metrics.stall_after));
    tokio::spawn(crate::health::watch(board.clone(), inner.clone()));
    let mut server = None;
    if let Some(addr) = cfg.metrics.listen {
        match crate::metrics::serve(addr, board.clone(), inner.clone()).await {
            Ok(h) => server = Some(h),
            Err(e) => {
                inner.cancel();
                while tasks.join_next().await.is_some() {}
                return Err(e);
            }
        }
    }
    tracing::info!(
        destination = %d.name,
        bootstrap = %stream.bootstrap,
        topics = %stream.topics.join(","),
        group = %stream.group_id,
        "Started (streaming source)."
    );
    let mut bridge = tokio::time::interval(BRIDGE_EVERY);
    let mut summary = tokio::time::interval(cfg.log.stats_interval);
    summary.tick().await;
    let mut failure = None;
    loop {
        tokio::select! {
            _ = bridge.tick() => errors_seen = fill_poller_stats(&poller, &stream_stats, errors_seen),
            _ = summary.tick() => log_summary(&board.watched()[0], &stream_stats),
            done = tasks.join_next() => {
                let Some(done) = done else { break };
                match done {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::error!(error = %format!("{e:#}"), "Stopping: the streaming source failed.");
                        failure.get_or_insert(e);
                    }
                    Err(join) => {
                        failure.get_or_insert(anyhow::anyhow!("a task panicked: {join}"));
                    }
                }
                // Either half ending ends the other: the pipeline drains and commits what was
                // delivered.
                inner.cancel();
            }
        }
    }
    log_summary(&board.watched()[0], &stream_stats);
    if let Some(h) = server {
        let _ = h.await;
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// How often the consumer's figures are copied into the health counters.
const BRIDGE_EVERY: Duration = Duration::from_secs(1);

/// Fills the poller counters health and `/metrics` read: records read, the largest partition
/// lag, and liveness (a consumer waiting for messages is idle on purpose; it is "polling
/// successfully" while librdkafka reports no new client error). Returns the error count seen.
fn fill_poller_stats(p: &fetcher::PollerStats, s: &StreamStats, errors_seen: u64) -> u64 {
    let now_ms = crate::health::now_unix_ms();
    let now = alert_model::Timestamp::now();
    let parts = s.snapshot();
    let records: u64 = parts.iter().map(|x| x.records).sum();
    let lag_s = parts
        .iter()
        .filter(|x| x.assigned)
        .filter_map(|x| x.lag_seconds(now))
        .fold(0.0f64, f64::max);
    let behind_ms = now_ms.saturating_sub((lag_s * 1000.0) as u64);
    p.alerts_fetched.store(records, Ordering::Relaxed);
    p.watermark_unix_ms.store(behind_ms, Ordering::Relaxed);
    p.caught_up_unix_ms.store(behind_ms, Ordering::Relaxed);
    p.lag_seconds.store(lag_s as i64, Ordering::Relaxed);
    p.active_unix_ms.store(now_ms, Ordering::Relaxed);
    p.idle_until_unix_ms.store(
        now_ms + 2 * BRIDGE_EVERY.as_millis() as u64,
        Ordering::Relaxed,
    );
    let errors = s.errors();
    if errors == errors_seen {
        p.last_success_unix.store(now_ms / 1000, Ordering::Relaxed);
    }
    p.errors.store(errors, Ordering::Relaxed);
    errors
}

/// The periodic stats line of the streaming source.
fn log_summary(w: &Watched, s: &StreamStats) {
    let t = w.transport.stats();
    let parts = s.snapshot();
    let assigned: Vec<String> = parts
        .iter()
        .filter(|p| p.assigned)
        .map(|p| format!("{}/{}", p.topic, p.partition))
        .collect();
    let lag: i64 = parts
        .iter()
        .filter(|p| p.assigned)
        .filter_map(stream_source::PartitionStats::lag_messages)
        .sum();
    let records: u64 = parts.iter().map(|p| p.records).sum();
    let queue = w.pipeline.queue.load(Ordering::Relaxed);
    tracing::info!(
        destination = %w.name,
        records,
        delivered = t.delivered,
        lag_messages = lag,
        partitions = assigned.len(),
        rebalances = s.assignments(),
        queue,
        "{}: records={records} delivered={} resent={} lag={lag} messages partitions={} [{}] rebalances={} unreadable={} queue={queue}",
        w.name,
        t.delivered,
        t.resent,
        assigned.len(),
        assigned.join(" "),
        s.assignments(),
        w.pipeline.unreadable.load(Ordering::Relaxed),
    );
    if let Some(e) = s.last_error() {
        tracing::debug!(destination = %w.name, error = %e, "last Kafka client error");
    }
}
