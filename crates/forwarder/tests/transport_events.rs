//! `tracing` events of transport state changes, in a test binary of its own: a scoped
//! (`set_default`) subscriber in a process where other tests hit the same callsites on other
//! threads can miss events (tracing caches callsite interest per process), which made this check
//! flaky while it shared `transport_delivery.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use forwarder::transport::{Transport, TransportConfig, TransportKind};
use sim::collector::{self, Options};
use sim::pki::{PkiFiles, TestPki};

const WAIT: Duration = Duration::from_secs(90);

fn tls_config(addresses: Vec<String>, files: &PkiFiles) -> TransportConfig {
    let mut c = TransportConfig::new(TransportKind::Tls, addresses);
    c.tls.use_system_roots = false;
    c.tls.ca_file = Some(files.ca.clone());
    c.backoff_min = Duration::from_millis(50);
    c.backoff_max = Duration::from_millis(300);
    c.tls_settle = Duration::from_millis(200);
    c
}

fn pki() -> (TestPki, tempfile::TempDir, PkiFiles) {
    let pki = TestPki::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = pki.write_to(dir.path()).unwrap();
    (pki, dir, files)
}

/// Captures formatted `tracing` output (the transport task runs on this test's thread).
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);
impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn state_changes_are_tracing_events_with_structured_fields() {
    let cap = Captured::default();
    let writer = cap.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (pki, _d, files) = pki();
    let up = collector::start(Options::tls(pki.server_config(false).unwrap()))
        .await
        .unwrap();
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let cfg = tls_config(vec![down.clone(), up.address()], &files);
    let t = Transport::start("events", cfg).unwrap();
    t.send(b"<14>1 - - - - - x".to_vec()).await.unwrap();
    let mut rx = t.delivered();
    tokio::time::timeout(WAIT, rx.wait_for(|d| *d >= 1))
        .await
        .unwrap()
        .unwrap();
    t.shutdown(Duration::from_secs(5)).await;
    let text = String::from_utf8(cap.0.lock().unwrap().clone()).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let find = |m: &str| {
        events
            .iter()
            .find(|e| e["fields"]["message"] == m)
            .unwrap_or_else(|| panic!("no {m:?} event in {text}"))
    };
    let f = find("failing over");
    assert_eq!(
        (f["fields"]["from"].as_str(), f["fields"]["to"].as_str()),
        (Some(down.as_str()), Some(up.address().as_str()))
    );
    assert_eq!(f["fields"]["transport"], "events");
    assert_eq!(find("connect failed")["fields"]["address"], down.as_str());
    assert_eq!(
        find("connected")["fields"]["address"],
        up.address().as_str()
    );
}
