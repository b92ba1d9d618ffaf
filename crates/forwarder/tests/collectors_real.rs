//! Realistic alerts through REAL collectors on loopback: rsyslog (gtls, mutual TLS with
//! PermittedPeer) and syslog-ng (strict RFC 5425). Every message must arrive byte for byte.
//! Without the collectors these tests skip with a message, except under CI (`CI` set), where
//! a missing collector is a failure (`.ci/install-deps` installs them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use forwarder::transport::{Transport, TransportConfig, TransportKind};
use sim::external;
use sim::pki::{PkiFiles, TestPki};

const WAIT: Duration = Duration::from_secs(60);

fn need<T>(found: Option<T>, what: &str) -> Option<T> {
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("{what} is missing under CI: .ci/install-deps must install it");
        }
        sim::skip_notice(&format!(
            "{what} is not installed here (run .ci/install-deps)"
        ));
    }
    found
}

/// RFC 5424 messages around the repository's sample alerts: raw titles and descriptions
/// (multi-byte UTF-8, quotes, brackets, `|`, `=`, `\`), plus the alert JSON. NUL is left
/// out: rsyslog stores it as `#000` by design (formats.md §0 10b).
fn alert_messages() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (i, a) in alert_model::samples::alerts().into_iter().enumerate() {
        let id = a.id.clone().unwrap_or_else(|| "-".into());
        let text = format!(
            "{} | {}",
            a.title.clone().unwrap_or_default(),
            a.description.clone().unwrap_or_default()
        )
        .replace(['\0', '\n', '\r'], " ");
        out.push(
            format!("<12>1 2024-05-01T10:00:{:02}.123Z defender-host defender-syslog - ALERT [defender@32473 id=\"{id}\"] {text}", i % 60)
                .into_bytes(),
        );
        let json = serde_json::to_string(&a).unwrap();
        out.push(
            format!("<12>1 2024-05-01T10:00:00.000Z defender-host defender-syslog - JSON - {json}")
                .into_bytes(),
        );
    }
    out.push(
        "<14>1 2024-05-01T10:00:00.000Z defender-host app - UTF8 - Zoë € 😀 日本語 é"
            .as_bytes()
            .to_vec(),
    );
    out.extend(extra_formatted());
    out
}

/// The real formatters' output for every sample alert: RFC 5424 (JSON and summary bodies),
/// LEEF 1.0 (tab), LEEF 2.0 (`^`) and CEF.
fn extra_formatted() -> Vec<Vec<u8>> {
    use forwarder::format::{Format, FormatOptions, Formatter, LeefVersion, MsgBody};
    let mut summary = FormatOptions::new(Format::Rfc5424, "defender-host");
    summary.msg_body = MsgBody::Summary;
    let options = [
        FormatOptions::new(Format::Rfc5424, "defender-host"),
        summary,
        FormatOptions::new(
            Format::Leef {
                version: LeefVersion::V1,
                delimiter: '\t',
            },
            "defender-host",
        ),
        FormatOptions::new(
            Format::Leef {
                version: LeefVersion::V2,
                delimiter: '^',
            },
            "defender-host",
        ),
        FormatOptions::new(Format::Cef, "defender-host"),
    ];
    let mut out = Vec::new();
    for o in options {
        let f = Formatter::new(o).unwrap();
        for a in alert_model::samples::alerts() {
            let mut buf = Vec::new();
            f.format(&a, &mut buf);
            out.push(buf);
        }
    }
    out
}

fn tls_config(
    address: String,
    files: &PkiFiles,
    client: Option<(&std::path::Path, &std::path::Path)>,
) -> TransportConfig {
    let mut c = TransportConfig::new(TransportKind::Tls, vec![address]);
    c.tls.use_system_roots = false;
    c.tls.ca_file = Some(files.ca.clone());
    c.tls.server_name = Some("localhost".into());
    if let Some((cert, key)) = client {
        c.tls.client_cert_file = Some(cert.to_path_buf());
        c.tls.client_key_file = Some(key.to_path_buf());
    }
    c.backoff_min = Duration::from_millis(100);
    c.backoff_max = Duration::from_secs(1);
    c
}

async fn send_all(t: &Transport, msgs: &[Vec<u8>]) {
    for m in msgs {
        t.send(m.clone()).await.unwrap();
    }
    let mut rx = t.delivered();
    tokio::time::timeout(WAIT, rx.wait_for(|d| *d >= msgs.len() as u64))
        .await
        .expect("not all delivered")
        .unwrap();
}

