//! What the two alert sources' models share, so that reading, dedup and forwarding are written
//! once: [`ApiAlert`] is implemented by [`crate::Alert`] (Defender for Endpoint `/api/alerts`)
//! and [`crate::GraphAlert`] (Microsoft Graph `alerts_v2`).

use crate::alert::Alert;
use crate::cursor::{FetchItem, VersionKey};
use crate::graph::GraphAlert;
use crate::repair::Repair;
use crate::timestamp::Timestamp;

/// One alert version of a source's API, read leniently ([`crate::repair::parse_lenient`]).
pub trait ApiAlert: serde::de::DeserializeOwned + Sized + Send + 'static {
    /// The JSON key of the version time (`lastUpdateTime` / `lastUpdateDateTime`): what the
    /// cursor is on, and what an unreadable element's time is recovered from.
    const UPDATE_TIME_KEY: &'static str;
    /// `(id, version time)`, if both are present.
    fn version_key(&self) -> Option<VersionKey>;
    /// The version time.
    fn update_time(&self) -> Option<Timestamp>;
    /// Records what lenient decoding repaired.
    fn set_repairs(&mut self, repairs: Vec<Repair>);
    /// The channel item that carries it to the pipelines.
    fn into_fetch_item(self) -> FetchItem;
}

/// An alert of either source, borrowed from a [`FetchItem`]: what a delivery loop formats and
/// keys without a match arm per source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AlertRef<'a> {
    Mde(&'a Alert),
    Graph(&'a GraphAlert),
}

impl AlertRef<'_> {
    pub fn version_key(&self) -> Option<VersionKey> {
        match self {
            AlertRef::Mde(a) => a.version_key(),
            AlertRef::Graph(a) => a.version_key(),
        }
    }
}

impl FetchItem {
    /// The alert this item carries (`None` for unreadable elements and checkpoints).
    pub fn alert(&self) -> Option<AlertRef<'_>> {
        match self {
            FetchItem::Alert(a) => Some(AlertRef::Mde(a)),
            FetchItem::Graph(a) => Some(AlertRef::Graph(a)),
            FetchItem::Unreadable(_) | FetchItem::Checkpoint(_) => None,
        }
    }
}

/// Writes an alert as compact JSON, every field as it came. A repaired alert holds the original
/// of each oddly typed field in `extra` as well; going through a `Value` map lets that original
/// replace the typed copy (its keys then come out sorted).
pub(crate) fn write_json<T: serde::Serialize, W: std::io::Write>(
    alert: &T,
    repaired: bool,
    w: W,
) -> serde_json::Result<()> {
    if repaired {
        serde_json::to_writer(w, &serde_json::to_value(alert)?)
    } else {
        serde_json::to_writer(w, alert)
    }
}
