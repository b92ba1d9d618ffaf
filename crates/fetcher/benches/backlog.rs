//! Backlog drain: how fast one poller pulls a generated backlog from the simulated API over
//! TLS (10,000-alert pages with evidence, JSON parse, dedup, channel), end to end.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use alert_model::{FetchItem, ResumePoint, Timestamp};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fetcher::{ApiConfig, Client, Credential, Poller, PollerConfig, Secret};
use sim::defender::{Generated, MockDefender, MockOptions};
use tokio_util::sync::CancellationToken;

const BACKLOG: u64 = 50_000;

fn drain(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mock = rt.block_on(async {
        MockDefender::start(MockOptions {
            record_served: false,
            generated: Some(Generated {
                count: BACKLOG,
                start: Timestamp::now().saturating_sub(Duration::from_secs(20 * 3600)),
                step: Duration::from_millis(1000),
                tie: 1,
            }),
            ..Default::default()
        })
        .await
        .unwrap()
    });
    let mut g = c.benchmark_group("backlog");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BACKLOG));
    g.bench_function("drain_50k_alerts_page_10000", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut cfg = ApiConfig::new(
                    mock.tenant_id.clone(),
                    mock.client_id.clone(),
                    Credential::Secret(Secret::new(mock.client_secret.clone())),
                );
                cfg.api_url = Some(mock.base_url());
                cfg.login_url = Some(mock.login_url());
                cfg.extra_ca_pem = vec![mock.ca_pem().to_owned()];
                cfg.env_proxy = false;
                // A client per iteration: each has its own request budget.
                let client = Client::new(cfg).unwrap();
                let poller = Poller::new(
                    client,
                    PollerConfig {
                        page_size: 10_000,
                        initial_lookback: Duration::from_secs(24 * 3600),
                        ..Default::default()
                    },
                    ResumePoint::default(),
                    "bench",
                );
                let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
                let cancel = CancellationToken::new();
                let task = tokio::spawn(poller.run(tx, cancel.clone()));
                let mut n = 0;
                while n < BACKLOG {
                    if let Some(FetchItem::Alert(_)) = rx.recv().await {
                        n += 1;
                    }
                }
                cancel.cancel();
                while rx.recv().await.is_some() {}
                task.await.unwrap().unwrap();
            })
        })
    });
    g.finish();
}

criterion_group!(benches, drain);
criterion_main!(benches);
