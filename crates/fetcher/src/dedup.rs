//! The set of alert versions already sent, indexed by time so that it can be pruned below
//! `watermark - overlap` (older versions are never re-read).
//!
//! Compact because it holds every version of the overlap window: most times carry one alert,
//! so a time holds one boxed id and only a tie gets a hash set (a dense 1M-alert backlog keeps
//! ≈7,600 versions here; a set per time cost ≈250 bytes each, this ≈80).

use std::collections::{BTreeMap, HashSet};

use alert_model::{Timestamp, VersionKey};

#[derive(Debug)]
enum Ids {
    One(Box<str>),
    Many(HashSet<Box<str>>),
}

impl Ids {
    fn contains(&self, id: &str) -> bool {
        match self {
            Ids::One(one) => **one == *id,
            Ids::Many(set) => set.contains(id),
        }
    }

    fn len(&self) -> usize {
        match self {
            Ids::One(_) => 1,
            Ids::Many(set) => set.len(),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Seen {
    by_time: BTreeMap<Timestamp, Ids>,
    len: usize,
}

impl Seen {
    /// True if the version is new (and now recorded).
    pub fn insert(&mut self, key: &VersionKey) -> bool {
        let id: &str = &key.id;
        let new = match self.by_time.get_mut(&key.last_update_time) {
            None => {
                self.by_time
                    .insert(key.last_update_time, Ids::One(id.into()));
                true
            }
            Some(ids) if ids.contains(id) => false,
            Some(Ids::Many(set)) => set.insert(id.into()),
            Some(ids) => {
                if let Ids::One(first) = ids {
                    let first = std::mem::take(first);
                    *ids = Ids::Many(HashSet::from([first, id.into()]));
                }
                true
            }
        };
        self.len += usize::from(new);
        new
    }

    pub fn contains(&self, key: &VersionKey) -> bool {
        self.by_time
            .get(&key.last_update_time)
            .is_some_and(|ids| ids.contains(&key.id))
    }

    /// Forgets versions with `lastUpdateTime < t`.
    pub fn prune_below(&mut self, t: Timestamp) {
        let keep = self.by_time.split_off(&t);
        let dropped: usize = self.by_time.values().map(Ids::len).sum();
        self.len -= dropped;
        self.by_time = keep;
    }

    pub fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_contains_prune() {
        let t = |s: &str| Timestamp::parse(s).unwrap();
        let k = |id: &str, ts: &str| VersionKey {
            id: id.into(),
            last_update_time: t(ts),
        };
        let mut s = Seen::default();
        assert!(s.insert(&k("a", "2026-01-01T00:00:00Z")));
        assert!(!s.insert(&k("a", "2026-01-01T00:00:00Z")));
        assert!(
            s.insert(&k("a", "2026-01-01T00:00:01Z")),
            "an update is a new version"
        );
        assert!(s.insert(&k("b", "2026-01-01T00:00:01Z")));
        assert!(
            !s.insert(&k("b", "2026-01-01T00:00:01Z")),
            "a tie holds both"
        );
        assert!(s.insert(&k("c", "2026-01-01T00:00:01Z")));
        assert!(s.contains(&k("a", "2026-01-01T00:00:01Z")));
        assert_eq!(s.len(), 4);
        s.prune_below(t("2026-01-01T00:00:01Z"));
        assert_eq!(s.len(), 3);
        assert!(!s.contains(&k("a", "2026-01-01T00:00:00Z")));
        assert!(s.contains(&k("b", "2026-01-01T00:00:01Z")));
    }
}
