//! One destination's pipeline: alerts from its poller's bounded channel → formatter →
//! transport, and cursor commits once the transport reports delivery.
//!
//! The cursor is the queue: nothing is spooled to disk. A checkpoint from the poller is
//! committed only when every message sent before it is delivered; what is persisted is that
//! watermark plus the keys of versions delivered inside the overlap window (see
//! `alert_model::cursor`). After a crash the poller re-reads from the watermark, skips the
//! delivered keys, and at most the unacknowledged window is sent twice.
//!
//! Commits never stop: the delivered keys are written on schedule even while the watermark
//! does not move (a held tie walk), and at shutdown. A state directory that is full or
//! read-only does not stop forwarding: the failure is logged once at ERROR with the bytes
//! needed, the commit is retried with backoff, and the next success says so. The file on disk
//! stays the last good cursor (at least once still holds; only more duplicates after a crash).
//!
//! An unreadable element from the poller is forwarded as a marked event, appended to the
//! dead-letter file and logged once at ERROR with its id.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use alert_model::{Checkpoint, FetchItem, ResumePoint, Timestamp, VersionKey};
use forwarder::format::Formatter;
use forwarder::transport::Transport;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::deadletter::DeadLetter;
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
    /// Unreadable-alert events forwarded.
    pub unreadable: AtomicU64,
    /// Cursor commits that failed (full or read-only state directory), retried with backoff.
    pub commit_failures: AtomicU64,
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

/// Longest wait between two attempts at a failing commit.
const COMMIT_RETRY_MAX: Duration = Duration::from_secs(30);

