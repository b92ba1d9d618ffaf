//! The HTTP side of the mock: TLS accept loop, the Entra token endpoint and `GET /api/alerts`
//! with the OData subset the fetcher uses, and the fault injection that applies to them.

use std::convert::Infallible;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use alert_model::Timestamp;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

use super::store::Bound;
use super::{
    Compression, Endpoint, Fault, RequestRecord, ServedVersion, Shared, TokenFault, TokenState,
};

pub(super) type Resp = Response<Full<Bytes>>;

pub(super) async fn accept_loop(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        let (tcp, _) = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "mock defender: accept failed");
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let io = hyper_util::rt::TokioIo::new(tls);
            let svc = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(&shared, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, svc);
            tokio::select! {
                _ = conn => {}
                _ = shutdown.cancelled() => {}
            }
        });
    }
}

/// The request headers the endpoints look at.
pub(super) struct Headers {
    pub auth: Option<String>,
    pub accept_encoding: Option<String>,
    pub prefer: Option<String>,
}

async fn handle(shared: &Shared, req: Request<hyper::body::Incoming>) -> Resp {
    let at = Instant::now();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let headers = Headers {
        auth: header(&req, "authorization"),
        accept_encoding: header(&req, "accept-encoding"),
        prefer: header(&req, "prefer"),
    };
    let method = req.method().clone();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let decoded_query: String = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    // The sequence number is taken on arrival so that served versions can name their request.
    let seq = match shared.state.lock() {
        Ok(mut st) => {
            st.request_seq += 1;
            st.request_seq
        }
        Err(_) => 0,
    };
    let mut record = RequestRecord {
        seq,
        at,
        time: Timestamp::now(),
        endpoint: Endpoint::Other,
        method: method.to_string(),
        path: path.clone(),
        query: decoded_query,
        status: 0,
        ok_page: false,
        items: 0,
        retry_after: None,
    };
    let delay = match shared.state.lock() {
        Ok(mut st) if path == "/api/alerts" || path == super::graph::PATH => {
            match st.faults.front() {
                Some(Fault::Delay(d)) => {
                    let d = *d;
                    st.faults.pop_front();
                    Some(d)
                }
                _ => None,
            }
        }
        _ => None,
    };
    let resp = if let Some(d) = delay {
        record.endpoint = Endpoint::Alerts;
        tokio::time::sleep(d).await;
        mde_error(StatusCode::GATEWAY_TIMEOUT, "GatewayTimeout", "")
    } else if method == hyper::Method::POST && path.ends_with("/oauth2/v2.0/token") {
        record.endpoint = Endpoint::Token;
        token(shared, &path, &body)
    } else if method == hyper::Method::GET
        && shared.opts.api == super::MockApi::Mde
        && (path == "/api/alerts" || path == "/api/v1.0/alerts")
    {
        record.endpoint = Endpoint::Alerts;
        alerts(
            shared,
            &query,
            headers.auth.as_deref(),
            headers.accept_encoding.as_deref(),
            &mut record,
        )
    } else if method == hyper::Method::GET
        && shared.opts.api == super::MockApi::Graph
        && path == super::graph::PATH
    {
        record.endpoint = Endpoint::Alerts;
        super::graph::alerts_v2(shared, &query, &headers, &mut record)
    } else {
        mde_error(StatusCode::NOT_FOUND, "NotFound", "Resource not found")
    };
    record.status = resp.status().as_u16();
    if let Ok(mut st) = shared.state.lock() {
        let pos = st.log.partition_point(|r| r.seq < record.seq);
        st.log.insert(pos, record);
    }
    resp
}

fn header(req: &Request<hyper::body::Incoming>, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

pub(super) fn json_response(status: StatusCode, body: Vec<u8>) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static(
            "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8",
        ),
    );
    r
}

pub(super) fn mde_error(status: StatusCode, code: &str, message: &str) -> Resp {
    let body = json!({"error": {"code": code, "message": message,
        "target": format!("|{:08x}-mock.", rand_u32())}});
    json_response(status, body.to_string().into_bytes())
}

