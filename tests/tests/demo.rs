//! `defender-syslog demo` through the built binary, in every format: with no config and no
//! credentials it shows the sample alerts arriving, parsed, and ends after `--duration` with a
//! summary in which every served version was received and nothing was unparseable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::daemon::command;

/// Runs `demo --duration 5s <source> --format <format>`; checks it exits 0 with a summary in
/// which every served version was received and nothing was unparseable; returns its stdout and
/// how many parsed messages it showed.
fn run_demo(source: &[&str], format: &str) -> (String, usize) {
    let out = command()
        .args(["demo", "--duration", "5s"])
        .args(source)
        .args(["--format", format])
        .env("COLUMNS", "200")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{format}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("summary:"))
        .unwrap_or_else(|| panic!("{format}: no summary: {stdout}"));
    e2e::report!("{source:?} {format}: {summary}");
    assert!(
        summary.contains(", 0 not received, 0 unparseable)"),
        "{format}: {summary}"
    );
    let shown = stdout
        .lines()
        .filter(|l| l.starts_with('#') && !l.contains("UNPARSEABLE"))
        .count();
    (stdout, shown)
}

#[test]
fn demo_shows_every_served_version_in_every_format() {
    let samples = alert_model::samples::alerts().len();
    for format in ["cef", "leef", "rfc5424"] {
        let (stdout, shown) = run_demo(&["--source", "mde"], format);
        assert!(
            shown >= samples,
            "{format}: at least the {samples} sample alerts are shown, got {shown}:\n{stdout}"
        );
        // The sample with the hostile title arrives intact enough to be recognised.
        assert!(
            stdout.contains("da638351234567890123_-1029384756"),
            "{format}: {stdout}"
        );
    }
}

/// Without `--source`, the demo runs the default source, Microsoft Graph alerts_v2, with the
/// repository's alerts_v2 samples (every product, one hostile title).
#[test]
fn demo_runs_the_graph_source_by_default() {
    let samples = alert_model::samples::graph_alerts().len();
    for format in ["cef", "leef", "rfc5424"] {
        let (stdout, shown) = run_demo(&[], format);
        assert!(stdout.contains("Microsoft Graph alerts_v2 API"), "{stdout}");
        assert!(
            shown >= samples,
            "{format}: {shown} of {samples}:\n{stdout}"
        );
        assert!(
            stdout.contains("da638400000000000008_-1000008"),
            "{format}: {stdout}"
        );
    }
}
