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
        "udp-failover-list",
        &good.replace(
            "transport = \"tls\"\naddresses = [\"127.0.0.1:6514\"]",
            "transport = \"udp\"\naddresses = [\"127.0.0.1:514\", \"127.0.0.2:514\"]",
        ),
        "destination[0].addresses",
        "udp takes one address, got 2",
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

/// `check --offline` builds what `run` builds (formatter, certificate signer, TLS config), so
/// what `run` refuses for a config reason `check --offline` refuses too — exit 2, same key —
/// and systemd's `RestartPreventExitStatus=2` stops the restart loop. These used to pass
/// `check` and make `run` exit 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_offline_refuses_what_run_refuses() {
    let w = World::new().await;
    let good = w.config_text(&[Dest::new("siem", Fmt::Leef, "127.0.0.1:6514".into())], "");
    let secret_line = good
        .lines()
        .find(|l| l.starts_with("client_secret"))
        .unwrap()
        .to_owned();
    let garbage = w.path("not-a-certificate.pem");
    write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n",
    );
    let dest_line = "use_system_roots = false";
    let cases = [
        (
            "bad-hostname",
            good.replace(dest_line, &format!("{dest_line}\nhostname = \"bad host!\"")),
            "destination[0].hostname",
            "bad host!",
        ),
        (
            "ec-key-for-certificate-credentials",
            good.replace(
                &secret_line,
                &format!(
                    "certificate_file = \"{}\"\nprivate_key_file = \"{}\"",
                    w.files.client_cert.display(),
                    w.files.client_key.display()
                ),
            ),
            "defender.private_key_file",
            "RSA",
        ),
        (
            "bad-sd-id",
            good.replace(dest_line, &format!("{dest_line}\nsd_id = \"no-pen\"")),
            "destination[0].sd_id",
            "no-pen",
        ),
        (
            "bad-leef-delimiter",
            good.replace(dest_line, &format!("{dest_line}\nleef_delimiter = \"|\"")),
            "destination[0].leef_delimiter",
            "'|'",
        ),
        (
            "unparseable-ca-file",
            good.replace(
                &format!("ca_file = \"{}\"", w.files.ca.display()),
                &format!("ca_file = \"{}\"", garbage.display()),
            ),
            "destination[0]",
            "ca_file",
        ),
    ];
    for (case, text, key, expect) in cases {
        assert_refused(&w, case, &text, key, expect);
        let path = w.path(&format!("{case}-check.toml"));
        write(&path, &text);
        let out = command()
            .args(["check", "--offline", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{case}: check --offline: {stderr}"
        );
        assert!(
            stderr.contains(&format!(": {key}: ")) && stderr.contains(expect),
            "{case}: check --offline names {key} / {expect}: {stderr}"
        );
    }
}