fn aad_error(status: StatusCode, error: &str, code: u32, text: &str) -> Resp {
    let now = Timestamp::now().to_string();
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: 0f3e2a10-0000-4000-8000-000000000001\r\nCorrelation ID: 0f3e2a10-0000-4000-8000-000000000002\r\nTimestamp: {}", now.replace('T', " ")),
        "error_codes": [code],
        "timestamp": now.replace('T', " "),
        "trace_id": "0f3e2a10-0000-4000-8000-000000000001",
        "correlation_id": "0f3e2a10-0000-4000-8000-000000000002",
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    json_response(status, body.to_string().into_bytes())
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    h.finish() as u32
}

fn token(shared: &Shared, path: &str, body: &[u8]) -> Resp {
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(body).into_owned().collect();
    let tenant = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let Ok(mut st) = shared.state.lock() else {
        return aad_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", 0, "lock");
    };
    st.token_requests += 1;
    if let Some(f) = st.token_faults.pop_front() {
        return match f {
            TokenFault::Status500 => aad_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "temporarily_unavailable",
                50_000,
                "There was an error issuing a token.",
            ),
            TokenFault::WrongSecret => wrong_secret(),
        };
    }
    if tenant != shared.tenant_id {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        );
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    if form.get("client_id") != Some(&shared.client_id) {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            "Application with identifier was not found in the directory.",
        );
    }
    let scope = form.get("scope").cloned().unwrap_or_default();
    if scope != shared.opts.scope && !shared.opts.other_scopes.contains(&scope) {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            "The provided request must include a 'scope' input parameter with a valid value.",
        );
    }
    let authenticated = if let Some(assertion) = form.get("client_assertion") {
        let endpoint = format!("{}{}", shared.login_url, path);
        form.get("client_assertion_type").map(String::as_str)
            == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            && super::jwt::verify(assertion, shared, &endpoint)
    } else {
        form.get("client_secret") == Some(&shared.client_secret)
    };
    if !authenticated && form.contains_key("client_assertion") {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700027,
            "Client assertion failed signature validation.",
        );
    }
    if !authenticated || st.wrong_secret {
        return wrong_secret();
    }
    st.token_counter += 1;
    let token = format!(
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.mock{:06}.{:016x}{:016x}",
        st.token_counter,
        rand_u32() as u64 * 0x9E37_79B9,
        st.token_counter as u64 ^ 0xA5A5_5A5A_1234_5678
    );
    st.tokens
        .insert(token.clone(), TokenState::Valid(Instant::now()));
    st.audiences.insert(token.clone(), scope);
    st.issued_tokens.push(token.clone());
    let body = json!({"token_type": "Bearer", "expires_in": shared.opts.token_lifetime.as_secs(),
        "ext_expires_in": shared.opts.token_lifetime.as_secs(), "access_token": token});
    json_response(StatusCode::OK, body.to_string().into_bytes())
}

fn wrong_secret() -> Resp {
    aad_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.",
    )
}

/// The parsed OData options.
struct OData {
    bounds: Vec<Bound>,
    ordered: Option<bool>,
    top: usize,
    skip: usize,
    expand_evidence: bool,
}

fn parse_odata(query: &str) -> Result<OData, String> {
    let mut o = OData {
        bounds: vec![],
        ordered: None,
        top: 10_000,
        skip: 0,
        expand_evidence: false,
    };
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "$filter" => {
                for clause in v.split(" and ") {
                    let parts: Vec<&str> = clause.split_whitespace().collect();
                    let [field, op, lit] = parts[..] else {
                        return Err(format!("unsupported $filter clause {clause:?}"));
                    };
                    if field != "lastUpdateTime" {
                        return Err(format!(
                            "the mock filters only on lastUpdateTime, not {field}"
                        ));
                    }
                    let t = Timestamp::parse(lit).map_err(|e| e.to_string())?;
                    o.bounds.push(match op {
                        "ge" => Bound::Ge(t),
                        "gt" => Bound::Gt(t),
                        "le" => Bound::Le(t),
                        "lt" => Bound::Lt(t),
                        "eq" => Bound::Eq(t),
                        _ => return Err(format!("unsupported operator {op}")),
                    });
                }
            }
            "$orderby" => {
                o.ordered = Some(match &*v {
                    "lastUpdateTime asc" | "lastUpdateTime" => true,
                    "lastUpdateTime desc" => false,
                    _ => return Err(format!("unsupported $orderby {v:?}")),
                })
            }
            "$top" => {
                o.top = v.parse().map_err(|_| "bad $top".to_owned())?;
                if o.top > 10_000 {
                    return Err("$top must not exceed 10000".into());
                }
            }
            "$skip" => o.skip = v.parse().map_err(|_| "bad $skip".to_owned())?,
            "$expand" if &*v == "evidence" => o.expand_evidence = true,
            other => return Err(format!("unsupported query option {other}")),
        }
    }
    Ok(o)
}

