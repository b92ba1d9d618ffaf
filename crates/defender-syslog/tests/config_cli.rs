//! Config sources through the built binary: file, `DEFENDER_SYSLOG_…` environment overrides,
//! the systemd credential, and the warnings and exit codes `check --offline` gives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

const BASE: &str = r#"
[defender]
source = "mde"
tenant_id = "11111111-2222-4333-8444-555555555555"
client_id = "66666666-7777-4888-9999-aaaaaaaaaaaa"

[[destination]]
name = "siem"
format = "cef"
transport = "tls"
addresses = ["siem.example.test:6514"]
"#;

fn check(config: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_defender-syslog"));
    cmd.args(["check", "--offline", "--config"]).arg(config);
    for (k, _) in std::env::vars()
        .filter(|(k, _)| k.starts_with("DEFENDER_SYSLOG_") || k == "CREDENTIALS_DIRECTORY")
    {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn the_secret_can_come_from_the_environment_and_is_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, BASE).unwrap();
    let o = check(&cfg, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("defender.client_secret: missing"),
        "{}",
        text(&o)
    );
    let o = check(
        &cfg,
        &[("DEFENDER_SYSLOG_DEFENDER__CLIENT_SECRET", "s3cr3t-value")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("s3cr3t-value"));
}

#[test]
fn environment_overrides_are_validated_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, BASE).unwrap();
    let o = check(
        &cfg,
        &[
            ("DEFENDER_SYSLOG_DEFENDER__CLIENT_SECRET", "x"),
            ("DEFENDER_SYSLOG_DEFENDER__PAGE_SIZE", "lots"),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let t = text(&o);
    assert!(
        t.contains("defender.page_size") && t.contains("environment"),
        "{t}"
    );
    assert_eq!(t.lines().count(), 1, "one line: {t}");
    let o = check(
        &cfg,
        &[
            ("DEFENDER_SYSLOG_DEFENDER__CLIENT_SECRET", "x"),
            ("DEFENDER_SYSLOG_DEFENDER__PAGE_SIZE", "20000"),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("defender.page_size: expected 1 to 10000"),
        "{}",
        text(&o)
    );
}

#[test]
fn the_systemd_credential_supplies_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, BASE).unwrap();
    let creds = dir.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("client-secret"), "from-systemd\n").unwrap();
    let o = check(&cfg, &[("CREDENTIALS_DIRECTORY", creds.to_str().unwrap())]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("systemd credential client-secret"),
        "{}",
        text(&o)
    );
}

#[test]
fn an_unreadable_credentials_directory_is_not_called_missing() {
    // What ExecReload= sees on systemd 252+: $CREDENTIALS_DIRECTORY set, the directory not
    // reachable. (A path below a regular file: root ignores permission bits.)
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, BASE).unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    let creds = file.join("credentials");
    for creds in [creds, dir.path().join("absent")] {
        let o = check(&cfg, &[("CREDENTIALS_DIRECTORY", creds.to_str().unwrap())]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let t = text(&o);
        assert!(
            t.contains("systemd credentials directory") && t.contains("cannot be read"),
            "{t}"
        );
        assert!(!t.contains("client_secret: missing"), "{t}");
    }
    // A readable directory without the credential is "missing", as before.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = check(&cfg, &[("CREDENTIALS_DIRECTORY", empty.to_str().unwrap())]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("defender.client_secret: missing"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_world_readable_secret_file_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "abc").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        BASE.replace(
            "[[destination]]",
            &format!(
                "client_secret_file = \"{}\"\n\n[[destination]]",
                secret.display()
            ),
        ),
    )
    .unwrap();
    let o = check(&cfg, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("readable by every user"), "{}", text(&o));
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = check(&cfg, &[]);
    assert!(!text(&o).contains("readable by every user"), "{}", text(&o));
}

#[test]
fn placeholder_ids_and_plaintext_transports_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        BASE.replace(
            "11111111-2222-4333-8444-555555555555",
            "00000000-0000-0000-0000-000000000000",
        ),
    )
    .unwrap();
    let o = check(&cfg, &[("DEFENDER_SYSLOG_DEFENDER__CLIENT_SECRET", "x")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("defender.tenant_id: still the all-zero placeholder"),
        "{}",
        text(&o)
    );
    std::fs::write(&cfg, BASE.replace("\"tls\"", "\"udp\"")).unwrap();
    let o = check(&cfg, &[("DEFENDER_SYSLOG_DEFENDER__CLIENT_SECRET", "x")]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("without TLS"), "{}", text(&o));
}

#[test]
fn the_metrics_section_is_validated() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    let secret = [("DEFENDER_SYSLOG_DEFENDER__CLIENT_SECRET", "x")];
    let with = |metrics: &str| {
        std::fs::write(&cfg, format!("{BASE}\n[metrics]\n{metrics}\n")).unwrap();
        check(&cfg, &secret)
    };
    let o = with("listen = \"127.0.0.1:9464\"");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("metrics.listen"), "{}", text(&o));
    let o = with("listen = \"localhost\"");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("metrics.listen: expected an IP address and port"),
        "{}",
        text(&o)
    );
    let o = with("listen = \"0.0.0.0:9464\"");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("no authentication and is reachable beyond this machine"),
        "{}",
        text(&o)
    );
    // The default request_timeout is 120 s: a bound below it would call slow requests stalls.
    let o = with("stall_after = \"60s\"");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("metrics.stall_after: expected more than defender.request_timeout"),
        "{}",
        text(&o)
    );
    let o = with("stall_after = \"soon\"");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = with("listen = \"[::1]:9464\"\nstall_after = \"10m\"");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn the_source_defaults_to_graph_whose_page_size_cap_is_1000() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, BASE.replace("source = \"mde\"\n", "")).unwrap();
    let secret = ("DEFENDER_SYSLOG_DEFENDER__CLIENT_SECRET", "x");
    let o = check(
        &cfg,
        &[secret, ("DEFENDER_SYSLOG_DEFENDER__PAGE_SIZE", "2000")],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("defender.page_size: expected 1 to 1000 (the graph API's $top limit), got 2000"),
        "{t}"
    );
    assert_eq!(t.lines().count(), 1, "one line: {t}");
    let mde = ("DEFENDER_SYSLOG_DEFENDER__SOURCE", "mde");
    let o = check(
        &cfg,
        &[secret, mde, ("DEFENDER_SYSLOG_DEFENDER__PAGE_SIZE", "2000")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = check(
        &cfg,
        &[secret, ("DEFENDER_SYSLOG_DEFENDER__PAGE_SIZE", "1000")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = check(&cfg, &[secret, ("DEFENDER_SYSLOG_DEFENDER__SOURCE", "xdr")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("defender.source: unknown source \"xdr\""), "{t}");
    assert!(t.contains("\"graph\"") && t.contains("\"mde\""), "{t}");
}
