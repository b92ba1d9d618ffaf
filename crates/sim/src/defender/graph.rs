//! The simulated Microsoft Graph `GET /v1.0/security/alerts_v2`, enforcing Graph's documented
//! rules (graph-api.md) rather than what the fetcher happens to send:
//!
//! - the token's audience must be the Graph scope (else 401 `InvalidAuthenticationToken`);
//!   a missing `SecurityAlert.Read.All` gives 403;
//! - 150 requests per minute per tenant (a sliding minute), then 429 with `Retry-After`;
//! - `$filter` only on the documented properties (`lastUpdateDateTime`, `createdDateTime`:
//!   `ge gt le lt eq`; `status`, `severity`, `serviceSource`, `classification`,
//!   `determination`, `assignedTo`: `eq '…'`), joined by `and`; anything else is 400;
//! - `$orderby=lastUpdateDateTime asc|desc`; **without it the newest come first**;
//! - `$top` ≤ 1000, `$skip` ≤ 500 (400 above), `@odata.nextLink` exactly when more results
//!   follow;
//! - evolvable enum values added after `unknownFutureValue` come as `unknownFutureValue`
//!   unless the request sends `Prefer: include-unknown-enum-members`.
//!
//! Fault injection as for the MDE endpoint: queued `Fault`s, `poison` (the page breaks inside
//! the element), `set_broken` and `set_raw` (the element is invalid JSON or exact bytes, the
//! page stays readable). Served versions are recorded for the conservation oracle as there.

mod synth;

use std::sync::Arc;
use std::time::{Duration, Instant};

use alert_model::Timestamp;
use hyper::StatusCode;
use serde_json::Value;

use super::server::{Resp, compress, mde_error, run_hooks, take_fault, too_many};
use super::store::{Body, Bound, synth_created};
use super::{Fault, RequestRecord, ServedVersion, Shared, TokenState};
use synth::hide_late_values;
pub use synth::{synth, synth_field, write_synth};

/// The endpoint's path.
pub const PATH: &str = "/v1.0/security/alerts_v2";
pub const MAX_TOP: usize = 1000;
pub const MAX_SKIP: usize = 500;

const FORBIDDEN: &str = "Missing application roles. API required roles: SecurityAlert.Read.All, SecurityAlert.ReadWrite.All. Application roles in the token: .";

/// One clause of `$filter`.
enum Clause {
    Updated(Bound),
    Created(Bound),
    Equals(String, String),
}

struct Request {
    clauses: Vec<Clause>,
    ascending: bool,
    top: usize,
    skip: usize,
}

fn time_bound(op: &str, lit: &str) -> Result<Bound, String> {
    let t = Timestamp::parse(lit).map_err(|e| format!("Invalid filter clause: {e}"))?;
    Ok(match op {
        "ge" => Bound::Ge(t),
        "gt" => Bound::Gt(t),
        "le" => Bound::Le(t),
        "lt" => Bound::Lt(t),
        "eq" => Bound::Eq(t),
        _ => {
            return Err(format!(
                "Invalid filter clause: operator {op} is not supported"
            ));
        }
    })
}

fn parse_filter(v: &str) -> Result<Vec<Clause>, String> {
    let mut out = Vec::new();
    for clause in v.split(" and ") {
        let parts: Vec<&str> = clause.trim().splitn(3, ' ').collect();
        let [field, op, lit] = parts[..] else {
            return Err(format!("Invalid filter clause: {clause:?}"));
        };
        out.push(match field {
            "lastUpdateDateTime" => Clause::Updated(time_bound(op, lit)?),
            "createdDateTime" => Clause::Created(time_bound(op, lit)?),
            "status" | "severity" | "serviceSource" | "classification" | "determination"
            | "assignedTo"
                if op == "eq" =>
            {
                let s = lit.strip_prefix('\'').and_then(|l| l.strip_suffix('\''));
                let s = s.ok_or_else(|| format!("Invalid filter clause: {lit} is not a string"))?;
                Clause::Equals(field.to_owned(), s.to_owned())
            }
            _ => {
                return Err(format!(
                    "Invalid filter clause: the property '{field}' with operator '{op}' is not supported"
                ));
            }
        });
    }
    Ok(out)
}

