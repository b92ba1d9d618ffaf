//! The built binary with `source = "graph"` against the simulated Microsoft Graph alerts_v2 API
//! (Graph's caps, order, audience and permission enforced) and real collectors (rsyslog over
//! mutual TLS, in-process RFC 5425 receivers): what arrives is decoded by the strict parsers
//! and compared field by field with the mock's alerts_v2 alerts (`e2e::graph_oracle`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use alert_model::Timestamp;
use e2e::daemon::{Daemon, command};
use e2e::graph_oracle::wait_graph_conserved;
use e2e::oracle::Fmt;
use e2e::setup::{Dest, World};
use sim::defender::MockOptions;
use sim::defender::store::quantize;

const WAIT: Duration = Duration::from_secs(120);

fn ago(secs: u64) -> Timestamp {
    quantize(Timestamp::now().saturating_sub(Duration::from_secs(secs)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_alerts_and_updates_arrive_intact_in_every_format() {
    let w = World::with_mock(MockOptions::graph()).await;
    let first = w.mock.insert_new(45);
    let rsyslog = w.rsyslog_mtls("graph_alerts_and_updates_arrive_intact_in_every_format");
    let cef = w.tls_collector().await;
    let syslog = w.tls_collector().await;
    let mut dests = vec![
        Dest::new("arcsight", Fmt::Cef, cef.address()),
        Dest::new("splunk", Fmt::Rfc5424, syslog.address()),
    ];
    if let Some(r) = &rsyslog {
        dests.push(Dest::new("qradar", Fmt::Leef, r.address()).mtls());
    }
    let config = w.write_config(&dests);
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains("source = \"graph\"")
    );
    let d = Daemon::start(&config, &w.log_path());
    let check_all = async || {
        wait_graph_conserved(&w.mock, "arcsight", Fmt::Cef, || cef.messages(), WAIT).await;
        wait_graph_conserved(&w.mock, "splunk", Fmt::Rfc5424, || syslog.messages(), WAIT).await;
        if let Some(r) = &rsyslog {
            wait_graph_conserved(&w.mock, "qradar", Fmt::Leef, || r.messages(), WAIT).await;
        }
    };
    check_all().await;
    let ids: Vec<String> = first[..15].iter().map(|k| k.id.clone()).collect();
    assert_eq!(w.mock.update(&ids).len(), 15);
    w.mock.insert_new(5);
    check_all().await;
    assert!(!d.log().contains(&w.mock.client_secret));
    d.stop().await;
}

/// A run of versions sharing one `lastUpdateDateTime`, longer than a page and than `$skip` can
/// reach, read whole by narrowing on `createdDateTime`: every version once in every format.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tie_larger_than_a_page_and_the_skip_cap_arrives_once_in_every_format() {
    let w = World::with_mock(MockOptions::graph()).await;
    // page_size 40: $skip 500 + $top 40 reach 540 of the 700. Older than the overlap, so each
    // destination walks it once (three pollers share the tenant's 150 requests a minute).
    let tie = w.mock.insert_ties(700, ago(300));
    let after = w.mock.insert_new(10);
    let rsyslog =
        w.rsyslog_mtls("a_tie_larger_than_a_page_and_the_skip_cap_arrives_once_in_every_format");
    let cef = w.tls_collector().await;
    let syslog = w.tls_collector().await;
    let leef = w.tls_collector().await;
    let mut dests = vec![
        Dest::new("arcsight", Fmt::Cef, cef.address()),
        Dest::new("splunk", Fmt::Rfc5424, syslog.address()),
    ];
    match &rsyslog {
        Some(r) => dests.push(Dest::new("qradar", Fmt::Leef, r.address()).mtls()),
        None => dests.push(Dest::new("qradar", Fmt::Leef, leef.address())),
    }
    let config = w.write_config(&dests);
    let d = Daemon::start(&config, &w.log_path());
    let leef_messages = || {
        rsyslog
            .as_ref()
            .map_or_else(|| leef.messages(), |r| r.messages())
    };
    let results = [
        (
            "arcsight",
            Fmt::Cef,
            wait_graph_conserved(&w.mock, "arcsight", Fmt::Cef, || cef.messages(), WAIT).await,
        ),
        (
            "splunk",
            Fmt::Rfc5424,
            wait_graph_conserved(&w.mock, "splunk", Fmt::Rfc5424, || syslog.messages(), WAIT).await,
        ),
        (
            "qradar",
            Fmt::Leef,
            wait_graph_conserved(&w.mock, "qradar", Fmt::Leef, leef_messages, WAIT).await,
        ),
    ];
    for (dest, fmt, t) in results {
        assert_eq!(
            t.distinct,
            tie.len() + after.len(),
            "{dest} ({fmt:?}): every version"
        );
        assert_eq!(
            t.duplicates, 0,
            "{dest} ({fmt:?}): each version exactly once"
        );
    }
    assert!(
        w.mock
            .request_log()
            .iter()
            .any(|r| r.query.contains("createdDateTime")),
        "the tie was narrowed by createdDateTime"
    );
    assert!(
        !d.log().contains("ALERTS NOT READ"),
        "a narrowable tie is no reason to warn:\n{}",
        d.log()
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_documented_sample_arrives_intact_in_every_format() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/graph-fixtures/list-alerts_v2_response.json"
    );
    let Ok(text) = std::fs::read_to_string(path) else {
        sim::skip_notice(&format!(
            "{path} is absent: the real alerts_v2 sample was not tested end to end"
        ));
        return;
    };
    let page: serde_json::Value = serde_json::from_str(&text).unwrap();
    let w = World::with_mock(MockOptions::graph()).await;
    // Dated now, so that it falls inside the test config's initial_lookback; all else as captured.
    let values: Vec<serde_json::Value> = page["value"]
        .as_array()
        .unwrap()
        .iter()
        .cloned()
        .map(|mut v| {
            v["lastUpdateDateTime"] = ago(60).to_string().into();
            v
        })
        .collect();
    w.mock.insert_values(values);
    let collectors = [
        (Fmt::Cef, w.tls_collector().await),
        (Fmt::Leef, w.tls_collector().await),
        (Fmt::Rfc5424, w.tls_collector().await),
    ];
    let dests: Vec<Dest> = collectors
        .iter()
        .map(|(f, c)| Dest::new(f.config_name(), *f, c.address()))
        .collect();
    let config = w.write_config(&dests);
    let d = Daemon::start(&config, &w.log_path());
    for (f, c) in &collectors {
        let t = wait_graph_conserved(&w.mock, f.config_name(), *f, || c.messages(), WAIT).await;
        assert_eq!(t.distinct, page["value"].as_array().unwrap().len());
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_probes_graph_and_a_403_names_security_alert_read_all() {
    let w = World::with_mock(MockOptions::graph()).await;
    w.mock.insert_new(1);
    let cef = w.tls_collector().await;
    let config = w.write_config(&[Dest::new("arcsight", Fmt::Cef, cef.address())]);
    let run = |config: &std::path::Path| {
        let o = command()
            .args(["check", "--config"])
            .arg(config)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    let (code, out) = tokio::task::block_in_place(|| run(&config));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("source graph"), "{out}");
    assert!(
        out.contains("/v1.0/security/alerts_v2?$top=1 returned 1 alert(s)"),
        "{out}"
    );
    assert!(
        out.contains("https://graph.microsoft.com/.default"),
        "{out}"
    );
    w.mock.set_forbidden(true);
    let (code, out) = tokio::task::block_in_place(|| run(&config));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("Microsoft Graph → Application → SecurityAlert.Read.All with admin consent"),
        "{out}"
    );
}
