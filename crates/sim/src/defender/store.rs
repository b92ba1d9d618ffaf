//! The simulated tenant's alerts: explicit alerts (inserted, updated, loaded from captures)
//! plus an optional lazily generated range (up to millions, nothing stored per alert until it
//! is updated). Both are ordered by `(lastUpdateTime, id)`, which is also the order served
//! under `$orderby=lastUpdateTime asc`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use alert_model::Timestamp;
use serde_json::Value;

/// One Defender tick is 100 ns; `lastUpdateTime` moves in steps of 1/300 s.
const NANOS_PER_QUANTUM: i128 = 1_000_000_000 / 300;

/// Rounds to Defender's observed `lastUpdateTime` grid (1/300 s, written with 7 digits).
pub fn quantize(t: Timestamp) -> Timestamp {
    let n = t.unix_nanos();
    // +100 ns: a grid point written with 7 digits may sit just below the exact fraction.
    let k = ((n + 100) * 300).div_euclid(1_000_000_000);
    // k / 300 s, rounded to 100 ns.
    let nanos = (k * 1_000_000_000 / 300 + 50).div_euclid(100) * 100;
    Timestamp::from_unix_nanos(nanos).unwrap_or(t)
}

/// The next grid point strictly after `t`.
pub fn next_quantum(t: Timestamp) -> Timestamp {
    quantize(Timestamp::from_unix_nanos(t.unix_nanos() + NANOS_PER_QUANTUM + 100).unwrap_or(t))
}

/// A lazily generated block of alerts: alert `i` (0-based) has id [`generated_id`]`(i)` and
/// `lastUpdateTime = start + (i / tie) * step`.
#[derive(Debug, Clone)]
pub struct Generated {
    pub count: u64,
    pub start: Timestamp,
    pub step: std::time::Duration,
    /// How many consecutive alerts share one `lastUpdateTime` (1 = all distinct).
    pub tie: u64,
}

impl Generated {
    fn lut(&self, i: u64) -> Timestamp {
        let steps = u32::try_from(i / self.tie.max(1)).unwrap_or(u32::MAX);
        self.start.saturating_add(self.step.saturating_mul(steps))
    }
}

/// The fields `Store::synth` sets on a template.
const SYNTH_FIELDS: [&str; 9] = [
    "id",
    "incidentId",
    "status",
    "assignedTo",
    "resolvedTime",
    "alertCreationTime",
    "firstEventTime",
    "lastEventTime",
    "lastUpdateTime",
];

/// (alertCreationTime, firstEventTime) of a synthesised alert.
fn synth_times(seed: u64, lut: Timestamp) -> (Timestamp, Timestamp) {
    let created = lut.saturating_sub(std::time::Duration::from_millis(1700 + seed % 900));
    let first = created.saturating_sub(std::time::Duration::from_secs(60 + seed % 240));
    (created, first)
}

/// `createdDateTime` of the Graph alert `Store::synth` makes for this seed and update time.
pub fn synth_created(seed: u64, lut: Timestamp) -> Timestamp {
    synth_times(seed, lut).0
}

/// The id of generated alert `i`: shaped like a real id and sorting in index order.
pub fn generated_id(i: u64) -> String {
    format!(
        "da{:018}_{}",
        638_300_000_000_000_000u64 + i,
        -(i as i64 % 1_000_000_007) - 1
    )
}

fn generated_index(id: &str) -> Option<u64> {
    let digits = id.strip_prefix("da")?.get(..18)?;
    digits
        .parse::<u64>()
        .ok()?
        .checked_sub(638_300_000_000_000_000)
}

/// A bound of the `$filter` on `lastUpdateTime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Ge(Timestamp),
    Gt(Timestamp),
    Le(Timestamp),
    Lt(Timestamp),
    Eq(Timestamp),
}

impl Bound {
    pub fn admits(&self, t: Timestamp) -> bool {
        match *self {
            Bound::Ge(b) => t >= b,
            Bound::Gt(b) => t > b,
            Bound::Le(b) => t <= b,
            Bound::Lt(b) => t < b,
            Bound::Eq(b) => t == b,
        }
    }
}

/// Where an alert's JSON comes from.
#[derive(Debug, Clone)]
pub enum Body {
    Json(Arc<Value>),
    Generated(u64),
}

