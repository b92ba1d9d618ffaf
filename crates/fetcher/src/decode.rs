//! One element of a page, decoded for its source (leniently: odd content is repaired and
//! marked), with what the poller needs to page and deduplicate it.

use alert_model::{FetchItem, Timestamp, Unreadable, VersionKey};

use crate::Source;

/// A readable alert of a page.
pub(crate) struct Decoded {
    pub item: FetchItem,
    pub key: Option<VersionKey>,
    /// The update time (`lastUpdateTime` / `lastUpdateDateTime`).
    pub time: Option<Timestamp>,
    /// `createdDateTime` (Graph: the tie narrowing uses it).
    pub created: Option<Timestamp>,
    pub repaired: bool,
    /// The alert's id, kept only when it has no version key (for the warning).
    pub unkeyed_id: Option<String>,
}

/// Decodes `element`, the `index`-th of its page; an element that cannot be read becomes an
/// [`Unreadable`] keyed at `fallback` if its own time cannot be recovered.
pub(crate) fn decode(
    source: Source,
    element: &[u8],
    index: u64,
    fallback: Timestamp,
) -> Result<Decoded, Box<Unreadable>> {
    let bad = |e: serde_json::Error| {
        Box::new(unreadable(
            source,
            element,
            format!("value[{index}]: {e}"),
            fallback,
        ))
    };
    match source {
        Source::Mde => {
            let a = alert_model::parse_alert(element).map_err(bad)?;
            let key = a.version_key();
            Ok(Decoded {
                time: a.last_update_time,
                created: None,
                repaired: !a.repairs.is_empty(),
                unkeyed_id: key.is_none().then(|| a.id.clone()).flatten(),
                key,
                item: FetchItem::Alert(Box::new(a)),
            })
        }
        Source::Graph => {
            let a = alert_model::parse_lenient::<alert_model::GraphAlert>(element).map_err(bad)?;
            let key = a.version_key();
            Ok(Decoded {
                time: a.last_update_date_time,
                created: a.created_date_time,
                repaired: !a.repairs.is_empty(),
                unkeyed_id: key.is_none().then(|| a.id.clone()).flatten(),
                key,
                item: FetchItem::Graph(Box::new(a)),
            })
        }
    }
}

/// An element that cannot be read, with whatever id and update time can be recovered.
pub(crate) fn unreadable(
    source: Source,
    element: &[u8],
    error: String,
    at: Timestamp,
) -> Unreadable {
    match source {
        Source::Mde => alert_model::unreadable(element, error, at),
        Source::Graph => alert_model::unreadable_of::<alert_model::GraphAlert>(element, error, at),
    }
}
