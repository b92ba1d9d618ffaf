//! A simulated Entra ID token endpoint and Defender for Endpoint `/api/alerts`, served over
//! real TLS (its own CA) on `127.0.0.1:0`, with fault injection controllable at runtime.
//!
//! - [`MockDefender`]: start/stop, credentials, control methods, request log, served versions.
//! - `store`: the tenant's alerts (explicit + lazily generated, ordered by `lastUpdateTime`).
//! - `server`: the HTTP endpoints, the OData subset (`$filter=lastUpdateTime ge|gt T [and
//!   lastUpdateTime le|lt|eq T]`, `$orderby=lastUpdateTime asc|desc`, `$top` ≤ 10000, `$skip`,
//!   `$expand=evidence`) and gzip/deflate.
//! - `jwt`: verification of certificate client assertions.
//!
//! Conservation oracle: [`MockDefender::served_versions`] lists every `(id, lastUpdateTime)`
//! the mock put into a page the client could read (`RequestRecord::ok_page`), tagged with the
//! request's sequence number. A correct fetcher emits each of them exactly once and nothing
//! else, and emits exactly one checkpoint per readable page.

pub mod graph;
mod jwt;
mod server;
pub mod store;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use alert_model::{Timestamp, VersionKey};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub use store::{Generated, Store, generated_id};

use crate::pki::{PkiError, TestPki};

/// Why the mock could not start.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    #[error("mock defender PKI: {0}")]
    Pki(#[from] PkiError),
    #[error("mock defender bind: {0}")]
    Io(#[from] std::io::Error),
    #[error("mock defender: client certificate PEM is not a certificate")]
    BadCertificate,
}

/// Response compression offered when the client accepts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Deflate,
}

/// Which API the mock serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MockApi {
    /// Defender for Endpoint `GET /api/alerts`.
    #[default]
    Mde,
    /// Microsoft Graph `GET /v1.0/security/alerts_v2` (see [`graph`]).
    Graph,
}

/// How the mock starts.
#[derive(Debug, Clone)]
pub struct MockOptions {
    pub api: MockApi,
    /// Other scopes the token endpoint issues tokens for (their audience is then wrong for
    /// the API, as Entra ID would issue them for an app allowed both).
    pub other_scopes: Vec<String>,
    /// Graph's per-tenant request limit per sliding minute (429 + `Retry-After` above it).
    pub graph_requests_per_minute: Option<u32>,
    /// A faulty service (or proxy) that drops `$orderby`: pages come newest first.
    pub graph_ignores_orderby: bool,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    /// The scope the token endpoint insists on.
    pub scope: String,
    /// `expires_in` of issued tokens; a token older than this gets 401.
    pub token_lifetime: Duration,
    /// Status for tokens expired with [`MockDefender::expire_tokens`]: 401 or 403.
    pub expired_token_status: u16,
    pub compression: Compression,
    /// A certificate (PEM) registered on the app: client assertions signed by its key pass.
    pub client_certificate_pem: Option<String>,
    /// Filled from `client_certificate_pem` at start.
    #[doc(hidden)]
    pub client_certificate_der: Option<Vec<u8>>,
    /// Keep every served version (turn off for million-alert benchmarks).
    pub record_served: bool,
    /// Serve at most this many alerts per response whatever `$top` says, adding an
    /// `@odata.nextLink` (as the XDR incidents API does at 100).
    pub server_page_cap: Option<usize>,
    /// Alerts present at start (API JSON objects).
    pub alerts: Vec<Value>,
    pub generated: Option<Generated>,
}

impl MockOptions {
    /// A simulated Microsoft Graph alerts_v2 tenant; it also issues tokens for the MDE scope.
    pub fn graph() -> Self {
        Self {
            api: MockApi::Graph,
            scope: "https://graph.microsoft.com/.default".into(),
            other_scopes: vec!["https://api.securitycenter.microsoft.com/.default".into()],
            ..Self::default()
        }
    }
}

impl Default for MockOptions {
    fn default() -> Self {
        Self {
            api: MockApi::Mde,
            other_scopes: Vec::new(),
            graph_requests_per_minute: Some(150),
            graph_ignores_orderby: false,
            tenant_id: "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b".into(),
            client_id: "0d9e8f7a-6b5c-4d3e-9f2a-1b0c9d8e7f6a".into(),
            client_secret: "mock~SECRET~Qx7.z9Lp2Vb4Nk8Rt6Wy3Hs5Jd1Fg0".into(),
            scope: "https://api.securitycenter.microsoft.com/.default".into(),
            token_lifetime: Duration::from_secs(3599),
            expired_token_status: 401,
            compression: Compression::None,
            client_certificate_pem: None,
            client_certificate_der: None,
            record_served: true,
            server_page_cap: None,
            alerts: Vec::new(),
            generated: None,
        }
    }
}

