//! Isolation cost: API requests and seconds until one poller has got past a single broken
//! element at position k of a 1,000-alert page whose alerts all share one `lastUpdateTime`
//! (the worst case for keyset paging), for k = 1, 500, 999, with the production retry settings
//! (`malformed_attempts = 2`, backoff from 2 s). Two kinds of breakage:
//!
//! - `literal`: invalid JSON that can still be delimited (`…,"broken":tru}`): the page is
//!   retried once, then the element is forwarded as an unreadable event within the page;
//! - `cut`: the page breaks off inside the element (cannot be delimited): retried, then the
//!   element is fetched alone by its index (`$skip` = k, `$top` = 1), retried, stepped over.
//!
//! "Past it" = every other alert of the page and the unreadable event were emitted. Prints a
//! table; run with `cargo bench -p fetcher --bench isolation`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use alert_model::{FetchItem, ResumePoint, Timestamp};
use fetcher::{ApiConfig, Client, Credential, Poller, PollerConfig, Secret};
use sim::defender::{Endpoint, Generated, MockDefender, MockOptions, generated_id};
use tokio_util::sync::CancellationToken;

const PAGE: u64 = 1000;

async fn run(kind: &str, k: u64) -> (usize, Duration) {
    let mock = MockDefender::start(MockOptions {
        record_served: false,
        generated: Some(Generated {
            count: PAGE,
            start: Timestamp::now().saturating_sub(Duration::from_secs(3600)),
            step: Duration::from_millis(1000),
            tie: PAGE,
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let bad = generated_id(k);
    match kind {
        "literal" => mock.set_broken(&bad, true),
        _ => mock.poison(&bad),
    }
    let mut cfg = ApiConfig::new(
        mock.tenant_id.clone(),
        mock.client_id.clone(),
        Credential::Secret(Secret::new(mock.client_secret.clone())),
    );
    cfg.api_url = Some(mock.base_url());
    cfg.login_url = Some(mock.login_url());
    cfg.extra_ca_pem = vec![mock.ca_pem().to_owned()];
    cfg.env_proxy = false;
    let client = Client::new(cfg).unwrap();
    let poller = Poller::new(
        client,
        PollerConfig {
            page_size: PAGE as u32,
            initial_lookback: Duration::from_secs(2 * 3600),
            ..Default::default()
        },
        ResumePoint::default(),
        "bench",
    );
    let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
    let cancel = CancellationToken::new();
    let start = Instant::now();
    let task = tokio::spawn(poller.run(tx, cancel.clone()));
    let (mut alerts, mut unreadable) = (0u64, 0u64);
    while alerts < PAGE - 1 || unreadable < 1 {
        match rx.recv().await {
            Some(FetchItem::Alert(_) | FetchItem::Graph(_)) => alerts += 1,
            Some(FetchItem::Unreadable(u)) => {
                assert_eq!(u.id.as_deref(), Some(bad.as_str()));
                unreadable += 1;
            }
            Some(FetchItem::Checkpoint(_)) => {}
            None => panic!("poller ended"),
        }
    }
    let took = start.elapsed();
    let requests = mock
        .request_log()
        .iter()
        .filter(|r| r.endpoint == Endpoint::Alerts)
        .count();
    cancel.cancel();
    let _ = task.await;
    (requests, took)
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    println!(
        "isolation cost: one broken element at position k of a {PAGE}-alert page sharing one lastUpdateTime"
    );
    println!(
        "{:<8} {:>5} {:>9} {:>9}",
        "kind", "k", "requests", "seconds"
    );
    for kind in ["literal", "cut"] {
        for k in [1, 500, 999] {
            let (requests, took) = rt.block_on(run(kind, k));
            println!("{kind:<8} {k:>5} {requests:>9} {:>9.2}", took.as_secs_f64());
        }
    }
}
