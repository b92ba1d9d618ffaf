//! `[metrics] listen`: `GET /metrics` (Prometheus text format 0.0.4, encoded by
//! `prometheus-client`) and `GET /healthz` (200 / 503 and the one-line reason from
//! [`crate::health`]).
//!
//! The numbers already live in the pollers', pipelines' and transports' atomic counters; a
//! custom `Collector` reads them at scrape time, so metrics cost nothing on the alert path.
//! Every series is listed in [`SERIES`] (and in docs/operations.md; a test checks both).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::health::{Board, Level, Watched, now_unix_ms};

/// Every series `/metrics` exposes: (name as scraped, type); the tests hold the collector, the
/// docs, the dashboard and the rules to it.
#[cfg(test)]
pub const SERIES: &[(&str, &str)] = &[
    ("defender_syslog_build_info", "gauge"),
    ("process_start_time_seconds", "gauge"),
    ("defender_syslog_healthy", "gauge"),
    ("defender_syslog_alerts_fetched_total", "counter"),
    ("defender_syslog_alerts_forwarded_total", "counter"),
    ("defender_syslog_alerts_delivered_total", "counter"),
    ("defender_syslog_alerts_resent_total", "counter"),
    ("defender_syslog_alerts_deduplicated_total", "counter"),
    ("defender_syslog_alerts_repaired_total", "counter"),
    ("defender_syslog_alerts_unreadable_total", "counter"),
    ("defender_syslog_api_requests_total", "counter"),
    ("defender_syslog_api_throttled_total", "counter"),
    ("defender_syslog_cursor_lag_seconds", "gauge"),
    (
        "defender_syslog_cursor_watermark_timestamp_seconds",
        "gauge",
    ),
    ("defender_syslog_queue_items", "gauge"),
    ("defender_syslog_buffered_bytes", "gauge"),
    ("defender_syslog_collector_connected", "gauge"),
    ("defender_syslog_collector_address_info", "gauge"),
    ("defender_syslog_collector_connects_total", "counter"),
    ("defender_syslog_collector_failovers_total", "counter"),
    ("defender_syslog_sent_bytes_total", "counter"),
    ("defender_syslog_last_poll_timestamp_seconds", "gauge"),
    ("defender_syslog_last_delivery_timestamp_seconds", "gauge"),
    ("defender_syslog_stream_partition_assigned", "gauge"),
    ("defender_syslog_stream_partition_records_total", "counter"),
    ("defender_syslog_stream_partition_committed_offset", "gauge"),
    ("defender_syslog_stream_partition_lag_messages", "gauge"),
    ("defender_syslog_stream_partition_lag_seconds", "gauge"),
    ("defender_syslog_stream_rebalances_total", "counter"),
];

#[derive(Debug)]
struct Source {
    board: Arc<Board>,
    start_unix: f64,
}

/// (name, help, type, value per destination).
type Row<'a> = (&'a str, &'a str, MetricType, &'a dyn Fn(&Watched) -> f64);

type Labels<'a> = [(&'static str, &'a str); 2];

fn labels(w: &Watched) -> Labels<'_> {
    [("destination", w.name.as_str()), ("source", w.source)]
}

/// One family: a descriptor, then one sample per destination. `name` is without `_total`
/// for counters (the encoder appends it).
fn per_destination<F>(
    enc: &mut DescriptorEncoder,
    board: &Board,
    name: &str,
    help: &str,
    ty: MetricType,
    value: F,
) -> Result<(), std::fmt::Error>
where
    F: Fn(&Watched) -> f64,
{
    let mut m = enc.encode_descriptor(name, help, None, ty)?;
    for w in board.watched() {
        let l = labels(w);
        let v = value(w);
        match ty {
            MetricType::Counter => ConstCounter::new(v as u64).encode(m.encode_family(&l)?)?,
            _ => ConstGauge::new(v).encode(m.encode_family(&l)?)?,
        }
    }
    Ok(())
}

fn load(a: &std::sync::atomic::AtomicU64) -> f64 {
    a.load(Ordering::Relaxed) as f64
}

