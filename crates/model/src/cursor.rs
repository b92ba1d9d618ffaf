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
//!    overlap re-read does not forward them again. [`CommitTracker`] is that rule.

mod commit;

use serde::{Deserialize, Serialize};

pub use commit::{Commit, CommitTracker};

use crate::alert::Alert;
use crate::graph::GraphAlert;
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
    /// A new alert version to forward (Defender for Endpoint `/api/alerts`).
    Alert(Box<Alert>),
    /// A new alert version to forward (Microsoft Graph `alerts_v2`).
    Graph(Box<GraphAlert>),
    /// An element that could not be read: forwarded as a marked event.
    Unreadable(Box<Unreadable>),
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

/// Dedup keys of unreadable elements start with this, so an element forwarded as unreadable
/// and later served readably is a new version (no real Defender id starts with `!`).
pub const UNREADABLE_KEY_PREFIX: &str = "!unreadable:";

/// An element of a page that is not a readable alert even leniently (invalid JSON that can
/// still be delimited, a duplicate field, not an object). Forwarded as a minimal marked event
/// so that it is never lost and never holds the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// Recovered from the raw bytes when possible.
    pub id: Option<String>,
    pub last_update_time: Option<Timestamp>,
    /// Why it could not be read (the parser's message, with the element's index).
    pub error: String,
    /// The element as text (lossy UTF-8), cut to [`Unreadable::MAX_RAW`] bytes.
    pub raw: String,
    /// The element's length in bytes before any cut.
    pub raw_len: usize,
    /// What the dedup set and the state file remember it by (prefixed with
    /// [`UNREADABLE_KEY_PREFIX`]).
    pub key: VersionKey,
}

impl Unreadable {
    /// Raw bytes kept per element: more than any message cap, bounded for memory and the
    /// dead-letter file.
    pub const MAX_RAW: usize = 64 * 1024;
}
