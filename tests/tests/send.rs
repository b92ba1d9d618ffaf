//! `defender-syslog send` through the built binary: every alert of a file reaches every
//! destination intact (strict parsers, field by field), a bad input line is reported with its
//! line number while the good alerts are still sent (exit 1), and a dead destination is named
//! in the failure (exit 1).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use alert_model::Alert;
use e2e::daemon::command;
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
