//! End-to-end benchmarks of the real `defender-syslog` binary (docs/performance.md).
#![recursion_limit = "256"]
//!
//! - `backlog`: the simulated Defender API serves N generated alerts (evidence included) in
//!   pages; `defender-syslog run` drains them to a counting TLS collector.
//! - `send`: the same N alerts as an NDJSON file, `defender-syslog send` to the collector
//!   (parse + format + transport without the API), beside the in-process floor: plain
//!   `serde_json` parsing of that file into `alert_model::Alert`.
//!
//! `--quick` (2,000 alerts) keeps every frame and checks it with the strict parser of its
//! format; any malformed, missing, duplicated or invented alert fails the run. Timing is
//! printed, never asserted.
//!
//! - `stream`: the streaming source: a mock Kafka cluster (TLS + SASL fronts) of generated
//!   Defender XDR streaming rows, `defender-syslog run` to the counting TLS collector.
//!
//! Modules: `world` (PKI, collector, config, binary), `proc` (/proc readings), `check`, `stream`.

mod check;
mod proc;
mod stream;
mod world;

use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use sim::defender::{MockDefender, MockOptions};
use sim::setup::SimApi;

#[derive(Debug, Parser)]
#[command(about = "End-to-end benchmarks of defender-syslog (run and send)")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// `defender-syslog run` draining a backlog from the simulated Defender API.
    Backlog(Args),
    /// `defender-syslog send` of an NDJSON file, with the plain serde_json floor.
    Send(Args),
    /// `defender-syslog run` with the streaming source: a mock Kafka cluster to a TLS collector.
    Stream(stream::StreamArgs),
}

