//! The pagers against a reference model: an in-memory API that answers a query exactly as the
//! documented rules say (filter, order by `(time, id)`, `$skip`, `$top`; Graph's `$skip` cap
//! asserted), updates interleaved with the requests in any order (an update moves an alert to
//! a new latest time, so it leaves any tie), and a dedup set standing in for the poller's.
//!
//! Properties: after every page, every current version below the proposed watermark has been
//! emitted (the watermark never passes a version the API's ordered result still holds); after
//! the updates stop, one more cycle from the watermark emits every current version.

use std::collections::{BTreeMap, HashSet};

use alert_model::Timestamp;
use proptest::prelude::*;

use super::{Note, PageRead, Pager, Query};
use crate::Source;

fn t(k: u64) -> Timestamp {
    Timestamp::from_unix_nanos(1_767_225_600_000_000_000 + i128::from(k) * 100_000)
        .unwrap_or_else(Timestamp::now)
}

/// The tenant: id → (update time, created time).
struct Api {
    alerts: BTreeMap<u32, (Timestamp, Timestamp)>,
    clock: u64,
    max_skip: Option<u64>,
    requests: u64,
    /// Alerts the pager may legitimately not read (an unwalkable tie).
    unreachable: HashSet<u32>,
}

impl Api {
    fn admits(q: &Query, l: Timestamp, c: Timestamp) -> bool {
        let lower = if q.exclusive { l > q.from } else { l >= q.from };
        let cr = q.created.is_none_or(|r| {
            r.lo.is_none_or(|(b, incl)| if incl { c >= b } else { c > b })
                && r.hi
                    .is_none_or(|(b, incl)| if incl { c <= b } else { c < b })
        });
        lower && q.until.is_none_or(|u| l <= u) && cr
    }

    /// The page for `q` and the `(id, time)` of its elements.
    fn answer(&mut self, q: &Query, top: u32) -> Result<(PageRead, Vec<(u32, Timestamp)>), String> {
        self.requests += 1;
        if let Some(m) = self.max_skip
            && q.skip > m
        {
            return Err(format!("$skip {} over the cap {m}", q.skip));
        }
        let mut all: Vec<(Timestamp, u32, Timestamp)> = self
            .alerts
            .iter()
            .filter(|(_, (l, c))| Self::admits(q, *l, *c))
            .map(|(id, (l, c))| (*l, *id, *c))
            .collect();
        all.sort();
        let total = all.len() as u64;
        let mut page = PageRead::default();
        let mut ids = Vec::new();
        for (l, id, c) in all.into_iter().skip(q.skip as usize).take(top as usize) {
            page.items += 1;
            page.saw(l, Some(c));
            ids.push((id, l));
        }
        page.next_link = q.skip + page.items < total;
        Ok((page, ids))
    }

    fn apply(&mut self, op: u32) {
        let n = self.alerts.len() as u32;
        if n == 0 {
            return;
        }
        self.clock += 1;
        let now = t(self.clock);
        if let Some(a) = self.alerts.get_mut(&(op % n)) {
            a.0 = now;
        }
    }
}

/// Runs one cycle from `from`; checks the watermark after every page.
fn cycle(
    api: &mut Api,
    pager: &mut Pager,
    ops: &mut impl Iterator<Item = u32>,
    emitted: &mut HashSet<(u32, Timestamp)>,
    notes: &mut Vec<Note>,
) -> Result<Timestamp, String> {
    let mut watermark = pager.query().from;
    for _ in 0..20_000 {
        if let Some(op) = ops.next() {
            api.apply(op);
        }
        let (q, top) = (*pager.query(), pager.size());
        let (mut page, ids) = api.answer(&q, top)?;
        for k in ids {
            if emitted.insert(k) {
                page.new += 1;
            } else {
                page.dups += 1;
            }
        }
        pager.forwarded(page.new);
        let adv = pager.page(&page).map_err(|e| format!("{e:?}"))?;
        if let Some(w) = adv.watermark {
            watermark = watermark.max(w);
        }
        for (id, (l, _)) in &api.alerts {
            if *l < watermark && !emitted.contains(&(*id, *l)) && !api.unreachable.contains(id) {
                return Err(format!(
                    "alert {id} at {l} is below the watermark {watermark} and was never emitted (query {q:?})"
                ));
            }
        }
        notes.extend(adv.notes);
        if adv.done {
            return Ok(watermark);
        }
    }
    Err("the cycle did not end".into())
}

/// `groups`: (alerts sharing one update time, distinct created times among them).
fn tenant(groups: &[(u32, u32)], max_skip: Option<u64>) -> Api {
    let mut alerts = BTreeMap::new();
    let mut id = 0u32;
    let mut clock = 0u64;
    for &(size, created) in groups {
        clock += 1;
        for k in 0..size {
            alerts.insert(id, (t(clock), t(u64::from(k % created.max(1)))));
            id += 1;
        }
    }
    Api {
        alerts,
        clock,
        max_skip,
        requests: 0,
        unreachable: HashSet::new(),
    }
}

