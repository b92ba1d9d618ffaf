//! The pager: a pure state machine (no I/O) that turns what one page held into the next query.
//! The [`crate::Poller`] is its async shell (HTTP, retries, budget, dedup, the channel).
//!
//! Shared by both sources (this file): the keyset on the update time (the next page starts at
//! the last page's final time, `ge`; re-read boundary versions are dropped by the dedup set), the
//! watermark each page proposes (never above the cap an unsettled tie walk set), the re-walks of
//! a tie until a walk finds nothing new, page-size growth after a shrink, and poison isolation
//! (the element that breaks a page is fetched alone, then stepped over).
//!
//! Per source: [`mde`] (query syntax, and ties walked with an unbounded `$skip`) and [`graph`]
//! (query syntax, `$top` ≤ 1000 and `$skip` ≤ 500, ties narrowed by `createdDateTime`, and the
//! order check).

pub(crate) mod graph;
pub(crate) mod mde;
#[cfg(test)]
mod model;

use alert_model::Timestamp;

use crate::Source;

/// At most this many walks over one tie per cycle (the last must find nothing new).
const TIE_WALKS: u32 = 4;

/// A `createdDateTime` range (Graph's tie narrowing); each end `(time, inclusive)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Created {
    pub lo: Option<(Timestamp, bool)>,
    pub hi: Option<(Timestamp, bool)>,
}

/// One page request: the bounds of the `$filter` and `$skip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Query {
    pub from: Timestamp,
    /// `gt` instead of `ge`.
    pub exclusive: bool,
    /// `le until` (only in a tie walk).
    pub until: Option<Timestamp>,
    pub skip: u64,
    /// Graph only: the `createdDateTime` range of a narrowed tie.
    pub created: Option<Created>,
}

impl Query {
    pub(crate) fn keyset(from: Timestamp) -> Query {
        Query {
            from,
            exclusive: false,
            until: None,
            skip: 0,
            created: None,
        }
    }

    /// `$filter`, `$orderby`, `$top`, `$skip` (and `$expand` for MDE) in the source's syntax.
    pub(crate) fn render(&self, source: Source, top: u32, expand: bool) -> String {
        match source {
            Source::Mde => mde::render(self, top, expand),
            Source::Graph => graph::render(self, top),
        }
    }
}

/// What reading one page found (also for a page that broke off part way).
#[derive(Debug, Default)]
pub(crate) struct PageRead {
    /// Elements in the page (readable or not).
    pub items: u64,
    /// Versions forwarded (not duplicates).
    pub new: u64,
    /// Versions already forwarded before (overlap and boundary re-reads).
    pub dups: u64,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    /// Elements read at the end of the page that share `last`.
    pub last_run: u64,
    pub next_link: bool,
    /// `createdDateTime` of the elements read at `last` (Graph's tie narrowing).
    pub created_at_last: Vec<Timestamp>,
    /// The first element whose time is below the one before it: `(before, it)`.
    pub out_of_order: Option<(Timestamp, Timestamp)>,
}

impl PageRead {
    pub(crate) fn saw(&mut self, t: Timestamp, created: Option<Timestamp>) {
        self.first.get_or_insert(t);
        if self.last == Some(t) {
            self.last_run += 1;
        } else if let Some(l) = self.last.filter(|l| t < *l) {
            self.out_of_order.get_or_insert((l, t));
            return;
        } else {
            self.last = Some(t);
            self.last_run = 1;
            self.created_at_last.clear();
        }
        if let Some(c) = created {
            self.created_at_last.push(c);
        }
    }
}

/// Something the shell should log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Note {
    /// A whole page shares one update time: walking the tie.
    Walk { at: Timestamp, page_size: u32 },
    /// Alerts kept moving during the tie walk: the watermark is held at the tie.
    Unsettled { at: Timestamp, walks: u32 },
    /// Graph: a `createdDateTime` range of the tie holds more than `$skip` + `$top` reach.
    Split { at: Timestamp, parts: usize },
    /// Graph: more versions share the update time and `createdDateTime` than the caps reach.
    Unwalkable {
        at: Timestamp,
        created: Option<Timestamp>,
        reachable: u64,
    },
}