fn parse_request(query: &str) -> Result<Request, String> {
    let mut r = Request {
        clauses: Vec::new(),
        ascending: false,
        top: MAX_TOP,
        skip: 0,
    };
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "$filter" => r.clauses = parse_filter(&v)?,
            "$orderby" => {
                r.ascending = match v.trim() {
                    "lastUpdateDateTime asc" | "lastUpdateDateTime" => true,
                    "lastUpdateDateTime desc" => false,
                    other => return Err(format!("$orderby {other:?} is not supported")),
                }
            }
            "$top" => {
                r.top = v.parse().map_err(|_| "Invalid $top".to_owned())?;
                if r.top > MAX_TOP {
                    return Err(format!(
                        "The limit of '{MAX_TOP}' for Top query has been exceeded. The value from the incoming request is '{}'.",
                        r.top
                    ));
                }
            }
            "$skip" => {
                r.skip = v.parse().map_err(|_| "Invalid $skip".to_owned())?;
                if r.skip > MAX_SKIP {
                    return Err(format!(
                        "The limit of '{MAX_SKIP}' for Skip query has been exceeded. The value from the incoming request is '{}'.",
                        r.skip
                    ));
                }
            }
            other => return Err(format!("Query option '{other}' is not supported")),
        }
    }
    Ok(r)
}

/// Whether the `$filter` clauses other than the update time admit a stored alert.
fn admits(r: &Request, t: Timestamp, body: &Body) -> bool {
    r.clauses.iter().all(|c| match c {
        Clause::Updated(_) => true,
        Clause::Created(b) => created_of(t, body).is_some_and(|c| b.admits(c)),
        Clause::Equals(field, want) => match body {
            Body::Json(v) => v.get(field).and_then(Value::as_str) == Some(want),
            Body::Generated(i) => synth_field(*i, field) == Some(want.as_str()),
        },
    })
}

fn created_of(t: Timestamp, body: &Body) -> Option<Timestamp> {
    match body {
        Body::Json(v) => v
            .get("createdDateTime")
            .and_then(Value::as_str)
            .and_then(|s| Timestamp::parse(s).ok()),
        Body::Generated(i) => Some(synth_created(*i, t)),
    }
}

/// `Err`: the answer for a request that must not be served (auth, permission, throttling).
fn gate(
    shared: &Shared,
    st: &mut super::State,
    auth: Option<&str>,
    record: &mut RequestRecord,
) -> Result<(), Box<Resp>> {
    let token = auth.and_then(|a| a.strip_prefix("Bearer "));
    let invalid = |m: &str| mde_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", m);
    match token.and_then(|t| st.tokens.get(t).map(|s| (t, s))) {
        None => return Err(Box::new(invalid("Access token is empty."))),
        Some((_, TokenState::Expired)) => {
            return Err(Box::new(invalid(
                "Lifetime validation failed, the token is expired.",
            )));
        }
        Some((t, TokenState::Valid(issued))) => {
            if issued.elapsed() >= shared.opts.token_lifetime {
                return Err(Box::new(invalid(
                    "Lifetime validation failed, the token is expired.",
                )));
            }
            if st.audiences.get(t).map(String::as_str) != Some(shared.opts.scope.as_str()) {
                return Err(Box::new(invalid(
                    "Access token validation failure. Invalid audience.",
                )));
            }
        }
    }
    if st.forbidden {
        return Err(Box::new(mde_error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            FORBIDDEN,
        )));
    }
    if let Some(limit) = shared.opts.graph_requests_per_minute {
        let now = Instant::now();
        let minute = Duration::from_secs(60);
        st.graph_window.retain(|t| now.duration_since(*t) < minute);
        if st.graph_window.len() >= limit as usize {
            let oldest = st.graph_window.front().copied().unwrap_or(now);
            let wait = minute.saturating_sub(now.duration_since(oldest));
            return Err(Box::new(too_many(record, wait.as_secs() + 1)));
        }
        st.graph_window.push_back(now);
    }
    Ok(())
}