fn assert_intact(name: &str, got: &[Vec<u8>], sent: &[Vec<u8>], log: &str) {
    assert_eq!(
        got.len(),
        sent.len(),
        "{name}: {} of {} arrived; collector log:\n{log}",
        got.len(),
        sent.len()
    );
    for (i, (g, s)) in got.iter().zip(sent).enumerate() {
        assert_eq!(
            String::from_utf8_lossy(g),
            String::from_utf8_lossy(s),
            "{name}: message {i} differs"
        );
        assert_eq!(g, s, "{name}: message {i} differs in bytes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_mutual_tls_receives_every_alert_intact() {
    if need(external::rsyslogd(), "rsyslogd").is_none() {
        return;
    }
    let pki = TestPki::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = pki.write_to(dir.path()).unwrap();
    let rs = external::rsyslog(dir.path(), &files, &[TestPki::CLIENT_CN]).unwrap();
    let cfg = tls_config(
        rs.address(),
        &files,
        Some((&files.client_cert, &files.client_key)),
    );
    let probe = Transport::probe(&cfg).await.unwrap();
    assert!(probe.all_ok(), "{probe:?}\n{}", rs.log());
    let t = Transport::start("rsyslog", cfg).unwrap();
    let msgs = alert_messages();
    send_all(&t, &msgs).await;
    let r = t.shutdown(Duration::from_secs(10)).await;
    assert_eq!(r.undelivered, 0);
    let got = tokio::task::block_in_place(|| rs.wait_for(msgs.len(), WAIT));
    assert_intact("rsyslog", &got, &msgs, &rs.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_refuses_a_client_whose_name_is_not_permitted() {
    if need(external::rsyslogd(), "rsyslogd").is_none() {
        return;
    }
    let pki = TestPki::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = pki.write_to(dir.path()).unwrap();
    // Signed by the right CA, but CN=intruder is not in PermittedPeer.
    let intruder = pki.ca.client("intruder").unwrap();
    let (cert, key) = (
        dir.path().join("intruder.pem"),
        dir.path().join("intruder.key"),
    );
    std::fs::write(&cert, &intruder.cert_pem).unwrap();
    std::fs::write(&key, &intruder.key_pem).unwrap();
    let rs = external::rsyslog(dir.path(), &files, &[TestPki::CLIENT_CN]).unwrap();
    let cfg = tls_config(rs.address(), &files, Some((&cert, &key)));

    let probe = Transport::probe(&cfg).await.unwrap();
    let e = probe.results[0]
        .outcome
        .as_ref()
        .expect_err("probe must fail");
    assert!(e.is_handshake(), "{e}");
    eprintln!("probe says: {e}");

    let t = Transport::start("intruder", cfg).unwrap();
    t.send(b"<14>1 2024-05-01T10:00:00.000Z h a - - - must not be accepted".to_vec())
        .await
        .unwrap();
    tokio::time::timeout(WAIT, async {
        while t.stats().handshake_failures < 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("refusal not noticed");
    assert_eq!(
        *t.delivered().borrow(),
        0,
        "a refused connection must not count as delivered"
    );
    t.shutdown(Duration::ZERO).await;
    assert!(rs.messages().is_empty());
    let log = rs.log();
    assert!(
        log.contains("intruder"),
        "rsyslog should log the refused name:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_ng_strict_rfc5425_receives_every_alert_intact() {
    if need(external::syslog_ng(), "syslog-ng").is_none() {
        return;
    }
    let pki = TestPki::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = pki.write_to(dir.path()).unwrap();
    let sng = external::syslog_ng_tls(dir.path(), &files).unwrap();
    let cfg = tls_config(
        sng.address(),
        &files,
        Some((&files.client_cert, &files.client_key)),
    );
    let t = Transport::start("syslog-ng", cfg).unwrap();
    let msgs = alert_messages();
    send_all(&t, &msgs).await;
    let r = t.shutdown(Duration::from_secs(10)).await;
    assert_eq!(r.undelivered, 0);
    let got = tokio::task::block_in_place(|| sng.wait_for(msgs.len(), WAIT));
    assert_intact("syslog-ng", &got, &msgs, &sng.log());
    assert!(!sng.log().contains("Invalid frame header"), "{}", sng.log());
}
