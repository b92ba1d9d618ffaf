//! `defender-syslog send` through the built binary: every alert of a file reaches every
//! destination intact (strict parsers, field by field), a bad input line is reported with its
//! line number while the good alerts are still sent (exit 1), and a dead destination is named
//! in the failure (exit 1). Graph alerts_v2 input (NDJSON and a page) is sent and previewed by
//! the configured source or `--source`, and compared field by field with the Graph oracle.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use alert_model::Alert;
use e2e::daemon::command;
use e2e::graph_oracle::check_graph_message;
use e2e::oracle::{Fmt, check_content, decode};
use e2e::setup::{Dest, World};

fn samples() -> Vec<Alert> {
    alert_model::samples::alerts()
}

fn check_all_arrived(fmt: Fmt, messages: &[Vec<u8>], alerts: &[Alert]) {
    let by_id: HashMap<&str, &Alert> = alerts
        .iter()
        .map(|a| (a.id.as_deref().unwrap(), a))
        .collect();
    let mut seen = std::collections::HashSet::new();
    for raw in messages {
        let d = decode(fmt, raw).unwrap_or_else(|e| panic!("{fmt:?}: {e}"));
        let a = by_id
            .get(d.key.id.as_str())
            .unwrap_or_else(|| panic!("invented {:?}", d.key));
        assert_eq!(Some(d.key.last_update_time), a.last_update_time);
        check_content(fmt, &d, a).unwrap();
        seen.insert(d.key.id.clone());
    }
    let with_lut = alerts
        .iter()
        .filter(|a| a.last_update_time.is_some())
        .count();
    assert_eq!(seen.len(), with_lut, "every alert arrives");
    eprintln!(
        "{fmt:?}: {} messages for {} alerts",
        messages.len(),
        alerts.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_delivers_every_alert_to_every_destination_and_reports_bad_lines() {
    let w = World::new().await;
    let a = w.tls_collector().await;
    let b = w.tls_collector().await;
    let config = w.write_config(&[
        Dest::new("siem-a", Fmt::Rfc5424, a.address()),
        Dest::new("siem-b", Fmt::Cef, b.address()),
    ]);
    let alerts = samples();
    assert!(alerts.iter().all(|a| a.last_update_time.is_some()));
    // The samples, with a broken line in the middle (line 4): invalid JSON (odd content such as
    // an unparseable time would be repaired and sent, not refused).
    let mut lines: Vec<&str> = alert_model::samples::ALERTS_NDJSON.lines().collect();
    lines.insert(3, r#"{"id": "broken", "lastUpdateTime": tru}"#);
    let input = w.path("alerts.ndjson");
    std::fs::write(&input, lines.join("\n")).unwrap();

    let out = tokio::task::spawn_blocking(move || {
        command()
            .args(["send", "--config"])
            .arg(&config)
            .arg("--input")
            .arg(&input)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(out.status.code(), Some(1), "a bad line means exit 1");
    assert!(
        stderr.contains("line 4:"),
        "the bad line is named: {stderr}"
    );
    for name in ["siem-a", "siem-b"] {
        let row = stdout.lines().find(|l| l.starts_with(name)).unwrap();
        assert!(row.ends_with(" ok"), "{row}");
        assert!(row.contains(&format!(" {} ", alerts.len())), "{row}");
    }
    assert!(a.wait_for(alerts.len(), Duration::from_secs(10)).await);
    assert!(b.wait_for(alerts.len(), Duration::from_secs(10)).await);
    check_all_arrived(Fmt::Rfc5424, &a.messages(), &alerts);
    check_all_arrived(Fmt::Cef, &b.messages(), &alerts);
    assert_eq!(a.count(), alerts.len(), "no duplicates on a healthy link");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_exits_0_when_all_delivered_and_1_naming_a_dead_destination() {
    let w = World::new().await;
    let good = w.tls_collector().await;
    let dead = {
        let c = w.tls_collector().await;
        let addr = c.address();
        c.stop().await;
        addr
    };
    let input = w.path("alerts.ndjson");
    std::fs::write(&input, alert_model::samples::ALERTS_NDJSON).unwrap();

    let run = |config: std::path::PathBuf, input: std::path::PathBuf| {
        tokio::task::spawn_blocking(move || {
            command()
                .args(["send", "--timeout", "4s", "--config"])
                .arg(&config)
                .arg("--input")
                .arg(&input)
                .output()
                .unwrap()
        })
    };
    let config = w.write_config(&[Dest::new("leef-ok", Fmt::Leef, good.address())]);
    let out = run(config, input.clone()).await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        good.wait_for(samples().len(), Duration::from_secs(10))
            .await
    );
    check_all_arrived(Fmt::Leef, &good.messages(), &samples());

    let config = w.write_config(&[
        Dest::new("leef-ok", Fmt::Leef, good.address()),
        Dest::new("gone", Fmt::Cef, dead),
    ]);
    let out = run(config, input).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1));
    let row = stdout.lines().find(|l| l.starts_with("gone")).unwrap();
    assert!(
        row.contains("FAILED") && row.contains("could not connect"),
        "{row}"
    );
    let row = stdout.lines().find(|l| l.starts_with("leef-ok")).unwrap();
    assert!(
        row.ends_with(" ok"),
        "a dead destination does not hold back another: {row}"
    );
}

/// The Graph samples' lines as the input file holds them.
fn graph_lines() -> Vec<serde_json::Value> {
    alert_model::samples::GRAPH_ALERTS_NDJSON
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The Graph samples by id, as the model carries them: the JSON a 5424 body must hold (the
/// model writes nested times such as `comments[].createdDateTime` in its own RFC 3339 form).
fn graph_samples() -> HashMap<String, serde_json::Value> {
    alert_model::samples::graph_alerts()
        .iter()
        .map(|a| {
            let mut json = Vec::new();
            a.write_json(&mut json).unwrap();
            (
                a.id.clone().unwrap(),
                serde_json::from_slice(&json).unwrap(),
            )
        })
        .collect()
}

/// Every message is a Graph sample intact (strict parsers, field by field), each exactly once.
fn check_graph_arrived(fmt: Fmt, messages: &[Vec<u8>]) {
    let sent = graph_samples();
    let mut seen = std::collections::HashSet::new();
    for raw in messages {
        let key = check_graph_message(fmt, raw, |id| sent.get(id).cloned())
            .unwrap_or_else(|e| panic!("{fmt:?}: {e}"));
        assert_eq!(
            sent[&key.id]["lastUpdateDateTime"].as_str(),
            Some(key.last_update_time.to_string().as_str()),
            "{fmt:?}: the version sent"
        );
        assert!(seen.insert(key.id.clone()), "{fmt:?}: {key:?} twice");
    }
    assert_eq!(seen.len(), sent.len(), "{fmt:?}: every Graph alert arrives");
    assert_eq!(
        sent.len(),
        graph_lines().len(),
        "every sample line is an alert"
    );
}

/// The Graph samples as an alerts_v2 page, the way the API returns them.
fn graph_page() -> String {
    let value = graph_lines();
    serde_json::json!({ "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#security/alerts_v2", "value": value })
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_reads_alerts_v2_of_the_configured_source_or_of_source_flag() {
    let w = World::new().await;
    let (a, b, c) = (
        w.tls_collector().await,
        w.tls_collector().await,
        w.tls_collector().await,
    );
    let dests = [
        Dest::new("siem-5424", Fmt::Rfc5424, a.address()),
        Dest::new("siem-leef", Fmt::Leef, b.address()),
        Dest::new("siem-cef", Fmt::Cef, c.address()),
    ];
    let graph_config = w.path("graph.toml");
    std::fs::write(
        &graph_config,
        w.sim_config(&dests).defender("source", "graph").to_toml(),
    )
    .unwrap();
    let ndjson = w.path("graph.ndjson");
    std::fs::write(&ndjson, alert_model::samples::GRAPH_ALERTS_NDJSON).unwrap();
    let page = w.path("graph-page.json");
    std::fs::write(&page, graph_page()).unwrap();
    let n = graph_samples().len();

    let send = |config: std::path::PathBuf, extra: &'static [&'static str], input| {
        tokio::task::spawn_blocking(move || {
            let out = command()
                .arg("send")
                .args(extra)
                .arg("--config")
                .arg(&config)
                .arg("--input")
                .arg(&input)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            eprintln!(
                "stdout:\n{stdout}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            (out.status.code(), stdout)
        })
    };
    // `[defender] source = "graph"`: the NDJSON file is read as alerts_v2.
    let (code, stdout) = send(graph_config, &[], ndjson).await.unwrap();
    assert_eq!(code, Some(0), "{stdout}");
    for d in &dests {
        let row = stdout.lines().find(|l| l.starts_with(&d.name)).unwrap();
        assert!(
            row.ends_with(" ok") && row.contains(&format!(" {n} ")),
            "{row}"
        );
    }
    for (fmt, col) in [(Fmt::Rfc5424, &a), (Fmt::Leef, &b), (Fmt::Cef, &c)] {
        assert!(col.wait_for(n, Duration::from_secs(10)).await);
        check_graph_arrived(fmt, &col.messages());
    }

    // An MDE config with `--source graph`: a Graph page `{"value":[…]}`.
    let d = w.tls_collector().await;
    let mde_config = w.write_config(&[Dest::new("siem-cef", Fmt::Cef, d.address())]);
    let (code, stdout) = send(mde_config, &["--source", "graph"], page)
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{stdout}");
    assert!(d.wait_for(n, Duration::from_secs(10)).await);
    check_graph_arrived(Fmt::Cef, &d.messages());
}

/// `preview` of `input` with `args`; returns (exit code, stdout lines as messages).
fn preview(args: &[&str], input: &std::path::Path) -> (Option<i32>, Vec<Vec<u8>>) {
    let out = command()
        .arg("preview")
        .args(args)
        .arg("--input")
        .arg(input)
        .output()
        .unwrap();
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    let lines = out.stdout.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    (out.status.code(), lines.map(<[u8]>::to_vec).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_reads_alerts_v2_by_default_and_mde_with_source_or_config() {
    let w = World::new().await;
    let graph = w.path("graph.ndjson");
    std::fs::write(&graph, alert_model::samples::GRAPH_ALERTS_NDJSON).unwrap();
    let page = w.path("graph-page.json");
    std::fs::write(&page, graph_page()).unwrap();
    let mde = w.path("alerts.ndjson");
    std::fs::write(&mde, alert_model::samples::ALERTS_NDJSON).unwrap();

    // No config: the default source, graph; NDJSON and a page alike.
    for fmt in [Fmt::Rfc5424, Fmt::Leef, Fmt::Cef] {
        for input in [&graph, &page] {
            let (code, lines) = preview(&["--format", fmt.config_name()], input);
            assert_eq!(code, Some(0), "{fmt:?} {}", input.display());
            check_graph_arrived(fmt, &lines);
        }
        let (code, lines) = preview(&["--format", fmt.config_name(), "--source", "mde"], &mde);
        assert_eq!(code, Some(0), "{fmt:?}");
        check_all_arrived(fmt, &lines, &samples());
    }
    // A config that says mde (the mock's): its source is the default, `--source` overrides it.
    let config = w.write_config(&[Dest::new("siem", Fmt::Cef, "127.0.0.1:6514".into())]);
    let config = config.to_str().unwrap();
    let (code, lines) = preview(&["--format", "cef", "--config", config], &mde);
    assert_eq!(code, Some(0));
    check_all_arrived(Fmt::Cef, &lines, &samples());
    let (code, lines) = preview(
        &["--format", "cef", "--config", config, "--source", "graph"],
        &page,
    );
    assert_eq!(code, Some(0));
    check_graph_arrived(Fmt::Cef, &lines);
}
