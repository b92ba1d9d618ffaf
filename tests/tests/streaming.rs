//! The streaming source (issue 16) through the built binary: Defender XDR streaming messages in
//! a mock Kafka cluster behind TLS + SASL PLAIN fronts (the Event Hubs `$ConnectionString`
//! path), forwarded to a real rsyslog over mutual TLS. Conservation by record id
//! (`topic/partition/offset/index`), content checked by the strict parsers, committed offsets
//! read from the cluster.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use e2e::daemon::{Daemon, command};
use e2e::oracle::Fmt;
use e2e::report;
use e2e::stream::{StreamWorld, wait_all};

const WAIT: Duration = Duration::from_secs(120);

/// Every record of every sample message arrives, in every format (one daemon per format, each
/// its own consumer group), through SASL_SSL; each group then commits every partition's end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_record_arrives_in_every_format_and_the_offsets_are_committed() {
    let w = StreamWorld::new(6);
    let Some(rsyslog) = w.rsyslog("every_record_arrives_in_every_format") else {
        return;
    };
    let fmts = [Fmt::Rfc5424, Fmt::Leef, Fmt::Cef];
    let produced_before = w.produce_samples(3);
    let daemons: Vec<Daemon> = fmts
        .iter()
        .map(|f| {
            let name = f.config_name();
            let cfg = w.write_config(name, &format!("group-{name}"), *f, &rsyslog.address());
            Daemon::start(&cfg, &w.path(&format!("{name}.log")))
        })
        .collect();
    // Records produced while the daemons run arrive too.
    let mut produced = produced_before;
    produced.extend(w.produce_samples(2));
    let arrivals = match wait_all(&rsyslog, &produced, &fmts, WAIT).await {
        Ok(a) => a,
        Err(e) => panic!(
            "{e}\n{}",
            daemons.iter().map(Daemon::log).collect::<String>()
        ),
    };
    for f in fmts {
        let name = f.config_name();
        assert!(
            w.wait_committed_all(&format!("group-{name}"), WAIT).await,
            "group-{name} did not commit every partition's end: {:?} vs {:?}",
            w.committed(&format!("group-{name}")),
            w.end_offsets()
        );
        report!(
            "streaming {name}: {} records, {} duplicates",
            produced.len(),
            arrivals.duplicates(f)
        );
    }
    for d in daemons {
        d.stop().await;
    }
}

/// kill -9 in the middle of a backlog, then a restart: nothing is lost (the uncommitted window
/// comes again), and the group ends committed at the end of every partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_and_restart_loses_nothing() {
    let w = StreamWorld::new(4);
    let Some(rsyslog) = w.rsyslog("kill_9_and_restart_loses_nothing") else {
        return;
    };
    let mut produced = w.produce_samples(200);
    let cfg = w.write_config("siem", "fleet", Fmt::Cef, &rsyslog.address());
    let log = w.path("siem.log");
    let mut d = Daemon::start(&cfg, &log);
    // Some, not all, have arrived.
    let start = std::time::Instant::now();
    while rsyslog.messages().len() < produced.len() / 4 {
        assert!(start.elapsed() < WAIT, "nothing arrives\n{}", d.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    d.kill9();
    let before = rsyslog.messages().len();
    produced.extend(w.produce_samples(20));
    let d = Daemon::start(&cfg, &log);
    let arrivals = match wait_all(&rsyslog, &produced, &[Fmt::Cef], WAIT).await {
        Ok(a) => a,
        Err(e) => panic!("{e}\n{}", d.log()),
    };
    assert!(w.wait_committed_all("fleet", WAIT).await, "{}", d.log());
    report!(
        "streaming kill -9: {} records, {before} frames before the kill, {} duplicates after the restart",
        produced.len(),
        arrivals.duplicates(Fmt::Cef)
    );
    d.stop().await;
}

/// Two daemons in one consumer group split the partitions and, in steady state, deliver every
/// record once between them; after `kill -9` of one, the other takes its partitions and its
/// uncommitted records arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_daemons_in_one_group_split_the_partitions_and_survive_a_kill_9() {
    let w = StreamWorld::new(6);
    let Some(rsyslog) = w.rsyslog("two_daemons_in_one_group") else {
        return;
    };
    // The two destinations differ only in HOSTNAME, so the collector tells them apart.
    let config = |name: &str| {
        let path = w.path(&format!("{name}.toml"));
        let text = w
            .sim_config(name, "fleet", Fmt::Rfc5424, &rsyslog.address())
            .to_toml()
            .replace(
                "[[destination]]\n",
                &format!("[[destination]]\nhostname = \"{name}\"\n"),
            );
        std::fs::write(&path, text).unwrap();
        path
    };
    let mut a = Daemon::start(&config("appliance-a"), &w.path("a.log"));
    let b = Daemon::start(&config("appliance-b"), &w.path("b.log"));
    // Both members joined before the records come (a rebalance mid-way would only add
    // duplicates, which this steady-state check counts).
    tokio::time::sleep(Duration::from_secs(8)).await;
    let mut produced = w.produce_samples(30);
    let arrivals = match wait_all(&rsyslog, &produced, &[Fmt::Rfc5424], WAIT).await {
        Ok(a) => a,
        Err(e) => panic!("{e}\n{}\n{}", a.log(), b.log()),
    };
    let by_host = |host: &str| {
        rsyslog
            .messages()
            .iter()
            .filter(|m| String::from_utf8_lossy(m).contains(&format!(" {host} defender-syslog ")))
            .count()
    };
    let (from_a, from_b) = (by_host("appliance-a"), by_host("appliance-b"));
    report!(
        "streaming group of two: {} records, a sent {from_a}, b sent {from_b}, {} duplicates",
        produced.len(),
        arrivals.duplicates(Fmt::Rfc5424)
    );
    assert!(
        from_a > 0 && from_b > 0,
        "both members got partitions: a {from_a}, b {from_b}"
    );
    assert_eq!(
        arrivals.duplicates(Fmt::Rfc5424),
        0,
        "steady state: every record once"
    );
    a.kill9();
    produced.extend(w.produce_samples(30));
    match wait_all(&rsyslog, &produced, &[Fmt::Rfc5424], WAIT).await {
        Ok(_) => {}
        Err(e) => panic!("after kill -9 of a: {e}\n{}", b.log()),
    }
    assert!(w.wait_committed_all("fleet", WAIT).await, "{}", b.log());
    b.stop().await;
}

