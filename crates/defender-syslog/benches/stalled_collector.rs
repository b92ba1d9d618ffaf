//! Memory under backpressure: the real `defender-syslog run` against a simulated tenant with a
//! 200,000-alert backlog and a TLS collector that accepts the connection but stops reading.
//! Prints RSS while stalled (it must stay bounded by configuration — channel, in-flight buffer,
//! one page — never grow with the backlog), then lets the collector read and reports the drain.
//!
//! `cargo bench -p defender-syslog --bench stalled_collector [-- ALERTS [PAGE_SIZE]]`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use alert_model::Timestamp;
use sim::defender::{Generated, MockDefender, MockOptions};
use sim::pki::TestPki;

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let alerts: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let page: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let mock = MockDefender::start(MockOptions {
            record_served: false,
            generated: Some(Generated {
                count: alerts,
                start: Timestamp::now().saturating_sub(Duration::from_secs(20 * 3600)),
                step: Duration::from_millis(300),
                tie: 1,
            }),
            ..Default::default()
        })
        .await
        .unwrap();
        let pki = TestPki::new().unwrap();
        let files = pki.write_to(dir.path()).unwrap();
        let mut opts = sim::collector::Options::tls(pki.server_config(false).unwrap());
        opts.keep_messages = false;
        opts.recv_buffer = Some(64 * 1024);
        let collector = sim::collector::start(opts).await.unwrap();
        collector.pause_reading();
        let api_ca = dir.path().join("api-ca.pem");
        std::fs::write(&api_ca, mock.ca_pem()).unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[defender]\nsource = \"mde\"\ntenant_id = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\napi_url = \"{}\"\nlogin_url = \"{}\"\n\
                 ca_file = \"{}\"\npoll_interval = \"1s\"\npage_size = {page}\ninitial_lookback = \"24h\"\n\n\
                 [[destination]]\nname = \"siem\"\nformat = \"cef\"\ntransport = \"tls\"\naddresses = [\"{}\"]\n\
                 server_name = \"localhost\"\nca_file = \"{}\"\nuse_system_roots = false\n\n\
                 [state]\ndirectory = \"{}\"\n\n[log]\nlevel = \"warn\"\n",
                mock.tenant_id,
                mock.client_id,
                mock.client_secret,
                mock.base_url(),
                mock.login_url(),
                api_ca.display(),
                collector.address(),
                files.ca.display(),
                dir.path().join("state").display()
            ),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_defender-syslog"))
            .args(["run", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let pid = child.id();
        println!("backlog {alerts} alerts, page_size {page}, collector stalled (not reading)");
        let stalled = Instant::now();
        let mut peak = 0;
        while stalled.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            peak = peak.max(rss_kib(pid, "VmRSS:"));
        }
        println!(
            "stalled 20 s: peak RSS {:.1} MB, VmHWM {:.1} MB, collector received {} (the backlog waits in Defender, not in memory)",
            peak as f64 / 1024.0,
            rss_kib(pid, "VmHWM:") as f64 / 1024.0,
            collector.count()
        );
        collector.resume_reading();
        let drain = Instant::now();
        let all = collector.wait_for(alerts as usize, Duration::from_secs(600)).await;
        let secs = drain.elapsed().as_secs_f64();
        println!(
            "resumed: {} of {alerts} alerts received in {secs:.1} s ({:.0} alerts/s); VmHWM over the whole run {:.1} MB",
            collector.count(),
            collector.count() as f64 / secs,
            rss_kib(pid, "VmHWM:") as f64 / 1024.0
        );
        let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        let _ = child.wait();
        assert!(all, "not every alert arrived after the collector resumed");
    });
}
