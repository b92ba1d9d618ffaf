//! Bad config files: `defender-syslog run` refuses each with exit code 2 and one line on stderr
//! that names the key (and never echoes the secret).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use e2e::daemon::command;
use e2e::oracle::Fmt;
use e2e::setup::{Dest, World, write};

const SECRET_MARK: &str = "mock~SECRET";

/// Runs `run --config` on `text`; returns (exit code, stderr).
fn run_with(w: &World, name: &str, text: &str) -> (Option<i32>, String) {
    let path = w.path(name);
    write(&path, text);
    let mut child = command()
        .args(["run", "--config"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{name}: a bad config must stop the daemon at once"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_refused(w: &World, case: &str, text: &str, key: &str, expect: &str) {
    let (code, stderr) = run_with(w, &format!("{case}.toml"), text);
    eprintln!("{case}: {}", stderr.trim_end());
    assert_eq!(
        code,
        Some(2),
        "{case}: exit code 2 expected; stderr: {stderr}"
    );
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "{case}: one line: {stderr}"
    );
    assert!(stderr.contains(key), "{case}: must name {key}: {stderr}");
    assert!(
        stderr.contains(expect),
        "{case}: must say {expect:?}: {stderr}"
    );
    assert!(
        stderr.contains(&format!("{case}.toml")),
        "{case}: names the file: {stderr}"
    );
    assert!(
        !stderr.contains(SECRET_MARK),
        "{case}: leaks the secret: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configs_are_one_line_errors_naming_the_key_with_exit_2() {
    let w = World::new().await;
    let good = w.config_text(&[Dest::new("siem", Fmt::Leef, "127.0.0.1:6514".into())], "");
    assert!(w.mock.client_secret.starts_with(SECRET_MARK));
    let tenant_line = good
        .lines()
        .find(|l| l.starts_with("tenant_id"))
        .unwrap()
        .to_owned();

    assert_refused(
        &w,
        "missing-key",
        &good.replace(&tenant_line, ""),
        "defender.tenant_id",
        "missing",
    );
    assert_refused(
        &w,
        "wrong-type",
        &good.replace("page_size = 40", "page_size = \"forty\""),
        "page_size",
        "forty",
    );
    assert_refused(
        &w,
        "unknown-key",
        &good.replace("poll_interval = ", "pol_interval = "),
        "pol_interval",
        "unknown key",
    );
    assert_refused(
        &w,
        "unknown-format",
        &good.replace("format = \"leef\"", "format = \"cfe\""),
        "destination[0].format",
        "expected one of rfc5424, leef, cef, got \"cfe\"",
    );
    let secret_line = good
        .lines()
        .find(|l| l.starts_with("client_secret"))
        .unwrap()
        .to_owned();
    let missing_file = w.path("no-such-secret");
    assert_refused(
        &w,
        "unreadable-secret",
        &good.replace(
            &secret_line,
            &format!("client_secret_file = \"{}\"", missing_file.display()),
        ),
        "defender.client_secret_file",
        "no-such-secret",
    );
    assert_refused(
        &w,
        "bad-duration",
        &good.replace("poll_interval = \"500ms\"", "poll_interval = \"soon\""),
        "defender.poll_interval",
        "expected a duration",
    );

    // The same file with nothing wrong passes `check --offline` (so the cases above fail for
    // the reason they name, not another).
    let path = w.path("good.toml");
    write(&path, &good);
    let out = command()
        .args(["check", "--offline", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
