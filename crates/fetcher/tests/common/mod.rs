//! Shared harness for the fetcher's integration tests: a MockDefender, a Client pointed at it,
//! a running Poller whose channel output is recorded, the conservation oracle, and a tracing
//! capture (TRACE, every crate) checked for secrets and tokens.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use alert_model::{FetchItem, ResumePoint, Timestamp, VersionKey};
use fetcher::{ApiConfig, Client, Credential, Poller, PollerConfig, PollerStats, Secret};
use sim::defender::{Endpoint, MockDefender, MockOptions};
use tokio_util::sync::CancellationToken;

// ---------- log capture ----------

#[derive(Clone, Default)]
pub struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static LOGS: OnceLock<LogBuf> = OnceLock::new();

/// Installs (once per test binary) a TRACE subscriber for every crate writing to a buffer.
pub fn logs() -> LogBuf {
    LOGS.get_or_init(|| {
        let buf = LogBuf::default();
        let w = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || w.clone())
            .try_init();
        buf
    })
    .clone()
}

pub fn log_text() -> String {
    String::from_utf8_lossy(&logs().0.lock().unwrap()).into_owned()
}

/// No line captured so far contains the mock's secret or any token it issued.
pub fn assert_no_secrets_logged(mock: &MockDefender) {
    let text = log_text();
    assert!(!text.contains(&mock.client_secret), "client secret in logs");
    for t in mock.issued_tokens() {
        assert!(!text.contains(&t), "access token in logs");
        // A token's signature-like tail is distinctive enough to catch partial leaks.
        let tail = &t[t.len() - 20..];
        assert!(!text.contains(tail), "part of an access token in logs");
    }
}

// ---------- setup ----------

pub fn api_config(mock: &MockDefender) -> ApiConfig {
    let mut c = ApiConfig::new(
        mock.tenant_id.clone(),
        mock.client_id.clone(),
        Credential::Secret(Secret::new(mock.client_secret.clone())),
    );
    c.api_url = Some(mock.base_url());
    c.login_url = Some(mock.login_url());
    c.extra_ca_pem = vec![mock.ca_pem().to_owned()];
    c.env_proxy = false;
    c.request_timeout = Duration::from_secs(30);
    c
}

pub fn poller_config() -> PollerConfig {
    PollerConfig {
        poll_interval: Duration::from_millis(30),
        page_size: 100,
        overlap: Duration::from_secs(600),
        initial_lookback: Duration::from_secs(3600),
        malformed_attempts: 2,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
        expand_evidence: true,
    }
}

pub async fn start_mock(opts: MockOptions) -> MockDefender {
    logs();
    MockDefender::start(opts).await.unwrap()
}

/// A poller running in the background; its channel output is recorded in order.
pub struct Running {
    pub items: Arc<Mutex<Vec<FetchItem>>>,
    pub stats: Arc<PollerStats>,
    pub cancel: CancellationToken,
    pub task: tokio::task::JoinHandle<Result<(), fetcher::FetchError>>,
}

pub fn spawn(client: &Client, cfg: PollerConfig, resume: ResumePoint) -> Running {
    let poller = Poller::new(client.clone(), cfg, resume, "test");
    let stats = poller.stats();
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let cancel = CancellationToken::new();
    let items = Arc::new(Mutex::new(Vec::new()));
    let sink = items.clone();
    tokio::spawn(async move {
        while let Some(i) = rx.recv().await {
            sink.lock().unwrap().push(i);
        }
    });
    let task = tokio::spawn(poller.run(tx, cancel.clone()));
    Running {
        items,
        stats,
        cancel,
        task,
    }
}

impl Running {
    pub fn emitted_keys(&self) -> HashSet<VersionKey> {
        self.items
            .lock()
            .unwrap()
            .iter()
            .filter_map(item_key)
            .collect()
    }