const MDE_FORBIDDEN: &str = "The application does not have any of the required application permissions (Alert.ReadWrite.All, Alert.Read.All) to access the resource.";

/// Runs the test hooks registered for this alerts request (they act "during" it).
pub(super) fn run_hooks(st: &mut super::State, record: &RequestRecord) {
    st.alerts_requests += 1;
    // Hooks run "during" this request: what they put is visible from this request on.
    st.store.clock = record.seq.saturating_sub(1);
    let n = st.alerts_requests;
    if let Some(hooks) = st.hooks.remove(&n) {
        for h in hooks {
            h(&mut st.store);
        }
    }
}

/// Takes the next queued fault: `Err` is its answer; `Ok` the extra items to put in front of
/// the page and a corruption to apply to it.
pub(super) fn take_fault(
    st: &mut super::State,
    record: &mut RequestRecord,
    forbidden: &str,
) -> Result<(Vec<Value>, Option<Fault>), Box<Resp>> {
    let Some(f) = st.faults.pop_front() else {
        return Ok((Vec::new(), None));
    };
    Err(Box::new(match f {
        Fault::Status500 => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            b"{\"error\":{\"code\":\"InternalServerError\",\"message\":\"\"}}".to_vec(),
        ),
        Fault::TooManyRequests { retry_after_secs } => too_many(record, retry_after_secs),
        Fault::Empty404 => {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
        Fault::Unauthorized => mde_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "The access token has expired.",
        ),
        Fault::ExpiredToken403 => mde_error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "The access token has expired.",
        ),
        Fault::Forbidden => mde_error(StatusCode::FORBIDDEN, "Forbidden", forbidden),
        Fault::Malformed | Fault::Truncated => return Ok((Vec::new(), Some(f))),
        Fault::ExtraItems(items) => return Ok((items, None)),
        // Taken in `handle` before the request reaches here.
        Fault::Delay(_) => return Ok((Vec::new(), None)),
    }))
}

/// A 429 asking to wait `retry_after_secs`.
pub(super) fn too_many(record: &mut RequestRecord, retry_after_secs: u64) -> Resp {
    record.retry_after = Some(retry_after_secs);
    let mut r = mde_error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Rate limit is exceeded. Try again later.",
    );
    r.headers_mut()
        .insert("retry-after", retry_after_secs.into());
    r
}

