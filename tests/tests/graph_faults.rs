//! The built binary with `source = "graph"` under faults, against the simulated Graph
//! alerts_v2 API and real collectors (rsyslog over mutual TLS where installed), each run ending
//! with the conservation oracle in every format: a backlog across many pages, a 429 storm
//! (every `Retry-After` honoured, at most 150 calls a minute), token expiry mid-run,
//! late-visible alerts and updates in one run; `kill -9` and restart in another.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use alert_model::Timestamp;
use e2e::daemon::Daemon;
use e2e::graph_oracle::wait_graph_conserved;
use e2e::oracle::Fmt;
use e2e::setup::{Dest, World};
use sim::collector::Collector;
use sim::defender::{Endpoint, Fault, MockDefender, MockOptions, RequestRecord};
use sim::external::Running;

const WAIT: Duration = Duration::from_secs(300);

/// A CEF and an RFC 5424 in-process TLS receiver, and LEEF to rsyslog over mutual TLS.
struct Sinks {
    cef: Collector,
    syslog: Collector,
    rsyslog: Option<Running>,
}

impl Sinks {
    async fn start(w: &World, test: &str) -> (Sinks, Vec<Dest>) {
        let sinks = Sinks {
            cef: w.tls_collector().await,
            syslog: w.tls_collector().await,
            rsyslog: w.rsyslog_mtls(test),
        };
        let mut dests = vec![
            Dest::new("arcsight", Fmt::Cef, sinks.cef.address()),
            Dest::new("splunk", Fmt::Rfc5424, sinks.syslog.address()),
        ];
        if let Some(r) = &sinks.rsyslog {
            dests.push(Dest::new("qradar", Fmt::Leef, r.address()).mtls());
        }
        (sinks, dests)
    }

    async fn conserved(&self, mock: &MockDefender) {
        let (cef, syslog) = (&self.cef, &self.syslog);
        wait_graph_conserved(mock, "arcsight", Fmt::Cef, || cef.messages(), WAIT).await;
        wait_graph_conserved(mock, "splunk", Fmt::Rfc5424, || syslog.messages(), WAIT).await;
        if let Some(r) = &self.rsyslog {
            wait_graph_conserved(mock, "qradar", Fmt::Leef, || r.messages(), WAIT).await;
        }
    }
}

fn alerts_log(mock: &MockDefender) -> Vec<RequestRecord> {
    mock.request_log()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::Alerts)
        .collect()
}