/// The streaming source's families: one sample per partition this appliance has seen
/// (labels `topic`, `partition`), and its rebalances. Written (with no samples) for the alert
/// sources too, so the set of families does not depend on the source.
fn stream_partitions(enc: &mut DescriptorEncoder, b: &Board) -> Result<(), std::fmt::Error> {
    use MetricType::{Counter, Gauge};
    let now = alert_model::Timestamp::now();
    type PartRow<'a> = (
        &'a str,
        &'a str,
        MetricType,
        &'a dyn Fn(&stream_source::PartitionStats) -> Option<f64>,
    );
    let rows: [PartRow<'_>; 5] = [
        (
            "defender_syslog_stream_partition_assigned",
            "1 while the partition is assigned to this appliance (consumer group member).",
            Gauge,
            &|p| Some(f64::from(u8::from(p.assigned))),
        ),
        (
            "defender_syslog_stream_partition_records",
            "Records read from the partition and forwarded (unreadable ones included).",
            Counter,
            &|p| Some(p.records as f64),
        ),
        (
            "defender_syslog_stream_partition_committed_offset",
            "The group's committed offset: the next message after a restart (absent until known).",
            Gauge,
            &|p| p.committed.map(|o| o as f64),
        ),
        (
            "defender_syslog_stream_partition_lag_messages",
            "High watermark minus committed offset: Kafka messages not yet delivered and committed.",
            Gauge,
            &|p| p.lag_messages().map(|l| l as f64),
        ),
        (
            "defender_syslog_stream_partition_lag_seconds",
            "Now minus the Kafka time of the last message read, while more are waiting; else 0.",
            Gauge,
            &move |p| p.lag_seconds(now),
        ),
    ];
    for (name, help, ty, f) in rows {
        let mut m = enc.encode_descriptor(name, help, None, ty)?;
        for w in b.watched() {
            let Some(s) = &w.stream else { continue };
            for p in s.snapshot() {
                let Some(v) = f(&p) else { continue };
                let partition = p.partition.to_string();
                let l = [
                    ("destination", w.name.as_str()),
                    ("source", w.source),
                    ("topic", &*p.topic),
                    ("partition", partition.as_str()),
                ];
                match ty {
                    Counter => ConstCounter::new(v as u64).encode(m.encode_family(&l)?)?,
                    _ => ConstGauge::new(v).encode(m.encode_family(&l)?)?,
                }
            }
        }
    }
    let mut m = enc.encode_descriptor(
        "defender_syslog_stream_rebalances",
        "Partition assignments received by the streaming source (the first included).",
        None,
        Counter,
    )?;
    for w in b.watched() {
        if let Some(s) = &w.stream {
            ConstCounter::new(s.assignments()).encode(m.encode_family(&labels(w))?)?;
        }
    }
    Ok(())
}

impl Collector for Source {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use MetricType::{Counter, Gauge};
        let b = &*self.board;
        let version = [("version", env!("CARGO_PKG_VERSION"))];
        let mut m = enc.encode_descriptor(
            "defender_syslog_build_info",
            "Always 1; the version in a label.",
            None,
            Gauge,
        )?;
        ConstGauge::new(1i64).encode(m.encode_family(&version)?)?;
        let m = enc.encode_descriptor(
            "process_start_time_seconds",
            "When the process started, Unix time.",
            None,
            Gauge,
        )?;
        ConstGauge::new(self.start_unix).encode(m)?;
        let m = enc.encode_descriptor(
            "defender_syslog_healthy",
            "1 when /healthz answers 200; 0 when degraded or stalled (reason in /healthz).",
            None,
            Gauge,
        )?;
        ConstGauge::new(i64::from(b.verdict().level == Level::Healthy)).encode(m)?;

        let now_ms = now_unix_ms();
        let rows: [Row<'_>; 8] = [
            (
                "defender_syslog_alerts_fetched",
                "Alert versions read from the API and queued.",
                Counter,
                &|w| load(&w.poller.alerts_fetched),
            ),
            (
                "defender_syslog_alerts_forwarded",
                "Alert versions formatted and handed to the transport.",
                Counter,
                &|w| load(&w.pipeline.forwarded),
            ),
            (
                "defender_syslog_alerts_delivered",
                "Messages acknowledged by the collector's TCP stack (UDP: handed to the kernel).",
                Counter,
                &|w| w.transport.stats().delivered as f64,
            ),
            (
                "defender_syslog_alerts_resent",
                "Messages written again on a new connection.",
                Counter,
                &|w| w.transport.stats().resent as f64,
            ),
            (
                "defender_syslog_alerts_deduplicated",
                "Versions dropped as already sent (overlap re-reads).",
                Counter,
                &|w| load(&w.poller.versions_deduplicated),
            ),
            (
                "defender_syslog_alerts_repaired",
                "Alerts delivered after repair by the lenient decoder.",
                Counter,
                &|w| load(&w.poller.alerts_repaired),
            ),
            (
                "defender_syslog_alerts_unreadable",
                "Alerts delivered as a marked unreadable event.",
                Counter,
                &|w| load(&w.poller.alerts_unreadable),
            ),
            (
                "defender_syslog_api_throttled",
                "429 answers from the API.",
                Counter,
                &|w| load(&w.poller.throttled),
            ),
        ];
        for (name, help, ty, f) in rows {
            per_destination(&mut enc, b, name, help, ty, f)?;
        }