/// One element of a page, chosen under the state lock and written after it is released.
struct Element {
    item: Item,
    id: Option<String>,
    lut: Option<Timestamp>,
    /// `MockDefender::set_raw`: served as exactly these bytes.
    raw: Option<Vec<u8>>,
    /// `MockDefender::set_broken`: served cut in a literal (`…,"broken":tru}`).
    broken: bool,
    /// `MockDefender::poison`: the page breaks inside this element.
    poison: bool,
}

enum Item {
    Json(Arc<Value>),
    Generated { seed: u64, lut: Timestamp },
}

/// What a request gets: its elements in serving order, the nextLink, a fault to apply.
struct Page {
    elements: Vec<Element>,
    next: Option<String>,
    corrupt: Option<Fault>,
}

/// `GET /v1.0/security/alerts_v2`. The page is chosen (and its served versions recorded)
/// under the state lock; its JSON is written and compressed after the lock is released, so
/// concurrent pollers and the tests' control calls do not wait for serialisation.
pub(super) fn alerts_v2(
    shared: &Shared,
    query: &str,
    headers: &super::server::Headers,
    record: &mut RequestRecord,
) -> Resp {
    let page = match select(shared, query, headers, record) {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    let prefer = headers
        .prefer
        .as_deref()
        .is_some_and(|p| p.contains("include-unknown-enum-members"));
    let (mut body, cut) = write_page(&page, prefer);
    match (&page.corrupt, cut) {
        (Some(Fault::Malformed), _) => body = b"{\"value\":[{\"id\":\"x\",,}]}".to_vec(),
        (Some(_), _) => body.truncate(body.len() * 2 / 3),
        (None, Some(cut)) => body.truncate(cut),
        (None, None) => {}
    }
    compress(
        body,
        shared.opts.compression,
        headers.accept_encoding.as_deref(),
    )
}

/// Under the lock: gate, faults, the page's alerts (a backlog paged ascending costs the page
/// and one more, not everything before it), and the served versions of a readable page.
fn select(
    shared: &Shared,
    query: &str,
    headers: &super::server::Headers,
    record: &mut RequestRecord,
) -> Result<Page, Box<Resp>> {
    let Ok(mut guard) = shared.state.lock() else {
        return Err(Box::new(mde_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "",
        )));
    };
    let st = &mut *guard;
    run_hooks(st, record);
    gate(shared, st, headers.auth.as_deref(), record)?;
    let (extra, corrupt) = take_fault(st, record, FORBIDDEN)?;
    let r = parse_request(query)
        .map_err(|e| Box::new(mde_error(StatusCode::BAD_REQUEST, "BadRequest", &e)))?;
    let bounds: Vec<Bound> = r
        .clauses
        .iter()
        .filter_map(|c| match c {
            Clause::Updated(b) => Some(*b),
            _ => None,
        })
        .collect();
    let store = &st.store;
    let matched = || {
        store
            .ascending(&bounds)
            .filter(|(t, _, b)| admits(&r, *t, b))
    };
    let mut picked: Vec<(Timestamp, String, Body)> =
        if r.ascending && !shared.opts.graph_ignores_orderby {
            matched()
                .skip(r.skip)
                .take(r.top.saturating_add(1))
                .collect()
        } else {
            // Newest first: the ascending run ending `skip` before the newest, reversed.
            let total = matched().count();
            let end = total.saturating_sub(r.skip);
            let start = end.saturating_sub(r.top.saturating_add(1));
            let mut v: Vec<_> = matched().skip(start).take(end - start).collect();
            v.reverse();
            v
        };
    let more = picked.len() > r.top;
    picked.truncate(r.top);
    let extra = extra.into_iter().map(|v| {
        let id = v.get("id").and_then(Value::as_str).map(str::to_owned);
        let lut = v
            .get("lastUpdateDateTime")
            .and_then(Value::as_str)
            .and_then(|s| Timestamp::parse(s).ok());
        (Item::Json(Arc::new(v)), id, lut)
    });
    let stored = picked.into_iter().map(|(t, id, b)| {
        let item = match b {
            Body::Json(v) => Item::Json(v),
            Body::Generated(seed) => Item::Generated { seed, lut: t },
        };
        (item, Some(id), Some(t))
    });
    let elements: Vec<Element> = extra
        .chain(stored)
        .map(|(item, id, lut)| {
            let (raw, broken, poison) = id.as_deref().map_or((None, false, false), |i| {
                (
                    st.raw.get(i).cloned(),
                    st.broken.contains(i),
                    st.poison.contains(i),
                )
            });
            Element {
                item,
                id,
                lut,
                raw,
                broken,
                poison,
            }
        })
        .collect();
    record.items = elements.len();
    // Only a page the client can read counts as served (a broken element still can be:
    // the fetcher forwards it as an "unreadable alert").
    if corrupt.is_none() && !elements.iter().any(|e| e.poison) {
        record.ok_page = true;
        if shared.opts.record_served {
            for e in &elements {
                let visible_since = e.id.as_deref().map_or(0, |i| st.store.visible_since(i));
                st.served.push(ServedVersion {
                    request: record.seq,
                    id: e.id.clone(),
                    last_update_time: e.lut,
                    visible_since,
                });
            }
        }
    }
    // Versions put by the test between requests become visible after this one.
    st.store.clock = record.seq;
    Ok(Page {
        elements,
        next: more.then(|| next_link(shared, query, r.skip + r.top)),
        corrupt,
    })
}

