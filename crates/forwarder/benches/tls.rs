//! TLS throughput on loopback: the transport (rustls, octet counting, SIOCOUTQ delivery
//! tracking) into the in-process rustls collector, which parses every frame strictly. One
//! iteration sends a batch and waits until the whole batch is *delivered* (acknowledged).
//! Both ends run in this process, so the CPU figure printed at the end covers sender and
//! receiver together.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use forwarder::transport::{Transport, TransportConfig, TransportKind};
use sim::collector::{self, Options};
use sim::pki::TestPki;

const BATCH: u64 = 5_000;

/// User+system CPU seconds of this process (from /proc; clock ticks are 1/100 s here).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn bench_tls(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pki = TestPki::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = pki.write_to(dir.path()).unwrap();
    let mut group = c.benchmark_group("tls_loopback");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(15));
    for size in [512usize, 2048] {
        let (collector, transport) = rt.block_on(async {
            let mut o = Options::tls(pki.server_config(true).unwrap());
            o.keep_messages = false;
            let col = collector::start(o).await.unwrap();
            let mut cfg = TransportConfig::new(TransportKind::Tls, vec![col.address()]);
            cfg.tls.use_system_roots = false;
            cfg.tls.ca_file = Some(files.ca.clone());
            cfg.tls.client_cert_file = Some(files.client_cert.clone());
            cfg.tls.client_key_file = Some(files.client_key.clone());
            cfg.tls_settle = Duration::ZERO;
            let t = Transport::start("bench", cfg).unwrap();
            (col, t)
        });
        let msg = {
            let mut m =
                b"<12>1 2024-05-01T10:00:00.123Z defender-host defender-syslog - ALERT - ".to_vec();
            m.resize(size, b'x');
            m
        };
        let (mut cpu, mut msgs) = (0.0, 0u64);
        group.throughput(Throughput::Bytes(BATCH * size as u64));
        group.bench_function(format!("{size}B_x{BATCH}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let cpu0 = cpu_seconds();
                    let start = Instant::now();
                    for _ in 0..iters {
                        let mut last = 0;
                        for _ in 0..BATCH {
                            last = transport.send(msg.clone()).await.unwrap();
                        }
                        transport.delivered().wait_for(|d| *d > last).await.unwrap();
                    }
                    let el = start.elapsed();
                    cpu += cpu_seconds() - cpu0;
                    msgs += iters * BATCH;
                    el
                })
            })
        });
        let delivered = *transport.delivered().borrow();
        assert!(rt.block_on(collector.wait_for(delivered as usize, Duration::from_secs(60))));
        eprintln!(
            "{size} B messages: CPU {:.2} µs per message (sender + receiver, {} messages); {} frames received",
            cpu / msgs.max(1) as f64 * 1e6,
            msgs,
            collector.count()
        );
        rt.block_on(transport.shutdown(Duration::from_secs(10)));
    }
    group.finish();
}

criterion_group!(benches, bench_tls);
criterion_main!(benches);