#[derive(Debug, clap::Args)]
struct Args {
    /// Number of alerts.
    #[arg(long, default_value_t = 100_000)]
    alerts: u64,
    /// rfc5424, leef or cef.
    #[arg(long, default_value = "cef")]
    format: String,
    /// Alerts per API page ($top); default the source's maximum (mde 10,000, graph 1,000).
    #[arg(long)]
    page_size: Option<u32>,
    /// backlog only: the API the mock serves, `mde` (Defender for Endpoint) or `graph`
    /// (Microsoft Graph `alerts_v2`).
    #[arg(long, default_value = "mde")]
    source: String,
    /// 2,000 alerts, every frame checked; for CI (asserts content, never timing).
    #[arg(long)]
    quick: bool,
    /// `[metrics] listen` on a loopback port, scraped every second during the run (to compare
    /// throughput with the endpoint on and off).
    #[arg(long)]
    metrics: bool,
    /// The defender-syslog binary (default: next to this one).
    #[arg(long = "bin", value_name = "PATH")]
    binary: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.mode {
            Mode::Backlog(a) => backlog(a).await,
            Mode::Send(a) => send(a).await,
            Mode::Stream(a) => stream::stream(a).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: FAILED: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn normalise(a: &mut Args) -> anyhow::Result<()> {
    let max_page = match a.source.as_str() {
        "mde" => 10_000,
        "graph" => sim::defender::graph::MAX_TOP as u32,
        _ => bail!("--source: expected mde or graph"),
    };
    let page = a.page_size.unwrap_or(max_page);
    a.page_size = Some(if a.quick { page.min(500) } else { page });
    if a.quick {
        a.alerts = 2_000;
    }
    if !["cef", "leef", "rfc5424"].contains(&a.format.as_str()) {
        bail!("--format: expected cef, leef or rfc5424");
    }
    Ok(())
}

impl Args {
    fn page_size(&self) -> u32 {
        self.page_size.unwrap_or(10_000)
    }

    /// The mock for `--source`: generated alerts, served versions not recorded (flat memory).
    fn mock_options(&self) -> MockOptions {
        let base = if self.source == "graph" {
            MockOptions::graph()
        } else {
            MockOptions::default()
        };
        MockOptions {
            record_served: false,
            generated: Some(world::generated(self.alerts)),
            ..base
        }
    }

    /// The mark whose time is printed beside the total: 99 % of the alerts, and for Graph at
    /// most the first 135 pages. The quota (MDE 100 requests/min at 10,000 per page, Graph
    /// 150/min at 1,000; the daemon's budget holds to it) then holds back the rest, so
    /// alerts up to the mark measure the daemon and the total measures the quota.
    fn mark(&self) -> usize {
        let alerts = usize::try_from(self.alerts).unwrap_or(usize::MAX);
        let all = alerts.saturating_mul(99).div_ceil(100);
        if self.source == "graph" {
            let page = usize::try_from(self.page_size()).unwrap_or(usize::MAX);
            all.min(135usize.saturating_mul(page))
        } else {
            all
        }
    }
}

/// Where the subject is while it works: samples while `done` says no, fails on a stall.
struct Watch {
    pid: String,
    ticks: f64,
    start: Instant,
    first: Option<Duration>,
    /// Bytes on the wire: API responses in, syslog (TLS) out.
    io: (u64, u64),
}

impl Watch {
    fn new(child: &Child, start: Instant) -> Self {
        Self {
            pid: child.id().to_string(),
            ticks: proc::clock_ticks(),
            start,
            first: None,
            io: (0, 0),
        }
    }

    /// TLS bytes the mock API sent (port `api`) and the collector received (port `siem`).
    fn sample_io(&mut self, api: Option<u16>, siem: u16) {
        let api = api.map_or(0, |p| proc::tcp_bytes(p, "bytes_sent"));
        self.io = (api, proc::tcp_bytes(siem, "bytes_received"));
    }
}

/// Scrapes answered by `/metrics` (only with `--metrics`).
static SCRAPES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Scrapes `/metrics` every second (as an eager Prometheus would) until aborted.
async fn scrape_every_second(port: u16) {
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if let Ok(r) = client.get(&url).send().await
            && r.status().is_success()
            && let Ok(t) = r.text().await
            && t.contains("defender_syslog_alerts_delivered_total")
        {
            SCRAPES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

async fn backlog(mut a: Args) -> anyhow::Result<()> {
    normalise(&mut a)?;
    let bin = world::subject(a.binary.take())?;
    let dir = tempfile::tempdir()?;
    let mock = MockDefender::start(a.mock_options())
        .await
        .context("simulated Defender API")?;
    let (collector, pki) = world::collector(dir.path(), a.quick).await?;
    let api = SimApi::of(&mock, dir.path()).context("writing the API CA")?;
    let config = world::config(
        dir.path(),
        &api,
        &a.format,
        &collector.address(),
        &pki,
        a.page_size(),
    )?;
    let scraper = if a.metrics {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut text = std::fs::read_to_string(&config)?;
        text.push_str(&format!("\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n"));
        std::fs::write(&config, text)?;
        Some(tokio::spawn(scrape_every_second(port)))
    } else {
        None
    };
    println!(
        "backlog: {} alerts from {}, {}, page_size {}, metrics {}, subject {} ({PURGE_DELAY}={})",
        a.alerts,
        a.source,
        a.format,
        a.page_size(),
        if a.metrics {
            "on (scraped every 1 s)"
        } else {
            "off"
        },
        bin.display(),
        purge_delay()
    );
    let start = Instant::now();
    let mut child = Command::new(&bin)
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("DEFENDER_SYSLOG_CONFIG")
        .env(PURGE_DELAY, purge_delay())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let mut w = Watch::new(&child, start);
    let own_cpu = proc::cpu_seconds("self", w.ticks).unwrap_or(0.0);
    let target = usize::try_from(a.alerts)?;
    let siem_port = collector.addr().port();
    let api_port = api
        .api_url
        .rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .and_then(|p| p.parse().ok());
    let (mut last, mut moved) = (0usize, Instant::now());
    let mark = a.mark();
    let mut t99 = None;
    let outcome = loop {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let n = collector.count();
        if n > 0 && w.first.is_none() {
            w.first = Some(w.start.elapsed());
        }
        if n >= mark && t99.is_none() {
            t99 = Some(w.start.elapsed());
        }
        if n >= target {
            w.sample_io(api_port, siem_port);
            break Ok(());
        }
        if n != last {
            (last, moved) = (n, Instant::now());
        }
        if let Ok(Some(status)) = child.try_wait() {
            break Err(anyhow::anyhow!("defender-syslog exited early: {status}"));
        }
        if moved.elapsed() > Duration::from_secs(120) {
            break Err(anyhow::anyhow!("no progress for 120 s at {n}/{target}"));
        }
    };
    let total = w.start.elapsed();
    let cpu = proc::cpu_seconds(&w.pid, w.ticks).unwrap_or(f64::NAN);
    let mock_cpu = proc::cpu_seconds("self", w.ticks).unwrap_or(0.0) - own_cpu;
    let hwm = proc::status_kib(&w.pid, "VmHWM:").unwrap_or(0);
    // Anything sent after the last expected alert would be a duplicate or an invention.
    tokio::time::sleep(Duration::from_millis(500)).await;
    if let Some(task) = scraper {
        task.abort();
    }
    let scrapes = SCRAPES.load(std::sync::atomic::Ordering::Relaxed);
    let _ = Command::new("kill").args(["-TERM", &w.pid]).status();
    let _ = child.wait();
    outcome?;
    verdict(&a, &collector)?;
    if a.metrics && scrapes == 0 {
        bail!("--metrics: /metrics never answered");
    }
    let secs = total.as_secs_f64();
    let n = a.alerts as f64;
    let t99 = t99.unwrap_or(total).as_secs_f64();
    println!(
        "  {:.0} alerts/s, total {secs:.2} s, first alert after {:.3} s; {mark} ({:.0} %) after {t99:.2} s ({:.0} alerts/s)",
        n / secs,
        w.first.unwrap_or_default().as_secs_f64(),
        mark as f64 / n * 100.0,
        mark as f64 / t99
    );
    if a.metrics {
        println!("  /metrics answered {scrapes} scrapes during the run");
    }
    println!(
        "  API in {:.1} MB/s ({:.0} B/alert), syslog out {:.1} MB/s ({:.0} B/alert)",
        w.io.0 as f64 / secs / 1e6,
        w.io.0 as f64 / n,
        w.io.1 as f64 / secs / 1e6,
        w.io.1 as f64 / n
    );
    println!(
        "  defender-syslog CPU {cpu:.2} s ({:.2} s per 100k alerts, {:.0}% of one core), peak RSS (VmHWM) {:.1} MB",
        cpu / n * 100_000.0,
        cpu / secs * 100.0,
        hwm as f64 / 1024.0
    );
    println!(
        "  bench process (mock API + collector) CPU {mock_cpu:.2} s ({:.0}% of one core); load average {}",
        mock_cpu / secs * 100.0,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    Ok(())
}

/// The collector saw exactly the alerts expected, every frame well formed.
fn verdict(a: &Args, collector: &sim::collector::Collector) -> anyhow::Result<()> {
    let errors = collector.errors();
    if !errors.is_empty() {
        bail!(
            "collector rejected frames: {:?}",
            &errors[..errors.len().min(3)]
        );
    }
    let got = collector.count() as u64;
    if got != a.alerts {
        bail!("collector received {got} frames for {} alerts", a.alerts);
    }
    if a.quick {
        check::frames(&a.format, &collector.messages(), a.alerts)?;
        println!(
            "  quick check: {} frames, each parsed strictly, ids exactly the served ones",
            a.alerts
        );
    }
    Ok(())
}

async fn send(mut a: Args) -> anyhow::Result<()> {
    normalise(&mut a)?;
    if a.source != "mde" {
        bail!("--source: `send` reads a file, not an API");
    }
    let bin = world::subject(a.binary.take())?;
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("alerts.ndjson");
    let bytes = world::write_ndjson(&input, a.alerts)?;
    let floor = parse_floor(&input, a.alerts)?;
    let (collector, pki) = world::collector(dir.path(), a.quick).await?;
    // `send` never contacts the API; the config must still name one.
    let api = SimApi {
        source: "mde",
        tenant_id: "00000000-0000-4000-8000-000000000001".into(),
        client_id: "00000000-0000-4000-8000-000000000002".into(),
        client_secret: "unused-by-send".into(),
        api_url: "https://127.0.0.1:9".into(),
        login_url: "https://127.0.0.1:9".into(),
        ca_file: pki.ca.clone(),
    };
    let config = world::config(
        dir.path(),
        &api,
        &a.format,
        &collector.address(),
        &pki,
        a.page_size(),
    )?;
    let n = a.alerts as f64;
    println!(
        "send: {} alerts, {}, input {:.1} MB ({:.0} B/alert), subject {} ({PURGE_DELAY}={})",
        a.alerts,
        a.format,
        bytes as f64 / 1e6,
        bytes as f64 / n,
        bin.display(),
        purge_delay()
    );
    let ticks = proc::clock_ticks();
    let cpu_before = proc::children_cpu_seconds(ticks);
    let start = Instant::now();
    let mut child = Command::new(&bin)
        .args(["send", "--config"])
        .arg(&config)
        .arg("--input")
        .arg(&input)
        .env_remove("DEFENDER_SYSLOG_CONFIG")
        .env(PURGE_DELAY, purge_delay())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let mut w = Watch::new(&child, start);
    let (target, siem_port) = (usize::try_from(a.alerts)?, collector.addr().port());
    let (mut hwm, mut delivered, mut ticks_seen) = (0, None, 0u32);
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        hwm = hwm.max(proc::status_kib(&w.pid, "VmHWM:").unwrap_or(0));
        let n = collector.count();
        if n > 0 && w.first.is_none() {
            w.first = Some(start.elapsed());
        }
        if n >= target && delivered.is_none() {
            delivered = Some(start.elapsed());
        }
        // The collector may close its side as soon as send disconnects: keep the last count.
        if delivered.is_none() || w.io.1 == 0 {
            ticks_seen += 1;
            if ticks_seen % 20 == 0 || delivered.is_some() {
                let before = w.io.1;
                w.sample_io(None, siem_port);
                w.io.1 = w.io.1.max(before);
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let secs = start.elapsed().as_secs_f64();
    let to_last = delivered.unwrap_or(start.elapsed()).as_secs_f64();
    let cpu = proc::children_cpu_seconds(ticks) - cpu_before;
    if !status.success() {
        bail!("defender-syslog send failed: {status}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    verdict(&a, &collector)?;
    println!(
        "  send: {:.0} alerts/s, {:.1} MB/s of JSON in, {:.1} MB/s syslog out: last alert delivered {to_last:.2} s after start \
         (first {:.3} s); process exit {secs:.2} s",
        n / to_last,
        bytes as f64 / to_last / 1e6,
        w.io.1 as f64 / to_last / 1e6,
        w.first.unwrap_or_default().as_secs_f64()
    );
    println!(
        "  send CPU {cpu:.2} s ({:.2} s per 100k alerts), peak RSS (VmHWM, sampled) {:.1} MB, {:.0} TLS bytes/alert",
        cpu / n * 100_000.0,
        hwm as f64 / 1024.0,
        w.io.1 as f64 / n
    );
    println!(
        "  floor: serde_json → Alert {:.0} alerts/s ({:.1} MB/s, one core); send reaches {:.0}% of it",
        n / floor,
        bytes as f64 / floor / 1e6,
        floor / to_last * 100.0
    );
    Ok(())
}

/// Best of three: reading and parsing the NDJSON file line by line into `Alert`.
fn parse_floor(input: &std::path::Path, count: u64) -> anyhow::Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let start = Instant::now();
        let data = std::fs::read(input)?;
        let mut parsed = 0u64;
        for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let a: alert_model::Alert = serde_json::from_slice(line)?;
            std::hint::black_box(&a);
            parsed += 1;
        }
        if parsed != count {
            bail!("floor parsed {parsed} of {count}");
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// The subject runs with the allocator setting the systemd unit ships
/// (`Environment=MIMALLOC_PURGE_DELAY=0`), unless the caller's environment sets its own.
const PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";

fn purge_delay() -> String {
    std::env::var(PURGE_DELAY).unwrap_or_else(|_| "0".to_owned())
}