/// The page's JSON as serde_json writes the page object (keys sorted: the nextLink before
/// `value`), and where a poison element breaks it.
fn write_page(page: &Page, prefer: bool) -> (Vec<u8>, Option<usize>) {
    let mut body = Vec::with_capacity(page.elements.len() * 2_400 + 512);
    body.extend_from_slice(
        b"{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#security/alerts_v2\",",
    );
    if let Some(link) = &page.next {
        body.extend_from_slice(b"\"@odata.nextLink\":");
        let _ = serde_json::to_writer(&mut body, link);
        body.push(b',');
    }
    body.extend_from_slice(b"\"value\":[");
    let mut cut = None;
    for (n, e) in page.elements.iter().enumerate() {
        if n > 0 {
            body.push(b',');
        }
        let start = body.len();
        match (&e.raw, &e.item) {
            (Some(raw), _) => body.extend_from_slice(raw),
            (None, Item::Generated { seed, lut }) => {
                let id = e.id.as_deref().unwrap_or_default();
                let created = synth_created(*seed, *lut);
                write_synth(*seed, id, *lut, created, prefer, &mut body);
            }
            (None, Item::Json(v)) => {
                let hidden = if prefer { None } else { hide_late_values(v) };
                let _ = serde_json::to_writer(&mut body, hidden.as_ref().unwrap_or(v));
            }
        }
        if e.broken && e.raw.is_none() {
            // Cut in the middle of a literal: invalid JSON that can still be delimited.
            body.pop();
            if body.len() > start + 1 {
                body.push(b',');
            }
            body.extend_from_slice(b"\"broken\":tru}");
        }
        if e.poison && cut.is_none() {
            cut = Some(start + poison_cut(&body[start..]));
        }
    }
    body.extend_from_slice(b"]}");
    (body, cut)
}

/// Where a poison element breaks: just after its `lastUpdateDateTime` value (a fetcher can
/// tell which alert broke the page, but cannot delimit it), else in its middle.
fn poison_cut(element: &[u8]) -> usize {
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let key = b"\"lastUpdateDateTime\":\"";
    find(element, key)
        .map(|k| k + key.len())
        .and_then(|v| find(&element[v..], b"\"").map(|q| v + q + 1))
        .unwrap_or(element.len() / 2)
}