        let mut m = enc.encode_descriptor(
            "defender_syslog_api_requests",
            "API requests by answer: class 2xx, 4xx, 5xx, other, or failed (no answer).",
            None,
            Counter,
        )?;
        for w in b.watched() {
            let q = &w.poller;
            for (class, c) in [
                ("2xx", &q.responses_2xx),
                ("4xx", &q.responses_4xx),
                ("5xx", &q.responses_5xx),
                ("other", &q.responses_other),
                ("failed", &q.requests_failed),
            ] {
                let l = [
                    ("destination", w.name.as_str()),
                    ("source", w.source),
                    ("class", class),
                ];
                ConstCounter::new(c.load(Ordering::Relaxed)).encode(m.encode_family(&l)?)?;
            }
        }

        let rows: [Row<'_>; 9] = [
            (
                "defender_syslog_cursor_lag_seconds",
                "Now minus the time up to which every alert version is fetched.",
                Gauge,
                &|w| w.fetch_lag_seconds(now_ms),
            ),
            (
                "defender_syslog_cursor_watermark_timestamp_seconds",
                "The committed cursor (delivered up to), Unix time; 0 before the first commit.",
                Gauge,
                &|w| load(&w.pipeline.committed_unix),
            ),
            (
                "defender_syslog_queue_items",
                "Items waiting in the channel between poller and pipeline.",
                Gauge,
                &|w| load(&w.pipeline.queue),
            ),
            (
                "defender_syslog_buffered_bytes",
                "Frame bytes queued or in flight to the collector, not yet acknowledged.",
                Gauge,
                &|w| w.transport.stats().buffered_bytes as f64,
            ),
            (
                "defender_syslog_collector_connected",
                "1 while connected to a collector.",
                Gauge,
                &|w| f64::from(u8::from(w.transport.stats().connected_to.is_some())),
            ),
            (
                "defender_syslog_collector_connects",
                "Connections established (TCP/TLS; UDP: socket set up).",
                Counter,
                &|w| w.transport.stats().connects as f64,
            ),
            (
                "defender_syslog_collector_failovers",
                "Switches to the next configured collector address.",
                Counter,
                &|w| w.transport.stats().failovers as f64,
            ),
            (
                "defender_syslog_last_poll_timestamp_seconds",
                "When an API page was last read completely, Unix time; 0 = not yet.",
                Gauge,
                &|w| load(&w.poller.last_success_unix),
            ),
            (
                "defender_syslog_last_delivery_timestamp_seconds",
                "When the collector last acknowledged a message, Unix time; 0 = not yet.",
                Gauge,
                &|w| load(&w.pipeline.last_delivery_unix),
            ),
        ];
        for (name, help, ty, f) in rows {
            per_destination(&mut enc, b, name, help, ty, f)?;
        }
        per_destination(
            &mut enc,
            b,
            "defender_syslog_sent_bytes",
            "Frame bytes written to collectors (resends included, TLS overhead not).",
            Counter,
            |w| w.transport.stats().bytes as f64,
        )?;

        stream_partitions(&mut enc, b)?;

        let mut m = enc.encode_descriptor(
            "defender_syslog_collector_address_info",
            "1 for the collector address in use (absent while disconnected).",
            None,
            Gauge,
        )?;
        for w in b.watched() {
            if let Some(a) = w.transport.stats().connected_to {
                let l = [
                    ("destination", w.name.as_str()),
                    ("source", w.source),
                    ("address", a.as_str()),
                ];
                ConstGauge::new(1i64).encode(m.encode_family(&l)?)?;
            }
        }
        Ok(())
    }
}

/// The `/metrics` body for `board`.
pub fn render(board: Arc<Board>, start_unix: f64) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Source { board, start_unix }));
    let mut out = String::new();
    // Writing into a String cannot fail; an encoder error would be a bug in a label.
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry) {
        tracing::error!(error = %e, "encoding metrics failed");
    }
    out
}

/// When this process started, Unix seconds (for `process_start_time_seconds`).
pub fn process_start_unix() -> f64 {
    static START: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *START.get_or_init(|| now_unix_ms() as f64 / 1000.0)
}

type Resp = Response<Full<Bytes>>;

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    r
}