/// A fault applied to the next `GET /api/alerts` (after authentication).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    Status500,
    TooManyRequests {
        retry_after_secs: u64,
    },
    /// 200 with a body that is not JSON.
    Malformed,
    /// 200 with the body cut at two thirds.
    Truncated,
    /// 404 with `Content-Length: 0`.
    Empty404,
    /// 401 as for an expired token.
    Unauthorized,
    /// 403 with an expired-token message.
    ExpiredToken403,
    /// 403 for a missing permission.
    Forbidden,
    /// Extra items in front of the page (e.g. alerts without `id`).
    ExtraItems(Vec<Value>),
    /// Answer only after this long (a hung server; the client should time out). Nothing is
    /// served: the late answer is a 504 without alerts.
    Delay(Duration),
}

/// A fault applied to the next token request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFault {
    Status500,
    WrongSecret,
}

/// Which endpoint a request hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Token,
    Alerts,
    Other,
}

/// One request the mock answered.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub seq: u64,
    pub at: Instant,
    pub time: Timestamp,
    pub endpoint: Endpoint,
    pub method: String,
    pub path: String,
    /// Query string, percent-decoded.
    pub query: String,
    pub status: u16,
    /// A 200 page the client could parse.
    pub ok_page: bool,
    pub items: usize,
    pub retry_after: Option<u64>,
}

/// One alert version put into a readable page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedVersion {
    pub request: u64,
    pub id: Option<String>,
    pub last_update_time: Option<Timestamp>,
    /// The request sequence number after which this version existed in the tenant (0 = from
    /// the start). Lets an oracle tell "existed but not fetched yet" from "appeared late".
    pub visible_since: u64,
}

impl ServedVersion {
    pub fn key(&self) -> Option<VersionKey> {
        Some(VersionKey {
            id: self.id.clone()?,
            last_update_time: self.last_update_time?,
        })
    }
}

enum TokenState {
    Valid(Instant),
    Expired,
}

type Hook = Box<dyn FnOnce(&mut Store) + Send>;

struct State {
    store: Store,
    tokens: HashMap<String, TokenState>,
    /// The scope each token was issued for.
    audiences: HashMap<String, String>,
    /// Graph requests of the last minute.
    graph_window: VecDeque<Instant>,
    issued_tokens: Vec<String>,
    token_counter: u32,
    token_requests: u64,
    faults: VecDeque<Fault>,
    token_faults: VecDeque<TokenFault>,
    hooks: BTreeMap<u64, Vec<Hook>>,
    alerts_requests: u64,
    request_seq: u64,
    log: Vec<RequestRecord>,
    served: Vec<ServedVersion>,
    served_pending: Vec<ServedVersion>,
    forbidden: bool,
    wrong_secret: bool,
    poison: HashSet<String>,
    /// Alerts served cut in the middle of a literal (`…,"broken":tru}`).
    broken: HashSet<String>,
    /// Alerts served as these exact bytes.
    raw: HashMap<String, Vec<u8>>,
    next_seed: u64,
}

struct Shared {
    opts: MockOptions,
    tenant_id: String,
    client_id: String,
    client_secret: String,
    login_url: String,
    state: Mutex<State>,
}

/// The running mock. Dropping it stops the server.
pub struct MockDefender {
    shared: Arc<Shared>,
    pki: TestPki,
    addr: std::net::SocketAddr,
    shutdown: CancellationToken,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for MockDefender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockDefender")
            .field("addr", &self.addr)
            .field("tenant_id", &self.tenant_id)
            .finish_non_exhaustive()
    }
}