fn next_link(shared: &Shared, query: &str, skip: usize) -> String {
    let rest: String = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k != "$skip")
        .map(|(k, v)| format!("{k}={}", v.replace(' ', "%20")))
        .collect::<Vec<_>>()
        .join("&");
    format!("{}{PATH}?{rest}&$skip={skip}", shared.login_url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_rules_are_enforced_on_the_query() {
        let ok = parse_request(
            "$filter=lastUpdateDateTime%20ge%202026-01-01T00:00:00Z%20and%20createdDateTime%20lt%202026-01-01T00:00:00Z%20and%20severity%20eq%20'high'&$orderby=lastUpdateDateTime%20asc&$top=1000&$skip=500",
        )
        .unwrap();
        assert!(ok.ascending);
        assert_eq!((ok.top, ok.skip, ok.clauses.len()), (1000, 500, 3));
        // Newest first unless asked.
        assert!(!parse_request("$top=5").unwrap().ascending);
        for (query, why) in [
            ("$top=1001", "Top"),
            ("$skip=501", "Skip"),
            ("$filter=id%20eq%20'x'", "'id'"),
            (
                "$filter=investigationState%20eq%20'x'",
                "investigationState",
            ),
            (
                "$filter=lastUpdateTime%20ge%202026-01-01T00:00:00Z",
                "lastUpdateTime",
            ),
            ("$expand=evidence", "$expand"),
            ("$orderby=id", "$orderby"),
        ] {
            let e = parse_request(query).err().unwrap_or_default();
            assert!(e.contains(why), "{query}: {e}");
        }
    }

    fn element(item: Item, id: &str) -> Element {
        Element {
            item,
            id: Some(id.to_owned()),
            lut: None,
            raw: None,
            broken: false,
            poison: false,
        }
    }

    #[test]
    fn a_written_page_is_the_page_serde_json_writes_and_breaks_where_asked() {
        let t = Timestamp::parse("2026-01-01T00:00:01.1234567Z").unwrap();
        let stored = synth(7, "da7_7", t, t);
        let page = |elements| Page {
            elements,
            next: Some("https://h/v1.0/security/alerts_v2?$top=2&$skip=2".into()),
            corrupt: None,
        };
        let items = || {
            vec![
                element(Item::Generated { seed: 5, lut: t }, "da5_5"),
                element(Item::Json(Arc::new(stored.clone())), "da7_7"),
            ]
        };
        let created = synth_created(5, t);
        for prefer in [false, true] {
            let (body, cut) = write_page(&page(items()), prefer);
            assert_eq!(cut, None);
            let mut want = vec![synth(5, "da5_5", t, created), stored.clone()];
            if !prefer {
                want[0] = synth::hide_late_values(&want[0]).unwrap();
            }
            let want = serde_json::json!({
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#security/alerts_v2",
                "@odata.nextLink": "https://h/v1.0/security/alerts_v2?$top=2&$skip=2",
                "value": want,
            });
            assert_eq!(body, serde_json::to_vec(&want).unwrap(), "prefer {prefer}");
        }
        // Broken and raw elements: the page still splits into its elements, those two are
        // not JSON; a poison element cuts the page just after its update time.
        let mut faulty = items();
        faulty[0].broken = true;
        faulty[1].raw = Some(b"{\"id\":\"da7_7\" \"x\":1}".to_vec());
        let (body, _) = write_page(&page(faulty), true);
        let text = String::from_utf8(body).unwrap();
        let value = text.split_once("\"value\":[").unwrap().1;
        let (first, second) = value.split_once("},{\"id\":\"da7_7\"").unwrap();
        assert!(first.ends_with(",\"broken\":tru"), "{first}");
        assert_eq!(second, " \"x\":1}]}");
        let mut poisoned = items();
        poisoned[1].poison = true;
        let (body, cut) = write_page(&page(poisoned), true);
        let kept = String::from_utf8(body[..cut.unwrap()].to_vec()).unwrap();
        assert!(
            kept.ends_with(&format!("\"lastUpdateDateTime\":\"{t}\"")),
            "{kept}"
        );
        assert!(kept.contains("\"id\":\"da5_5\""));
    }

    #[test]
    fn synthesised_alerts_are_shaped_like_the_documented_sample() {
        let t = Timestamp::parse("2026-01-01T00:00:01.1234567Z").unwrap();
        let c = Timestamp::parse("2026-01-01T00:00:00.5Z").unwrap();
        let v = synth(5, "da1_2", t, c);
        assert_eq!(v["lastUpdateDateTime"], "2026-01-01T00:00:01.1234567Z");
        assert_eq!(v["createdDateTime"], c.to_string());
        assert!(v["incidentId"].is_string());
        assert_eq!(v["serviceSource"], "microsoftSentinel");
        let types: Vec<&str> = v["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["@odata.type"].as_str())
            .collect();
        assert_eq!(types.len(), 4);
        assert!(types.contains(&"#microsoft.graph.security.aiAgentEvidence"));
    }
}
