//! Crashes and stops of the daemon itself, through the built binary: `kill -9` at arbitrary
//! moments while a backlog streams (looped) loses nothing; SIGTERM mid-stream exits 0 with a
//! committed state file and a restart continues without loss or resend. Duplicates are printed
//! as figures (after `kill -9` they are bounded by the unacknowledged window).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use e2e::daemon::Daemon;
use e2e::oracle::{Fmt, wait_conserved};
use e2e::setup::{Dest, World};

const WAIT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_in_a_loop_loses_nothing() {
    let w = World::new().await;
    // A backlog (many pages of 40) so every kill lands mid-stream.
    w.mock.insert_new(600);
    let rsyslog = w.rsyslog_mtls("kill_9_mid_stream_in_a_loop_loses_nothing");
    let c = w.tls_collector().await;
    let mut dests = vec![Dest::new("tls", Fmt::Cef, c.address())];
    if let Some(r) = &rsyslog {
        dests.push(Dest::new("rsyslog", Fmt::Leef, r.address()).mtls());
    }
    let config = w.write_config(&dests);

    let kills = 4;
    for round in 0..kills {
        let mut d = Daemon::start(&config, &w.log_path());
        // Alerts keep arriving (10 every 100 ms) while it runs, so each kill lands mid-stream;
        // each round runs a little longer, so kills fall before and after cursor commits.
        let run_for = Duration::from_millis(1200 + 900 * round);
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
        e2e::report!(
            "kill -9 #{} after {run_for:?}: tls collector has {} messages, {} alerts in the tenant",
            round + 1,
            c.count(),
            w.mock.alert_count()
        );
    }
    // A last, undisturbed run must bring every destination up to date.
    let d = Daemon::start(&config, &w.log_path());
    let t = wait_conserved(&w.mock, "tls", Fmt::Cef, || c.messages(), WAIT).await;
    e2e::report!(
        "DUPLICATES after {kills} x kill -9 (tls): {} of {} messages",
        t.duplicates,
        t.messages
    );
    if let Some(r) = &rsyslog {
        let t = wait_conserved(&w.mock, "rsyslog", Fmt::Leef, || r.messages(), WAIT).await;
        e2e::report!(
            "DUPLICATES after {kills} x kill -9 (rsyslog): {} of {} messages",
            t.duplicates,
            t.messages
        );
    }
    let mut d = d;
    d.signal("TERM");
    let status = d.wait(Duration::from_secs(40)).await.expect("exits");
    assert!(status.success(), "{}", d.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_stream_commits_and_a_restart_continues_without_loss() {
    let w = World::new().await;
    w.mock.insert_new(500);
    let c = w.tls_collector().await;
    let config = w.write_config(&[Dest::new("siem", Fmt::Rfc5424, c.address())]);
    let mut d = Daemon::start(&config, &w.log_path());
    assert!(c.wait_for(60, WAIT).await, "streaming started");
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
    let state = std::fs::read_to_string(w.state_file("siem")).expect("state file committed");
    let v: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert!(v["resume"]["watermark"].is_string(), "{state}");
    let at_stop = c.count();
    e2e::report!("SIGTERM after {at_stop} of 500 messages");

    w.mock.insert_new(20);
    let mut d = Daemon::start(&config, &w.log_path());
    let t = wait_conserved(&w.mock, "siem", Fmt::Rfc5424, || c.messages(), WAIT).await;
    e2e::report!(
        "DUPLICATES after SIGTERM + restart: {} of {} messages",
        t.duplicates,
        t.messages
    );
    assert_eq!(
        t.duplicates, 0,
        "a clean stop commits exactly what was delivered: nothing is resent"
    );
    d.signal("TERM");
    let status = d.wait(Duration::from_secs(40)).await.expect("exits");
    assert!(status.success(), "{}", d.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_after_a_steady_run_resends_only_the_unacknowledged_tail() {
    let w = World::new().await;
    let c = w.tls_collector().await;
    let config = w.write_config(&[Dest::new("siem", Fmt::Leef, c.address())]);
    let mut d = Daemon::start(&config, &w.log_path());
    // A steady stream for 8 s (10 alerts every 100 ms), then kill -9 while it still flows.
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(8) {
        w.mock.insert_new(10);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    d.kill9();
    let at_kill = c.count();
    let mut d = Daemon::start(&config, &w.log_path());
    let t = wait_conserved(&w.mock, "siem", Fmt::Leef, || c.messages(), WAIT).await;
    e2e::report!(
        "DUPLICATES after kill -9 of an 8 s steady run: {} (of {} messages; {at_kill} had arrived at the kill)",
        t.duplicates,
        t.messages
    );
    d.signal("TERM");
    let status = d.wait(Duration::from_secs(40)).await.expect("exits");
    assert!(status.success(), "{}", d.log());
}