fn run(
    source: Source,
    groups: &[(u32, u32)],
    page_size: u32,
    max_skip: Option<u64>,
    ops: Vec<u32>,
) -> Result<(Api, Vec<Note>), String> {
    let mut api = tenant(groups, max_skip);
    let mut emitted = HashSet::new();
    let mut notes = Vec::new();
    let mut ops = ops.into_iter();
    let mut from = t(0);
    // Cycles while updates go on, then one quiet cycle.
    for _ in 0..50 {
        let mut pager = Pager::with_limits(source, from, page_size, max_skip);
        from = cycle(&mut api, &mut pager, &mut ops, &mut emitted, &mut notes)?;
        if ops.len() == 0 {
            break;
        }
    }
    let mut pager = Pager::with_limits(source, from, page_size, max_skip);
    cycle(
        &mut api,
        &mut pager,
        &mut std::iter::empty(),
        &mut emitted,
        &mut notes,
    )?;
    for (id, (l, _)) in &api.alerts {
        if !emitted.contains(&(*id, *l)) {
            return Err(format!("alert {id} at {l} was never emitted"));
        }
    }
    Ok((api, notes))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn mde_pager_skips_no_version_under_any_interleaving_of_updates(
        groups in proptest::collection::vec((1u32..12, Just(1u32)), 1..8),
        page_size in 1u32..6,
        ops in proptest::collection::vec(any::<u32>(), 0..40),
    ) {
        let r = run(Source::Mde, &groups, page_size, None, ops);
        prop_assert!(r.is_ok(), "{:?}", r.err());
    }

    /// Ties bigger than `$skip` + `$top` reach, narrowed by `createdDateTime`; no run of versions
    /// identical in both times exceeds the reach (that is the unwalkable case below).
    #[test]
    fn graph_pager_skips_no_version_under_any_interleaving_of_updates(
        groups in proptest::collection::vec((1u32..40, 1u32..40), 1..6),
        page_size in 1u32..5,
        max_skip in 0u64..6,
        ops in proptest::collection::vec(any::<u32>(), 0..40),
    ) {
        let reach = max_skip as u32 + page_size;
        let groups: Vec<(u32, u32)> = groups
            .into_iter()
            .map(|(size, created)| (size, created.max(size.div_ceil(reach))))
            .collect();
        let r = run(Source::Graph, &groups, page_size, Some(max_skip), ops);
        prop_assert!(r.is_ok(), "{:?}", r.err());
        let (_, notes) = r.unwrap_or_else(|_| unreachable!());
        prop_assert!(!notes.iter().any(|n| matches!(n, Note::Unwalkable { .. })), "{notes:?}");
    }
}

#[test]
fn an_unwalkable_graph_tie_warns_once_and_the_alerts_after_it_arrive() {
    // 30 versions identical in both times, reach 2 + 3 = 5; 5 alerts after them.
    let mut api = tenant(&[(30, 1), (1, 1), (1, 1), (1, 1), (1, 1), (1, 1)], Some(2));
    api.unreachable = (0..30).collect();
    let mut emitted = HashSet::new();
    let mut notes = Vec::new();
    let mut pager = Pager::with_limits(Source::Graph, t(0), 3, Some(2));
    let w = cycle(
        &mut api,
        &mut pager,
        &mut std::iter::empty(),
        &mut emitted,
        &mut notes,
    );
    assert_eq!(w, Ok(t(6)), "the watermark moves past the tie");
    let unwalkable: Vec<_> = notes
        .iter()
        .filter(|n| matches!(n, Note::Unwalkable { .. }))
        .collect();
    assert_eq!(
        unwalkable,
        [&Note::Unwalkable {
            at: t(1),
            created: Some(t(0)),
            reachable: 5
        }]
    );
    for id in 30..35 {
        assert!(emitted.contains(&(id, api.alerts[&id].0)), "alert {id}");
    }
    assert!(
        emitted.len() >= 5 + 5,
        "the reachable part of the tie is read"
    );
    assert!(api.requests < 30, "{} requests", api.requests);
}

#[test]
fn a_graph_page_out_of_order_is_an_error() {
    let mut pager = Pager::new(Source::Graph, t(0), 10);
    let mut page = PageRead::default();
    for k in [5, 3, 1] {
        page.items += 1;
        page.saw(t(k), None);
    }
    let e = pager.page(&page).unwrap_err();
    assert_eq!((e.before, e.after), (t(5), t(3)));
    // MDE keeps its behaviour (its API honours `$orderby`).
    let mut pager = Pager::new(Source::Mde, t(0), 10);
    assert!(pager.page(&page).is_ok());
}