/// The alerts of the simulated tenant.
#[derive(Debug, Default)]
pub struct Store {
    explicit: BTreeMap<(Timestamp, String), Body>,
    current: HashMap<String, Timestamp>,
    generated: Option<Generated>,
    /// Generated alerts that were updated and now live in `explicit`.
    moved: HashSet<u64>,
    templates: Vec<Value>,
    /// Each template serialised without the fields `synth` sets and without its leading `{`:
    /// generated alerts are written from these at memcpy speed (the backlog bench's mock).
    template_tails: Vec<Vec<u8>>,
    /// Alerts in the `value` array that lack `id` or `lastUpdateTime`: served with every page
    /// whose filter admits anything, in front of the ordered alerts.
    pub unkeyed: Vec<Value>,
    /// The mock's request sequence number when the store was last touched by a request;
    /// versions put now become visible "after request `clock`".
    pub clock: u64,
    visible_since: HashMap<String, u64>,
    /// Graph alerts_v2 (`lastUpdateDateTime`, lowercase enums) instead of MDE alerts.
    graph: bool,
}

impl Store {
    /// A store of Graph alerts_v2 alerts (synthesised by [`super::graph::synth`]).
    pub fn graph() -> Self {
        Self {
            graph: true,
            ..Self::default()
        }
    }

