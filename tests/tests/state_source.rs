//! A state file records its source: a destination whose cursor belongs to the other source is
//! refused by `run` and `check` with exit 2 and the exact `state reset` command; that command
//! then starts the destination over with the configured source, and `run` forwards again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use e2e::daemon::{Daemon, command};
use e2e::oracle::{Fmt, wait_conserved};
use e2e::setup::{Dest, World, write};

const WAIT: Duration = Duration::from_secs(90);

/// Runs the binary with `args` and `--config config`; returns (exit code, stdout, stderr).
fn cli(config: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = command()
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The refusal: exit 2, one line naming the destination, both sources and the reset command.
/// Returns that command.
fn assert_refused(what: &str, (code, _, stderr): (Option<i32>, String, String)) -> String {
    eprintln!("{what}: {}", stderr.trim_end());
    assert_eq!(code, Some(2), "{what}: exit 2 expected: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "{what}: one line: {stderr}"
    );
    for part in [
        "destination siem",
        "cursor of source graph",
        "source = \"mde\"",
        "`defender-syslog state reset --destination siem --since ",
    ] {
        assert!(stderr.contains(part), "{what}: {part:?} missing: {stderr}");
    }
    stderr.split('`').nth(1).unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switched_source_is_refused_until_the_printed_reset_is_run() {
    let w = World::new().await;
    let collector = w.tls_collector().await;
    let dests = [Dest::new("siem", Fmt::Cef, collector.address())];
    let config = w.config_path();

    // A cursor written while the config said graph.
    write(
        &config,
        &w.sim_config(&dests).defender("source", "graph").to_toml(),
    );
    let (code, out, err) = cli(
        &config,
        &["state", "reset", "--destination", "siem", "--since", "1h"],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    let text = std::fs::read_to_string(w.state_file("siem")).unwrap();
    assert!(text.contains("\"source\": \"graph\""), "{text}");

    // The config now says mde (the mock's source): nothing starts from graph's cursor.
    w.write_config(&dests);
    let reset = assert_refused("run", cli(&config, &["run"]));
    assert_eq!(
        reset,
        assert_refused("check --offline", cli(&config, &["check", "--offline"]))
    );
    assert_eq!(reset, assert_refused("check", cli(&config, &["check"])));
    assert_eq!(
        std::fs::read_to_string(w.state_file("siem")).unwrap(),
        text,
        "a refused start leaves the cursor as it was"
    );
    let (code, out, err) = cli(&config, &["state", "show"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let row = out.lines().find(|l| l.starts_with("siem")).unwrap();
    assert_eq!(row.split_whitespace().nth(1), Some("graph"), "{out}");
    assert!(out.lines().next().unwrap().contains("SOURCE"), "{out}");

    // The printed command, as a user would paste it.
    let words: Vec<&str> = reset.split_whitespace().collect();
    assert_eq!(words[0], "defender-syslog");
    let (code, out, err) = cli(&config, &words[1..]);
    assert_eq!(code, Some(0), "{reset}: {out}{err}");
    let (_, out, _) = cli(&config, &["state", "show"]);
    let row = out.lines().find(|l| l.starts_with("siem")).unwrap();
    assert_eq!(row.split_whitespace().nth(1), Some("mde"), "{out}");
    let (code, out, err) = cli(&config, &["check", "--offline"]);
    assert_eq!(code, Some(0), "{out}{err}");

    // And the daemon forwards from the new cursor.
    w.mock.insert_new(30);
    let d = Daemon::start(&config, &w.log_path());
    wait_conserved(&w.mock, "siem", Fmt::Cef, || collector.messages(), WAIT).await;
    d.stop().await;
    let text = std::fs::read_to_string(w.state_file("siem")).unwrap();
    assert!(text.contains("\"source\": \"mde\""), "{text}");
}
