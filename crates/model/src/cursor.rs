//! What flows over the channel from the fetcher to a destination's pipeline, and what the
//! binary persists once the forwarder reports delivery ("the cursor is the queue").
//!
//! The protocol:
//! 1. The fetcher sends [`FetchItem::Alert`] for every new alert version (deduplicated on
//!    [`VersionKey`]) and, after each page, a [`FetchItem::Checkpoint`].
//! 2. A checkpoint promises: every alert version with `lastUpdateTime < watermark` that the API
//!    showed has been sent on the channel *before* this checkpoint.
//! 3. The pipeline commits a checkpoint only when the transport reports every message before
//!    it as delivered. It persists a [`ResumePoint`]: that watermark plus the versions it has
//!    seen delivered at or after `watermark - overlap`, so that after a restart the fetcher's
//!    overlap re-read does not forward them again.

use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::timestamp::Timestamp;

/// One alert version: `(id, lastUpdateTime)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct VersionKey {
    pub id: String,
    pub last_update_time: Timestamp,
}

/// A cursor the fetcher proposes; see the module docs for its promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub watermark: Timestamp,
}

/// An item on the fetcher → pipeline channel.
#[derive(Debug, Clone, PartialEq)]
pub enum FetchItem {
    /// A new alert version to forward.
    Alert(Box<Alert>),
    /// Everything before this item makes `watermark` safe to commit once delivered.
    Checkpoint(Checkpoint),
}

/// Where a poller resumes: the last committed watermark and the versions already delivered
/// inside the overlap window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumePoint {
    /// `None` on first start: the fetcher then reaches back `initial_lookback`.
    pub watermark: Option<Timestamp>,
    /// Versions delivered with `lastUpdateTime >= watermark - overlap`.
    #[serde(default)]
    pub delivered: Vec<VersionKey>,
}