fn alerts(
    shared: &Shared,
    query: &str,
    auth: Option<&str>,
    accept_encoding: Option<&str>,
    record: &mut RequestRecord,
) -> Resp {
    let Ok(mut guard) = shared.state.lock() else {
        return mde_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", "");
    };
    let st = &mut *guard;
    run_hooks(st, record);
    // Authentication first, as the real service does.
    let token = auth.and_then(|a| a.strip_prefix("Bearer "));
    match token.and_then(|t| st.tokens.get(t)) {
        None => {
            return mde_error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "Authorization header is missing or the token is invalid",
            );
        }
        Some(TokenState::Expired) => {
            return if shared.opts.expired_token_status == 403 {
                mde_error(
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    "The access token has expired.",
                )
            } else {
                mde_error(
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized",
                    "The access token has expired.",
                )
            };
        }
        Some(TokenState::Valid(issued)) => {
            if issued.elapsed() >= shared.opts.token_lifetime {
                return mde_error(
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized",
                    "The access token has expired.",
                );
            }
        }
    }
    if st.forbidden {
        return mde_error(StatusCode::FORBIDDEN, "Forbidden", MDE_FORBIDDEN);
    }
    let (extra_items, corrupt) = match take_fault(st, record, MDE_FORBIDDEN) {
        Ok(f) => f,
        Err(resp) => return *resp,
    };
    let mut o = match parse_odata(query) {
        Ok(o) => o,
        Err(e) => return mde_error(StatusCode::BAD_REQUEST, "ODataError", &e),
    };
    let requested_top = o.top;
    if let Some(cap) = shared.opts.server_page_cap {
        o.top = o.top.min(cap);
    }
    let store = &st.store;
    let selected: Vec<(Timestamp, String, super::store::Body)> = match o.ordered {
        Some(true) => store
            .ascending(&o.bounds)
            .skip(o.skip)
            .take(o.top)
            .collect(),
        Some(false) => {
            let total = store.ascending(&o.bounds).count();
            let end = total.saturating_sub(o.skip);
            let start = end.saturating_sub(o.top);
            let mut v: Vec<_> = store
                .ascending(&o.bounds)
                .skip(start)
                .take(end - start)
                .collect();
            v.reverse();
            v
        }
        None => {
            // Unordered requests get the order a real capture showed: by id.
            let mut v: Vec<_> = store.ascending(&o.bounds).collect();
            v.sort_by(|a, b| a.1.cmp(&b.1));
            v.into_iter().skip(o.skip).take(o.top).collect()
        }
    };
    let poisoned = selected.iter().any(|(_, id, _)| st.poison.contains(id));
    let mut items: Vec<Value> =
        Vec::with_capacity(selected.len() + extra_items.len() + st.store.unkeyed.len());
    if o.skip == 0 && !selected.is_empty() {
        items.append(&mut st.store.unkeyed);
    }
    items.extend(extra_items);
    // A page of generated alerts only (the benches) is written straight to bytes; anything
    // else goes through `Value`s.
    let all_generated = o.expand_evidence
        && selected
            .iter()
            .all(|(_, _, b)| matches!(b, super::store::Body::Generated(_)));
    let mut fast: Vec<(u64, Timestamp)> = Vec::new();
    for (t, _, b) in &selected {
        match b {
            super::store::Body::Generated(i) if all_generated => fast.push((*i, *t)),
            _ => items.push(st.store.render(b)),
        }
    }
    let mut body = Vec::with_capacity((items.len() + fast.len()) * 2048 + 128);
    // Where each element ends in `body`, in serving order (a cut page still served those before
    // the cut: the client could read them).
    let mut ends: Vec<usize> = Vec::new();
    // A poison alert breaks the page in its own middle: it cannot be delimited.
    let mut poison_cut: Option<usize> = None;
    body.extend_from_slice(b"{\"@odata.context\":\"https://api.securitycenter.microsoft.com/api/$metadata#Alerts\",\"value\":[");
    for (i, mut item) in items.into_iter().enumerate() {
        if !o.expand_evidence
            && let Some(obj) = item.as_object_mut()
        {
            obj.insert("evidence".into(), Value::Array(vec![]));
        }
        if i > 0 {
            body.push(b',');
        }
        let id = item.get("id").and_then(Value::as_str).map(str::to_owned);
        let start = body.len();
        match id.as_deref().and_then(|i| st.raw.get(i)) {
            // A test's exact bytes for this alert (lone surrogates, invalid UTF-8, …).
            Some(raw) => body.extend_from_slice(raw),
            None => {
                let mark = body.len();
                let _ = serde_json::to_writer(&mut body, &item);
                if id.as_deref().is_some_and(|i| st.broken.contains(i)) {
                    // Cut in the middle of a literal: invalid JSON that can still be delimited.
                    body.truncate(body.len() - 1);
                    if body.len() > mark + 1 {
                        body.extend_from_slice(b",");
                    }
                    body.extend_from_slice(b"\"broken\":tru}");
                }
            }
        }
        ends.push(body.len());
        if poison_cut.is_none() && id.as_deref().is_some_and(|i| st.poison.contains(i)) {
            poison_cut = Some((start + body.len()) / 2);
        }
        let lut = item
            .get("lastUpdateTime")
            .and_then(Value::as_str)
            .and_then(|s| Timestamp::parse(s).ok());
        record.items += 1;
        if shared.opts.record_served {
            let visible_since = id.as_deref().map_or(0, |i| st.store.visible_since(i));
            st.served_pending.push(ServedVersion {
                request: 0,
                id,
                last_update_time: lut,
                visible_since,
            });
        }
    }
    for (i, lut) in fast {
        if body.last() != Some(&b'[') {
            body.push(b',');
        }
        let id = super::store::generated_id(i);
        let start = body.len();
        if let Some(raw) = st.raw.get(&id) {
            body.extend_from_slice(raw);
        } else if st.broken.contains(&id) {
            let mark = body.len();
            st.store.write_generated(i, &mut body);
            body.truncate(body.len().max(mark + 1) - 1);
            body.extend_from_slice(b",\"broken\":tru}");
        } else {
            st.store.write_generated(i, &mut body);
        }
        ends.push(body.len());
        if poison_cut.is_none() && st.poison.contains(&id) {
            poison_cut = Some((start + body.len()) / 2);
        }
        record.items += 1;
        if shared.opts.record_served {
            let id = super::store::generated_id(i);
            let visible_since = st.store.visible_since(&id);
            st.served_pending.push(ServedVersion {
                request: 0,
                id: Some(id),
                last_update_time: Some(lut),
                visible_since,
            });
        }
    }
    body.push(b']');
    if o.top < requested_top && selected.len() == o.top {
        // Only the skip changes; the rest of the query is echoed back.
        let rest: String = url::form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k != "$skip")
            .map(|(k, v)| format!("{k}={}", v.replace(' ', "+")))
            .collect::<Vec<_>>()
            .join("&");
        let link = format!(
            "{}/api/alerts?{rest}&$skip={}",
            shared.login_url,
            o.skip + o.top
        );
        body.extend_from_slice(b",\"@odata.nextLink\":");
        let _ = serde_json::to_writer(&mut body, &link);
    }
    body.push(b'}');
    let mut served = std::mem::take(&mut st.served_pending);
    // Versions put by the test between requests become visible after this one.
    st.store.clock = record.seq;
    let broken = poisoned || corrupt.is_some();
    if broken {
        // Nothing in a broken page counts as served: the client could not read it.
        match corrupt {
            Some(Fault::Malformed) => {
                body = b"{\"@odata.context\":\"https://api.securitycenter.microsoft.com/api/$metadata#Alerts\",\"value\":[{\"id\":\"da1\",,}]}".to_vec();
            }
            _ => {
                let cut = poison_cut.unwrap_or(body.len() * 2 / 3);
                body.truncate(cut);
                let whole = ends.iter().filter(|&&e| e <= cut).count();
                served.truncate(whole);
                let seq = record.seq;
                st.served.extend(served.into_iter().map(|mut s| {
                    s.request = seq;
                    s
                }));
            }
        }
    } else {
        record.ok_page = true;
        let seq = record.seq;
        st.served.extend(served.into_iter().map(|mut s| {
            s.request = seq;
            s
        }));
    }
    let mut resp = compress(body, shared.opts.compression, accept_encoding);
    resp.headers_mut().insert(
        "odata-version",
        "4.0"
            .parse()
            .unwrap_or_else(|_| hyper::header::HeaderValue::from_static("4.0")),
    );
    resp
}

pub(super) fn compress(body: Vec<u8>, c: Compression, accept: Option<&str>) -> Resp {
    let accept = accept.unwrap_or("");
    let (encoded, name) = match c {
        Compression::Gzip if accept.contains("gzip") => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = e.write_all(&body);
            (e.finish().unwrap_or_default(), Some("gzip"))
        }
        Compression::Deflate if accept.contains("deflate") => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = e.write_all(&body);
            (e.finish().unwrap_or_default(), Some("deflate"))
        }
        _ => (body, None),
    };
    let mut r = json_response(StatusCode::OK, encoded);
    if let Some(n) = name {
        r.headers_mut().insert(
            "content-encoding",
            hyper::header::HeaderValue::from_static(n),
        );
    }
    r
}