/// `check` goes through TLS and SASL to the brokers and the topic; a wrong connection string
/// and an untrusted broker CA fail with errors that say so (and never print the secret).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reaches_the_topic_and_names_a_refused_secret_or_an_untrusted_ca() {
    let w = StreamWorld::new(3);
    let collector = sim::collector::start(sim::collector::Options::tls(
        w.pki.server_config(false).unwrap(),
    ))
    .await
    .unwrap();
    let run_check = |text: String| {
        let path = w.path("check.toml");
        std::fs::write(&path, text).unwrap();
        let out = command()
            .args(["check", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    let good = w
        .sim_config("siem", "fleet", Fmt::Cef, &collector.address())
        .to_toml()
        .replace("client_cert_file", "# client_cert_file")
        .replace("client_key_file", "# client_key_file");
    let (code, out) = run_check(good.clone());
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("✓ streaming") && out.contains("defender-events"),
        "{out}"
    );

    let conn = w.kafka.eventhubs_connection_string().unwrap();
    let key = conn.rsplit("SharedAccessKey=").next().unwrap().to_owned();
    let wrong = good.replace(&key, "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=");
    let (code, out) = run_check(wrong);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("✗ streaming"), "{out}");
    assert!(
        out.to_lowercase().contains("authentication") || out.contains("SASL"),
        "a refused secret says so: {out}"
    );
    assert!(
        !out.contains("d3Jvbmcta2V5"),
        "the secret is printed: {out}"
    );

    let other_ca = w.path("other-ca.pem");
    std::fs::write(&other_ca, TestPkiCa::other()).unwrap();
    let untrusted = good.replace(
        &w.path("kafka-ca.pem").display().to_string(),
        &other_ca.display().to_string(),
    );
    let (code, out) = run_check(untrusted);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.to_lowercase().contains("certificate"),
        "an untrusted broker CA says so: {out}"
    );
}

/// A CA that did not sign the brokers' certificates.
struct TestPkiCa;

impl TestPkiCa {
    fn other() -> String {
        sim::pki::TestPki::new().unwrap().ca.cert_pem
    }
}