/// Every 429's `Retry-After` was waited out: the destinations' pollers share one client and
/// budget, so inside the wait only the requests the other `pollers - 1` already had in flight
/// may arrive; and no 60 s window held more than 150 calls.
fn assert_throttling_obeyed(log: &[RequestRecord], pollers: usize) {
    for (i, r) in log.iter().enumerate() {
        if let Some(secs) = r.retry_after {
            let wait = Duration::from_secs(secs);
            let inside = log[i + 1..]
                .iter()
                .take_while(|n| n.at.duration_since(r.at) < wait)
                .count();
            assert!(
                inside < pollers,
                "{inside} calls within the {secs}s a 429 asked to wait"
            );
        }
    }
    for (i, r) in log.iter().enumerate() {
        let in_minute = log[i..]
            .iter()
            .take_while(|n| n.at.duration_since(r.at) < Duration::from_secs(60))
            .count();
        assert!(in_minute <= 150, "{in_minute} calls within a minute");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_backlog_through_a_429_storm_and_token_expiry_arrives_whole_in_every_format() {
    let w = World::with_mock(MockOptions::graph()).await;
    // A backlog of 10 pages of 40 (the tests' page_size), 40 distinct update times 5 min back:
    // older than the overlap, so the pollers' re-reads stay small under the shared 150/min
    // budget (one tie of 400 inside the overlap was re-walked every cycle: 32 pages each).
    let base = Timestamp::now().saturating_sub(Duration::from_secs(300));
    let backlog: Vec<_> = (0..40u64)
        .flat_map(|i| {
            w.mock
                .insert_ties(10, base.saturating_add(Duration::from_millis(i * 1000)))
        })
        .collect();
    let (sinks, dests) = Sinks::start(&w, "graph_backlog_429_storm_token_expiry").await;
    // A storm of 429s at the start, each with its own Retry-After.
    w.mock.push_faults((1..=4).map(|s| Fault::TooManyRequests {
        retry_after_secs: s % 2 + 2,
    }));
    let dests_len = dests.len();
    let d = Daemon::start(&w.write_config(&dests), &w.log_path());
    sinks.conserved(&w.mock).await;
    // Mid-run: every token expires, a second storm, updates, new and late-visible alerts
    // (visible only now, with an update time 10 s back: inside the 30 s overlap).
    w.mock.expire_tokens();
    w.mock.push_faults([
        Fault::Unauthorized,
        Fault::TooManyRequests {
            retry_after_secs: 2,
        },
        Fault::TooManyRequests {
            retry_after_secs: 3,
        },
    ]);
    let ids: Vec<String> = backlog[..30].iter().map(|k| k.id.clone()).collect();
    assert_eq!(w.mock.update(&ids).len(), 30);
    w.mock.insert_new(20);
    w.mock.insert_late(15, Duration::from_secs(10));
    sinks.conserved(&w.mock).await;
    let log = alerts_log(&w.mock);
    assert_eq!(log.iter().filter(|r| r.status == 429).count(), 6);
    assert!(
        log.iter().any(|r| r.status == 401),
        "the expired token was refused"
    );
    assert!(
        log.iter().all(|r| r.status != 400),
        "a query beyond Graph's rules"
    );
    assert_throttling_obeyed(&log, dests_len);
    let token_requests = w
        .mock
        .request_log()
        .iter()
        .filter(|r| r.endpoint == Endpoint::Token)
        .count();
    assert!(token_requests >= 2, "a new token after the expiry");
    assert!(!d.log().contains(&w.mock.client_secret));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_kill_9_and_restart_loses_nothing_and_resumes_from_the_cursor() {
    let w = World::with_mock(MockOptions::graph()).await;
    w.mock.insert_new(300);
    let (sinks, dests) = Sinks::start(&w, "graph_kill_9_and_restart").await;
    let config = w.write_config(&dests);
    for round in 0..2u32 {
        let mut d = Daemon::start(&config, &w.log_path());
        let run_for = Duration::from_millis(1500 + 1000 * u64::from(round));
        let start = std::time::Instant::now();
        while start.elapsed() < run_for {
            w.mock.insert_new(10);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let ids: Vec<String> = w.mock.current_versions()[..5]
            .iter()
            .map(|k| k.id.clone())
            .collect();
        w.mock.update(&ids);
        d.kill9();
    }
    // Each destination has its own cursor: the restart reads from the lowest.
    let watermark = dests
        .iter()
        .map(|d| {
            let committed = std::fs::read_to_string(w.state_file(&d.name)).expect("a cursor");
            let v: serde_json::Value = serde_json::from_str(&committed).unwrap();
            let t = v["resume"]["watermark"].as_str().expect("a watermark");
            alert_model::Timestamp::parse(t).unwrap()
        })
        .min()
        .unwrap();
    let before = alerts_log(&w.mock).len();
    let d = Daemon::start(&config, &w.log_path());
    sinks.conserved(&w.mock).await;
    // The restart read from the committed cursor (minus the overlap), not the initial lookback.
    let first = &alerts_log(&w.mock)[before];
    let from = first
        .query
        .split("lastUpdateDateTime ge ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.split('&').next())
        .expect("a keyset query");
    let from = alert_model::Timestamp::parse(from).unwrap();
    assert!(
        from >= watermark.saturating_sub(Duration::from_secs(31)),
        "resumed at {from}, the cursor was {watermark}"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_403_in_run_names_the_graph_permission_in_the_log() {
    let w = World::with_mock(MockOptions::graph()).await;
    w.mock.insert_new(5);
    w.mock.set_forbidden(true);
    let cef = w.tls_collector().await;
    let config = w.write_config(&[Dest::new("arcsight", Fmt::Cef, cef.address())]);
    let mut d = Daemon::start(&config, &w.log_path());
    let hint = "Microsoft Graph → Application → SecurityAlert.Read.All with admin consent";
    let start = std::time::Instant::now();
    while !d.log().contains(hint) && start.elapsed() < Duration::from_secs(90) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(d.log().contains(hint), "{}", d.log());
    assert!(!d.log().contains(&w.mock.client_secret));
    assert_eq!(cef.count(), 0, "nothing invented while forbidden");
    // A missing permission is fatal: the service stops with a failure (systemd shows it).
    let status = d.wait(Duration::from_secs(40)).await.expect("exits");
    assert!(!status.success(), "{}", d.log());
}
