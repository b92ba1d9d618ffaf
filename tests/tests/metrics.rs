//! `[metrics]` through the built binary: `/metrics` scraped during a run against the simulated
//! API and compared with what the collector received and what the mock answered; `/healthz`
//! while the collector is down; and a real Prometheus server ingesting every documented series,
//! evaluating the example rules and every dashboard query.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use e2e::daemon::Daemon;
use e2e::oracle::{Fmt, wait_conserved};
use e2e::scrape::{self, Prometheus, Scrape, wait_healthz, wait_scrape};
use e2e::setup::{Dest, World};
use sim::defender::{Endpoint, Fault};

const WAIT: Duration = Duration::from_secs(90);
const DELIVERED: &str = "defender_syslog_alerts_delivered_total";

fn config_with_metrics(w: &World, dests: &[Dest], port: u16) -> std::path::PathBuf {
    let text = w.config_text(dests, "") + &scrape::metrics_section(port, "12s");
    let p = w.config_path();
    e2e::setup::write(&p, &text);
    p
}

fn alerts_requests(w: &World) -> Vec<sim::defender::RequestRecord> {
    w.mock
        .request_log()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::Alerts)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scraped_counters_match_the_collector_and_the_api() {
    let w = World::new().await;
    // A backlog five minutes old; the first page request hangs 4 s (then 504), so the lag
    // is visible before the backlog is read.
    w.mock.insert_late(150, Duration::from_secs(300));
    w.mock.push_faults([Fault::Delay(Duration::from_secs(4))]);
    let c = w.tls_collector().await;
    let port = scrape::free_port();
    let config = config_with_metrics(&w, &[Dest::new("siem", Fmt::Cef, c.address())], port);
    let d = Daemon::start(&config, &w.log_path());

    let lag = "defender_syslog_cursor_lag_seconds";
    let early = wait_scrape(port, "a large lag before the first page", WAIT, |s| {
        s.dest(lag, "siem").is_some_and(|l| l > 250.0)
    })
    .await;
    e2e::report!(
        "lag before the backlog was read: {:?} s",
        early.dest(lag, "siem")
    );

    wait_conserved(&w.mock, "siem", Fmt::Cef, || c.messages(), WAIT).await;
    // Delivered = frames the collector received (no reconnect happened: nothing resent).
    let s = wait_scrape(port, "delivered = frames received, lag ≈ 0", WAIT, |s| {
        s.dest(DELIVERED, "siem") == Some(c.count() as f64)
            && s.dest(lag, "siem").is_some_and(|l| l < 5.0)
    })
    .await;
    assert_eq!(c.count(), 150);
    assert_eq!(
        s.dest("defender_syslog_alerts_resent_total", "siem"),
        Some(0.0)
    );
    assert_eq!(
        s.dest("defender_syslog_alerts_fetched_total", "siem"),
        Some(150.0)
    );
    assert_eq!(
        s.dest("defender_syslog_alerts_forwarded_total", "siem"),
        Some(150.0)
    );
    assert_eq!(
        s.dest("defender_syslog_collector_connected", "siem"),
        Some(1.0)
    );
    assert_eq!(
        s.dest("defender_syslog_collector_connects_total", "siem"),
        Some(1.0)
    );
    assert_eq!(
        s.dest("defender_syslog_alerts_unreadable_total", "siem"),
        Some(0.0)
    );
    assert!(s.text.contains(&format!(
        "defender_syslog_collector_address_info{{destination=\"siem\",source=\"mde\",address=\"{}\"}} 1",
        c.address()
    )));
    let sent = s.dest("defender_syslog_sent_bytes_total", "siem").unwrap();
    let received: usize = c.messages().iter().map(Vec::len).sum();
    assert!(
        sent > received as f64,
        "octet-counted frames are longer than their messages"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    for ts in [
        "defender_syslog_last_delivery_timestamp_seconds",
        "defender_syslog_last_poll_timestamp_seconds",
    ] {
        let v = s.dest(ts, "siem").unwrap();
        assert!((now - v).abs() < 60.0, "{ts} = {v}, now {now}");
    }
    assert_eq!(wait_healthz(port, 200, "ok", WAIT).await.trim(), "ok");

    // 429s: each one counted as throttled and as a 4xx answer.
    w.mock.push_faults((0..3).map(|_| Fault::TooManyRequests {
        retry_after_secs: 1,
    }));
    w.mock.insert_new(20);
    wait_conserved(&w.mock, "siem", Fmt::Cef, || c.messages(), WAIT).await;
    let s = wait_scrape(port, "3 throttled, request classes = the mock's log", WAIT, |s| {
        let log = alerts_requests(&w);
        let class = |c: &str| {
            s.value(&format!(
                "defender_syslog_api_requests_total{{destination=\"siem\",source=\"mde\",class=\"{c}\"}}"
            ))
        };
        let count = |f: &dyn Fn(u16) -> bool| log.iter().filter(|r| f(r.status)).count() as f64;
        s.dest("defender_syslog_api_throttled_total", "siem") == Some(3.0)
            && class("2xx") == Some(count(&|st| (200..300).contains(&st)))
            && class("4xx") == Some(count(&|st| (400..500).contains(&st)))
            && class("5xx") == Some(count(&|st| (500..600).contains(&st)))
    })
    .await;
    e2e::report!(
        "api requests: 2xx={:?} 4xx={:?} 5xx={:?}",
        s.value(
            "defender_syslog_api_requests_total{destination=\"siem\",source=\"mde\",class=\"2xx\"}"
        ),
        s.value(
            "defender_syslog_api_requests_total{destination=\"siem\",source=\"mde\",class=\"4xx\"}"
        ),
        s.value(
            "defender_syslog_api_requests_total{destination=\"siem\",source=\"mde\",class=\"5xx\"}"
        ),
    );
    assert_eq!(s.dest(DELIVERED, "siem"), Some(c.count() as f64));

    // The collector killed: the connection state shows it, and /healthz says so.
    c.stop().await;
    w.mock.insert_new(10);
    let s = wait_scrape(port, "collector_connected 0", WAIT, |s| {
        s.dest("defender_syslog_collector_connected", "siem") == Some(0.0)
    })
    .await;
    assert!(!s.text.contains("defender_syslog_collector_address_info{"));
    let reason = wait_healthz(port, 503, "collector down", WAIT).await;
    e2e::report!("/healthz while the collector is down: {}", reason.trim());
    let down = wait_scrape(port, "healthy 0", WAIT, |s| {
        s.value("defender_syslog_healthy") == Some(0.0)
    })
    .await;
    assert_eq!(
        down.dest("defender_syslog_collector_connected", "siem"),
        Some(0.0)
    );

    c.restart().await.unwrap();
    wait_conserved(&w.mock, "siem", Fmt::Cef, || c.messages(), WAIT).await;
    let s = wait_scrape(port, "reconnected and delivered", WAIT, |s| {
        s.dest("defender_syslog_collector_connected", "siem") == Some(1.0)
            && s.dest("defender_syslog_collector_connects_total", "siem") >= Some(2.0)
            && s.dest(DELIVERED, "siem") >= Some(180.0)
    })
    .await;
    let resent = s
        .dest("defender_syslog_alerts_resent_total", "siem")
        .unwrap();
    // Every frame received is a delivery or a resend of an undelivered one.
    assert!(
        c.count() as f64 <= s.dest(DELIVERED, "siem").unwrap() + resent,
        "received {} > delivered + resent",
        c.count()
    );
    wait_healthz(port, 200, "ok", WAIT).await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_ingests_every_documented_series() {
    const TEST: &str = "a_real_prometheus_ingests_every_documented_series";
    let Some(prom_bin) = scrape::tool("prometheus", TEST) else {
        return;
    };
    let w = World::new().await;
    w.mock.insert_new(40);
    let c = w.tls_collector().await;
    let port = scrape::free_port();
    let config = config_with_metrics(&w, &[Dest::new("siem", Fmt::Rfc5424, c.address())], port);
    let d = Daemon::start(&config, &w.log_path());
    wait_conserved(&w.mock, "siem", Fmt::Rfc5424, || c.messages(), WAIT).await;

    let dir = w.path("prometheus");
    std::fs::create_dir_all(&dir).unwrap();
    let prom = Prometheus::start(&prom_bin, &dir, port);
    let start = std::time::Instant::now();
    loop {
        let r = prom
            .api(
                "query",
                &[("query", "defender_syslog_alerts_delivered_total")],
            )
            .await;
        let got = r.as_ref().and_then(|v| {
            v["data"]["result"][0]["value"][1]
                .as_str()
                .map(str::to_owned)
        });
        if got.as_deref() == Some("40") {
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "Prometheus never saw 40 delivered ({r:?}); log:\n{}",
            prom.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let up = prom.query("up{job=\"defender-syslog\"}").await;
    assert_eq!(up.len(), 1);
    assert_eq!(up[0]["value"][1], "1", "the scrape succeeds: {up:?}");

    let documented = scrape::documented_series();
    assert!(documented.len() >= 20, "{documented:?}");
    for name in &documented {
        // The streaming source's per-partition series have no samples on an alerts daemon;
        // tests/tests/streaming.rs reads them from a streaming one.
        if name.starts_with("defender_syslog_stream_") {
            continue;
        }
        let v = prom
            .api("series", &[("match[]", name.as_str())])
            .await
            .expect("prometheus answers");
        assert_eq!(v["status"], "success", "{v}");
        let series = v["data"].as_array().cloned().unwrap_or_default();
        assert!(!series.is_empty(), "Prometheus has no series {name}");
        let has_dest = series
            .iter()
            .any(|s| s["destination"] == "siem" && s["source"] == "mde");
        let process_wide = matches!(
            name.as_str(),
            "defender_syslog_build_info" | "process_start_time_seconds" | "defender_syslog_healthy"
        );
        assert!(
            process_wide || has_dest,
            "{name} lacks destination/source labels: {series:?}"
        );
    }
    e2e::report!(
        "Prometheus ingested all {} documented series",
        documented.len()
    );

    // Every dashboard query is valid PromQL and returns data for this daemon (rates need a
    // few scrapes first).
    let start = std::time::Instant::now();
    while prom
        .query("count_over_time(defender_syslog_alerts_fetched_total[5m]) >= 3")
        .await
        .is_empty()
    {
        assert!(
            start.elapsed() < WAIT,
            "fewer than 3 scrapes; log:\n{}",
            prom.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for expr in scrape::dashboard_exprs() {
        let e = expr.replace("$destination", ".*").replace("$job", ".*");
        let result = prom.query(&e).await;
        assert!(
            !result.is_empty(),
            "dashboard query {expr:?} returns nothing"
        );
    }
    // The example rules load and evaluate (Prometheus reports them healthy).
    let rules = prom.api("rules", &[]).await.expect("rules");
    let groups = rules["data"]["groups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(groups.len(), 1, "{rules}");
    let wait_eval = std::time::Instant::now();
    loop {
        let r = prom.api("rules", &[]).await.expect("rules");
        let list = r["data"]["groups"][0]["rules"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(list.len() >= 6, "{r}");
        if list.iter().all(|x| x["health"] == "ok") {
            break;
        }
        assert!(wait_eval.elapsed() < WAIT, "rules not healthy: {r}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(prom);
    d.stop().await;
}

#[test]
fn promtool_accepts_the_example_rules() {
    let Some(promtool) = scrape::tool("promtool", "promtool_accepts_the_example_rules") else {
        return;
    };
    let out = std::process::Command::new(promtool)
        .args(["check", "rules"])
        .arg(scrape::rules_file())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_keeps_the_documented_format() {
    // Text format 0.0.4 with HELP and TYPE for every family.
    let w = World::new().await;
    let c = w.tls_collector().await;
    let port = scrape::free_port();
    let config = config_with_metrics(&w, &[Dest::new("siem", Fmt::Leef, c.address())], port);
    let d = Daemon::start(&config, &w.log_path());
    let s: Scrape = wait_scrape(port, "an answer", WAIT, |_| true).await;
    let documented = scrape::documented_series();
    for name in &documented {
        assert!(
            s.text.contains(&format!("# TYPE {name} ")),
            "{name} missing:\n{}",
            s.text
        );
        assert!(
            s.text.contains(&format!("# HELP {name} ")),
            "{name} has no HELP"
        );
    }
    let (status, body) = scrape::get(port, "/nope").await.unwrap();
    assert_eq!(status, 404, "{body}");
    d.stop().await;
}

fn status(config: &std::path::Path) -> (i32, String) {
    let out = e2e::daemon::command()
        .args(["status", "--config"])
        .arg(config)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_prints_a_table_per_destination() {
    let w = World::new().await;
    w.mock.insert_new(25);
    let c = w.tls_collector().await;
    let port = scrape::free_port();
    let dests = [Dest::new("siem", Fmt::Cef, c.address())];
    let config = config_with_metrics(&w, &dests, port);
    let d = Daemon::start(&config, &w.log_path());
    wait_conserved(&w.mock, "siem", Fmt::Cef, || c.messages(), WAIT).await;
    wait_scrape(port, "25 delivered", WAIT, |s| {
        s.dest(DELIVERED, "siem") == Some(25.0)
    })
    .await;
    let (code, out) = status(&config);
    e2e::report!("status (live):\n{out}");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("health: ok"), "{out}");
    assert!(
        out.contains(&format!("connected to {}", c.address())),
        "{out}"
    );
    assert!(out.contains("delivered 25 "), "{out}");
    assert!(out.contains("fetched 25 "), "{out}");
    let last = out.lines().find(|l| l.contains("last delivery")).unwrap();
    assert!(last.contains(" ago)"), "{out}");

    // A reload restarts the pipelines and the endpoint on the same address.
    d.signal("HUP");
    let start = std::time::Instant::now();
    while d.log().matches("Serving /metrics and /healthz.").count() < 2 {
        assert!(
            start.elapsed() < WAIT,
            "the endpoint did not come back after SIGHUP\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_healthz(port, 200, "ok", WAIT).await;
    assert!(!d.log().contains("cannot listen"), "{}", d.log());
    d.stop().await;

    // Daemon stopped: the endpoint is configured but silent → the state files, exit 1.
    let (code, out) = status(&config);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("does not answer"), "{out}");
    assert!(out.contains("committed cursor"), "{out}");
    // Without [metrics]: the state files, exit 0.
    let plain = w.write_config(&dests);
    let (code, out) = status(&plain);
    e2e::report!("status (state files):\n{out}");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("No [metrics] listen"), "{out}");
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("committed cursor"))
        .unwrap();
    assert!(line.contains("before now"), "{out}");
}
