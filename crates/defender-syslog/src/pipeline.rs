//! One destination's pipeline: alerts from its poller's bounded channel → formatter →
//! transport, and cursor commits once the transport reports delivery.
//!
//! The cursor is the queue: nothing is spooled to disk. A checkpoint from the poller is
//! committed only when every message sent before it is delivered; what is persisted is that
//! watermark plus the keys of versions delivered inside the overlap window (see
//! `alert_model::cursor`). After a crash the poller re-reads from the watermark, skips the
//! delivered keys, and at most the unacknowledged window is sent twice.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use alert_model::{Checkpoint, FetchItem, ResumePoint, Timestamp, VersionKey};
use forwarder::format::Formatter;
use forwarder::transport::Transport;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::state::StateStore;

/// Counters of one pipeline, read by the summary line, `/metrics` and the health check.
#[derive(Debug, Default)]
pub struct PipelineStats {
    /// Alert versions formatted and handed to the transport.
    pub forwarded: AtomicU64,
    /// Items waiting in the channel from the poller.
    pub queue: AtomicU64,
    /// Cursor commits written.
    pub commits: AtomicU64,
    /// Committed watermark, Unix seconds (0 = none yet).
    pub committed_unix: AtomicU64,
    /// When the transport last reported a delivery, Unix seconds (0 = none yet).
    pub last_delivery_unix: AtomicU64,
    /// Liveness: the loop's last turn (Unix ms; it turns at least every commit tick) and
    /// whether it is waiting for room in the transport's buffer (held back by the collector).
    pub active_unix_ms: AtomicU64,
    pub in_send: AtomicBool,
}

/// Test hook (for the watchdog test): after this many alerts the pipeline stops turning,
/// as a wedged task would, until shutdown.
const WEDGE_HOOK: &str = "_DEFENDER_SYSLOG_TEST_WEDGE_AFTER";

fn now_unix_ms() -> u64 {
    u64::try_from(Timestamp::now().unix_millis()).unwrap_or(0)
}

/// How long shutdown waits for in-flight messages to be acknowledged.
pub const DRAIN_GRACE: Duration = Duration::from_secs(20);

/// Minimum time between two state-file writes while running (shutdown always writes).
const COMMIT_EVERY: Duration = Duration::from_millis(500);

pub struct Pipeline {
    pub name: String,
    pub formatter: Formatter,
    pub transport: Arc<Transport>,
    pub store: StateStore,
    pub overlap: Duration,
    pub resume: ResumePoint,
    pub stats: Arc<PipelineStats>,
}

impl Pipeline {
    /// Runs until `shutdown` or until the poller closes the channel; then drains within
    /// [`DRAIN_GRACE`] and commits what was delivered.
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<FetchItem>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let mut delivered_rx = self.transport.delivered();
        let mut delivered_keys: HashSet<VersionKey> = self.resume.delivered.drain(..).collect();
        let mut committed = self.resume.watermark;
        // (sequence number, key) of messages sent and not yet known delivered.
        let mut pending: VecDeque<(u64, Option<VersionKey>)> = VecDeque::new();
        // (messages sent before it, checkpoint) not yet safe.
        let mut checkpoints: VecDeque<(u64, Checkpoint)> = VecDeque::new();
        let mut sent: u64 = 0;
        let mut safe: Option<Timestamp> = None;
        let mut pruned_at: Option<Timestamp> = None;
        // One buffer for every message: the transport copies each into its frame.
        let mut msg = Vec::with_capacity(4096);
        let mut tick = tokio::time::interval(COMMIT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let wedge_after: Option<u64> = std::env::var(WEDGE_HOOK).ok().and_then(|v| v.parse().ok());
        self.stats
            .active_unix_ms
            .store(now_unix_ms(), Ordering::Relaxed);

        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Ok(()) = delivered_rx.changed() => {
                    let d = *delivered_rx.borrow_and_update();
                    self.stats.last_delivery_unix.store(now_unix_ms() / 1000, Ordering::Relaxed);
                    advance(d, &mut pending, &mut checkpoints, &mut delivered_keys, &mut safe);
                    self.prune(&mut delivered_keys, safe, &mut pruned_at);
                }
                _ = tick.tick() => {
                    self.stats.active_unix_ms.store(now_unix_ms(), Ordering::Relaxed);
                    if wedge_after.is_some_and(|n| self.stats.forwarded.load(Ordering::Relaxed) >= n) {
                        tracing::warn!(destination = %self.name, "test hook: pipeline wedged");
                        shutdown.cancelled().await;
                        break;
                    }
                    if safe.is_some() && safe != committed {
                        committed = self.commit(safe, &mut delivered_keys)?;
                    }
                }
                item = rx.recv() => {
                    self.stats.queue.store(rx.len() as u64, Ordering::Relaxed);
                    match item {
                        None => break,
                        Some(FetchItem::Alert(alert)) => {
                            msg.clear();
                            self.formatter.format(&alert, &mut msg);
                            self.stats.in_send.store(true, Ordering::Relaxed);
                            let seq = tokio::select! {
                                r = self.transport.send_bytes(&msg) => r,
                                () = shutdown.cancelled() => break,
                            };
                            self.stats.in_send.store(false, Ordering::Relaxed);
                            let seq = seq?;
                            sent = seq + 1;
                            pending.push_back((seq, alert.version_key()));
                            self.stats.forwarded.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(FetchItem::Checkpoint(cp)) => {
                            checkpoints.push_back((sent, cp));
                            let d = *delivered_rx.borrow();
                            advance(d, &mut pending, &mut checkpoints, &mut delivered_keys, &mut safe);
                            self.prune(&mut delivered_keys, safe, &mut pruned_at);
                        }
                    }
                }
            }
        }