/// Whether the state file can be written, and when to try again if not.
#[derive(Debug, Default)]
struct CommitHealth {
    failures: u32,
    retry_at: Option<tokio::time::Instant>,
}

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
        // Keys delivered since the last commit: they are persisted even if `safe` is unchanged.
        let mut dirty = false;
        let mut health = CommitHealth::default();
        let dead_letter = DeadLetter::new(self.store.dir(), &self.name);

        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Ok(()) = delivered_rx.changed() => {
                    let d = *delivered_rx.borrow_and_update();
                    self.stats.last_delivery_unix.store(now_unix_ms() / 1000, Ordering::Relaxed);
                    dirty |= advance(d, &mut pending, &mut checkpoints, &mut delivered_keys, &mut safe);
                    self.prune(&mut delivered_keys, safe, &mut pruned_at);
                }
                _ = tick.tick() => {
                    self.stats.active_unix_ms.store(now_unix_ms(), Ordering::Relaxed);
                    if wedge_after.is_some_and(|n| self.stats.forwarded.load(Ordering::Relaxed) >= n) {
                        tracing::warn!(destination = %self.name, "test hook: pipeline wedged");
                        shutdown.cancelled().await;
                        break;
                    }
                    let due = health.retry_at.is_none_or(|t| tokio::time::Instant::now() >= t);
                    if due && (dirty || (safe.is_some() && safe != committed)) {
                        let w = safe.or(committed);
                        if self.try_commit(w, &mut delivered_keys, &mut health) {
                            committed = w;
                            dirty = false;
                        }
                    }
                }
                item = rx.recv() => {
                    self.stats.queue.store(rx.len() as u64, Ordering::Relaxed);
                    match item {
                        None => break,
                        Some(item @ (FetchItem::Alert(_) | FetchItem::Graph(_))) => {
                            let Some(alert) = item.alert() else { continue };
                            msg.clear();
                            self.formatter.format_ref(alert, &mut msg);
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
                        Some(FetchItem::Unreadable(u)) => {
                            msg.clear();
                            self.formatter.format_unreadable(&u, &mut msg);
                            let seq = tokio::select! {
                                r = self.transport.send_bytes(&msg) => r?,
                                () = shutdown.cancelled() => break,
                            };
                            sent = seq + 1;
                            pending.push_back((seq, Some(u.key.clone())));
                            self.stats.forwarded.fetch_add(1, Ordering::Relaxed);
                            self.stats.unreadable.fetch_add(1, Ordering::Relaxed);
                            let kept = match dead_letter.append(&self.name, &u) {
                                Ok(()) => dead_letter.path().display().to_string(),
                                Err(e) => format!("not written: {e}"),
                            };
                            tracing::error!(
                                destination = %self.name,
                                id = %u.id.as_deref().unwrap_or("(not recoverable)"),
                                last_update_time = %u.last_update_time.map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
                                error = %u.error,
                                raw_bytes = u.raw_len,
                                dead_letter = %kept,
                                "UNREADABLE ALERT {}: the Defender API served an element that cannot be read even leniently; \
                                 forwarded as an \"unreadable alert\" event (raw element included), kept in the dead-letter file; the cursor moves on",
                                u.id.as_deref().unwrap_or("(id not recoverable)"),
                            );
                        }
                        Some(FetchItem::Checkpoint(cp)) => {
                            checkpoints.push_back((sent, cp));
                            let d = *delivered_rx.borrow();
                            dirty |= advance(d, &mut pending, &mut checkpoints, &mut delivered_keys, &mut safe);
                            self.prune(&mut delivered_keys, safe, &mut pruned_at);
                        }
                    }
                }
            }
        }

        // Drain: wait for what is in flight, then commit exactly what was delivered.
        let report = self.transport.shutdown(DRAIN_GRACE).await;
        dirty |= advance(
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
        if dirty || (safe.is_some() && safe != committed) {
            // One attempt, whatever the backoff says: this is the last chance.
            health.retry_at = None;
            self.try_commit(safe.or(committed), &mut delivered_keys, &mut health);
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

    /// [`Self::commit`], keeping the pipeline running when the state file cannot be written:
    /// the first failure is logged at ERROR (later ones at debug), retries back off, and the
    /// first success after failures is logged. True when the cursor was written.
    fn try_commit(
        &self,
        watermark: Option<Timestamp>,
        keys: &mut HashSet<VersionKey>,
        health: &mut CommitHealth,
    ) -> bool {
        match self.commit(watermark, keys) {
            Ok(()) => {
                if health.failures > 0 {
                    tracing::info!(destination = %self.name, failed_attempts = health.failures,
                        "The cursor is saved again: the state file could be written.");
                }
                *health = CommitHealth::default();
                true
            }
            Err(e) => {
                self.stats.commit_failures.fetch_add(1, Ordering::Relaxed);
                health.failures += 1;
                let wait = Duration::from_secs(1)
                    .saturating_mul(1 << health.failures.min(5))
                    .min(COMMIT_RETRY_MAX);
                health.retry_at = Some(tokio::time::Instant::now() + wait);
                if health.failures == 1 {
                    tracing::error!(destination = %self.name, error = %e, retry_max_s = COMMIT_RETRY_MAX.as_secs(),
                        "Cannot save the cursor: forwarding goes on, the file on disk keeps the last saved cursor \
                         (a crash now means more duplicates, never a loss); retrying with backoff. Free space or fix the state directory.");
                } else {
                    tracing::debug!(destination = %self.name, error = %e, failures = health.failures, "cursor save failed again");
                }
                false
            }
        }
    }

    /// Persists `watermark` and the delivered keys still inside the overlap window (all of
    /// them while there is no watermark yet: the poller then reaches back `initial_lookback`).
    fn commit(
        &self,
        watermark: Option<Timestamp>,
        keys: &mut HashSet<VersionKey>,
    ) -> Result<(), crate::state::StateError> {
        if let Some(w) = watermark {
            let floor = w.saturating_sub(self.overlap);
            keys.retain(|k| k.last_update_time >= floor);
        }
        let mut delivered: Vec<VersionKey> = keys.iter().cloned().collect();
        delivered.sort();
        self.store.save(
            &self.name,
            &ResumePoint {
                watermark,
                delivered,
            },
        )?;
        self.stats.commits.fetch_add(1, Ordering::Relaxed);
        if let Some(w) = watermark {
            let secs = u64::try_from(w.unix_millis() / 1000).unwrap_or(0);
            self.stats.committed_unix.store(secs, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Moves everything the transport reports delivered (`d` = count of messages delivered in
/// order) from `pending` to `delivered_keys`, and every checkpoint it covers to `safe`.
/// True if a key was added.
fn advance(
    d: u64,
    pending: &mut VecDeque<(u64, Option<VersionKey>)>,
    checkpoints: &mut VecDeque<(u64, Checkpoint)>,
    delivered_keys: &mut HashSet<VersionKey>,
    safe: &mut Option<Timestamp>,
) -> bool {
    let mut added = false;
    while pending.front().is_some_and(|(seq, _)| *seq < d) {
        if let Some((_, Some(key))) = pending.pop_front() {
            added |= delivered_keys.insert(key);
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
    added
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

    /// A held watermark (every checkpoint repeats W while later alerts are delivered) must not
    /// stop commits: the delivered keys reach the state file on schedule and at shutdown.
    #[tokio::test]
    async fn delivered_keys_are_committed_while_the_watermark_is_held() {
        use forwarder::format::{Format, FormatOptions};
        use forwarder::transport::{TransportConfig, TransportKind};
        let collector = sim::collector::start(sim::collector::Options::tcp())
            .await
            .unwrap();
        let transport = Transport::start(
            "t",
            TransportConfig::new(TransportKind::Tcp, vec![collector.address()]),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path());
        let pipeline = Pipeline {
            name: "t".into(),
            formatter: Formatter::new(FormatOptions::new(Format::Cef, "host")).unwrap(),
            transport: Arc::new(transport),
            store: store.clone(),
            overlap: Duration::from_secs(600),
            resume: ResumePoint::default(),
            stats: Arc::new(PipelineStats::default()),
        };
        let (tx, rx) = mpsc::channel(16);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(pipeline.run(rx, shutdown.clone()));
        let held = Checkpoint {
            watermark: ts("2026-01-01T00:00:00Z"),
        };
        let alert = |i: u32| {
            let t = ts("2026-01-01T00:00:01Z").saturating_add(Duration::from_secs(u64::from(i)));
            alert_model::Alert {
                id: Some(format!("a{i}")),
                last_update_time: Some(t),
                ..Default::default()
            }
        };
        let delivered = |n: usize| {
            let store = store.clone();
            async move {
                for _ in 0..400 {
                    if let Ok(Some(f)) = store.load("t")
                        && f.resume.delivered.len() == n
                    {
                        return f.resume;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                panic!("state file never held {n} delivered keys");
            }
        };
        tx.send(FetchItem::Checkpoint(held)).await.unwrap();
        for i in 0..5 {
            tx.send(FetchItem::Alert(Box::new(alert(i)))).await.unwrap();
            tx.send(FetchItem::Checkpoint(held)).await.unwrap();
        }
        let r = delivered(5).await;
        assert_eq!(r.watermark, Some(held.watermark), "the watermark is held");
        // At shutdown too: the last alert's key is committed without a new watermark.
        tx.send(FetchItem::Alert(Box::new(alert(5)))).await.unwrap();
        assert!(collector.wait_for(6, Duration::from_secs(20)).await);
        shutdown.cancel();
        task.await.unwrap().unwrap();
        let f = store.load("t").unwrap().unwrap();
        assert_eq!(f.resume.delivered.len(), 6);
        assert_eq!(f.resume.watermark, Some(held.watermark));
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
