//! Faults around the daemon, through the built binary, each checked with the conservation
//! oracle: the access token expiring, a storm of 429 answers, the collector killed and
//! restarted, and one destination dead while another keeps flowing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use e2e::daemon::Daemon;
use e2e::oracle::{Fmt, wait_conserved};
use e2e::setup::{Dest, World};
use sim::defender::{Endpoint, Fault};

const WAIT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expiry_and_a_429_storm_lose_nothing() {
    let w = World::new().await;
    w.mock.insert_new(30);
    let c = w.tls_collector().await;
    let config = w.write_config(&[Dest::new("siem", Fmt::Cef, c.address())]);
    let d = Daemon::start(&config, &w.log_path());
    wait_conserved(&w.mock, "siem", Fmt::Cef, || c.messages(), WAIT).await;

    // Every issued token expires: the API answers 401; a new token must be fetched.
    let tokens_before = w.mock.token_requests();
    w.mock.expire_tokens();
    w.mock.insert_new(20);
    wait_conserved(&w.mock, "siem", Fmt::Cef, || c.messages(), WAIT).await;
    assert!(
        w.mock.token_requests() > tokens_before,
        "a new token was requested after expiry"
    );
    let unauthorized = w
        .mock
        .request_log()
        .iter()
        .filter(|r| r.endpoint == Endpoint::Alerts && r.status == 401)
        .count();
    assert!(
        unauthorized >= 1,
        "the expired token was refused at least once"
    );

    // A storm of 429s (Retry-After 1 s): polling backs off, resumes, loses nothing.
    w.mock.push_faults((0..12).map(|_| Fault::TooManyRequests {
        retry_after_secs: 1,
    }));
    w.mock.insert_new(20);
    let ids: Vec<String> = w.mock.current_versions()[..10]
        .iter()
        .map(|k| k.id.clone())
        .collect();
    w.mock.update(&ids);
    wait_conserved(&w.mock, "siem", Fmt::Cef, || c.messages(), WAIT).await;
    let throttled = w
        .mock
        .request_log()
        .iter()
        .filter(|r| r.status == 429)
        .count();
    assert_eq!(throttled, 12, "every queued 429 was answered");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_killed_and_restarted_loses_nothing() {
    let w = World::new().await;
    w.mock.insert_new(40);
    let c = w.tls_collector().await;
    let config = w.write_config(&[Dest::new("siem", Fmt::Leef, c.address())]);
    let d = Daemon::start(&config, &w.log_path());
    wait_conserved(&w.mock, "siem", Fmt::Leef, || c.messages(), WAIT).await;

    for round in 0..2 {
        // Killed mid-stream: alerts keep coming while it is down.
        let more = w.mock.insert_new(30);
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.stop().await;
        w.mock.insert_new(30);
        w.mock
            .update(&more[..10].iter().map(|k| k.id.clone()).collect::<Vec<_>>());
        tokio::time::sleep(Duration::from_secs(3)).await;
        c.restart().await.unwrap();
        let t = wait_conserved(&w.mock, "siem", Fmt::Leef, || c.messages(), WAIT).await;
        e2e::report!(
            "round {round}: duplicates after a collector kill = {}",
            t.duplicates
        );
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_dead_destination_does_not_hold_back_another() {
    let w = World::new().await;
    w.mock.insert_new(30);
    let alive = w.tls_collector().await;
    let dead = w.tls_collector().await;
    dead.stop().await;
    let config = w.write_config(&[
        Dest::new("alive", Fmt::Rfc5424, alive.address()),
        Dest::new("dead", Fmt::Cef, dead.address()),
    ]);
    let d = Daemon::start(&config, &w.log_path());
    wait_conserved(&w.mock, "alive", Fmt::Rfc5424, || alive.messages(), WAIT).await;
    for _ in 0..3 {
        w.mock.insert_new(15);
        wait_conserved(&w.mock, "alive", Fmt::Rfc5424, || alive.messages(), WAIT).await;
    }
    assert_eq!(dead.count(), 0);
    // The dead one comes back: it catches up with everything.
    dead.restart().await.unwrap();
    wait_conserved(&w.mock, "dead", Fmt::Cef, || dead.messages(), WAIT).await;
    wait_conserved(&w.mock, "alive", Fmt::Rfc5424, || alive.messages(), WAIT).await;
    d.stop().await;
}
