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
//! Served versions are recorded for the conservation oracle as for the MDE endpoint.

use std::time::{Duration, Instant};

use alert_model::Timestamp;
use hyper::StatusCode;
use serde_json::{Value, json};

use super::server::{Resp, compress, mde_error, run_hooks, take_fault, too_many};
use super::store::Bound;
use super::{Fault, RequestRecord, ServedVersion, Shared, TokenState};

/// The endpoint's path.
pub const PATH: &str = "/v1.0/security/alerts_v2";
pub const MAX_TOP: usize = 1000;
pub const MAX_SKIP: usize = 500;

const FORBIDDEN: &str = "Missing application roles. API required roles: SecurityAlert.Read.All, SecurityAlert.ReadWrite.All. Application roles in the token: .";

/// Evolvable enum values that come after `unknownFutureValue` (sent only with the Prefer header).
const LATE_ENUM_VALUES: [(&str, &str); 7] = [
    ("serviceSource", "microsoftDefenderForCloud"),
    ("serviceSource", "microsoftSentinel"),
    ("serviceSource", "microsoftInsiderRiskManagement"),
    ("detectionSource", "microsoftSentinel"),
    ("detectionSource", "nrtAlerts"),
    ("detectionSource", "scheduledAlerts"),
    ("detectionSource", "builtInMl"),
];

/// The Defender XDR products a synthesised alert comes from, in turn.
const PRODUCTS: [(&str, &str, &str); 6] = [
    (
        "microsoftDefenderForEndpoint",
        "antivirus",
        "Suspicious execution of hidden file",
    ),
    (
        "microsoftDefenderForOffice365",
        "microsoftDefenderForOffice365",
        "Email messages containing malicious URL removed after delivery",
    ),
    (
        "microsoftDefenderForIdentity",
        "microsoftDefenderForIdentity",
        "Suspected DCSync attack (replication of directory services)",
    ),
    (
        "microsoftDefenderForCloudApps",
        "microsoftDefenderForCloudApps",
        "Impossible travel activity",
    ),
    (
        "azureAdIdentityProtection",
        "azureAdIdentityProtection",
        "Unfamiliar sign-in properties",
    ),
    (
        "microsoftSentinel",
        "scheduledAlerts",
        "Rare RDP connections",
    ),
];

/// A synthetic alerts_v2 alert shaped like the documented sample: 7-digit fractions, nulls,
/// lowercase enums, an incident id string, `@odata.type` on every evidence item (one of them a
/// type a client may not know).
pub fn synth(seed: u64, id: &str, lut: Timestamp, created: Timestamp) -> Value {
    let (service, detection, title) = PRODUCTS[(seed % PRODUCTS.len() as u64) as usize];
    let severity = ["low", "medium", "high", "informational"][(seed % 4) as usize];
    let first = created.saturating_sub(Duration::from_secs(60 + seed % 240));
    let incident = (20_000 + seed / 3).to_string();
    let tenant = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";
    let category = [
        "DefenseEvasion",
        "InitialAccess",
        "CredentialAccess",
        "Exfiltration",
    ][(seed % 4) as usize];
    json!({
        "@odata.type": "#microsoft.graph.security.alert",
        "id": id,
        "providerAlertId": id,
        "incidentId": incident,
        "status": "new",
        "severity": severity,
        "classification": null,
        "determination": null,
        "serviceSource": service,
        "detectionSource": detection,
        "productName": null,
        "detectorId": format!("e0da400f-affd-43ef-b1d5-{:012x}", seed),
        "tenantId": tenant,
        "title": title,
        "description": format!("Synthetic alert {seed} for tests and demo."),
        "recommendedActions": "Collect artifacts and determine scope\n\tReview the device timeline",
        "category": category,
        "assignedTo": null,
        "alertWebUrl": format!("https://security.microsoft.com/alerts/{id}?tid={tenant}"),
        "incidentWebUrl": format!("https://security.microsoft.com/incidents/{incident}?tid={tenant}"),
        "actorDisplayName": null,
        "threatDisplayName": null,
        "threatFamilyName": null,
        "mitreTechniques": ["T1564.001"],
        "createdDateTime": created.to_string(),
        "lastUpdateDateTime": lut.to_string(),
        "resolvedDateTime": null,
        "firstActivityDateTime": first.to_string(),
        "lastActivityDateTime": created.to_string(),
        "comments": [],
        "systemTags": [],
        "evidence": evidence(seed, created),
    })
}

