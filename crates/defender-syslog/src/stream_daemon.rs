//! The daemon for the streaming source: one Kafka consumer (a member of the configured
//! consumer group) → bounded channel → the destination's pipeline. Scale-out is the consumer
//! group's: every appliance that joins it gets a share of the partitions, and a dead one's
//! partitions move to the others from their committed offsets.

use std::sync::Arc;

use anyhow::Context;
use forwarder::transport::Transport;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::deadletter::DeadLetter;
use crate::pipeline::PipelineStats;
use crate::stream_pipeline::StreamPipeline;
use stream_source::{StreamConfig, StreamSource};

/// Kafka messages between the consumer and the pipeline (each up to 1 MB on Event Hubs, most
/// far smaller): small, so that a stalled collector pauses the consumer instead of growing
/// memory.
pub const CHANNEL_CAPACITY: usize = 256;

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
    let transport = Arc::new(
        Transport::start_prepared(&d.name, d.transport.clone())
            .with_context(|| format!("destination {:?}: transport", d.name))?,
    );
    let stats = Arc::new(PipelineStats::default());
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
    tracing::info!(
        destination = %d.name,
        bootstrap = %stream.bootstrap,
        topics = %stream.topics.join(","),
        group = %stream.group_id,
        "Started (streaming source)."
    );
    let mut failure = None;
    while let Some(done) = tasks.join_next().await {
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
        // Either half ending ends the other: the pipeline drains and commits what was delivered.
        inner.cancel();
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
