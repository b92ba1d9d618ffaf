//! JSON → `Alert` parsing, the first stage of every path (API page in `run`, NDJSON in `send`).
//! `cargo bench -p alert-model --bench parse`; throughput is alerts/s on one core.
//!
//! - `page`: `parse_alerts` on a `{"value":[…]}` page of 1,000 alerts, as the fetcher sees it.
//! - `ndjson`: `parse_alerts` on the same alerts as NDJSON, as `send` sees them.
//! - `alert`: `serde_json::from_str::<Alert>` per alert, the floor the others pay on top of.
//! - `value`: `serde_json::Value` per alert, for scale (an untyped parse).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const ALERTS: usize = 1000;

/// The repository's realistic samples (evidence included), repeated with distinct ids.
fn alerts_json() -> Vec<String> {
    let samples = alert_model::samples::alerts();
    (0..ALERTS)
        .map(|i| {
            let mut a = samples[i % samples.len()].clone();
            a.id = Some(format!(
                "da{:018}_{}",
                638_300_000_000_000_000u64 + i as u64,
                i
            ));
            serde_json::to_string(&a).unwrap_or_default()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let items = alerts_json();
    let page = format!(
        "{{\"@odata.context\":\"https://api.security.microsoft.com/api/$metadata#Alerts\",\"value\":[{}]}}",
        items.join(",")
    );
    let ndjson = items.join("\n");
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(ALERTS as u64));
    group.bench_function("page", |b| {
        b.iter(|| std::hint::black_box(alert_model::parse_alerts(page.as_bytes())))
    });
    group.bench_function("ndjson", |b| {
        b.iter(|| std::hint::black_box(alert_model::parse_alerts(ndjson.as_bytes())))
    });
    group.bench_function("alert", |b| {
        b.iter(|| {
            for s in &items {
                std::hint::black_box(serde_json::from_str::<alert_model::Alert>(s).ok());
            }
        })
    });
    group.bench_function("value", |b| {
        b.iter(|| {
            for s in &items {
                std::hint::black_box(serde_json::from_str::<serde_json::Value>(s).ok());
            }
        })
    });
    group.finish();
    println!(
        "input: {ALERTS} alerts, {} bytes as a page ({} B/alert)",
        page.len(),
        page.len() / ALERTS
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
