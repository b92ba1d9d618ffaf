//! Microsoft Graph `alerts_v2` paging: OData on `lastUpdateDateTime`, `$top` ≤ 1000, `$skip` ≤
//! 500 and `$orderby` honoured only when asked (without it the newest come first: every page's
//! order is checked).
//!
//! A tie (a whole page sharing one `lastUpdateDateTime` L) cannot be paged with `$skip` beyond
//! `$skip` + `$top` = 1,500 versions, and `id` is not filterable; `createdDateTime` is. So the
//! tie is read in `createdDateTime` ranges, starting with all of it: a range is paged with
//! `$skip` up to the cap; a range still full at the cap is split at the median
//! `createdDateTime` read in it (a range holding one value c becomes `lt c`, `eq c`, `gt c`)
//! and its parts are read in turn. A range that is one `createdDateTime` value and still too
//! big cannot be walked: one warning names the tie's time, the `createdDateTime` and how many
//! versions the caps reach, and paging goes on past the tie (never a stall). Walkable ranges
//! are walked again until a walk finds nothing new, as MDE ties are.

use alert_model::Timestamp;

use super::{Created, Note, PageRead, Pager, Query};

/// The largest `$top` Graph accepts for alerts_v2.
pub(crate) const MAX_TOP: u32 = 1000;
/// The largest `$skip` Graph accepts for alerts_v2 (the current constraints text).
pub(crate) const MAX_SKIP: u64 = 500;

pub(super) fn render(q: &Query, top: u32) -> String {
    let op = if q.exclusive { "gt" } else { "ge" };
    let mut f = format!("lastUpdateDateTime {op} {}", q.from);
    if let Some(u) = q.until {
        f.push_str(&format!(" and lastUpdateDateTime le {u}"));
    }
    match q.created {
        Some(Created {
            lo: Some((a, true)),
            hi: Some((b, true)),
        }) if a == b => f.push_str(&format!(" and createdDateTime eq {a}")),
        Some(c) => {
            if let Some((t, incl)) = c.lo {
                let op = if incl { "ge" } else { "gt" };
                f.push_str(&format!(" and createdDateTime {op} {t}"));
            }
            if let Some((t, incl)) = c.hi {
                let op = if incl { "le" } else { "lt" };
                f.push_str(&format!(" and createdDateTime {op} {t}"));
            }
        }
        None => {}
    }
    let mut s = format!(
        "$filter={}&$orderby=lastUpdateDateTime%20asc&$top={top}",
        f.replace(' ', "%20")
    );
    if q.skip > 0 {
        s.push_str(&format!("&$skip={}", q.skip));
    }
    s
}

/// The `createdDateTime` ranges of one tie.
#[derive(Debug)]
pub(crate) struct Narrow {
    at: Timestamp,
    range: Created,
    /// Ranges still to read (a stack).
    todo: Vec<Created>,
    /// Ranges read whole in this walk (walked again if the walk found anything new).
    done: Vec<Created>,
    /// `createdDateTime` of the versions read in `range` (where to split it).
    created: Vec<Timestamp>,
}

impl Narrow {
    /// Splits the current range at the `createdDateTime`s read in it (the parts are walked
    /// next), or, when it cannot be split, notes the tie as unwalkable (`reachable` versions).
    fn split_or_warn(&mut self, reachable: u64, notes: &mut Vec<Note>) {
        match split(self.range, &self.created) {
            Some(parts) => {
                notes.push(Note::Split {
                    at: self.at,
                    parts: parts.len(),
                });
                self.todo.extend(parts.into_iter().rev());
            }
            None => notes.push(Note::Unwalkable {
                at: self.at,
                created: self.created.first().copied(),
                reachable,
            }),
        }
    }
}

impl Pager {
    /// The next query after a readable page; true when the cycle is done.
    pub(super) fn graph_next(
        &mut self,
        page: &PageRead,
        full: bool,
        requested: u32,
        notes: &mut Vec<Note>,
    ) -> bool {
        if let Some(n) = self.narrow.as_mut() {
            self.walk.items += page.items;
            n.created.extend_from_slice(&page.created_at_last);
            if full {
                self.narrow_full(page.items, requested, notes);
            } else {
                n.done.push(n.range);
                self.next_range(notes);
            }
            return false;
        }
        if !full {
            return true;
        }
        if let Some(l) = self.keyset_next(page) {
            self.start_walk(l, page, notes);
            self.narrow = Some(Narrow {
                at: l,
                range: Created::default(),
                todo: Vec::new(),
                done: Vec::new(),
                created: page.created_at_last.clone(),
            });
            // This page was the first of the whole tie's range.
            self.q = Query {
                until: Some(l),
                created: Some(Created::default()),
                ..Query::keyset(l)
            };
            self.narrow_full(page.items, requested, notes);
        }
        false
    }

    /// A full page in the current range: page on with `$skip` up to the cap, then split.
    fn narrow_full(&mut self, items: u64, requested: u32, notes: &mut Vec<Note>) {
        let max_skip = self.max_skip.unwrap_or(u64::MAX);
        let next = self.q.skip + items;
        if next <= max_skip {
            self.q.skip = next;
            return;
        }
        if self.q.skip < max_skip {
            // The last reachable page (it re-reads a few versions: deduplicated).
            self.q.skip = max_skip;
            return;
        }
        let Some(n) = self.narrow.as_mut() else {
            return;
        };
        n.split_or_warn(max_skip.saturating_add(u64::from(requested)), notes);
        self.next_range(notes);
    }

