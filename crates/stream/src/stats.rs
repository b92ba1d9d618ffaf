//! [`StreamStats`]: per-partition figures for `status` and the metrics (lag in messages and
//! seconds). The reader updates them per message (one uncontended lock); the high watermark and
//! librdkafka's view of the committed offset come from its statistics callback every 5 s, so
//! the cost is bounded whatever the rate.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use alert_model::Timestamp;

/// One partition's figures (a snapshot).
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionStats {
    pub topic: Arc<str>,
    pub partition: i32,
    /// Assigned to this consumer now.
    pub assigned: bool,
    /// Kafka messages read (since this process started).
    pub consumed: u64,
    /// Records forwarded (events on the channel, unreadable ones included).
    pub records: u64,
    /// Records dropped by the table filter.
    pub filtered: u64,
    /// The offset of the last message read.
    pub last_offset: Option<i64>,
    /// The group's committed offset (the next message to read after a restart).
    pub committed: Option<i64>,
    /// The broker's high watermark (the offset the next produced message gets).
    pub high_watermark: Option<i64>,
    /// The Kafka timestamp of the last message read.
    pub last_message_time: Option<Timestamp>,
}

impl PartitionStats {
    /// Messages not yet committed: high watermark − committed offset (Kafka's consumer-group
    /// lag; each message holds one or more records). `None` until the watermark is known.
    pub fn lag_messages(&self) -> Option<i64> {
        let hw = self.high_watermark?;
        let from = self
            .committed
            .or(self.last_offset.map(|o| o + 1))
            .unwrap_or(0);
        Some((hw - from).max(0))
    }

    /// How far behind reading is, in seconds: `now` − the last read message's timestamp while
    /// messages beyond it exist, else 0.
    pub fn lag_seconds(&self, now: Timestamp) -> Option<f64> {
        let hw = self.high_watermark?;
        let next = self.last_offset.map_or(0, |o| o + 1);
        if next >= hw {
            return Some(0.0);
        }
        let t = self.last_message_time?;
        Some(((now.unix_millis() - t.unix_millis()).max(0) as f64) / 1000.0)
    }
}