/// What the shell does after a readable page.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Advance {
    /// Everything before this in the ordered result has been sent (before the cycle's
    /// previous watermark is taken into account).
    pub watermark: Option<Timestamp>,
    /// The cycle read to the end of the result.
    pub done: bool,
    pub notes: Vec<Note>,
}

/// The service returned a page out of `lastUpdateDateTime` order (it ignored `$orderby`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OrderIgnored {
    pub before: Timestamp,
    pub after: Timestamp,
}

/// Walks over the current tie: how many, and what the current one found.
#[derive(Debug, Default, Clone, Copy)]
struct Walk {
    walks: u32,
    /// New versions the current walk found.
    new: u64,
    /// Versions the current walk read (the tie's size at its end: a tie only shrinks, as
    /// updated alerts leave it, so an unchanged size means nothing shifted under the walk).
    items: u64,
    /// `items` of the walk before.
    before: Option<u64>,
}

/// One cycle's paging over `[from, now]`.
#[derive(Debug)]
pub(crate) struct Pager {
    source: Source,
    full_size: u32,
    /// `$skip` cap (Graph); `None`: unbounded.
    max_skip: Option<u64>,
    size: u32,
    q: Query,
    cap: Option<Timestamp>,
    walk: Walk,
    narrow: Option<graph::Narrow>,
}

impl Pager {
    pub(crate) fn new(source: Source, from: Timestamp, page_size: u32) -> Pager {
        let max_skip = (source == Source::Graph).then_some(graph::MAX_SKIP);
        Pager::with_limits(source, from, page_size, max_skip)
    }

    pub(crate) fn with_limits(
        source: Source,
        from: Timestamp,
        page_size: u32,
        max_skip: Option<u64>,
    ) -> Pager {
        Pager {
            source,
            full_size: page_size,
            max_skip,
            size: page_size,
            q: Query::keyset(from),
            cap: None,
            walk: Walk::default(),
            narrow: None,
        }
    }

    pub(crate) fn query(&self) -> &Query {
        &self.q
    }

    /// `$top` of the next request.
    pub(crate) fn size(&self) -> u32 {
        self.size
    }

    /// New versions a page forwarded (every page, readable or not: a tie walk that finds any
    /// is walked again).
    pub(crate) fn forwarded(&mut self, new: u64) {
        self.walk.new += new;
    }

    /// A page was read completely: the watermark it proposes and the next query.
    pub(crate) fn page(&mut self, page: &PageRead) -> Result<Advance, OrderIgnored> {
        if self.source == Source::Graph
            && let Some((before, after)) = page.out_of_order
        {
            return Err(OrderIgnored { before, after });
        }
        let requested = self.size;
        // A readable page after shrinking: grow back step by step (a poison alert ahead
        // shrinks it again; a passing fault must not leave the cycle on tiny pages).
        self.size = self.size.saturating_mul(10).min(self.full_size);
        let watermark = page.last.map(|l| self.cap.map_or(l, |c| c.min(l)));
        // MDE: a server that serves less than `$top` says so with a nextLink; a short page
        // without one is the end of the result. Graph: there is more exactly when the page has
        // a nextLink. (The link itself is not followed: it is `$skip` paging, capped on Graph,
        // which keyset paging replaces.)
        let more = page.next_link && page.items > 0;
        let full = match self.source {
            Source::Mde => page.items >= u64::from(requested) || more,
            Source::Graph => more,
        };
        let mut notes = Vec::new();
        let done = match self.source {
            Source::Mde => self.mde_next(page, full, &mut notes),
            Source::Graph => self.graph_next(page, full, requested, &mut notes),
        };
        Ok(Advance {
            watermark,
            done,
            notes,
        })
    }

