//! [`CommitTracker`]: step 3 of the cursor protocol (see [`super`]) as a pure state machine.
//!
//! The pipeline tells it what it handed to the transport (sequence number and key), each
//! checkpoint from the poller, and how many messages the transport reports delivered. It
//! answers with the safe watermark and, when something new became safe, the [`ResumePoint`]
//! to write. No I/O, no clock: the pipeline decides when to write, and says what was written.
//!
//! The rules:
//! - a checkpoint becomes safe once every message sent before it is delivered; the safe
//!   watermark is the highest safe checkpoint and never goes back (not even below the resume
//!   point it started from);
//! - a message's key counts as delivered only once the transport reports it delivered;
//! - what is persisted is the safe watermark plus every delivered key at or after
//!   `watermark - overlap` (every delivered key while there is no watermark yet). Older keys
//!   are dropped each time the watermark rises: no later commit can need them.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use super::{Checkpoint, ResumePoint, VersionKey};
use crate::timestamp::Timestamp;

/// The commit rule of one destination's pipeline; see the module docs.
#[derive(Debug)]
pub struct CommitTracker {
    overlap: Duration,
    /// Messages handed to the transport so far (the next sequence number).
    sent: u64,
    /// Messages `0..delivered` are delivered (the transport's count; only grows).
    delivered: u64,
    /// (sequence number, key) of messages sent and not yet known delivered.
    pending: VecDeque<(u64, Option<VersionKey>)>,
    /// (messages sent before it, watermark) of checkpoints not yet safe.
    checkpoints: VecDeque<(u64, Timestamp)>,
    /// Delivered keys, pruned to the overlap window below `safe`.
    keys: HashSet<VersionKey>,
    safe: Option<Timestamp>,
    /// The watermark of the last commit written (the resume point's at start).
    committed: Option<Timestamp>,
    /// Counts new delivered keys: they change what is persisted even when the watermark is
    /// held (a tie walk repeats one watermark while its alerts are delivered).
    generation: u64,
    committed_generation: u64,
}

/// What to write, from [`CommitTracker::to_persist`]; hand it back to
/// [`CommitTracker::persisted`] once it is on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// The safe watermark and the delivered keys inside its overlap window, sorted.
    pub resume: ResumePoint,
    generation: u64,
}

impl CommitTracker {
    /// Starts from what the state file held: that watermark is committed, those keys delivered.
    pub fn new(resume: ResumePoint, overlap: Duration) -> Self {
        CommitTracker {
            overlap,
            sent: 0,
            delivered: 0,
            pending: VecDeque::new(),
            checkpoints: VecDeque::new(),
            keys: resume.delivered.into_iter().collect(),
            safe: resume.watermark,
            committed: resume.watermark,
            generation: 0,
            committed_generation: 0,
        }
    }

    /// The transport accepted message `seq` (the numbers it hands out: 0, 1, 2, …), for the
    /// alert version `key` (None: a message without a key, never deduplicated).
    pub fn sent(&mut self, seq: u64, key: Option<VersionKey>) {
        self.sent = self.sent.max(seq.saturating_add(1));
        if seq < self.delivered {
            // Reported delivered before we heard it was sent: count it now.
            self.deliver_key(key);
        } else {
            self.pending.push_back((seq, key));
        }
    }

    /// The poller's checkpoint: safe once every message sent before it is delivered.
    pub fn checkpoint(&mut self, cp: Checkpoint) {
        self.checkpoints.push_back((self.sent, cp.watermark));
        self.advance();
    }

    /// The transport reports messages `0..count` delivered. A lower count than before is
    /// ignored (the transport's count only grows).
    pub fn delivered(&mut self, count: u64) {
        if count > self.delivered {
            self.delivered = count;
            self.advance();
        }
    }

    /// The highest checkpoint whose messages before it are all delivered (or the resume
    /// point's watermark, until one is).
    pub fn safe(&self) -> Option<Timestamp> {
        self.safe
    }

    /// Whether the state file is behind: a higher safe watermark, or delivered keys it lacks.
    pub fn has_news(&self) -> bool {
        self.safe != self.committed || self.generation != self.committed_generation
    }

    /// The resume point to write now, if [`Self::has_news`].
    pub fn to_persist(&mut self) -> Option<Commit> {
        if !self.has_news() {
            return None;
        }
        self.prune();
        let mut delivered: Vec<VersionKey> = self.keys.iter().cloned().collect();
        delivered.sort();
        Some(Commit {
            resume: ResumePoint {
                watermark: self.safe,
                delivered,
            },
            generation: self.generation,
        })
    }

    /// `commit` is on disk: nothing in it is news any more.
    pub fn persisted(&mut self, commit: &Commit) {
        if commit.resume.watermark > self.committed {
            self.committed = commit.resume.watermark;
        }
        self.committed_generation = self.committed_generation.max(commit.generation);
    }

    /// Moves what `delivered` covers: pending keys to the delivered set, checkpoints to `safe`.
    fn advance(&mut self) {
        while self
            .pending
            .front()
            .is_some_and(|(seq, _)| *seq < self.delivered)
        {
            if let Some((_, key)) = self.pending.pop_front() {
                self.deliver_key(key);
            }
        }
        let mut raised = false;
        while self
            .checkpoints
            .front()
            .is_some_and(|(before, _)| *before <= self.delivered)
        {
            if let Some((_, w)) = self.checkpoints.pop_front()
                && self.safe.is_none_or(|s| w > s)
            {
                self.safe = Some(w);
                raised = true;
            }
        }
        if raised {
            // Once per new watermark, so between two commits the set holds about a page of
            // keys, not everything delivered meanwhile.
            self.prune();
        }
    }

    fn deliver_key(&mut self, key: Option<VersionKey>) {
        if let Some(key) = key
            && self.keys.insert(key)
        {
            self.generation += 1;
        }
    }

    /// Drops delivered keys below `safe - overlap`: the safe watermark only grows, so no
    /// later commit can need them.
    fn prune(&mut self) {
        if let Some(s) = self.safe {
            let floor = s.saturating_sub(self.overlap);
            self.keys.retain(|k| k.last_update_time >= floor);
        }
    }
}

#[cfg(test)]
mod tests;