    /// Isolating (or stepping over) a broken element at `at` needs a `$skip` beyond the cap:
    /// outside a tie walk, start one at `at` (its ranges are paged from `$skip` 0); inside one,
    /// split the current range at the `createdDateTime`s read so far, so that fewer versions
    /// precede the element in its part. A range that cannot be split is unwalkable (warned).
    pub(super) fn beyond_skip_cap(
        &mut self,
        at: Timestamp,
        created: &[Timestamp],
        notes: &mut Vec<Note>,
    ) {
        let Some(n) = self.narrow.as_mut() else {
            notes.push(Note::Walk {
                at,
                page_size: self.size,
            });
            self.walk = super::Walk {
                walks: 1,
                ..Default::default()
            };
            self.narrow = Some(Narrow {
                at,
                range: Created::default(),
                todo: Vec::new(),
                done: Vec::new(),
                created: Vec::new(),
            });
            self.q = Query {
                until: Some(at),
                created: Some(Created::default()),
                ..Query::keyset(at)
            };
            return;
        };
        n.created.extend_from_slice(created);
        n.split_or_warn(self.max_skip.unwrap_or(u64::MAX), notes);
        self.next_range(notes);
    }

    /// The next range of the tie, the next walk over it, or past it.
    fn next_range(&mut self, notes: &mut Vec<Note>) {
        loop {
            let Some(n) = self.narrow.as_mut() else {
                return;
            };
            if let Some(r) = n.todo.pop() {
                n.range = r;
                n.created.clear();
                self.q = Query {
                    skip: 0,
                    created: Some(r),
                    ..self.q
                };
                return;
            }
            let at = n.at;
            if n.done.is_empty() {
                // Nothing walkable is left to walk again: the tie must not hold the watermark.
                self.walk.new = 0;
                self.walk.before = Some(self.walk.items);
            }
            if self.walk_again(at, notes) {
                if let Some(n) = self.narrow.as_mut() {
                    n.todo = n.done.drain(..).rev().collect();
                }
                continue;
            }
            self.narrow = None;
            return;
        }
    }
}

/// Splits a range that is too big to page at the median of the `createdDateTime`s read in it;
/// `None` if it holds one value only and is that value already.
fn split(range: Created, created: &[Timestamp]) -> Option<Vec<Created>> {
    let mut v = created.to_vec();
    v.sort_unstable();
    v.dedup();
    match v.len() {
        0 => None,
        1 => {
            let c = v[0];
            let exact = Created {
                lo: Some((c, true)),
                hi: Some((c, true)),
            };
            (range != exact).then(|| {
                vec![
                    Created {
                        lo: range.lo,
                        hi: Some((c, false)),
                    },
                    exact,
                    Created {
                        lo: Some((c, false)),
                        hi: range.hi,
                    },
                ]
            })
        }
        len => {
            let m = v[len / 2];
            Some(vec![
                Created {
                    lo: range.lo,
                    hi: Some((m, false)),
                },
                Created {
                    lo: Some((m, true)),
                    hi: range.hi,
                },
            ])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn query_renders_odata() {
        let t = ts("2026-01-01T00:00:00.1234567Z");
        let c = ts("2025-12-31T23:00:00Z");
        let mut q = Query {
            until: Some(t),
            skip: 500,
            created: Some(Created {
                lo: Some((c, false)),
                hi: None,
            }),
            ..Query::keyset(t)
        };
        assert_eq!(
            render(&q, 1000),
            "$filter=lastUpdateDateTime%20ge%202026-01-01T00:00:00.1234567Z%20and%20lastUpdateDateTime%20le%202026-01-01T00:00:00.1234567Z%20and%20createdDateTime%20gt%202025-12-31T23:00:00Z&$orderby=lastUpdateDateTime%20asc&$top=1000&$skip=500"
        );
        q.created = Some(Created {
            lo: Some((c, true)),
            hi: Some((c, true)),
        });
        q.skip = 0;
        assert!(render(&q, 7).ends_with("%20and%20createdDateTime%20eq%202025-12-31T23:00:00Z&$orderby=lastUpdateDateTime%20asc&$top=7"));
        assert_eq!(
            render(
                &Query {
                    exclusive: true,
                    ..Query::keyset(c)
                },
                3
            ),
            "$filter=lastUpdateDateTime%20gt%202025-12-31T23:00:00Z&$orderby=lastUpdateDateTime%20asc&$top=3"
        );
    }

    #[test]
    fn a_range_splits_at_the_median_and_a_single_value_range_cannot() {
        let (a, b, c) = (
            ts("2026-01-01T00:00:01Z"),
            ts("2026-01-01T00:00:02Z"),
            ts("2026-01-01T00:00:03Z"),
        );
        let parts = split(Created::default(), &[c, a, b, a]).unwrap();
        assert_eq!(
            parts,
            vec![
                Created {
                    lo: None,
                    hi: Some((b, false))
                },
                Created {
                    lo: Some((b, true)),
                    hi: None
                },
            ]
        );
        let parts = split(parts[1], &[b, b]).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(split(parts[1], &[b, b]), None);
        assert_eq!(split(Created::default(), &[]), None);
    }
}
