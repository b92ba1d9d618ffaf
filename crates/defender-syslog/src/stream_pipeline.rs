//! The streaming source's pipeline: Kafka messages from the consumer's bounded channel → one
//! syslog message per record → transport, and offset commits once the transport reports
//! delivery.
//!
//! Committed offsets are this source's cursor: `alert_model::stream::offsets::OffsetTracker`
//! (pure) says which offset of each partition is safe once the messages before it are
//! delivered; `stream_source::Committer` commits it, and refuses offsets of a partition this
//! appliance no longer owns (a rebalance). A crash, a `kill -9` or a rebalance therefore costs
//! duplicates of the unacknowledged window, never a loss. A dead collector fills the transport's
//! in-flight buffer, this loop stops reading the channel, the channel fills and the consumer
//! pauses: nothing is committed past it and memory stays bounded.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use alert_model::stream::offsets::{OffsetTracker, PartitionKey};
use alert_model::stream::{StreamEvent, StreamMessage};
use forwarder::format::Formatter;
use forwarder::transport::Transport;
use stream_source::Committer;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::deadletter::DeadLetter;
use crate::deliver::{Delivery, Message};
use crate::pipeline::{DRAIN_GRACE, PipelineStats};

/// How often delivered offsets are committed while running (shutdown always commits).
const COMMIT_EVERY: Duration = Duration::from_millis(500);

pub struct StreamPipeline {
    pub name: String,
    pub formatter: Formatter,
    pub transport: Arc<Transport>,
    pub committer: Committer,
    pub dead_letter: DeadLetter,
    pub stats: Arc<PipelineStats>,
}

impl StreamPipeline {
    /// Runs until `shutdown` or the end of the channel, then drains within [`DRAIN_GRACE`] and
    /// commits exactly what was delivered.
    pub async fn run(
        self,
        mut rx: mpsc::Receiver<StreamMessage>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let mut tracker = OffsetTracker::new();
        let mut delivery = Delivery::new(self.formatter.clone(), self.transport.clone());
        let mut delivered = delivery.delivered();
        let mut tick = tokio::time::interval(COMMIT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.stats
            .active_unix_ms
            .store(unix_now_ms(), Ordering::Relaxed);
        loop {
            // The tick comes first: under a steady stream the delivery and message arms are
            // always ready, and a biased select would never reach it (no commits, no liveness).
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    self.stats.active_unix_ms.store(unix_now_ms(), Ordering::Relaxed);
                    self.commit(&mut tracker).await;
                }
                Ok(()) = delivered.changed() => {
                    let d = *delivered.borrow_and_update();
                    self.stats.last_delivery_unix.store(unix_now(), Ordering::Relaxed);
                    tracker.delivered(d);
                }
                msg = rx.recv() => {
                    self.stats.queue.store(rx.len() as u64, Ordering::Relaxed);
                    let Some(msg) = msg else { break };
                    if !self.forward(msg, &mut delivery, &mut tracker, &shutdown).await? {
                        break;
                    }
                }
            }
        }
        let report = delivery.finish(DRAIN_GRACE).await;
        tracker.delivered(report.delivered);
        if report.undelivered > 0 {
            tracing::warn!(
                destination = %self.name,
                undelivered = report.undelivered,
                "Stopped with records not acknowledged by the collector; their offsets are not committed, so they are read again after restart."
            );
        }
        self.commit(&mut tracker).await;
        tracing::info!(destination = %self.name, delivered = report.delivered, "Pipeline stopped.");
        Ok(())
    }

    /// Sends every record of one Kafka message; false when shutdown came while waiting for
    /// room in the transport's buffer (the message's offset is then not recorded: it is read
    /// again after restart).
    async fn forward(
        &self,
        msg: StreamMessage,
        delivery: &mut Delivery,
        tracker: &mut OffsetTracker,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<bool> {
        let mut last_seq = None;
        for event in &msg.events {
            let m = match event {
                StreamEvent::Record(r) => Message::Record(r),
                StreamEvent::Unreadable(u) => Message::Unreadable(u),
            };
            self.stats.in_send.store(true, Ordering::Relaxed);
            let seq = tokio::select! {
                r = delivery.push(m) => r?,
                () = shutdown.cancelled() => return Ok(false),
            };
            self.stats.in_send.store(false, Ordering::Relaxed);
            last_seq = Some(seq);
            self.stats.forwarded.fetch_add(1, Ordering::Relaxed);
            if let StreamEvent::Unreadable(u) = event {
                self.stats.unreadable.fetch_add(1, Ordering::Relaxed);
                let kept = match self.dead_letter.append(&self.name, u) {
                    Ok(()) => self.dead_letter.path().display().to_string(),
                    Err(e) => format!("not written: {e}"),
                };
                tracing::error!(
                    destination = %self.name,
                    record = %u.id.as_deref().unwrap_or("-"),
                    error = %u.error,
                    raw_bytes = u.raw_len,
                    dead_letter = %kept,
                    "UNREADABLE RECORD {}: forwarded as an \"unreadable\" event (raw text included), kept in the dead-letter file; its offset is committed like any other",
                    u.id.as_deref().unwrap_or("-"),
                );
            }
        }
        let key = PartitionKey {
            topic: msg.pos.topic.clone(),
            partition: msg.pos.partition,
            epoch: msg.epoch,
        };
        tracker.message(key, msg.pos.offset, last_seq);
        Ok(true)
    }

    /// Hands the committable offsets to the committer and commits; forgets partitions this
    /// appliance no longer owns (their records go to the new owner from its committed offset).
    async fn commit(&self, tracker: &mut OffsetTracker) {
        for key in tracker.partitions() {
            if !self.committer.is_current(&key) {
                tracker.forget(&key);
            }
        }
        if tracker.has_ready() {
            self.committer.stage(tracker.take_ready());
        }
        // A commit is one synchronous round trip to the group coordinator: off the async worker.
        let committer = self.committer.clone();
        let flushed = tokio::task::spawn_blocking(move || committer.flush())
            .await
            .unwrap_or_else(|e| {
                Err(stream_source::StreamError::Commit(format!(
                    "commit task: {e}"
                )))
            });
        match flushed {
            Ok(0) => {}
            Ok(n) => {
                self.stats.commits.fetch_add(n as u64, Ordering::Relaxed);
                self.stats
                    .committed_unix
                    .store(unix_now(), Ordering::Relaxed);
            }
            Err(e) => {
                self.stats.commit_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(destination = %self.name, error = %e, "Committing offsets failed; retried on the next tick (records are not lost: at worst read again).");
            }
        }
    }
}

fn unix_now_ms() -> u64 {
    u64::try_from(alert_model::Timestamp::now().unix_millis()).unwrap_or(0)
}

fn unix_now() -> u64 {
    unix_now_ms() / 1000
}