    /// The update-time field of this store's alerts.
    pub fn time_field(&self) -> &'static str {
        if self.graph {
            "lastUpdateDateTime"
        } else {
            "lastUpdateTime"
        }
    }

    pub fn new() -> Self {
        let templates = alert_model::samples::alerts()
            .into_iter()
            .filter_map(|a| serde_json::to_value(a).ok())
            .collect::<Vec<Value>>();
        let template_tails = templates
            .iter()
            .map(|t| {
                let mut t = t.clone();
                if let Some(obj) = t.as_object_mut() {
                    for k in SYNTH_FIELDS {
                        obj.remove(k);
                    }
                }
                let mut bytes = serde_json::to_vec(&t).unwrap_or_else(|_| b"{}".to_vec());
                bytes.remove(0);
                bytes
            })
            .collect();
        Self {
            templates,
            template_tails,
            ..Self::default()
        }
    }

    /// Number of current alerts (each at its latest version).
    pub fn len(&self) -> u64 {
        let generated = self.generated.as_ref().map_or(0, |g| g.count) - self.moved.len() as u64;
        generated + self.explicit.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn set_generated(&mut self, g: Option<Generated>) {
        self.generated = g;
        self.moved.clear();
    }

    /// Inserts or replaces an alert; its `id` and `lastUpdateTime` decide where it sorts.
    /// Returns false (and stores it as unkeyed) when either is missing or unparseable.
    pub fn put(&mut self, alert: Value) -> bool {
        let id = alert.get("id").and_then(Value::as_str).map(str::to_owned);
        let lut = alert
            .get(self.time_field())
            .and_then(Value::as_str)
            .and_then(|s| Timestamp::parse(s).ok());
        let (Some(id), Some(lut)) = (id, lut) else {
            self.unkeyed.push(alert);
            return false;
        };
        self.remove(&id);
        self.current.insert(id.clone(), lut);
        self.visible_since.insert(id.clone(), self.clock);
        self.explicit.insert((lut, id), Body::Json(Arc::new(alert)));
        true
    }

    fn remove(&mut self, id: &str) -> Option<Value> {
        if let Some(lut) = self.current.remove(id) {
            return match self.explicit.remove(&(lut, id.to_owned())) {
                Some(Body::Json(v)) => Some((*v).clone()),
                Some(Body::Generated(i)) => Some(self.render_generated(i)),
                None => None,
            };
        }
        let i = generated_index(id)?;
        let g = self.generated.as_ref()?;
        if i < g.count && self.moved.insert(i) {
            return Some(self.render_generated(i));
        }
        None
    }

    /// The request sequence number after which the current version of `id` became visible
    /// (0 for generated alerts never updated).
    pub fn visible_since(&self, id: &str) -> u64 {
        self.visible_since.get(id).copied().unwrap_or(0)
    }

    /// The current version of alert `id`.
    pub fn get(&self, id: &str) -> Option<Value> {
        if let Some(lut) = self.current.get(id) {
            return self
                .explicit
                .get(&(*lut, id.to_owned()))
                .map(|b| self.render(b));
        }
        let i = generated_index(id)?;
        let g = self.generated.as_ref()?;
        (i < g.count && !self.moved.contains(&i)).then(|| self.render_generated(i))
    }

    /// Moves alert `id` to `lastUpdateTime = max(at, old + 1 quantum)` and changes its status,
    /// as an analyst or automated investigation would. Returns the new time.
    pub fn update(&mut self, id: &str, at: Timestamp) -> Option<Timestamp> {
        let old = self.get(id)?;
        let old_lut = old
            .get(self.time_field())
            .and_then(Value::as_str)
            .and_then(|s| Timestamp::parse(s).ok());
        let mut new = self.remove(id)?;
        let mut lut = quantize(at);
        if let Some(o) = old_lut
            && lut <= o
        {
            lut = next_quantum(o);
        }
        let status = new.get("status").and_then(Value::as_str).unwrap_or("");
        let (status, assigned) = match status.to_ascii_lowercase().as_str() {
            "new" => ("InProgress", Value::from("secops@contoso.test")),
            "inprogress" => ("Resolved", Value::from("Automation")),
            _ => ("InProgress", Value::from("secops@contoso.test")),
        };
        let (status, resolved) = if self.graph {
            (
                if status == "Resolved" {
                    "resolved"
                } else {
                    "inProgress"
                },
                "resolvedDateTime",
            )
        } else {
            (status, "resolvedTime")
        };
        if let Some(obj) = new.as_object_mut() {
            obj.insert("status".into(), status.into());
            obj.insert("assignedTo".into(), assigned);
            obj.insert(self.time_field().into(), lut.to_string().into());
            if status.eq_ignore_ascii_case("resolved") {
                obj.insert(resolved.into(), lut.to_string().into());
            }
        }
        self.put(new);
        Some(lut)
    }

    /// A realistic new alert (from the sample templates) with this id and `lastUpdateTime`.
    pub fn synth(&self, seed: u64, id: &str, lut: Timestamp) -> Value {
        if self.graph {
            let (created, _) = synth_times(seed, lut);
            return super::graph::synth(seed, id, lut, created);
        }
        let mut v = self
            .templates
            .get((seed % self.templates.len().max(1) as u64) as usize)
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default()));
        if let Some(obj) = v.as_object_mut() {
            let (created, first) = synth_times(seed, lut);
            obj.insert("id".into(), id.into());
            obj.insert("incidentId".into(), (10_000 + seed as i64 / 3).into());
            obj.insert("status".into(), "New".into());
            obj.insert("assignedTo".into(), Value::Null);
            obj.insert("resolvedTime".into(), Value::Null);
            obj.insert("alertCreationTime".into(), created.to_string().into());
            obj.insert("firstEventTime".into(), first.to_string().into());
            obj.insert("lastEventTime".into(), first.to_string().into());
            obj.insert("lastUpdateTime".into(), lut.to_string().into());
        }
        v
    }

    /// Appends generated alert `i` as JSON: the same value as `render` gives, written without
    /// building a `Value` (10× faster, so the mock keeps up with the daemon in the bench).
    pub fn write_generated(&self, i: u64, out: &mut Vec<u8>) {
        use std::io::Write;
        let lut = self
            .generated
            .as_ref()
            .map_or_else(Timestamp::now, |g| g.lut(i));
        let (created, first) = synth_times(i, lut);
        let _ = write!(
            out,
            "{{\"id\":\"{}\",\"incidentId\":{},\"status\":\"New\",\"assignedTo\":null,\"resolvedTime\":null,\
             \"alertCreationTime\":\"{created}\",\"firstEventTime\":\"{first}\",\"lastEventTime\":\"{first}\",\
             \"lastUpdateTime\":\"{lut}\"",
            generated_id(i),
            10_000 + i as i64 / 3,
        );
        match self
            .template_tails
            .get((i % self.template_tails.len().max(1) as u64) as usize)
        {
            Some(tail) if tail.as_slice() != b"}" => {
                out.push(b',');
                out.extend_from_slice(tail);
            }
            _ => out.push(b'}'),
        }
    }

    fn render_generated(&self, i: u64) -> Value {
        let lut = self
            .generated
            .as_ref()
            .map_or_else(Timestamp::now, |g| g.lut(i));
        self.synth(i, &generated_id(i), lut)
    }

    pub fn render(&self, b: &Body) -> Value {
        match b {
            Body::Json(v) => (**v).clone(),
            Body::Generated(i) => self.render_generated(*i),
        }
    }

    /// `(lastUpdateTime, id, body)` of every current alert the bounds admit, ascending.
    pub fn ascending<'a>(
        &'a self,
        bounds: &'a [Bound],
    ) -> impl Iterator<Item = (Timestamp, String, Body)> + 'a {
        let admits = move |t: Timestamp| bounds.iter().all(|b| b.admits(t));
        let lower = bounds.iter().find_map(|b| match *b {
            Bound::Ge(t) | Bound::Gt(t) | Bound::Eq(t) => Some(t),
            _ => None,
        });
        let explicit = self
            .explicit
            .range((
                lower.map_or(std::ops::Bound::Unbounded, |t| {
                    std::ops::Bound::Included((t, String::new()))
                }),
                std::ops::Bound::Unbounded,
            ))
            .filter(move |((t, _), _)| admits(*t))
            .take_while(move |((t, _), _)| {
                // Stop at the first time past an upper bound.
                bounds.iter().all(|b| match *b {
                    Bound::Le(u) | Bound::Eq(u) => *t <= u,
                    Bound::Lt(u) => *t < u,
                    _ => true,
                })
            })
            .map(|((t, id), b)| (*t, id.clone(), b.clone()));
        let generated = self.generated.iter().flat_map(move |g| {
            // lut(i) is monotonic in i: binary-search the first admitted index.
            let first = partition(g.count, |i| match lower {
                Some(l) => g.lut(i) < l,
                None => false,
            });
            (first..g.count)
                .take_while(move |&i| {
                    bounds.iter().all(|b| match *b {
                        Bound::Le(u) | Bound::Eq(u) => g.lut(i) <= u,
                        Bound::Lt(u) => g.lut(i) < u,
                        _ => true,
                    })
                })
                .filter(move |&i| !self.moved.contains(&i) && admits(g.lut(i)))
                .map(move |i| (g.lut(i), generated_id(i), Body::Generated(i)))
        });
        merge(explicit, generated)
    }
}

