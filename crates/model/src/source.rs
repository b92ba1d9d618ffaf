//! What the two alert sources' models share, so that reading, dedup and forwarding are written
//! once: [`ApiAlert`] is implemented by [`crate::Alert`] (Defender for Endpoint `/api/alerts`)
//! and [`crate::GraphAlert`] (Microsoft Graph `alerts_v2`).

use crate::cursor::{FetchItem, VersionKey};
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
