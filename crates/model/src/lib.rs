//! The Defender alert models (Defender for Endpoint `/api/alerts` and Microsoft Graph
//! `alerts_v2`) shared by `fetcher` and `forwarder`.
//!
//! The two halves of defender-syslog never import each other; they meet through a bounded
//! channel of [`FetchItem`]s and the types in this crate:
//!
//! - [`timestamp`]: [`Timestamp`], a UTC instant parsed from Defender's 0–7 fractional digits
//!   without losing precision.
//! - [`alert`]: [`Alert`] and [`Evidence`] (Defender for Endpoint), every field optional,
//!   unknown fields kept.
//! - [`graph`]: [`GraphAlert`] and [`GraphEvidence`] (Microsoft Graph `alerts_v2`), the same rules.
//! - [`source`]: [`ApiAlert`], what both sources' alerts offer the fetcher and the pipeline.
//! - [`input`]: reading alerts from NDJSON or an API page `{"value":[...]}`, one result per alert,
//!   so one bad alert never hides the good ones next to it.
//! - [`reader`]: [`AlertReader`], the same rules over a stream: NDJSON line by line in bounded
//!   memory (what `send` uses for files of any size).
//! - [`cursor`]: [`VersionKey`] (one alert version), [`Checkpoint`] (a cursor the fetcher
//!   proposes) and [`ResumePoint`] (what the binary persisted once delivery was confirmed).
//! - [`repair`]: lenient decoding ([`parse_alert`]): odd content is repaired and marked, not
//!   rejected.
//! - [`stream`]: Defender XDR streaming API records (Event Hubs / Kafka) and
//!   [`stream::offsets::OffsetTracker`], that source's commit rule.
//! - [`samples`]: the repository's own synthetic alerts, for `demo`, docs, tests and benches.
#![forbid(unsafe_code)]

pub mod alert;
pub mod cursor;
mod de;
pub mod graph;
pub mod input;
pub mod reader;
pub mod repair;
pub mod samples;
pub mod source;
pub mod stream;
pub mod timestamp;

pub use alert::{Alert, Comment, Evidence, LoggedOnUser, RelatedUser};
pub use cursor::{
    Checkpoint, FetchItem, ResumePoint, UNREADABLE_KEY_PREFIX, Unreadable, VersionKey,
};
pub use graph::{GraphAlert, GraphEvidence};
pub use input::{InputError, parse_alerts, parse_alerts_of};
pub use reader::AlertReader;
pub use repair::{Repair, parse_alert, parse_lenient, unreadable, unreadable_of};
pub use source::{AlertRef, ApiAlert};
pub use timestamp::{Timestamp, TimestampError};
