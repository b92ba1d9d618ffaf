//! The assignment epochs and the staged offsets, shared by the reader, the rebalance callback
//! and [`Committer`].
//!
//! One mutex guards both, and a commit (flush or revoke) is synchronous while holding it: so
//! once the rebalance callback has committed a revoked partition's staged offset and retired
//! its epoch, no commit of that partition by this consumer can still be on its way, and the
//! partition's next owner starts from an offset nobody here will move again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use alert_model::stream::offsets::PartitionKey;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::context::Consumer as KafkaConsumer;
use crate::{Secret, StreamError, StreamStats};

/// (topic, partition).
pub(crate) type Tp = (Arc<str>, i32);

#[derive(Debug, Default)]
pub(crate) struct CommitState {
    next_epoch: u64,
    /// The epoch of each partition assigned now.
    current: HashMap<Tp, u64>,
    /// Offsets (next to read) waiting for a commit, of current epochs only.
    staged: BTreeMap<Tp, i64>,
}

impl CommitState {
    pub(crate) fn epoch(&self, tp: &Tp) -> Option<u64> {
        self.current.get(tp).copied()
    }

    /// A new epoch for newly assigned partitions.
    pub(crate) fn assign(&mut self, parts: &[Tp]) {
        self.next_epoch += 1;
        for tp in parts {
            self.current.insert(tp.clone(), self.next_epoch);
        }
    }

    /// Takes the staged offsets of `parts` and retires their epochs.
    pub(crate) fn revoke(&mut self, parts: &[Tp]) -> Vec<(Tp, i64)> {
        let mut out = Vec::new();
        for tp in parts {
            self.current.remove(tp);
            if let Some(o) = self.staged.remove(tp) {
                out.push((tp.clone(), o));
            }
        }
        out
    }
}

/// What the reader, the context and the committers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) state: Mutex<CommitState>,
    pub(crate) stats: Arc<StreamStats>,
    pub(crate) secret: Option<Secret>,
}

impl Shared {
    pub(crate) fn new(stats: Arc<StreamStats>, secret: Option<Secret>) -> Self {
        Self {
            state: Mutex::new(CommitState::default()),
            stats,
            secret,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, CommitState> {
        // The state is a few maps updated in single steps: a poisoned lock is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn scrub(&self, text: String) -> String {
        match &self.secret {
            Some(s) => s.scrub(&text),
            None => text,
        }
    }
}

/// Commits `offsets` synchronously on `consumer` (offsets are "next to read").
pub(crate) fn commit_sync<C: Consumer<crate::context::SourceContext>>(
    consumer: &C,
    shared: &Shared,
    offsets: &[(Tp, i64)],
) -> Result<(), StreamError> {
    let mut tpl = TopicPartitionList::with_capacity(offsets.len());
    for ((t, p), o) in offsets {
        tpl.add_partition_offset(t, *p, Offset::Offset(*o))
            .map_err(|e| StreamError::Commit(shared.scrub(e.to_string())))?;
    }
    consumer
        .commit(&tpl, CommitMode::Sync)
        .map_err(|e| StreamError::Commit(shared.scrub(e.to_string())))?;
    let done: Vec<_> = offsets
        .iter()
        .map(|((t, p), o)| (t.clone(), *p, *o))
        .collect();
    shared.stats.committed(&done);
    Ok(())
}

/// Where `run` puts the consumer for the committers. Not reachable from the consumer's own
/// context (that would be a cycle): the consumer is closed when the source and every
/// committer are gone.
pub(crate) type ConsumerSlot = Arc<OnceLock<Arc<KafkaConsumer>>>;

/// Commits delivered offsets for the pipeline: `Clone + Send + Sync`.
#[derive(Clone)]
pub struct Committer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) consumer: ConsumerSlot,
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Committer")
            .field("running", &self.consumer.get().is_some())
            .finish_non_exhaustive()
    }
}

impl Committer {
    /// Stages offsets from `OffsetTracker::take_ready` (each the next offset to read of a
    /// partition); an offset of an epoch that is no longer current is dropped (its partition
    /// was revoked: its new owner redelivers from the committed offset).
    pub fn stage(&self, ready: Vec<(PartitionKey, i64)>) {
        let mut st = self.shared.lock();
        for (key, offset) in ready {
            let tp: Tp = (key.topic.clone(), key.partition);
            if st.current.get(&tp) != Some(&key.epoch) {
                tracing::debug!(
                    topic = %key.topic, partition = key.partition, epoch = key.epoch,
                    "offset of a revoked assignment dropped"
                );
                continue;
            }
            let slot = st.staged.entry(tp).or_insert(offset);
            *slot = (*slot).max(offset);
        }
    }

    /// Whether `key`'s epoch is the partition's current one (the pipeline forgets the tracker
    /// state of partitions that are not, and need not forward their messages).
    pub fn is_current(&self, key: &PartitionKey) -> bool {
        self.shared
            .lock()
            .current
            .get(&(key.topic.clone(), key.partition))
            == Some(&key.epoch)
    }

    /// Commits what is staged (synchronously: one round trip to the group coordinator, so call
    /// it from a blocking-tolerant place, e.g. the pipeline's tick); returns how many partitions
    /// were committed. On failure the offsets stay staged for the next flush.
    pub fn flush(&self) -> Result<usize, StreamError> {
        let mut st = self.shared.lock();
        if st.staged.is_empty() {
            return Ok(0);
        }
        let Some(consumer) = self.consumer.get() else {
            return Ok(0);
        };
        let offsets: Vec<(Tp, i64)> = st.staged.iter().map(|(k, v)| (k.clone(), *v)).collect();
        commit_sync(consumer.as_ref(), &self.shared, &offsets)?;
        for (tp, o) in &offsets {
            // Remove only what was committed; a newer stage() cannot have raced: we hold the lock.
            if st.staged.get(tp) == Some(o) {
                st.staged.remove(tp);
            }
        }
        Ok(offsets.len())
    }
}