        // Drain: wait for what is in flight, then commit exactly what was delivered.
        let report = self.transport.shutdown(DRAIN_GRACE).await;
        advance(
            report.delivered,
            &mut pending,
            &mut checkpoints,
            &mut delivered_keys,
            &mut safe,
        );
        if report.undelivered > 0 {
            tracing::warn!(
                destination = %self.name,
                undelivered = report.undelivered,
                "Stopped with messages not acknowledged by the collector; they are sent again after restart."
            );
        }
        if safe.is_some() && safe != committed {
            self.commit(safe, &mut delivered_keys)?;
        }
        tracing::info!(destination = %self.name, delivered = report.delivered, "Pipeline stopped.");
        Ok(())
    }

    /// Drops delivered keys that fell below `safe - overlap`: no later commit can need them
    /// (the safe watermark only grows). Done once per new safe watermark, so between two
    /// commits the set holds about a page of keys, not everything delivered meanwhile.
    fn prune(
        &self,
        keys: &mut HashSet<VersionKey>,
        safe: Option<Timestamp>,
        pruned_at: &mut Option<Timestamp>,
    ) {
        if let Some(s) = safe
            && safe != *pruned_at
        {
            let floor = s.saturating_sub(self.overlap);
            keys.retain(|k| k.last_update_time >= floor);
            *pruned_at = safe;
        }
    }

    /// Persists `watermark` and the delivered keys still inside the overlap window.
    fn commit(
        &self,
        watermark: Option<Timestamp>,
        keys: &mut HashSet<VersionKey>,
    ) -> anyhow::Result<Option<Timestamp>> {
        let Some(w) = watermark else { return Ok(None) };
        let floor = w.saturating_sub(self.overlap);
        keys.retain(|k| k.last_update_time >= floor);
        let mut delivered: Vec<VersionKey> = keys.iter().cloned().collect();
        delivered.sort();
        self.store.save(
            &self.name,
            &ResumePoint {
                watermark: Some(w),
                delivered,
            },
        )?;
        self.stats.commits.fetch_add(1, Ordering::Relaxed);
        let secs = u64::try_from(w.unix_millis() / 1000).unwrap_or(0);
        self.stats.committed_unix.store(secs, Ordering::Relaxed);
        Ok(Some(w))
    }
}

/// Moves everything the transport reports delivered (`d` = count of messages delivered in
/// order) from `pending` to `delivered_keys`, and every checkpoint it covers to `safe`.
fn advance(
    d: u64,
    pending: &mut VecDeque<(u64, Option<VersionKey>)>,
    checkpoints: &mut VecDeque<(u64, Checkpoint)>,
    delivered_keys: &mut HashSet<VersionKey>,
    safe: &mut Option<Timestamp>,
) {
    while pending.front().is_some_and(|(seq, _)| *seq < d) {
        if let Some((_, Some(key))) = pending.pop_front() {
            delivered_keys.insert(key);
        }
    }
    while checkpoints.front().is_some_and(|(before, _)| *before <= d) {
        if let Some((_, cp)) = checkpoints.pop_front() {
            // Watermarks never go back (the poller promises it; this keeps the file honest).
            if safe.is_none_or(|s| cp.watermark > s) {
                *safe = Some(cp.watermark);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    fn key(id: &str, t: &str) -> VersionKey {
        VersionKey {
            id: id.into(),
            last_update_time: ts(t),
        }
    }

    #[test]
    fn a_checkpoint_is_safe_only_when_everything_before_it_is_delivered() {
        let mut pending = VecDeque::from([
            (0, Some(key("a", "2026-01-01T00:00:01Z"))),
            (1, Some(key("b", "2026-01-01T00:00:02Z"))),
        ]);
        let mut cps = VecDeque::from([(
            2,
            Checkpoint {
                watermark: ts("2026-01-01T00:00:02Z"),
            },
        )]);
        let mut keys = HashSet::new();
        let mut safe = None;
        advance(1, &mut pending, &mut cps, &mut keys, &mut safe);
        assert_eq!(safe, None, "message 1 is not delivered yet");
        assert_eq!(keys.len(), 1);
        advance(2, &mut pending, &mut cps, &mut keys, &mut safe);
        assert_eq!(safe, Some(ts("2026-01-01T00:00:02Z")));
        assert_eq!(keys.len(), 2);
    }

    #[test]
    fn an_empty_page_checkpoint_is_safe_at_once_and_watermarks_never_go_back() {
        let mut pending = VecDeque::new();
        let mut cps = VecDeque::from([
            (
                0,
                Checkpoint {
                    watermark: ts("2026-01-01T00:00:05Z"),
                },
            ),
            (
                0,
                Checkpoint {
                    watermark: ts("2026-01-01T00:00:03Z"),
                },
            ),
        ]);
        let mut keys = HashSet::new();
        let mut safe = None;
        advance(0, &mut pending, &mut cps, &mut keys, &mut safe);
        assert_eq!(safe, Some(ts("2026-01-01T00:00:05Z")));
    }
}
