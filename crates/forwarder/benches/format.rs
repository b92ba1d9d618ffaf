//! Formatter throughput on the repository's sample alerts (realistic, with evidence).
//! `cargo bench -p forwarder --bench format`; criterion reports time per batch, and the
//! throughput line is alerts/s on one core. `format/<name>` is the MDE samples,
//! `format-graph/<name>` the Graph alerts_v2 samples.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use forwarder::format::{Format, FormatOptions, Formatter, LeefVersion};

fn formats() -> [(&'static str, Format); 3] {
    [
        ("rfc5424-json", Format::Rfc5424),
        (
            "leef2",
            Format::Leef {
                version: LeefVersion::V2,
                delimiter: '^',
            },
        ),
        ("cef", Format::Cef),
    ]
}

fn formatter(format: Format) -> Option<Formatter> {
    let mut opts = FormatOptions::new(format, "collector01.example.test");
    opts.max_message_bytes = 64 * 1024;
    Formatter::new(opts).ok()
}

fn bench(c: &mut Criterion) {
    let alerts = alert_model::samples::alerts();
    let mut group = c.benchmark_group("format");
    group.throughput(Throughput::Elements(alerts.len() as u64));
    for (name, format) in formats() {
        let Some(f) = formatter(format) else {
            return;
        };
        let mut out = Vec::with_capacity(64 * 1024);
        group.bench_function(name, |b| {
            b.iter(|| {
                for a in &alerts {
                    out.clear();
                    f.format(a, &mut out);
                    std::hint::black_box(&out);
                }
            })
        });
    }
    group.finish();
}

fn bench_graph(c: &mut Criterion) {
    let alerts = alert_model::samples::graph_alerts();
    let mut group = c.benchmark_group("format-graph");
    group.throughput(Throughput::Elements(alerts.len() as u64));
    for (name, format) in formats() {
        let Some(f) = formatter(format) else {
            return;
        };
        let mut out = Vec::with_capacity(64 * 1024);
        group.bench_function(name, |b| {
            b.iter(|| {
                for a in &alerts {
                    out.clear();
                    f.format_graph(a, &mut out);
                    std::hint::black_box(&out);
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench, bench_graph);
criterion_main!(benches);