fn handle(board: &Arc<Board>, req: &Request<hyper::body::Incoming>) -> Resp {
    const TEXT: &str = "text/plain; charset=utf-8";
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(StatusCode::METHOD_NOT_ALLOWED, TEXT, "GET only\n".into());
    }
    match req.uri().path() {
        "/metrics" => reply(
            StatusCode::OK,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            render(board.clone(), process_start_unix()),
        ),
        "/healthz" => {
            let v = board.verdict();
            let status = if v.level == Level::Healthy {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            reply(status, TEXT, format!("{}\n", v.reason))
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            TEXT,
            "not found: try /metrics or /healthz\n".into(),
        ),
    }
}

/// Binds `addr` (an error names it) and serves until `stop`.
pub async fn serve(
    addr: SocketAddr,
    board: Arc<Board>,
    stop: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("metrics.listen: cannot listen on {addr}"))?;
    tracing::info!(address = %addr, "Serving /metrics and /healthz.");
    Ok(tokio::spawn(async move {
        loop {
            let (tcp, _) = tokio::select! {
                () = stop.cancelled() => return,
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "metrics: accept failed");
                        // E.g. out of file descriptors: do not spin.
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let board = board.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(tcp);
                let svc = hyper::service::service_fn(move |req| {
                    let r = handle(&board, &req);
                    async move { Ok::<_, Infallible>(r) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(std::time::Duration::from_secs(10))
                    .serve_connection(io, svc);
                tokio::select! {
                    _ = conn => {}
                    () = stop.cancelled() => {}
                }
            });
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use forwarder::transport::{Transport, TransportConfig, TransportKind};

    fn board() -> Arc<Board> {
        // A TCP transport to a closed loopback port: it only has to exist.
        let t = Transport::start(
            "siem",
            TransportConfig::new(TransportKind::Tcp, vec!["127.0.0.1:9".into()]),
        )
        .unwrap();
        let w = Watched {
            name: "siem".into(),
            poller: Arc::default(),
            pipeline: Arc::default(),
            transport: Arc::new(t),
            poll_interval: std::time::Duration::from_secs(60),
            source: "mde",
            stream: None,
        };
        w.poller.alerts_fetched.store(7, Ordering::Relaxed);
        w.poller.responses_4xx.store(3, Ordering::Relaxed);
        Arc::new(Board::new(vec![w], std::time::Duration::from_secs(300)))
    }

    #[tokio::test]
    async fn every_listed_series_is_exposed_with_its_type_and_nothing_else() {
        let text = render(board(), 1.5);
        let typed: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| {
                let (n, t) = l.split_once(' ').unwrap();
                (n.to_owned(), t.to_owned())
            })
            .collect();
        let listed: Vec<(String, String)> = SERIES
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect();
        let mut a = typed.clone();
        a.sort();
        let mut b = listed.clone();
        b.sort();
        assert_eq!(a, b, "{text}");
        assert!(text.contains(
            "defender_syslog_alerts_fetched_total{destination=\"siem\",source=\"mde\"} 7\n"
        ));
        assert!(text.contains(
            "defender_syslog_api_requests_total{destination=\"siem\",source=\"mde\",class=\"4xx\"} 3\n"
        ));
        assert!(text.contains("process_start_time_seconds 1.5\n"));
        assert!(text.contains(&format!(
            "defender_syslog_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )));
    }

    #[test]
    fn every_series_is_documented_in_operations_md() {
        let doc = include_str!("../../../docs/operations.md");
        for (name, _) in SERIES {
            assert!(
                doc.contains(&format!("`{name}`")),
                "docs/operations.md does not document {name}"
            );
        }
    }

    /// Names in a PromQL expression that look like ours.
    fn our_names(expr: &str) -> Vec<String> {
        expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("defender_syslog_") || w.starts_with("process_"))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn the_dashboard_and_the_rules_reference_only_series_that_exist() {
        let names: Vec<&str> = SERIES.iter().map(|(n, _)| *n).collect();
        let dash: serde_json::Value =
            serde_json::from_str(include_str!("../../../packaging/grafana-dashboard.json"))
                .unwrap();
        let mut exprs: Vec<String> = Vec::new();
        for p in dash["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().unwrap() {
                exprs.push(t["expr"].as_str().unwrap().to_owned());
            }
        }
        for v in dash["templating"]["list"].as_array().unwrap() {
            exprs.push(v["query"].as_str().unwrap().to_owned());
        }
        let rules = include_str!("../../../packaging/prometheus-rules.yml");
        exprs.extend(rules.lines().map(str::to_owned));
        let mut seen = 0;
        for e in &exprs {
            for n in our_names(e) {
                assert!(
                    names.contains(&n.as_str()),
                    "{n} (in {e:?}) is not a series"
                );
                seen += 1;
            }
        }
        assert!(
            seen >= 20,
            "the dashboard uses our series ({seen} references)"
        );
    }
}
