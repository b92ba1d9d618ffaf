//! The built binary with `source = "graph"` under faults, against the simulated Graph
//! alerts_v2 API and real collectors (rsyslog over mutual TLS where installed), each run ending
//! with the conservation oracle in every format: a backlog across many pages, a 429 storm
//! (every `Retry-After` honoured, at most 150 calls a minute), token expiry mid-run,
//! late-visible alerts and updates in one run; `kill -9` and restart in another; elements the
//! fetcher cannot read forwarded once as marked "unreadable alert" events, with a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use alert_model::{Timestamp, VersionKey};
use e2e::daemon::Daemon;
use e2e::graph_oracle::wait_graph_conserved;
use e2e::oracle::{Fmt, SD_ID, cef_ext_clean, decode_unreadable, leef_clean};
use e2e::setup::{Dest, World};
use sim::collector::Collector;
use sim::defender::{Endpoint, Fault, MockDefender, MockOptions, RequestRecord};
use sim::external::Running;
use sim::parse::{cef, leef, rfc5424};

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

    /// Every frame each destination received, with its format.
    fn frames(&self) -> Vec<(&'static str, Fmt, Vec<Vec<u8>>)> {
        let mut all = vec![
            ("arcsight", Fmt::Cef, self.cef.messages()),
            ("splunk", Fmt::Rfc5424, self.syslog.messages()),
        ];
        if let Some(r) = &self.rsyslog {
            all.push(("qradar", Fmt::Leef, r.messages()));
        }
        all
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

/// (raw element, rawBytes, parse error) of an "unreadable alert" event, read with the strict
/// parser of its format; the raw text as the format's cleaning leaves the element's bytes.
fn unreadable_parts(fmt: Fmt, frame: &[u8], element: &[u8]) -> (String, String, String, String) {
    let line = std::str::from_utf8(frame).unwrap();
    let m = rfc5424::parse(line).unwrap_or_else(|e| panic!("not RFC 5424: {e}: {line}"));
    let body = m.msg.clone().unwrap_or_default();
    let element = String::from_utf8_lossy(element).into_owned();
    let own = |v: Option<&str>| {
        v.unwrap_or_else(|| panic!("missing field: {line}"))
            .to_owned()
    };
    match fmt {
        Fmt::Rfc5424 => {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["unreadable"], true, "{line}");
            assert_eq!(
                m.sd_param(SD_ID, "rawBytes"),
                Some(&*v["rawBytes"].to_string())
            );
            (
                own(v["raw"].as_str()),
                v["rawBytes"].to_string(),
                own(v["error"].as_str()),
                element,
            )
        }
        Fmt::Leef => {
            let e = leef::parse(&body).unwrap_or_else(|e| panic!("not strict LEEF: {e}: {body}"));
            (
                own(e.get("raw")),
                own(e.get("rawBytes")),
                own(e.get("parseError")),
                leef_clean(&element, e.delimiter),
            )
        }
        Fmt::Cef => {
            let e = cef::parse(&body).unwrap_or_else(|e| panic!("not strict CEF: {e}: {body}"));
            assert_eq!(e.name, "Unreadable alert", "{body}");
            (
                own(e.get("msg")),
                own(e.get("cn1")),
                own(e.get("reason")),
                cef_ext_clean(&element),
            )
        }
    }
}

