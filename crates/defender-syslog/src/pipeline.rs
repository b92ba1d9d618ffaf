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
//!
//! The commit rule itself is `alert_model::cursor::CommitTracker` (pure, property-tested);
//! formatting and sending is [`crate::deliver::Delivery`], shared with `send`; writing the
//! state file is `commits`. This module is the async shell that drives them.

mod commits;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use alert_model::cursor::CommitTracker;
use alert_model::{FetchItem, ResumePoint, Timestamp, Unreadable};
use forwarder::format::Formatter;
use forwarder::transport::Transport;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::deadletter::DeadLetter;
use crate::deliver::{Delivery, Message};
use crate::state::StateStore;
use commits::Commits;

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
        self,
        rx: mpsc::Receiver<FetchItem>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let mut shell = Shell {
            tracker: CommitTracker::new(self.resume, self.overlap),
            delivery: Delivery::new(self.formatter, self.transport),
            commits: Commits::new(&self.name, self.store.clone(), self.stats.clone()),
            dead_letter: DeadLetter::new(self.store.dir(), &self.name),
            name: self.name,
            stats: self.stats,
        };
        shell.forward(rx, &shutdown).await?;
        shell.drain().await;
        Ok(())
    }
}

/// A running pipeline: what it tracks, how it sends, where it commits.
struct Shell {
    name: String,
    tracker: CommitTracker,
    delivery: Delivery,
    commits: Commits,
    dead_letter: DeadLetter,
    stats: Arc<PipelineStats>,
}

/// Whether the loop goes on after a turn.
enum Turn {
    Go,
    Stop,
}

impl Shell {
    /// The loop: items from the poller, delivery reports and commit ticks, until shutdown or
    /// the end of the channel.
    async fn forward(
        &mut self,
        mut rx: mpsc::Receiver<FetchItem>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let mut delivered_rx = self.delivery.delivered();
        let mut tick = tokio::time::interval(COMMIT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let wedge_after: Option<u64> = std::env::var(WEDGE_HOOK).ok().and_then(|v| v.parse().ok());
        self.stats
            .active_unix_ms
            .store(now_unix_ms(), Ordering::Relaxed);
        loop {
            // The tick comes before the always-ready arms of a busy pipeline, which a biased
            // select would otherwise serve first every turn (no scheduled commits, no liveness).
            let turn = tokio::select! {
                biased;
                () = shutdown.cancelled() => Turn::Stop,
                _ = tick.tick() => self.on_tick(wedge_after, shutdown).await,
                Ok(()) = delivered_rx.changed() => {
                    let d = *delivered_rx.borrow_and_update();
                    self.stats.last_delivery_unix.store(now_unix_ms() / 1000, Ordering::Relaxed);
                    self.tracker.delivered(d);
                    Turn::Go
                }
                item = rx.recv() => {
                    self.stats.queue.store(rx.len() as u64, Ordering::Relaxed);
                    match item {
                        None => Turn::Stop,
                        Some(item) => self.on_item(item, &delivered_rx, shutdown).await?,
                    }
                }
            };
            if let Turn::Stop = turn {
                return Ok(());
            }
        }
    }

    /// Liveness, the wedge test hook, and the scheduled commit.
    async fn on_tick(&mut self, wedge_after: Option<u64>, shutdown: &CancellationToken) -> Turn {
        self.stats
            .active_unix_ms
            .store(now_unix_ms(), Ordering::Relaxed);
        if wedge_after.is_some_and(|n| self.stats.forwarded.load(Ordering::Relaxed) >= n) {
            tracing::warn!(destination = %self.name, "test hook: pipeline wedged");
            shutdown.cancelled().await;
            return Turn::Stop;
        }
        self.commits.on_schedule(&mut self.tracker);
        Turn::Go
    }

    async fn on_item(
        &mut self,
        item: FetchItem,
        delivered: &watch::Receiver<u64>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Turn> {
        match item {
            FetchItem::Alert(_) | FetchItem::Graph(_) => match item.alert() {
                Some(alert) => self.send(Message::Alert(alert), shutdown).await,
                None => Ok(Turn::Go),
            },
            FetchItem::Unreadable(u) => {
                let turn = self.send(Message::Unreadable(&u), shutdown).await?;
                if let Turn::Go = turn {
                    self.stats.unreadable.fetch_add(1, Ordering::Relaxed);
                    self.keep_unreadable(&u);
                }
                Ok(turn)
            }
            FetchItem::Checkpoint(cp) => {
                // The latest count, seen by the loop or not: a checkpoint after an empty page
                // (nothing in flight before it) is safe at once.
                self.tracker.delivered(*delivered.borrow());
                self.tracker.checkpoint(cp);
                Ok(Turn::Go)
            }
        }
    }

    /// Hands `m` to the transport; stops at shutdown while waiting for room in its buffer.
    async fn send(&mut self, m: Message<'_>, shutdown: &CancellationToken) -> anyhow::Result<Turn> {
        self.stats.in_send.store(true, Ordering::Relaxed);
        let seq = tokio::select! {
            r = self.delivery.push(m) => r,
            () = shutdown.cancelled() => return Ok(Turn::Stop),
        };
        self.stats.in_send.store(false, Ordering::Relaxed);
        self.tracker.sent(seq?, m.key());
        self.stats.forwarded.fetch_add(1, Ordering::Relaxed);
        Ok(Turn::Go)
    }

    /// The dead-letter file and the one ERROR line of an unreadable element just forwarded.
    fn keep_unreadable(&self, u: &Unreadable) {
        let kept = match self.dead_letter.append(&self.name, u) {
            Ok(()) => self.dead_letter.path().display().to_string(),
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

    /// After the loop: waits for what is in flight, then commits exactly what was delivered.
    async fn drain(mut self) {
        let report = self.delivery.finish(DRAIN_GRACE).await;
        self.tracker.delivered(report.delivered);
        if report.undelivered > 0 {
            tracing::warn!(
                destination = %self.name,
                undelivered = report.undelivered,
                "Stopped with messages not acknowledged by the collector; they are sent again after restart."
            );
        }
        // One attempt, whatever the backoff says: this is the last chance.
        self.commits.write(&mut self.tracker);
        tracing::info!(destination = %self.name, delivered = report.delivered, "Pipeline stopped.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alert_model::Checkpoint;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
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
        let store = StateStore::new(dir.path(), fetcher::Source::Graph);
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
}