fn partition(count: u64, before: impl Fn(u64) -> bool) -> u64 {
    let (mut lo, mut hi) = (0u64, count);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if before(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

fn merge<A, B>(a: A, b: B) -> impl Iterator<Item = (Timestamp, String, Body)>
where
    A: Iterator<Item = (Timestamp, String, Body)>,
    B: Iterator<Item = (Timestamp, String, Body)>,
{
    let mut a = a.peekable();
    let mut b = b.peekable();
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) => {
            if (x.0, &x.1) <= (y.0, &y.1) {
                a.next()
            } else {
                b.next()
            }
        }
        (Some(_), None) => a.next(),
        (None, _) => b.next(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn written_generated_alerts_equal_rendered_ones() {
        let mut s = Store::new();
        s.set_generated(Some(Generated {
            count: 100,
            start: ts("2026-01-01T00:00:00Z"),
            step: std::time::Duration::from_millis(1234),
            tie: 1,
        }));
        for i in 0..40 {
            let mut out = Vec::new();
            s.write_generated(i, &mut out);
            let written: Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(written, s.render(&Body::Generated(i)), "alert {i}");
        }
    }

    #[test]
    fn a_million_generated_alerts_are_found_by_binary_search() {
        let mut s = Store::new();
        let g = Generated {
            count: 1_000_000,
            start: ts("2026-01-01T00:00:00Z"),
            step: std::time::Duration::from_millis(10),
            tie: 4,
        };
        s.set_generated(Some(g.clone()));
        assert_eq!(s.len(), 1_000_000);
        let near_end = g.lut(999_990);
        let tail: Vec<_> = s.ascending(&[Bound::Ge(near_end)]).collect();
        // 999_990 / 4 = 249_997 → indices 999_988..1_000_000 share or follow that time.
        assert_eq!(tail.len(), 12);
        assert_eq!(tail[0].1, generated_id(999_988));
        let tie: Vec<_> = s
            .ascending(&[Bound::Ge(near_end), Bound::Le(near_end)])
            .collect();
        assert_eq!(tie.len(), 4);
        assert!(s.get(&generated_id(999_999)).is_some());
        assert!(s.get(&generated_id(1_000_000)).is_none());
    }

    #[test]
    fn quantize_lands_on_the_defender_grid() {
        assert_eq!(
            quantize(ts("2023-04-19T18:28:28.8412Z")).to_string(),
            "2023-04-19T18:28:28.84Z"
        );
        assert_eq!(
            quantize(ts("2023-04-19T18:28:28.0580Z")).to_string(),
            "2023-04-19T18:28:28.0566667Z"
        );
        let t = ts("2023-04-19T18:28:28.84Z");
        assert!(next_quantum(t) > t);
    }

    #[test]
    fn generated_and_explicit_merge_in_order_and_updates_move() {
        let mut s = Store::new();
        s.set_generated(Some(Generated {
            count: 10,
            start: ts("2026-01-01T00:00:00Z"),
            step: std::time::Duration::from_secs(1),
            tie: 2,
        }));
        let extra = s.synth(1, "x", ts("2026-01-01T00:00:02Z"));
        s.put(extra);
        let all: Vec<_> = s.ascending(&[]).map(|(t, id, _)| (t, id)).collect();
        assert_eq!(all.len(), 11);
        assert!(all.windows(2).all(|w| w[0] <= w[1]));
        let bounds = [
            Bound::Ge(ts("2026-01-01T00:00:02Z")),
            Bound::Le(ts("2026-01-01T00:00:02Z")),
        ];
        assert_eq!(s.ascending(&bounds).count(), 3);
        let id = generated_id(4);
        let new = s.update(&id, ts("2026-01-01T01:00:00Z")).unwrap();
        assert_eq!(s.ascending(&bounds).count(), 2);
        assert_eq!(s.len(), 11);
        let last = s.ascending(&[]).last().unwrap();
        assert_eq!((last.0, last.1.as_str()), (new, id.as_str()));
        assert_eq!(s.get(&id).unwrap()["status"], "InProgress");
    }
}