impl Drop for MockDefender {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl MockDefender {
    /// Starts the server on `127.0.0.1:0` (must run inside a tokio runtime).
    pub async fn start(opts: MockOptions) -> Result<Self, MockError> {
        let pki = TestPki::new()?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config(false)?);
        let mut opts = opts;
        if let Some(pem) = &opts.client_certificate_pem {
            use rustls_pki_types::pem::PemObject;
            let der = rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
                .map_err(|_| MockError::BadCertificate)?;
            opts.client_certificate_der = Some(der.to_vec());
        }
        let mut store = match opts.api {
            MockApi::Mde => Store::new(),
            MockApi::Graph => Store::graph(),
        };
        for a in std::mem::take(&mut opts.alerts) {
            store.put(a);
        }
        store.set_generated(opts.generated.clone());
        let base = format!("https://{addr}");
        let shared = Arc::new(Shared {
            tenant_id: opts.tenant_id.clone(),
            client_id: opts.client_id.clone(),
            client_secret: opts.client_secret.clone(),
            login_url: base,
            state: Mutex::new(State {
                store,
                tokens: HashMap::new(),
                audiences: HashMap::new(),
                graph_window: VecDeque::new(),
                issued_tokens: Vec::new(),
                token_counter: 0,
                token_requests: 0,
                faults: VecDeque::new(),
                token_faults: VecDeque::new(),
                hooks: BTreeMap::new(),
                alerts_requests: 0,
                request_seq: 0,
                log: Vec::new(),
                served: Vec::new(),
                served_pending: Vec::new(),
                forbidden: false,
                wrong_secret: false,
                poison: HashSet::new(),
                broken: HashSet::new(),
                raw: HashMap::new(),
                next_seed: 1,
            }),
            opts,
        });
        let shutdown = CancellationToken::new();
        tokio::spawn(server::accept_loop(
            listener,
            acceptor,
            shared.clone(),
            shutdown.clone(),
        ));
        Ok(Self {
            tenant_id: shared.tenant_id.clone(),
            client_id: shared.client_id.clone(),
            client_secret: shared.client_secret.clone(),
            shared,
            pki,
            addr,
            shutdown,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock only happens in a failing test; keep serving.
        self.shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `https://127.0.0.1:<port>`: the API base (`/api/alerts` below it).
    pub fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The login authority (`/{tenant}/oauth2/v2.0/token` below it); same server.
    pub fn login_url(&self) -> String {
        self.base_url()
    }

    /// The CA certificate (PEM) the server's certificate chains to.
    pub fn ca_pem(&self) -> &str {
        &self.pki.ca.cert_pem
    }

    /// Which API this mock serves.
    pub fn api(&self) -> MockApi {
        self.shared.opts.api
    }

    /// The daemon's `[defender] source` for this mock: `"graph"` or `"mde"`.
    pub fn source_name(&self) -> &'static str {
        match self.api() {
            MockApi::Graph => "graph",
            MockApi::Mde => "mde",
        }
    }

    /// The scope the token endpoint expects.
    pub fn scope(&self) -> &str {
        &self.shared.opts.scope
    }

    // ---- alerts ----

    /// Inserts (or replaces) alerts as given (e.g. from a capture).
    pub fn insert_values(&self, alerts: impl IntoIterator<Item = Value>) {
        let mut st = self.state();
        for a in alerts {
            st.store.put(a);
        }
    }

    fn make(&self, st: &mut State, lut: Timestamp) -> VersionKey {
        let seed = st.next_seed;
        st.next_seed += 1;
        let id = format!(
            "da{:018}_{}",
            639_000_000_000_000_000u64 + seed,
            1_000_000 + seed * 7919
        );
        let v = st.store.synth(seed, &id, lut);
        st.store.put(v);
        VersionKey {
            id,
            last_update_time: lut,
        }
    }

    /// `count` new alerts with `lastUpdateTime` = now (on Defender's 1/300 s grid).
    pub fn insert_new(&self, count: usize) -> Vec<VersionKey> {
        let mut st = self.state();
        (0..count)
            .map(|_| {
                let lut = store::quantize(Timestamp::now());
                self.make(&mut st, lut)
            })
            .collect()
    }

    /// `count` new alerts that become visible only now but carry `lastUpdateTime` = now − `age`.
    pub fn insert_late(&self, count: usize, age: Duration) -> Vec<VersionKey> {
        let lut = store::quantize(Timestamp::now().saturating_sub(age));
        let mut st = self.state();
        (0..count).map(|_| self.make(&mut st, lut)).collect()
    }

    /// `count` new alerts all sharing `lastUpdateTime` = `at` (a batch update).
    pub fn insert_ties(&self, count: usize, at: Timestamp) -> Vec<VersionKey> {
        let mut st = self.state();
        (0..count).map(|_| self.make(&mut st, at)).collect()
    }

    /// `count` new Graph alerts sharing `lastUpdateDateTime` = `at` *and* `createdDateTime` =
    /// `created`: identical in every filterable time (a tie no `$filter` can split).
    pub fn insert_ties_created(
        &self,
        count: usize,
        at: Timestamp,
        created: Timestamp,
    ) -> Vec<VersionKey> {
        let mut st = self.state();
        (0..count)
            .map(|_| {
                let key = self.make(&mut st, at);
                if let Some(mut v) = st.store.get(&key.id) {
                    if let Some(obj) = v.as_object_mut() {
                        obj.insert("createdDateTime".into(), created.to_string().into());
                    }
                    st.store.put(v);
                }
                key
            })
            .collect()
    }

    /// Updates alerts (status/assignment change, `lastUpdateTime` = now); returns new versions.
    pub fn update(&self, ids: &[String]) -> Vec<VersionKey> {
        let mut st = self.state();
        ids.iter()
            .filter_map(|id| {
                let lut = st.store.update(id, Timestamp::now())?;
                Some(VersionKey {
                    id: id.clone(),
                    last_update_time: lut,
                })
            })
            .collect()
    }

    /// The current JSON of an alert.
    pub fn alert(&self, id: &str) -> Option<Value> {
        self.state().store.get(id)
    }

    /// The current version of every alert, ascending by `lastUpdateTime`.
    pub fn current_versions(&self) -> Vec<VersionKey> {
        self.state()
            .store
            .ascending(&[])
            .map(|(t, id, _)| VersionKey {
                id,
                last_update_time: t,
            })
            .collect()
    }

    /// Number of alerts in the tenant (current versions).
    pub fn alert_count(&self) -> u64 {
        self.state().store.len()
    }

    /// Runs `f` on the store just before answering the `n`-th `GET /api/alerts` (1-based,
    /// counting every alerts request including faulted ones).
    pub fn before_alerts_request(&self, n: u64, f: impl FnOnce(&mut Store) + Send + 'static) {
        self.state().hooks.entry(n).or_default().push(Box::new(f));
    }

    /// Any page containing this alert is served cut off in the middle of it (a "poison" alert:
    /// the page breaks inside the element, which cannot be delimited).
    pub fn poison(&self, id: &str) {
        self.state().poison.insert(id.to_owned());
    }

    pub fn unpoison(&self, id: &str) {
        self.state().poison.remove(id);
    }

    /// While set, this alert's element is served as invalid JSON that can still be delimited
    /// (`…,"broken":tru}`): the rest of the page stays readable.
    pub fn set_broken(&self, id: &str, on: bool) {
        if on {
            self.state().broken.insert(id.to_owned());
        } else {
            self.state().broken.remove(id);
        }
    }

    /// Serves this alert's element as exactly these bytes (`None`: as the store renders it),
    /// e.g. with a lone surrogate escape or bytes that are not UTF-8.
    pub fn set_raw(&self, id: &str, raw: Option<Vec<u8>>) {
        match raw {
            Some(r) => self.state().raw.insert(id.to_owned(), r),
            None => self.state().raw.remove(id),
        };
    }

    /// Simulates a live tenant: every `period`, one or two new alerts and one update of an
    /// existing alert, until the mock is dropped.
    pub fn spawn_activity(&self, period: Duration) -> tokio::task::JoinHandle<()> {
        let shared = self.shared.clone();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            let mut round: u64 = 0;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                round += 1;
                let Ok(mut st) = shared.state.lock() else {
                    return;
                };
                let now = store::quantize(Timestamp::now());
                for _ in 0..(1 + round % 2) {
                    let seed = st.next_seed;
                    st.next_seed += 1;
                    let id = format!(
                        "da{:018}_{}",
                        639_000_000_000_000_000u64 + seed,
                        1_000_000 + seed * 7919
                    );
                    let v = st.store.synth(seed, &id, now);
                    st.store.put(v);
                }
                if round.is_multiple_of(3) && st.next_seed > 3 {
                    let seed = round % (st.next_seed - 1) + 1;
                    let id = format!(
                        "da{:018}_{}",
                        639_000_000_000_000_000u64 + seed,
                        1_000_000 + seed * 7919
                    );
                    st.store.update(&id, now);
                }
            }
        })
    }

    // ---- faults ----

    /// Queues faults for the next alerts requests, one per request, in order.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.state().faults.extend(faults);
    }

    pub fn push_token_fault(&self, f: TokenFault) {
        self.state().token_faults.push_back(f);
    }

    /// Every token issued so far expires now (answered with `expired_token_status`).
    pub fn expire_tokens(&self) {
        for s in self.state().tokens.values_mut() {
            *s = TokenState::Expired;
        }
    }

    /// Every token issued so far becomes unknown (401).
    pub fn revoke_tokens(&self) {
        self.state().tokens.clear();
    }

    /// While set, the API answers 403 (permission `Alert.Read.All` missing).
    pub fn set_forbidden(&self, on: bool) {
        self.state().forbidden = on;
    }

    /// While set, the token endpoint answers AADSTS7000215 (as after a secret rotation).
    pub fn set_wrong_secret(&self, on: bool) {
        self.state().wrong_secret = on;
    }

    // ---- observation ----

    /// Every request answered, in arrival order.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.state().log.clone()
    }

    /// Every version put into a readable page, in serving order.
    pub fn served_versions(&self) -> Vec<ServedVersion> {
        self.state().served.clone()
    }

    /// Every access token issued (for leak checks).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state().issued_tokens.clone()
    }

    pub fn token_requests(&self) -> u64 {
        self.state().token_requests
    }
}