/// The hostile corpus as streamed columns: separators of every format, newlines, NULs, bytes
/// that are not UTF-8, a lone surrogate, a 300 KB command line. Each record arrives as exactly
/// one message in every format (none forged), parses strictly and names its own record.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_records_arrive_as_one_message_each_and_forge_nothing() {
    let w = StreamWorld::new(2);
    let Some(rsyslog) = w.rsyslog("hostile_records") else {
        return;
    };
    let big = "A".repeat(300 * 1024);
    let evil = [
        r#"x|y=z\\ CEF:0|forged|x|1|2|3|10|src=1.2.3.4"#,
        "line one\nline two\r\n<13>1 2026-01-01T00:00:00Z forged - - - - forged",
        "nul\u{0}byte and ]\" and \\",
        "LEEF:2.0|forged|x|1|y|^|a=b^c=d\tsev=10",
    ];
    let mut bodies: Vec<Vec<u8>> = evil
        .iter()
        .map(|v| {
            let props = serde_json::json!({
                "AlertId": format!("da{v}"), "Title": v, "Category": v, "DeviceName": v,
                "Evil|Key=\\": v, "AccountName": v,
            });
            let rec = serde_json::json!({"time": "2026-11-20T08:00:00.1234567Z",
                "category": "AdvancedHunting-AlertInfo", "properties": props});
            serde_json::to_vec(&serde_json::json!({ "records": [rec] })).unwrap()
        })
        .collect();
    let props = serde_json::json!({"ProcessCommandLine": big, "DeviceName": "pc"});
    bodies.push(
        serde_json::to_vec(&serde_json::json!({"records": [
            {"category": "AdvancedHunting-DeviceProcessEvents", "properties": props}
        ]}))
        .unwrap(),
    );
    // Bytes that are not UTF-8, and a lone surrogate escape: repaired and marked.
    bodies.push(
        b"{\"records\":[{\"category\":\"AdvancedHunting-DeviceFileEvents\",\"properties\":{\"FileName\":\"caf\xe9|=.exe\"}}]}".to_vec(),
    );
    bodies.push(
        br#"{"records":[{"category":"AdvancedHunting-DeviceFileEvents","properties":{"FileName":"lone \ud800 surrogate"}}]}"#.to_vec(),
    );
    // A body that is not JSON, and a record that is not an object: one marked "unreadable"
    // event each, never a stall.
    bodies.push(b"\x00 not json {".to_vec());
    bodies.push(br#"{"records":["oops",{"category":"AdvancedHunting-AlertInfo","properties":{"AlertId":"after-oops"}}]}"#.to_vec());
    let (produced, unreadable) = w.produce_any(&bodies);
    assert_eq!(unreadable.len(), 2, "{unreadable:?}");
    let fmts = [Fmt::Rfc5424, Fmt::Leef, Fmt::Cef];
    let daemons: Vec<Daemon> = fmts
        .iter()
        .map(|f| {
            let name = f.config_name();
            let cfg = w.write_config(name, &format!("hostile-{name}"), *f, &rsyslog.address());
            Daemon::start(&cfg, &w.path(&format!("{name}.log")))
        })
        .collect();
    let is_unreadable = |m: &Vec<u8>| String::from_utf8_lossy(m).contains(" UNREADABLE ");
    let start = std::time::Instant::now();
    let arrivals = loop {
        let frames: Vec<Vec<u8>> = rsyslog
            .messages()
            .into_iter()
            .filter(|m| !is_unreadable(m))
            .collect();
        let a = e2e::stream::Arrivals::of(&frames, &produced).unwrap();
        let unread = rsyslog.messages().into_iter().filter(is_unreadable).count();
        if fmts.iter().all(|f| a.missing(*f, &produced).is_empty())
            && unread >= unreadable.len() * fmts.len()
        {
            break a;
        }
        assert!(
            start.elapsed() < WAIT,
            "not everything arrived\n{}",
            daemons.iter().map(Daemon::log).collect::<String>()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    // Let anything forged show up before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let frames = rsyslog.messages();
    assert_eq!(
        frames.len(),
        (produced.len() + unreadable.len()) * fmts.len(),
        "one message per record (readable or not) per format, nothing forged"
    );
    for id in &unreadable {
        let n = frames
            .iter()
            .filter(|m| is_unreadable(m) && String::from_utf8_lossy(m).contains(id.as_str()))
            .count();
        assert_eq!(
            n,
            fmts.len(),
            "the unreadable event of {id} arrives once per format"
        );
    }
    for f in fmts {
        assert_eq!(arrivals.duplicates(f), 0);
    }
    let repaired = frames
        .iter()
        .filter(|m| {
            String::from_utf8_lossy(m)
                .to_lowercase()
                .contains("repaired")
        })
        .count();
    assert!(
        repaired >= 3 * 2,
        "the utf8 and surrogate records are marked repaired in every format"
    );
    for d in daemons {
        d.stop().await;
    }
}

/// A collector that stops reading: the daemon commits nothing past what it delivered, its RSS
/// stays bounded while the backlog waits in Kafka, and everything arrives once it reads again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_collector_stops_commits_and_everything_arrives_after_it_resumes() {
    let w = StreamWorld::new(3);
    let collector = sim::collector::start(sim::collector::Options {
        recv_buffer: Some(64 * 1024),
        ..sim::collector::Options::tls(w.pki.server_config(false).unwrap())
    })
    .await
    .unwrap();
    let text = w
        .sim_config("siem", "stall", Fmt::Cef, &collector.address())
        .to_toml()
        .replace("client_cert_file", "# client_cert_file")
        .replace("client_key_file", "# client_key_file")
        .replace(
            "[[destination]]\n",
            "[[destination]]\nmax_inflight_bytes = 262144\n",
        );
    let cfg = w.path("stall.toml");
    std::fs::write(&cfg, text).unwrap();
    collector.pause_reading();
    let produced = w.produce_samples(400);
    let d = Daemon::start(&cfg, &w.path("stall.log"));
    tokio::time::sleep(Duration::from_secs(10)).await;
    let received = collector.count();
    let committed: i64 = w.committed("stall").values().map(|o| o.unwrap_or(0)).sum();
    let end: i64 = w.end_offsets().values().sum();
    let rss_kb = rss_kb(d.pid());
    report!(
        "streaming stalled collector: {} records produced, {received} received while stalled, {committed}/{end} offsets committed, RSS {rss_kb} kB",
        produced.len()
    );
    assert!(committed < end, "nothing past the stall is committed");
    assert!(
        rss_kb < 200 * 1024,
        "RSS stays bounded while stalled: {rss_kb} kB"
    );
    collector.resume_reading();
    let start = std::time::Instant::now();
    while collector.count() < produced.len() {
        assert!(
            start.elapsed() < WAIT,
            "only {} of {} arrived\n{}",
            collector.count(),
            produced.len(),
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let ids: std::collections::HashSet<String> = collector
        .messages()
        .iter()
        .map(|m| e2e::stream::check_frame(m, &produced).unwrap().1)
        .collect();
    assert_eq!(ids.len(), produced.len(), "every record arrived");
    assert!(w.wait_committed_all("stall", WAIT).await, "{}", d.log());
    d.stop().await;
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// `/metrics` shows each partition the appliance owns, its committed offset and a lag that
/// reaches 0 once everything is delivered, with `source="streaming"`; `/healthz` is 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_show_every_partition_its_committed_offset_and_lag() {
    let w = StreamWorld::new(3);
    let collector = sim::collector::start(sim::collector::Options::tls(
        w.pki.server_config(false).unwrap(),
    ))
    .await
    .unwrap();
    let port = e2e::scrape::free_port();
    let text = w
        .sim_config("siem", "metrics", Fmt::Leef, &collector.address())
        .section(&e2e::scrape::metrics_section(port, "5m"))
        .to_toml()
        .replace("client_cert_file", "# client_cert_file")
        .replace("client_key_file", "# client_key_file");
    let cfg = w.path("metrics.toml");
    std::fs::write(&cfg, text).unwrap();
    let produced = w.produce_samples(10);
    let d = Daemon::start(&cfg, &w.path("metrics.log"));
    assert!(
        collector.wait_for(produced.len(), WAIT).await,
        "{}",
        d.log()
    );
    assert!(w.wait_committed_all("metrics", WAIT).await, "{}", d.log());
    let end = w.end_offsets();
    let start = std::time::Instant::now();
    loop {
        let scrape = e2e::scrape::Scrape::take(port).await;
        let ok = scrape.as_ref().is_some_and(|s| {
            end.iter().all(|(p, e)| {
                let key = |name: &str| {
                    format!(
                        "{name}{{destination=\"siem\",source=\"streaming\",topic=\"defender-events\",partition=\"{p}\"}}"
                    )
                };
                s.value(&key("defender_syslog_stream_partition_committed_offset"))
                    == Some(*e as f64)
                    && s.value(&key("defender_syslog_stream_partition_lag_messages")) == Some(0.0)
                    && s.value(&key("defender_syslog_stream_partition_assigned")) == Some(1.0)
            }) && s.dest("defender_syslog_alerts_delivered_total", "siem")
                >= Some(produced.len() as f64)
        });
        if ok {
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "metrics never showed every partition committed at {end:?}:\n{}",
            scrape.map(|s| s.text).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Every documented streaming series is there (the alerts daemons' test skips them).
    let scrape = e2e::scrape::Scrape::take(port).await.unwrap();
    for name in e2e::scrape::documented_series() {
        if name.starts_with("defender_syslog_stream_") {
            assert!(
                scrape
                    .text
                    .lines()
                    .any(|l| l.starts_with(&format!("{name}{{"))),
                "no {name} sample:\n{}",
                scrape.text
            );
        }
    }
    let (status, body) = e2e::scrape::get(port, "/healthz").await.unwrap();
    assert_eq!(status, 200, "{body}");
    d.stop().await;
}