    /// Outside a tie: keyset from the page's last time, or past an isolated element. Returns
    /// the time of a tie that starts here (a whole page at `$skip` 0 shares one time).
    fn keyset_next(&mut self, page: &PageRead) -> Option<Timestamp> {
        let q = self.q;
        self.q = match (q.skip, page.first, page.last) {
            // Past an isolated element and the time moved on: back to keyset.
            (1.., _, Some(l)) if l > q.from => Query::keyset(l),
            // Stepping past an unreadable element: keep skipping through this filter.
            (1.., _, _) | (_, _, None) => Query {
                skip: q.skip + page.items,
                ..q
            },
            (0, Some(f), Some(l)) if f == l => return Some(l),
            (0, _, Some(l)) => Query::keyset(l),
        };
        None
    }

    /// Starts the walks over a tie at `at` (the walk that just read a page of it is the first).
    fn start_walk(&mut self, at: Timestamp, page: &PageRead, notes: &mut Vec<Note>) {
        notes.push(Note::Walk {
            at,
            page_size: self.size,
        });
        self.walk = Walk {
            walks: 1,
            new: page.new,
            items: page.items,
            before: None,
        };
    }

    /// The end of a walk over the tie at `u`: walk again until a walk finds nothing new over a
    /// tie that kept its size (alerts leaving the tie shift the others to lower positions, so
    /// a walk they shrank may have skipped one), else go past it. Returns false when leaving.
    fn walk_again(&mut self, u: Timestamp, notes: &mut Vec<Note>) -> bool {
        let w = self.walk;
        let unsettled = w.new > 0 || w.before != Some(w.items);
        if unsettled && w.walks < TIE_WALKS {
            self.walk = Walk {
                walks: w.walks + 1,
                new: 0,
                items: 0,
                before: Some(w.items),
            };
            return true;
        }
        if unsettled {
            // The watermark could otherwise jump far past the tie within this cycle.
            self.cap = Some(self.cap.map_or(u, |c| c.min(u)));
            notes.push(Note::Unsettled {
                at: u,
                walks: self.walk.walks,
            });
        }
        self.q = Query {
            exclusive: true,
            ..Query::keyset(u)
        };
        false
    }

    /// Can the element that broke a page at `index` be fetched alone?
    pub(crate) fn can_isolate(&self, index: u64, inside_element: bool) -> bool {
        self.size > 1 && (inside_element || index > 0)
    }

    /// Straight to the element that broke the page, alone: keyset from the last time read,
    /// `$skip` only over the elements read at that time (a long `$skip` would miss alerts if
    /// updates shift the result meanwhile). Where that `$skip` is beyond the cap (Graph), the
    /// tie is narrowed further instead, so the element comes within reach.
    pub(crate) fn isolate(&mut self, index: u64, page: &PageRead) -> Vec<Note> {
        let q = self.q;
        let next = match page.last {
            Some(l) if index > 0 => Query {
                from: l,
                exclusive: false,
                skip: if l == q.from && !q.exclusive {
                    q.skip
                } else {
                    0
                } + page.last_run,
                ..q
            },
            _ => Query {
                skip: q.skip + index,
                ..q
            },
        };
        let mut notes = Vec::new();
        if self.max_skip.is_some_and(|m| next.skip > m) {
            self.beyond_skip_cap(next.from, &page.created_at_last, &mut notes);
            return notes;
        }
        self.q = next;
        self.size = 1;
        notes
    }

    /// The element alone still breaks: it was forwarded as unreadable; step over it.
    pub(crate) fn step_over(&mut self) -> Vec<Note> {
        self.size = self.full_size;
        let mut notes = Vec::new();
        if self.max_skip.is_some_and(|m| self.q.skip + 1 > m) {
            self.beyond_skip_cap(self.q.from, &[], &mut notes);
            return notes;
        }
        self.q.skip += 1;
        notes
    }
}
