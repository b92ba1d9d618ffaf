//! The set of alert versions already sent, indexed by time so that it can be pruned below
//! `watermark - overlap` (older versions are never re-read).

use std::collections::{BTreeMap, HashSet};

use alert_model::{Timestamp, VersionKey};

#[derive(Debug, Default)]
pub(crate) struct Seen {
    by_time: BTreeMap<Timestamp, HashSet<String>>,
    len: usize,
}

impl Seen {
    /// True if the version is new (and now recorded).
    pub fn insert(&mut self, key: &VersionKey) -> bool {
        let new = self
            .by_time
            .entry(key.last_update_time)
            .or_default()
            .insert(key.id.clone());
        self.len += usize::from(new);
        new
    }

    pub fn contains(&self, key: &VersionKey) -> bool {
        self.by_time
            .get(&key.last_update_time)
            .is_some_and(|s| s.contains(&key.id))
    }

    /// Forgets versions with `lastUpdateTime < t`.
    pub fn prune_below(&mut self, t: Timestamp) {
        let keep = self.by_time.split_off(&t);
        let dropped: usize = self.by_time.values().map(HashSet::len).sum();
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
        assert_eq!(s.len(), 3);
        s.prune_below(t("2026-01-01T00:00:01Z"));
        assert_eq!(s.len(), 2);
        assert!(!s.contains(&k("a", "2026-01-01T00:00:00Z")));
        assert!(s.contains(&k("b", "2026-01-01T00:00:01Z")));
    }
}