/// Per destination: the unreadable events are exactly one for each bad element, each carrying
/// the element's id, time and bytes; no ordinary alert message names a bad id.
fn assert_unreadable_once(sinks: &Sinks, bad: &[(VersionKey, Vec<u8>)]) {
    for (dest, fmt, frames) in sinks.frames() {
        let mut got = Vec::new();
        for frame in &frames {
            let Some(key) = decode_unreadable(fmt, frame) else {
                let text = String::from_utf8_lossy(frame);
                assert!(
                    bad.iter().all(|(k, _)| !text.contains(&k.id)),
                    "{dest}: an ordinary message for an unreadable element: {text}"
                );
                continue;
            };
            let key = key.unwrap_or_else(|e| panic!("{dest}: {e}"));
            let (_, element) = bad.iter().find(|(k, _)| *k == key).unwrap_or_else(|| {
                panic!("{dest}: unreadable event for {key:?}, not a bad element")
            });
            let (raw, raw_bytes, error, want) = unreadable_parts(fmt, frame, element);
            assert_eq!(raw, want, "{dest}: the raw element of {key:?}");
            assert_eq!(raw_bytes, element.len().to_string(), "{dest}: {key:?}");
            assert!(!error.is_empty(), "{dest}: no parse error for {key:?}");
            got.push(key);
        }
        got.sort();
        let mut want: Vec<VersionKey> = bad.iter().map(|(k, _)| k.clone()).collect();
        want.sort();
        assert_eq!(got, want, "{dest}: one unreadable event per bad element");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_unreadable_elements_are_forwarded_once_marked_and_the_cursor_moves_on() {
    let w = World::with_mock(MockOptions::graph()).await;
    let first = w.mock.insert_new(30);
    // One element cut in a literal, one a member short of its comma: both can be delimited,
    // neither read even leniently.
    let (broken, raw) = (first[4].clone(), first[17].clone());
    w.mock.set_broken(&broken.id, true);
    let stored = serde_json::to_vec(&w.mock.alert(&broken.id).unwrap()).unwrap();
    let mut broken_bytes = stored[..stored.len() - 1].to_vec();
    broken_bytes.extend_from_slice(b",\"broken\":tru}");
    let raw_bytes = format!(
        r#"{{"id":"{}","lastUpdateDateTime":"{}","title":"no comma" "severity":"high"}}"#,
        raw.id, raw.last_update_time
    )
    .into_bytes();
    w.mock.set_raw(&raw.id, Some(raw_bytes.clone()));
    let bad = [(broken.clone(), broken_bytes), (raw.clone(), raw_bytes)];
    let (sinks, dests) = Sinks::start(&w, "graph_unreadable_elements_forwarded_once").await;
    let config = w.write_config(&dests);
    let d = Daemon::start(&config, &w.log_path());
    sinks.conserved(&w.mock).await;
    // Alerts after them arrive while the bad elements are re-read in every overlap window.
    w.mock.insert_new(15);
    sinks.conserved(&w.mock).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    sinks.conserved(&w.mock).await;
    assert_unreadable_once(&sinks, &bad);
    let log = d.log();
    for (k, _) in &bad {
        let named = log.matches(&format!("UNREADABLE ALERT {}", k.id)).count();
        assert_eq!(named, dests.len(), "logged once per destination: {k:?}");
    }
    d.stop().await;
    // The committed cursor of every destination is past both.
    let newest_bad = broken.last_update_time.max(raw.last_update_time);
    for dest in &dests {
        let committed = std::fs::read_to_string(w.state_file(&dest.name)).expect("a cursor");
        let v: serde_json::Value = serde_json::from_str(&committed).unwrap();
        let t = Timestamp::parse(v["resume"]["watermark"].as_str().unwrap()).unwrap();
        assert!(
            t > newest_bad,
            "{}: cursor {t}, bad at {newest_bad}",
            dest.name
        );
    }
    // A restart while they are still inside the overlap forwards neither again.
    let before: Vec<usize> = sinks.frames().iter().map(|(_, _, f)| f.len()).collect();
    let later = w.mock.insert_new(10);
    let d = Daemon::start(&config, &w.log_path());
    sinks.conserved(&w.mock).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    sinks.conserved(&w.mock).await;
    assert_unreadable_once(&sinks, &bad);
    for ((dest, _, frames), before) in sinks.frames().iter().zip(before) {
        assert_eq!(
            frames.len(),
            before + later.len(),
            "{dest}: after a clean stop only the new alerts arrive"
        );
    }
    d.stop().await;
}
