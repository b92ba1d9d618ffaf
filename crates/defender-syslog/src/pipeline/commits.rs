//! Writing the commit tracker's resume points to the state file, and going on when it cannot
//! be written: the first failure is logged at ERROR (later ones at debug), retries back off
//! (2 s doubling to 30 s), and the first success after failures is logged.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use alert_model::cursor::CommitTracker;
use tokio::time::Instant;

use super::PipelineStats;
use crate::state::{StateError, StateStore};

/// First wait after a failed commit; it doubles per failure.
const COMMIT_RETRY_MIN: Duration = Duration::from_secs(2);
/// Longest wait between two attempts at a failing commit.
const COMMIT_RETRY_MAX: Duration = Duration::from_secs(30);

/// One destination's state file writer.
#[derive(Debug)]
pub(super) struct Commits {
    name: String,
    store: StateStore,
    stats: Arc<PipelineStats>,
    /// Failed writes since the last good one.
    failures: u32,
    retry_at: Option<Instant>,
}

impl Commits {
    pub(super) fn new(name: &str, store: StateStore, stats: Arc<PipelineStats>) -> Self {
        Commits {
            name: name.to_owned(),
            store,
            stats,
            failures: 0,
            retry_at: None,
        }
    }

    /// On schedule: writes what is news, unless a failed write is still backing off.
    pub(super) fn on_schedule(&mut self, tracker: &mut CommitTracker) {
        if self.retry_at.is_none_or(|t| Instant::now() >= t) {
            self.write(tracker);
        }
    }

    /// Writes what is news now, whatever the backoff says.
    pub(super) fn write(&mut self, tracker: &mut CommitTracker) {
        let Some(commit) = tracker.to_persist() else {
            return;
        };
        if let Err(e) = self.store.save(&self.name, &commit.resume) {
            self.failed(&e);
            return;
        }
        tracker.persisted(&commit);
        self.stats.commits.fetch_add(1, Ordering::Relaxed);
        if let Some(w) = commit.resume.watermark {
            let secs = u64::try_from(w.unix_millis() / 1000).unwrap_or(0);
            self.stats.committed_unix.store(secs, Ordering::Relaxed);
        }
        if self.failures > 0 {
            tracing::info!(destination = %self.name, failed_attempts = self.failures,
                "The cursor is saved again: the state file could be written.");
        }
        self.failures = 0;
        self.retry_at = None;
    }

    fn failed(&mut self, e: &StateError) {
        self.stats.commit_failures.fetch_add(1, Ordering::Relaxed);
        self.failures += 1;
        // Un-jittered (unit 1.0): one writer, nothing to spread out.
        let wait = exp_backoff::delay(
            COMMIT_RETRY_MIN,
            COMMIT_RETRY_MAX,
            self.failures.saturating_sub(1),
            1.0,
        );
        self.retry_at = Some(Instant::now() + wait);
        if self.failures == 1 {
            tracing::error!(destination = %self.name, error = %e, retry_max_s = COMMIT_RETRY_MAX.as_secs(),
                "Cannot save the cursor: forwarding goes on, the file on disk keeps the last saved cursor \
                 (a crash now means more duplicates, never a loss); retrying with backoff. Free space or fix the state directory.");
        } else {
            tracing::debug!(destination = %self.name, error = %e, failures = self.failures, "cursor save failed again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The timings the pipeline has always had: 2, 4, 8, 16 s, then 30 s.
    #[test]
    fn the_retry_doubles_from_two_seconds_to_thirty() {
        let waits: Vec<u64> = (0..7)
            .map(|a| exp_backoff::delay(COMMIT_RETRY_MIN, COMMIT_RETRY_MAX, a, 1.0).as_secs())
            .collect();
        assert_eq!(waits, [2, 4, 8, 16, 30, 30, 30]);
    }
}
