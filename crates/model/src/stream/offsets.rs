//! Which Kafka offsets may be committed: the stream source's cursor rule (pure, no I/O).
//!
//! The pipeline tells the tracker, for each Kafka message in the order it was read, the
//! transport sequence number of its last record, and the transport's delivered count. A partition's offset `o + 1` becomes committable only when message `o` and every
//! message before it in that partition are delivered; offsets are keyed by assignment epoch so
//! that a partition assigned again (a rebalance) starts a fresh queue.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// A partition under one assignment epoch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    pub topic: Arc<str>,
    pub partition: i32,
    pub epoch: u64,
}

/// The commit rule; see the module docs.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    /// Per partition, messages not yet delivered: `(last seq + 1, offset)`, in read order.
    pending: BTreeMap<PartitionKey, VecDeque<(u64, i64)>>,
    /// Per partition, the next offset to commit (last delivered message + 1), not yet taken.
    ready: BTreeMap<PartitionKey, i64>,
    delivered: u64,
}

impl OffsetTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Message `offset` of `key` was read and its records handed to the transport; `last_seq`
    /// is the sequence number of its last record, `None` when it had none (a table filter
    /// dropped them): it is then delivered with the message before it in its partition.
    pub fn message(&mut self, key: PartitionKey, offset: i64, last_seq: Option<u64>) {
        let queue = self.pending.entry(key.clone()).or_default();
        let end = match last_seq {
            Some(seq) => seq.saturating_add(1),
            None => queue.back().map_or(0, |&(end, _)| end),
        };
        if queue.is_empty() && end <= self.delivered {
            self.ready.insert(key, offset.saturating_add(1));
        } else {
            queue.push_back((end, offset));
        }
    }

    /// Messages `0..n` are delivered (the transport's count; it only grows).
    pub fn delivered(&mut self, n: u64) {
        if n <= self.delivered {
            return;
        }
        self.delivered = n;
        for (key, queue) in &mut self.pending {
            let mut next = None;
            while let Some(&(end, offset)) = queue.front() {
                if end > n {
                    break;
                }
                next = Some(offset.saturating_add(1));
                queue.pop_front();
            }
            if let Some(next) = next {
                self.ready.insert(key.clone(), next);
            }
        }
        self.pending.retain(|_, q| !q.is_empty());
    }

    /// The offsets to commit now, one per partition (each the highest delivered + 1), and
    /// forgets them.
    pub fn take_ready(&mut self) -> Vec<(PartitionKey, i64)> {
        std::mem::take(&mut self.ready).into_iter().collect()
    }

    /// Whether anything is waiting to be committed.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The partitions with messages in flight or offsets ready.
    pub fn partitions(&self) -> Vec<PartitionKey> {
        let mut keys: Vec<PartitionKey> = self.pending.keys().cloned().collect();
        keys.extend(
            self.ready
                .keys()
                .filter(|k| !self.pending.contains_key(*k))
                .cloned(),
        );
        keys
    }

    /// Kafka messages read but not yet wholly delivered.
    pub fn in_flight(&self) -> usize {
        self.pending.values().map(VecDeque::len).sum()
    }

    /// Forgets one partition's queue and ready offset: what a revoked partition leaves behind
    /// (its old owner must not commit it).
    pub fn forget(&mut self, key: &PartitionKey) {
        self.pending.remove(key);
        self.ready.remove(key);
    }
}

#[cfg(test)]
mod tests;