fn evidence(seed: u64, created: Timestamp) -> Value {
    let created = created.to_string();
    json!([
            {"@odata.type": "#microsoft.graph.security.deviceEvidence",
             "createdDateTime": created, "verdict": "unknown", "remediationStatus": "none",
             "roles": [], "tags": [], "deviceDnsName": format!("ws-{:04}.contoso.test", seed % 10_000),
             "mdeDeviceId": format!("{:040x}", seed), "osPlatform": "Windows10", "healthStatus": "active",
             "loggedOnUsers": [{"accountName": "alex", "domainName": "CONTOSO"}]},
            {"@odata.type": "#microsoft.graph.security.userEvidence",
             "createdDateTime": created, "verdict": "suspicious", "remediationStatus": "none",
             "userAccount": {"accountName": "alex", "domainName": "CONTOSO",
                             "userPrincipalName": "alex@contoso.test", "azureAdUserId": null}},
            {"@odata.type": "#microsoft.graph.security.ipEvidence",
             "createdDateTime": created, "verdict": "unknown", "remediationStatus": "none",
             "ipAddress": format!("203.0.113.{}", seed % 250 + 1)},
            {"@odata.type": "#microsoft.graph.security.aiAgentEvidence",
             "createdDateTime": created, "verdict": "unknown", "agentName": "helper"}
    ])
}

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

fn admits(r: &Request, v: &Value) -> bool {
    r.clauses.iter().all(|c| match c {
        Clause::Updated(_) => true,
        Clause::Created(b) => v
            .get("createdDateTime")
            .and_then(Value::as_str)
            .and_then(|s| Timestamp::parse(s).ok())
            .is_some_and(|t| b.admits(t)),
        Clause::Equals(field, want) => v.get(field).and_then(Value::as_str) == Some(want),
    })
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

/// `GET /v1.0/security/alerts_v2`.
pub(super) fn alerts_v2(
    shared: &Shared,
    query: &str,
    headers: &super::server::Headers,
    record: &mut RequestRecord,
) -> Resp {
    let Ok(mut guard) = shared.state.lock() else {
        return mde_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", "");
    };
    let st = &mut *guard;
    run_hooks(st, record);
    if let Err(resp) = gate(shared, st, headers.auth.as_deref(), record) {
        return *resp;
    }
    let (extra, corrupt) = match take_fault(st, record, FORBIDDEN) {
        Ok(f) => f,
        Err(resp) => return *resp,
    };
    let r = match parse_request(query) {
        Ok(r) => r,
        Err(e) => return mde_error(StatusCode::BAD_REQUEST, "BadRequest", &e),
    };
    let bounds: Vec<Bound> = r
        .clauses
        .iter()
        .filter_map(|c| match c {
            Clause::Updated(b) => Some(*b),
            _ => None,
        })
        .collect();
    let matched = st
        .store
        .ascending(&bounds)
        .map(|(_, _, b)| st.store.render(&b))
        .filter(|v| admits(&r, v));
    // Ascending, only the page and one more are rendered: a backlog of N alerts paged by
    // `lastUpdateDateTime ge` costs O(N) renders in all, not O(N²) (the Graph bench).
    let mut page: Vec<Value> = if r.ascending && !shared.opts.graph_ignores_orderby {
        matched.skip(r.skip).take(r.top.saturating_add(1)).collect()
    } else {
        let mut all: Vec<Value> = matched.collect();
        all.reverse();
        all.into_iter()
            .skip(r.skip)
            .take(r.top.saturating_add(1))
            .collect()
    };
    let more = page.len() > r.top;
    page.truncate(r.top);
    let mut items: Vec<Value> = extra;
    items.extend(page);
    let prefer = headers
        .prefer
        .as_deref()
        .is_some_and(|p| p.contains("include-unknown-enum-members"));
    let body = page_body(
        &mut items,
        prefer,
        more.then(|| next_link(shared, query, r.skip + r.top)),
    );
    serve(shared, st, body, &items, corrupt, headers, record)
}

fn next_link(shared: &Shared, query: &str, skip: usize) -> String {
    let rest: String = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k != "$skip")
        .map(|(k, v)| format!("{k}={}", v.replace(' ', "%20")))
        .collect::<Vec<_>>()
        .join("&");
    format!("{}{PATH}?{rest}&$skip={skip}", shared.login_url)
}

