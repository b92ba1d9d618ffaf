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

/// One group: every format over `alerts`, each formatted with `format`.
fn group<A>(c: &mut Criterion, name: &str, alerts: &[A], format: fn(&Formatter, &A, &mut Vec<u8>)) {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(alerts.len() as u64));
    for (name, kind) in formats() {
        let Some(f) = formatter(kind) else {
            return;
        };
        let mut out = Vec::with_capacity(64 * 1024);
        group.bench_function(name, |b| {
            b.iter(|| {
                for a in alerts {
                    out.clear();
                    format(&f, a, &mut out);
                    std::hint::black_box(&out);
                }
            })
        });
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    group(
        c,
        "format",
        &alert_model::samples::alerts(),
        Formatter::format,
    );
}

fn bench_graph(c: &mut Criterion) {
    group(
        c,
        "format-graph",
        &alert_model::samples::graph_alerts(),
        Formatter::format_graph,
    );
}

criterion_group!(benches, bench, bench_graph);
criterion_main!(benches);
