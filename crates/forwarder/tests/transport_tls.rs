//! TLS transport against the in-process rustls collector on loopback: byte-exact framing,
//! mutual TLS, wrong CA, pins, server names, TLS 1.2, close_notify, the probe.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use forwarder::transport::{Transport, TransportConfig, TransportKind};
use sim::collector::{self, Options};
use sim::pki::{PkiFiles, TestPki};

const WAIT: Duration = Duration::from_secs(60);

fn tls_config(address: String, files: &PkiFiles) -> TransportConfig {
    let mut c = TransportConfig::new(TransportKind::Tls, vec![address]);
    c.tls.use_system_roots = false;
    c.tls.ca_file = Some(files.ca.clone());
    c.backoff_min = Duration::from_millis(50);
    c.backoff_max = Duration::from_millis(500);
    c.tls_settle = Duration::from_millis(300);
    c
}

fn with_client_cert(mut c: TransportConfig, files: &PkiFiles) -> TransportConfig {
    c.tls.client_cert_file = Some(files.client_cert.clone());
    c.tls.client_key_file = Some(files.client_key.clone());
    c
}

async fn wait_delivered(t: &Transport, n: u64) {
    let mut rx = t.delivered();
    tokio::time::timeout(WAIT, rx.wait_for(|d| *d >= n))
        .await
        .expect("delivery timed out")
        .unwrap();
}

fn setup() -> (TestPki, tempfile::TempDir, PkiFiles) {
    let pki = TestPki::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = pki.write_to(dir.path()).unwrap();
    (pki, dir, files)
}

fn messages() -> Vec<Vec<u8>> {
    let mut m: Vec<Vec<u8>> = vec![
        b"<14>1 2024-01-01T00:00:00.000Z host app - ID1 - plain ascii".to_vec(),
        "<14>1 2024-01-01T00:00:00.000Z host app - ID2 - \u{feff}Zoë € 😀 日本語"
            .as_bytes()
            .to_vec(),
        b"<14>1 2024-01-01T00:00:00.000Z host app - ID3 - line one\nline two\r\n".to_vec(),
        b"9 a frame header inside a message".to_vec(),
        vec![b'x'; 60_000],
    ];
    for a in alert_model::samples::alerts() {
        // The alert as JSON, and its free text raw (hostile characters, newlines, NULs).
        let json = serde_json::to_string(&a).unwrap();
        let id = a.id.clone().unwrap_or_default();
        m.push(
            format!("<12>1 2024-01-01T00:00:00.000Z host defender - {id} - {json}").into_bytes(),
        );
        let text = format!(
            "{} {}",
            a.title.unwrap_or_default(),
            a.description.unwrap_or_default()
        );
        m.push(
            format!("<12>1 2024-01-01T00:00:00.000Z host defender - {id} - {text}").into_bytes(),
        );
    }
    m
}

#[tokio::test]
async fn frames_arrive_byte_exact_including_multibyte_utf8() {
    let (pki, _dir, files) = setup();
    let c = collector::start(Options::tls(pki.server_config(false).unwrap()))
        .await
        .unwrap();
    let t = Transport::start("t", tls_config(c.address(), &files)).unwrap();
    let msgs = messages();
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(t.send(m.clone()).await.unwrap(), i as u64);
    }
    wait_delivered(&t, msgs.len() as u64).await;
    assert!(c.wait_for(msgs.len(), WAIT).await);
    assert_eq!(c.messages(), msgs, "frames differ from what was sent");
    let report = t.shutdown(Duration::from_secs(10)).await;
    assert_eq!(
        (report.delivered, report.undelivered),
        (msgs.len() as u64, 0)
    );
    let s = t.stats();
    assert_eq!(
        (s.sent, s.delivered, s.resent, s.handshake_failures),
        (msgs.len() as u64, msgs.len() as u64, 0, 0)
    );
    // A clean TLS close: the collector saw close_notify, not an unexpected EOF.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(c.errors().is_empty(), "collector errors: {:?}", c.errors());
}