fn page_body(items: &mut [Value], prefer: bool, next: Option<String>) -> Vec<u8> {
    if !prefer {
        for item in items.iter_mut() {
            for (field, value) in LATE_ENUM_VALUES {
                if item.get(field).and_then(Value::as_str) == Some(value)
                    && let Some(obj) = item.as_object_mut()
                {
                    obj.insert(field.into(), "unknownFutureValue".into());
                }
            }
        }
    }
    let mut page = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#security/alerts_v2",
        "value": items,
    });
    if let (Some(link), Some(obj)) = (next, page.as_object_mut()) {
        obj.insert("@odata.nextLink".into(), link.into());
    }
    serde_json::to_vec(&page).unwrap_or_default()
}

/// A poison alert (`MockDefender::poison`) breaks the page inside its own element (just after
/// its `lastUpdateDateTime`), which then cannot be delimited: where to cut the body, if the
/// page holds one.
fn poison_cut(st: &super::State, body: &[u8], items: &[Value]) -> Option<usize> {
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    items.iter().find_map(|v| {
        let id = v.get("id").and_then(Value::as_str)?;
        if !st.poison.contains(id) {
            return None;
        }
        let element = serde_json::to_vec(v).ok()?;
        let at = find(body, &element)?;
        let time =
            serde_json::to_vec(&json!({ "lastUpdateDateTime": v.get("lastUpdateDateTime") }))
                .ok()?;
        let time = time.get(1..time.len() - 1)?;
        let inside = find(&element, time).map_or(element.len() / 2, |t| t + time.len());
        Some(at + inside)
    })
}

/// Records what the client can read of the page (all of it, or nothing of a corrupted one)
/// and answers it.
fn serve(
    shared: &Shared,
    st: &mut super::State,
    mut body: Vec<u8>,
    items: &[Value],
    corrupt: Option<Fault>,
    headers: &super::server::Headers,
    record: &mut RequestRecord,
) -> Resp {
    record.items = items.len();
    let cut = poison_cut(st, &body, items);
    match (corrupt, cut) {
        (Some(Fault::Malformed), _) => body = b"{\"value\":[{\"id\":\"x\",,}]}".to_vec(),
        (Some(_), _) => body.truncate(body.len() * 2 / 3),
        (None, Some(cut)) => body.truncate(cut),
        (None, None) => {
            record.ok_page = true;
            if shared.opts.record_served {
                for v in items {
                    let id = v.get("id").and_then(Value::as_str).map(str::to_owned);
                    let visible_since = id.as_deref().map_or(0, |i| st.store.visible_since(i));
                    st.served.push(ServedVersion {
                        request: record.seq,
                        last_update_time: v
                            .get("lastUpdateDateTime")
                            .and_then(Value::as_str)
                            .and_then(|s| Timestamp::parse(s).ok()),
                        id,
                        visible_since,
                    });
                }
            }
        }
    }
    // Versions put by the test between requests become visible after this one.
    st.store.clock = record.seq;
    compress(
        body,
        shared.opts.compression,
        headers.accept_encoding.as_deref(),
    )
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
