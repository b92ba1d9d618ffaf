//! The unit's `ExecReload=defender-syslog reload --pid $MAINPID`, without systemd: it signals the
//! daemon and exits with the daemon's verdict (read from `$RUNTIME_DIRECTORY`), so `systemctl
//! reload` fails for an invalid config — which the daemon, having its credential, validates
//! itself (systemd 252+ hides the credential from `ExecReload=`). `.ci/boot-test` runs the same
//! under systemd.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use e2e::daemon::{Daemon, command};
use e2e::oracle::{Fmt, wait_conserved};
use e2e::setup::{Dest, World, write};

const WAIT: Duration = Duration::from_secs(90);

fn reload(pid: u32, runtime: Option<&Path>) -> Output {
    let mut cmd = command();
    cmd.args(["reload", "--pid", &pid.to_string(), "--timeout", "60s"]);
    if let Some(dir) = runtime {
        cmd.env("RUNTIME_DIRECTORY", dir);
    }
    cmd.output().unwrap()
}

fn hostnames(messages: &[Vec<u8>]) -> Vec<String> {
    messages
        .iter()
        .map(|m| {
            let m = sim::parse::rfc5424::parse(std::str::from_utf8(m).unwrap()).unwrap();
            m.hostname.unwrap_or_default()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reload_helper_exits_with_the_daemons_verdict() {
    let w = World::new().await;
    w.mock.insert_new(10);
    let c = w.tls_collector().await;
    let config = w.write_config(&[Dest::new("siem", Fmt::Rfc5424, c.address())]);
    let good = std::fs::read_to_string(&config).unwrap();
    let runtime = w.path("runtime");
    std::fs::create_dir(&runtime).unwrap();
    let mut d = Daemon::start_with_env(&config, &w.log_path(), &[("RUNTIME_DIRECTORY", &runtime)]);
    wait_conserved(&w.mock, "siem", Fmt::Rfc5424, || c.messages(), WAIT).await;

    // Invalid: exit 2 with the daemon's reason; the daemon runs on with the old config.
    write(
        &config,
        &good.replace("format = \"rfc5424\"", "format = \"cfe\""),
    );
    let o = reload(d.pid(), Some(&runtime));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("still running on the previous config")
            && stderr.contains("destination[0].format"),
        "{stderr}"
    );
    assert!(d.running(), "{}", d.log());
    w.mock.insert_new(5);
    wait_conserved(&w.mock, "siem", Fmt::Rfc5424, || c.messages(), WAIT).await;

    // Valid: exit 0, and the next messages carry the new HOSTNAME.
    let use_roots = "use_system_roots = false";
    write(
        &config,
        &good.replace(
            use_roots,
            &format!("{use_roots}\nhostname = \"reloaded.test\""),
        ),
    );
    let before = c.messages().len();
    let o = reload(d.pid(), Some(&runtime));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    w.mock.insert_new(5);
    wait_conserved(&w.mock, "siem", Fmt::Rfc5424, || c.messages(), WAIT).await;
    let after = hostnames(&c.messages()[before..]);
    assert!(
        !after.is_empty() && after.iter().all(|h| h == "reloaded.test"),
        "{after:?}"
    );
    assert!(d.running(), "{}", d.log());

    // Outside systemd (no RUNTIME_DIRECTORY) the helper refuses as a usage error.
    let o = reload(d.pid(), None);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("RUNTIME_DIRECTORY"));

    d.signal("TERM");
    let status = d.wait(Duration::from_secs(40)).await.expect("exits");
    assert!(status.success(), "{}", d.log());
}