/// The source's figures, shared with the binary's status and metrics.
#[derive(Debug, Default)]
pub struct StreamStats {
    partitions: Mutex<BTreeMap<(Arc<str>, i32), PartitionStats>>,
    rebalances: AtomicU64,
    commits: AtomicU64,
    errors: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl StreamStats {
    /// Every partition this consumer has seen, in (topic, partition) order.
    pub fn snapshot(&self) -> Vec<PartitionStats> {
        self.lock().values().cloned().collect()
    }

    /// Assignments received (the first one included): a rise means a rebalance.
    pub fn assignments(&self) -> u64 {
        self.rebalances.load(Ordering::Relaxed)
    }

    /// Successful commit requests.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Client errors reported by librdkafka (transport, authentication, …).
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The last of those errors, secrets scrubbed.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<(Arc<str>, i32), PartitionStats>> {
        // A panic while holding this lock leaves plain counters: still usable.
        self.partitions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn with(&self, topic: &Arc<str>, partition: i32, f: impl FnOnce(&mut PartitionStats)) {
        let mut map = self.lock();
        let entry = map
            .entry((topic.clone(), partition))
            .or_insert_with(|| PartitionStats {
                topic: topic.clone(),
                partition,
                assigned: false,
                consumed: 0,
                records: 0,
                filtered: 0,
                last_offset: None,
                committed: None,
                high_watermark: None,
                last_message_time: None,
            });
        f(entry);
    }

    pub(crate) fn assigned(&self, parts: &[(Arc<str>, i32)]) {
        self.rebalances.fetch_add(1, Ordering::Relaxed);
        for (t, p) in parts {
            self.with(t, *p, |s| s.assigned = true);
        }
    }

    pub(crate) fn revoked(&self, parts: &[(Arc<str>, i32)]) {
        for (t, p) in parts {
            self.with(t, *p, |s| s.assigned = false);
        }
    }

    pub(crate) fn message(
        &self,
        topic: &Arc<str>,
        partition: i32,
        offset: i64,
        time: Option<Timestamp>,
        records: u64,
        filtered: u64,
    ) {
        self.with(topic, partition, |s| {
            s.consumed += 1;
            s.records += records;
            s.filtered += filtered;
            s.last_offset = Some(offset);
            if time.is_some() {
                s.last_message_time = time;
            }
        });
    }

    pub(crate) fn committed(&self, offsets: &[(Arc<str>, i32, i64)]) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        for (t, p, o) in offsets {
            self.with(t, *p, |s| s.committed = Some(*o));
        }
    }

    /// From librdkafka's statistics: only partitions already known (assigned once) are kept,
    /// so the map stays bounded by the assignment.
    pub(crate) fn broker_view(&self, topic: &str, partition: i32, hw: i64, committed: i64) {
        let mut map = self.lock();
        if let Some(s) = map
            .iter_mut()
            .find(|((t, p), _)| &**t == topic && *p == partition)
            .map(|(_, s)| s)
        {
            if hw >= 0 {
                s.high_watermark = Some(hw);
            }
            if committed >= 0 && s.committed.is_none_or(|c| c < committed) {
                s.committed = Some(committed);
            }
        }
    }

    pub(crate) fn error(&self, text: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(hw: Option<i64>, committed: Option<i64>, last: Option<i64>) -> PartitionStats {
        PartitionStats {
            topic: Arc::from("t"),
            partition: 0,
            assigned: true,
            consumed: 0,
            records: 0,
            filtered: 0,
            last_offset: last,
            committed,
            high_watermark: hw,
            last_message_time: Timestamp::from_unix_nanos(1_000_000_000_000_000_000),
        }
    }

    #[test]
    fn lag_in_messages_is_watermark_minus_committed() {
        assert_eq!(part(None, Some(3), Some(5)).lag_messages(), None);
        assert_eq!(part(Some(10), Some(3), Some(5)).lag_messages(), Some(7));
        assert_eq!(part(Some(10), None, Some(5)).lag_messages(), Some(4));
        assert_eq!(part(Some(10), None, None).lag_messages(), Some(10));
        assert_eq!(part(Some(10), Some(10), Some(9)).lag_messages(), Some(0));
    }

    #[test]
    fn lag_in_seconds_is_the_age_of_the_last_read_while_behind() {
        let now = Timestamp::from_unix_nanos(1_000_000_012_500_000_000).unwrap();
        assert_eq!(part(Some(10), None, Some(5)).lag_seconds(now), Some(12.5));
        assert_eq!(part(Some(6), None, Some(5)).lag_seconds(now), Some(0.0));
        assert_eq!(part(None, None, Some(5)).lag_seconds(now), None);
    }

    #[test]
    fn records_messages_commits_and_the_brokers_view() {
        let s = StreamStats::default();
        let t: Arc<str> = Arc::from("t");
        s.assigned(&[(t.clone(), 0), (t.clone(), 1)]);
        s.message(&t, 0, 41, None, 3, 1);
        s.message(&t, 0, 42, None, 2, 0);
        s.committed(&[(t.clone(), 0, 40)]);
        s.broker_view("t", 0, 50, 43);
        s.broker_view("t", 9, 50, 43); // never assigned: not kept
        s.revoked(&[(t.clone(), 1)]);
        let snap = s.snapshot();
        assert_eq!(snap.len(), 2);
        assert_eq!(
            (
                snap[0].consumed,
                snap[0].records,
                snap[0].filtered,
                snap[0].last_offset
            ),
            (2, 5, 1, Some(42))
        );
        assert_eq!(
            (snap[0].committed, snap[0].high_watermark),
            (Some(43), Some(50))
        );
        assert!(snap[0].assigned && !snap[1].assigned);
        assert_eq!((s.assignments(), s.commits()), (1, 1));
    }
}