#[tokio::test]
async fn mutual_tls_sends_the_full_client_chain() {
    let (pki, dir, files) = setup();
    // A chain file: leaf then CA; both must be presented.
    let chain = dir.path().join("chain.pem");
    std::fs::write(
        &chain,
        format!("{}{}", pki.client.cert_pem, pki.ca.cert_pem),
    )
    .unwrap();
    let c = collector::start(Options::tls(pki.server_config(true).unwrap()))
        .await
        .unwrap();
    let mut cfg = with_client_cert(tls_config(c.address(), &files), &files);
    cfg.tls.client_cert_file = Some(chain);
    let t = Transport::start("mtls", cfg).unwrap();
    t.send(b"<14>1 - - - - - mtls".to_vec()).await.unwrap();
    wait_delivered(&t, 1).await;
    assert!(c.wait_for(1, WAIT).await);
    let chains = c.client_chains();
    assert_eq!(chains.len(), 1);
    assert_eq!(
        chains[0],
        vec![pki.client.cert_der.clone(), pki.ca.cert_der.clone()]
    );
    t.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn collector_requiring_a_client_cert_refuses_us_without_one() {
    let (pki, _dir, files) = setup();
    let c = collector::start(Options::tls(pki.server_config(true).unwrap()))
        .await
        .unwrap();
    let cfg = tls_config(c.address(), &files);
    let report = Transport::probe(&cfg).await.unwrap();
    let err = report.results[0].outcome.as_ref().unwrap_err();
    assert!(err.is_handshake(), "{err}");
    assert!(err.to_string().contains("client certificate"), "{err}");

    let t = Transport::start("nocert", cfg).unwrap();
    t.send(b"<14>1 - - - - - must not count as delivered".to_vec())
        .await
        .unwrap();
    tokio::time::timeout(WAIT, async {
        while t.stats().handshake_failures < 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("no handshake failure counted");
    assert_eq!(
        *t.delivered().borrow(),
        0,
        "a refused connection counted a message delivered"
    );
    assert_eq!(c.count(), 0);
    let r = t.shutdown(Duration::from_millis(100)).await;
    assert_eq!(r.undelivered, 1);
}

#[tokio::test]
async fn wrong_ca_is_refused_loudly_and_never_sends() {
    let (pki, _dir, _files) = setup();
    let (_other, _dir2, other_files) = setup();
    let c = collector::start(Options::tls(pki.server_config(false).unwrap()))
        .await
        .unwrap();
    let cfg = tls_config(c.address(), &other_files);
    let report = Transport::probe(&cfg).await.unwrap();
    assert!(!report.all_ok());
    let msg = report.results[0].outcome.as_ref().unwrap_err().to_string();
    assert!(msg.contains("not signed by a trusted CA"), "{msg}");
    assert!(msg.contains("127.0.0.1"), "names the server: {msg}");
    assert!(
        msg.contains(&other_files.ca.display().to_string()),
        "names the CA file: {msg}"
    );

    let t = Transport::start("wrongca", cfg).unwrap();
    t.send(b"<14>1 - - - - - secret".to_vec()).await.unwrap();
    tokio::time::timeout(WAIT, async {
        while t.stats().handshake_failures < 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(c.count(), 0, "no plaintext fallback, nothing delivered");
    assert_eq!(*t.delivered().borrow(), 0);
    t.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn pins_accept_the_right_certificate_and_refuse_others() {
    let (pki, _dir, files) = setup();
    let c = collector::start(Options::tls(pki.server_config(false).unwrap()))
        .await
        .unwrap();
    // Pin only (no CA at all): RFC 5425 fingerprint mode, with ':' separators.
    let fp = pki.server.sha256_hex();
    let colon = fp
        .as_bytes()
        .chunks(2)
        .map(|p| std::str::from_utf8(p).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    let mut pinned = TransportConfig::new(TransportKind::Tls, vec![c.address()]);
    pinned.tls.use_system_roots = false;
    pinned.tls.pin_sha256 = vec![colon.to_uppercase()];
    let ok = Transport::probe(&pinned).await.unwrap();
    let got = ok.results[0].outcome.as_ref().unwrap();
    assert_eq!(got.peer_cert_sha256.as_deref(), Some(fp.as_str()));

    // CA valid but pin wrong: refused, and the error shows the real fingerprint.
    let mut wrong = tls_config(c.address(), &files);
    wrong.tls.pin_sha256 = vec!["00".repeat(32)];
    let r = Transport::probe(&wrong).await.unwrap();
    let e = r.results[0].outcome.as_ref().unwrap_err().to_string();
    assert!(
        e.contains("matches no pin_sha256") && e.contains(&fp),
        "{e}"
    );
}

#[tokio::test]
async fn wrong_server_name_is_refused() {
    let (pki, _dir, files) = setup();
    let c = collector::start(Options::tls(pki.server_config(false).unwrap()))
        .await
        .unwrap();
    let mut cfg = tls_config(c.address(), &files);
    cfg.tls.server_name = Some("siem.example.com".into());
    let r = Transport::probe(&cfg).await.unwrap();
    let e = r.results[0].outcome.as_ref().unwrap_err().to_string();
    assert!(
        e.contains("siem.example.com") && e.contains("not valid for the server name"),
        "{e}"
    );
    cfg.tls.server_name = Some("localhost".into());
    assert!(Transport::probe(&cfg).await.unwrap().all_ok());
}

#[tokio::test]
async fn tls12_only_collector_works() {
    let (pki, _dir, files) = setup();
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![pki.server.cert_der.clone()], pki.server.key_der())
    .unwrap();
    let c = collector::start(Options::tls(Arc::new(server)))
        .await
        .unwrap();
    let cfg = tls_config(c.address(), &files);
    let r = Transport::probe(&cfg).await.unwrap();
    assert_eq!(
        r.results[0]
            .outcome
            .as_ref()
            .unwrap()
            .tls_version
            .as_deref(),
        Some("TLSv1_2")
    );
    let t = Transport::start("tls12", cfg).unwrap();
    t.send("<14>1 - - - - - über TLS 1.2".as_bytes().to_vec())
        .await
        .unwrap();
    wait_delivered(&t, 1).await;
    assert!(c.wait_for(1, WAIT).await);
    assert_eq!(c.messages()[0], "<14>1 - - - - - über TLS 1.2".as_bytes());
    t.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn file_errors_name_the_file_and_never_the_key() {
    let (_pki, dir, files) = setup();
    let mut cfg = with_client_cert(tls_config("127.0.0.1:1".into(), &files), &files);
    cfg.tls.ca_file = Some(dir.path().join("missing.pem"));
    let e = Transport::start("x", cfg.clone()).unwrap_err().to_string();
    assert!(e.contains("missing.pem") && e.contains("ca_file"), "{e}");
    // A key file holding a certificate instead of a key.
    cfg.tls.ca_file = Some(files.ca.clone());
    cfg.tls.client_key_file = Some(files.ca.clone());
    let e = Transport::start("x", cfg.clone()).unwrap_err().to_string();
    assert!(
        e.contains("client_key_file") && e.contains(&files.ca.display().to_string()),
        "{e}"
    );
    // Debug of the config shows paths, not key material.
    let key = std::fs::read_to_string(&files.client_key).unwrap();
    let dbg = format!(
        "{:?}",
        with_client_cert(tls_config("127.0.0.1:1".into(), &files), &files)
    );
    assert!(!dbg.contains(key.lines().nth(1).unwrap()));
    let _ = Path::new(&files.client_key);
}

#[tokio::test]
async fn ipv6_loopback_with_bracketed_address() {
    let (pki, _dir, files) = setup();
    let mut o = Options::tls(pki.server_config(false).unwrap());
    o.addr = "[::1]:0".parse().unwrap();
    let c = match collector::start(o).await {
        Ok(c) => c,
        Err(e) => {
            sim::skip_notice(&format!("no IPv6 loopback here ({e})"));
            return;
        }
    };
    let address = format!("[::1]:{}", c.addr().port());
    let t = Transport::start("v6", tls_config(address, &files)).unwrap();
    t.send("<14>1 - - - - - über IPv6".as_bytes().to_vec())
        .await
        .unwrap();
    wait_delivered(&t, 1).await;
    assert!(c.wait_for(1, WAIT).await);
    assert_eq!(c.messages()[0], "<14>1 - - - - - über IPv6".as_bytes());
    t.shutdown(Duration::from_secs(5)).await;
}

#[test]
fn start_outside_a_runtime_is_an_error_not_a_panic() {
    let cfg = TransportConfig::new(TransportKind::Tcp, vec!["127.0.0.1:514".into()]);
    let e = Transport::start("x", cfg).unwrap_err().to_string();
    assert!(e.contains("tokio runtime"), "{e}");
}
