//! API page → alerts as the poller does it: the body arrives in chunks, `PageSplitter` finds
//! each element and `serde_json` parses it into an `Alert`; the page is never held whole.
//! `split_utf8_parse` is what the poller does (UTF-8 checked once per alert, then parsed as
//! `str`); `split_and_parse` parses the bytes directly, which checks UTF-8 string by string;
//! `split_lenient_parse` is the poller's path since lenient decoding (`alert_model::parse_alert`:
//! UTF-8 check, lone-surrogate scan, then the same parse).
//! `graph_split_lenient_parse` is the same path for a Graph alerts_v2 page (`GraphAlert`, from
//! the repository's alerts_v2 samples).
//! `cargo bench -p fetcher --bench page`; throughput is alerts/s on one core. Compare with
//! `cargo bench -p alert-model --bench parse` (`page`: the whole body parsed at once).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fetcher::split::PageSplitter;

const ALERTS: usize = 1000;
/// About what hyper hands over per read of a TLS stream.
const CHUNK: usize = 16 * 1024;

fn page() -> String {
    let samples = alert_model::samples::alerts();
    let items: Vec<String> = (0..ALERTS)
        .map(|i| {
            let mut a = samples[i % samples.len()].clone();
            a.id = Some(format!(
                "da{:018}_{i}",
                638_300_000_000_000_000u64 + i as u64
            ));
            serde_json::to_string(&a).unwrap_or_default()
        })
        .collect();
    format!(
        "{{\"@odata.context\":\"https://api.security.microsoft.com/api/$metadata#Alerts\",\"value\":[{}]}}",
        items.join(",")
    )
}

/// A Graph alerts_v2 page of `ALERTS` alerts built from the repository's samples.
fn graph_page() -> String {
    let samples: Vec<serde_json::Value> = alert_model::samples::GRAPH_ALERTS_NDJSON
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let items: Vec<String> = (0..ALERTS)
        .map(|i| {
            let mut a = samples[i % samples.len()].clone();
            a["id"] = format!("da{:018}_{i}", 638_300_000_000_000_000u64 + i as u64).into();
            a.to_string()
        })
        .collect();
    format!(
        "{{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#security/alerts_v2\",\"value\":[{}]}}",
        items.join(",")
    )
}

/// Splits `page` in `CHUNK`-sized pieces and applies `each` to every element.
fn split_with(page: &str, each: impl Fn(&[u8]) -> usize) -> (usize, bool) {
    let mut sp = PageSplitter::new();
    let mut n = 0usize;
    for chunk in page.as_bytes().chunks(CHUNK) {
        sp.feed(chunk);
        while let Ok(Some(e)) = sp.next_element() {
            n += each(e);
        }
    }
    (n, sp.finish().is_ok())
}

fn bench(c: &mut Criterion) {
    let page = page();
    let mut group = c.benchmark_group("page");
    group.throughput(Throughput::Elements(ALERTS as u64));
    group.bench_function("split_only", |b| {
        b.iter(|| std::hint::black_box(split_with(&page, <[u8]>::len)))
    });
    group.bench_function("split_and_parse", |b| {
        b.iter(|| {
            std::hint::black_box(split_with(&page, |e| {
                usize::from(serde_json::from_slice::<alert_model::Alert>(e).is_ok())
            }))
        })
    });
    group.bench_function("split_utf8_parse", |b| {
        b.iter(|| {
            std::hint::black_box(split_with(&page, |e| {
                let parsed = std::str::from_utf8(e)
                    .map(|t| serde_json::from_str::<alert_model::Alert>(t).is_ok());
                usize::from(parsed == Ok(true))
            }))
        })
    });
    // What the poller does since lenient decoding: `alert_model::parse_alert`.
    group.bench_function("split_lenient_parse", |b| {
        b.iter(|| {
            std::hint::black_box(split_with(&page, |e| {
                usize::from(alert_model::parse_alert(e).is_ok())
            }))
        })
    });
    // The Graph source's path: lenient `GraphAlert` decoding.
    let graph = graph_page();
    group.bench_function("graph_split_lenient_parse", |b| {
        b.iter(|| {
            std::hint::black_box(split_with(&graph, |e| {
                usize::from(alert_model::parse_lenient::<alert_model::GraphAlert>(e).is_ok())
            }))
        })
    });
    group.finish();
    println!(
        "input: {ALERTS} alerts, {} bytes as a page ({} B/alert), {CHUNK}-byte chunks; Graph page {} bytes ({} B/alert)",
        page.len(),
        page.len() / ALERTS,
        graph.len(),
        graph.len() / ALERTS
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
