//! The daemon in normal operation, through the built binary: alerts and their updates reach a
//! real rsyslog (mutual TLS, LEEF) and an in-process RFC 5425 collector (CEF) intact; the
//! summary line is logged; SIGTERM exits 0 with committed state files; a SIGHUP with an invalid
//! config is refused while forwarding goes on, and a valid one is applied.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use e2e::daemon::Daemon;
use e2e::oracle::{Fmt, wait_conserved, wait_conserved_since};
use e2e::setup::{Dest, World, write};

const WAIT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_and_updates_reach_rsyslog_and_a_tls_collector_intact() {
    let w = World::new().await;
    let first = w.mock.insert_new(60);
    let rsyslog = w.rsyslog_mtls("alerts_and_updates_reach_rsyslog_and_a_tls_collector_intact");
    let arcsight = w.tls_collector().await;
    let mut dests = vec![Dest::new("arcsight", Fmt::Cef, arcsight.address())];
    if let Some(r) = &rsyslog {
        dests.push(Dest::new("qradar", Fmt::Leef, r.address()).mtls());
    }
    let config = w.write_config(&dests);
    let mut d = Daemon::start(&config, &w.log_path());

    let check_all = async || {
        wait_conserved(&w.mock, "arcsight", Fmt::Cef, || arcsight.messages(), WAIT).await;
        if let Some(r) = &rsyslog {
            wait_conserved(&w.mock, "qradar", Fmt::Leef, || r.messages(), WAIT).await;
        }
    };
    check_all().await;

    // Updates of existing alerts (status, assignment) are new versions and must arrive too.
    let ids: Vec<String> = first[..20].iter().map(|k| k.id.clone()).collect();
    let updates = w.mock.update(&ids);
    let again = w.mock.update(&ids[..5]);
    let more = w.mock.insert_new(10);
    assert_eq!(updates.len() + again.len() + more.len(), 35);
    check_all().await;
    // The first update of ids[..5] was superseded by the second before a poll may have seen
    // it (Defender keeps only the current version); the others must all have been fetched.
    for k in updates[5..].iter().chain(&again) {
        assert!(
            w.mock
                .served_versions()
                .iter()
                .any(|s| s.key().as_ref() == Some(k)),
            "update {k:?} was fetched"
        );
    }

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log = d.log();
    assert!(
        log.contains("fetched=") && log.contains("delivered=") && log.contains("lag="),
        "the periodic summary line is logged:\n{log}"
    );
    assert!(
        !log.contains(&w.mock.client_secret),
        "the secret never reaches a log line"
    );
    d.signal("TERM");
    let status = d
        .wait(Duration::from_secs(40))
        .await
        .expect("exits after SIGTERM");
    assert!(
        status.success(),
        "SIGTERM → exit 0, got {status}\n{}",
        d.log()
    );
    for dest in &dests {
        let state = std::fs::read_to_string(w.state_file(&dest.name)).unwrap();
        assert!(state.contains("\"watermark\""), "{state}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_with_an_invalid_config_keeps_forwarding_and_a_valid_one_applies() {
    let w = World::new().await;
    w.mock.insert_new(20);
    let c = w.tls_collector().await;
    let second = w.tls_collector().await;
    let one = [Dest::new("siem", Fmt::Rfc5424, c.address())];
    let config = w.write_config(&one);
    let good_text = std::fs::read_to_string(&config).unwrap();
    let mut d = Daemon::start(&config, &w.log_path());
    wait_conserved(&w.mock, "siem", Fmt::Rfc5424, || c.messages(), WAIT).await;

    // An invalid file: the reload is refused, the daemon keeps running on the old config.
    write(
        &config,
        &good_text.replace("format = \"rfc5424\"", "format = \"cfe\""),
    );
    d.signal("HUP");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        d.running(),
        "an invalid reload must not stop the daemon:\n{}",
        d.log()
    );
    assert!(d.log().contains("Reload refused"), "{}", d.log());
    w.mock.insert_new(15);
    w.mock.update(&[w.mock.current_versions()[0].id.clone()]);
    wait_conserved(&w.mock, "siem", Fmt::Rfc5424, || c.messages(), WAIT).await;

    // A valid file with a second destination: applied; the new destination starts from
    // initial_lookback and receives everything, the first goes on without loss.
    let two = [
        Dest::new("siem", Fmt::Rfc5424, c.address()),
        Dest::new("second", Fmt::Leef, second.address()),
    ];
    w.write_config(&two);
    let since = w.mock.request_log().last().map_or(0, |r| r.seq);
    d.signal("HUP");
    w.mock.insert_new(5);
    wait_conserved_since(
        &w.mock,
        "second",
        Fmt::Leef,
        || second.messages(),
        WAIT,
        since,
    )
    .await;
    wait_conserved(&w.mock, "siem", Fmt::Rfc5424, || c.messages(), WAIT).await;
    assert!(d.running());
    d.signal("TERM");
    let status = d.wait(Duration::from_secs(40)).await.expect("exits");
    assert!(status.success(), "{}", d.log());
}