    /// Waits (generously) until `cond` holds.
    pub async fn wait_for(&self, what: &str, cond: impl Fn(&Running) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        while !cond(self) {
            assert!(
                !self.task.is_finished(),
                "poller ended while waiting for {what}"
            );
            if tokio::time::Instant::now() >= deadline {
                // What the poller was doing, for the failure report.
                let text = log_text();
                let tail: Vec<&str> = text
                    .lines()
                    .filter(|l| l.contains("fetcher::poller") && !l.contains("TRACE"))
                    .collect();
                let tail = tail[tail.len().saturating_sub(30)..].join("\n");
                panic!("timed out waiting for {what}; last poller lines:\n{tail}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until every key is emitted, then for `cycles` more complete poll cycles (seen
    /// as checkpoints), so that nothing further would come.
    pub async fn settle(&self, expected: &HashSet<VersionKey>, mock: &MockDefender) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        while !self.emitted_keys().is_superset(expected) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let emitted = self.emitted_keys();
        let missing: Vec<_> = expected.difference(&emitted).take(5).collect();
        if !missing.is_empty() {
            let items = self.items.lock().unwrap();
            let unreadable: Vec<_> = items
                .iter()
                .filter_map(|i| match i {
                    FetchItem::Unreadable(u) => Some((u.key.clone(), u.error.clone())),
                    _ => None,
                })
                .collect();
            eprintln!("missing {missing:?}; unreadable events {unreadable:?}");
        }
        self.wait_for("expected versions", |r| {
            r.emitted_keys().is_superset(expected)
        })
        .await;
        let before = alerts_requests(mock);
        self.wait_for("two more requests", |_| alerts_requests(mock) >= before + 3)
            .await;
    }

    pub async fn stop(self) -> (Vec<FetchItem>, Arc<PollerStats>) {
        self.cancel.cancel();
        let r = tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .unwrap()
            .unwrap();
        assert!(r.is_ok(), "{r:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let items = self.items.lock().unwrap().clone();
        (items, self.stats)
    }
}

/// The version key of an alert item (MDE or Graph).
pub fn item_key(i: &FetchItem) -> Option<VersionKey> {
    match i {
        FetchItem::Alert(a) => a.version_key(),
        FetchItem::Graph(a) => a.version_key(),
        _ => None,
    }
}

pub fn alerts_requests(mock: &MockDefender) -> usize {
    mock.request_log()
        .iter()
        .filter(|r| r.endpoint == Endpoint::Alerts)
        .count()
}

pub fn keys(v: &[VersionKey]) -> HashSet<VersionKey> {
    v.iter().cloned().collect()
}

// ---------- the oracle ----------

/// Checks, for a finished run:
/// - every version the mock served is emitted exactly once, except `already_delivered`;
/// - nothing is emitted that was not served; alerts without a key are emitted as often as served;
/// - checkpoint k belongs to the k-th readable page; its watermark never decreases and never
///   passes a version served up to that page but not yet emitted;
/// - the request log never shows more than 100 API requests in 60 s or 1,500 in an hour.
///
/// Also (strict): no checkpoint passes a version that already existed in the tenant when its
/// page was served but was emitted only later. Tests that insert alerts with an old
/// `lastUpdateTime` on purpose (late visibility) use [`check_conservation_allowing_late`].
pub fn check_conservation(
    mock: &MockDefender,
    items: &[FetchItem],
    already_delivered: &HashSet<VersionKey>,
) {
    conservation(mock, items, already_delivered, true)
}

pub fn check_conservation_allowing_late(
    mock: &MockDefender,
    items: &[FetchItem],
    already_delivered: &HashSet<VersionKey>,
) {
    conservation(mock, items, already_delivered, false)
}

fn conservation(
    mock: &MockDefender,
    items: &[FetchItem],
    already_delivered: &HashSet<VersionKey>,
    strict: bool,
) {
    let served = mock.served_versions();
    let log = mock.request_log();
    // Exactly once.
    let mut emitted_at: HashMap<VersionKey, usize> = HashMap::new();
    let mut unkeyed_emitted = 0;
    for (pos, it) in items.iter().enumerate() {
        if matches!(it, FetchItem::Alert(_) | FetchItem::Graph(_)) {
            match item_key(it) {
                Some(k) => {
                    assert!(
                        !already_delivered.contains(&k),
                        "re-emitted a delivered version {k:?}"
                    );
                    assert!(
                        emitted_at.insert(k.clone(), pos).is_none(),
                        "emitted twice: {k:?}"
                    );
                }
                None => unkeyed_emitted += 1,
            }
        }
    }
    // A version forwarded as an "unreadable alert" event reached the SIEM: the cursor may pass it.
    let mut unreadable_at: HashMap<VersionKey, usize> = HashMap::new();
    for (pos, it) in items.iter().enumerate() {
        if let FetchItem::Unreadable(u) = it
            && let (Some(id), Some(t)) = (&u.id, u.last_update_time)
        {
            unreadable_at
                .entry(VersionKey {
                    id: id.clone(),
                    last_update_time: t,
                })
                .or_insert(pos);
        }
    }
    let served_keys: HashSet<VersionKey> = served.iter().filter_map(|s| s.key()).collect();
    let unkeyed_served = served.iter().filter(|s| s.key().is_none()).count();
    assert_eq!(
        unkeyed_emitted, unkeyed_served,
        "alerts without id/lastUpdateTime"
    );
    for k in &served_keys {
        assert!(
            emitted_at.contains_key(k) || already_delivered.contains(k),
            "served but never emitted: {k:?}"
        );
    }
    for k in emitted_at.keys() {
        assert!(served_keys.contains(k), "emitted but never served: {k:?}");
    }
    // Checkpoints.
    let ok_pages: Vec<u64> = log
        .iter()
        .filter(|r| r.endpoint == Endpoint::Alerts && r.ok_page)
        .map(|r| r.seq)
        .collect();
    let mut k = 0;
    let mut last_w: Option<Timestamp> = None;
    for (pos, it) in items.iter().enumerate() {
        let FetchItem::Checkpoint(c) = it else {
            continue;
        };
        let seq = *ok_pages
            .get(k)
            .expect("more checkpoints than readable pages");
        k += 1;
        if let Some(l) = last_w {
            assert!(c.watermark >= l, "watermark went back");
        }
        last_w = Some(c.watermark);
        for s in served
            .iter()
            .filter(|s| s.request <= seq || (strict && s.visible_since < seq))
        {
            let Some(key) = s.key() else { continue };
            if key.last_update_time < c.watermark && !already_delivered.contains(&key) {
                let at =
                    emitted_at[&key].min(unreadable_at.get(&key).copied().unwrap_or(usize::MAX));
                assert!(
                    at < pos,
                    "checkpoint {} at {pos} passed {key:?}, emitted only at {at}",
                    c.watermark
                );
            }
        }
    }
    assert!(
        k + 1 >= ok_pages.len(),
        "{} readable pages but {k} checkpoints",
        ok_pages.len()
    );
    check_budget(mock);
}

pub fn check_budget(mock: &MockDefender) {
    let times: Vec<_> = mock
        .request_log()
        .iter()
        .filter(|r| r.endpoint == Endpoint::Alerts)
        .map(|r| r.at)
        .collect();
    for (i, t) in times.iter().enumerate() {
        let in_min = times[i..]
            .iter()
            .take_while(|u| u.duration_since(*t) < Duration::from_secs(60))
            .count();
        let quota = match mock.api() {
            sim::defender::MockApi::Mde => 100,
            sim::defender::MockApi::Graph => 150,
        };
        assert!(in_min <= quota, "{in_min} requests within 60 s");
    }
    assert!(
        times.len() <= 1500 || times[1500].duration_since(times[0]) >= Duration::from_secs(3600)
    );
}
