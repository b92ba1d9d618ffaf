//! The watchdog means something: under a (fake) systemd notify socket with `WATCHDOG_USEC`,
//! the built binary pings `WATCHDOG=1` while its pipelines turn, and stops pinging — with
//! `/healthz` saying why — when a test hook wedges a pipeline, so systemd would restart it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::daemon::Daemon;
use e2e::oracle::{Fmt, wait_conserved};
use e2e::scrape::{self, wait_healthz};
use e2e::setup::{Dest, World};

const WAIT: Duration = Duration::from_secs(90);

/// A notify socket that records (when, message) for every datagram.
struct Notify {
    path: std::path::PathBuf,
    got: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Notify {
    fn bind(dir: &std::path::Path) -> Notify {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends when the test process ends; a closed socket file just stops the datagrams.
            loop {
                if let Ok(n) = sock.recv(&mut buf) {
                    let m = String::from_utf8_lossy(&buf[..n]).into_owned();
                    g.lock().unwrap().push((Instant::now(), m));
                }
            }
        });
        Notify { path, got }
    }

    fn pings_since(&self, t: Instant) -> usize {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(at, m)| *at >= t && m.lines().any(|l| l == "WATCHDOG=1"))
            .count()
    }

    fn last_ping(&self) -> Option<Instant> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, m)| m.lines().any(|l| l == "WATCHDOG=1"))
            .map(|(at, _)| *at)
            .next_back()
    }

    fn ready(&self) -> bool {
        self.got
            .lock()
            .unwrap()
            .iter()
            .any(|(_, m)| m.lines().any(|l| l == "READY=1"))
    }
}

/// Config with a short stall bound (and a request timeout below it, as validation requires).
fn start(w: &World, c: &sim::collector::Collector, port: u16, env: &[(&str, &str)]) -> Daemon {
    w.sim_config(&[Dest::new("siem", Fmt::Cef, c.address())])
        .defender("request_timeout", "2s")
        .section(&scrape::metrics_section(port, "3s"))
        .write(&w.config_path())
        .unwrap();
    Daemon::start_with_env(&w.config_path(), &w.log_path(), env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wedged_pipeline_stops_the_watchdog_pings() {
    let w = World::new().await;
    w.mock.insert_new(200);
    let c = w.tls_collector().await;
    let n = Notify::bind(w.dir.path());
    let port = scrape::free_port();
    let sock = n.path.to_str().unwrap().to_owned();
    let d = start(
        &w,
        &c,
        port,
        &[
            ("NOTIFY_SOCKET", &sock),
            ("WATCHDOG_USEC", "1000000"),
            ("_DEFENDER_SYSLOG_TEST_WEDGE_AFTER", "20"),
        ],
    );
    let began = Instant::now();
    let stalled = wait_healthz(port, 503, "pipeline stalled", WAIT).await;
    e2e::report!("/healthz of the wedged daemon: {}", stalled.trim());
    assert!(n.ready(), "READY=1 was sent");
    assert!(n.pings_since(began) >= 1, "pings before the wedge");
    // No ping for several watchdog intervals while stalled: systemd would kill and restart it.
    // Meanwhile new alerts go nowhere: the pipeline is really stuck.
    let received = c.count();
    w.mock.insert_new(10);
    let quiet_from = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(c.count(), received, "the wedged pipeline forwards nothing");
    assert_eq!(
        n.pings_since(quiet_from),
        0,
        "no WATCHDOG=1 while a pipeline is stalled"
    );
    let last = n.last_ping().expect("pinged once");
    assert!(last.elapsed() >= Duration::from_secs(5));
    assert!(
        d.log().contains("Stopping the systemd watchdog pings"),
        "{}",
        d.log()
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_daemon_keeps_pinging_even_when_its_collector_is_down() {
    let w = World::new().await;
    w.mock.insert_new(50);
    let c = w.tls_collector().await;
    let n = Notify::bind(w.dir.path());
    let port = scrape::free_port();
    let sock = n.path.to_str().unwrap().to_owned();
    let d = start(
        &w,
        &c,
        port,
        &[("NOTIFY_SOCKET", &sock), ("WATCHDOG_USEC", "1000000")],
    );
    wait_conserved(&w.mock, "siem", Fmt::Cef, || c.messages(), WAIT).await;
    wait_healthz(port, 200, "ok", WAIT).await;
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    // Half the interval: about 10 in 5 s; a loaded machine may delay some.
    let pings = n.pings_since(t);
    assert!(pings >= 5, "{pings} pings in 5 s while healthy");

    // A dead collector is not the daemon's fault: degraded, yet still pinging.
    c.stop().await;
    w.mock.insert_new(50);
    let reason = wait_healthz(port, 503, "collector down", WAIT).await;
    e2e::report!("/healthz with the collector down: {}", reason.trim());
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let pings = n.pings_since(t);
    assert!(pings >= 5, "{pings} pings in 5 s with the collector down");
    c.restart().await.unwrap();
    wait_conserved(&w.mock, "siem", Fmt::Cef, || c.messages(), WAIT).await;
    d.stop().await;
}
