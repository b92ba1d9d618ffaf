//! Locating the built binary.
//!
//! `DEFENDER_SYSLOG_BIN` names it explicitly (e.g. an installed `/usr/bin/defender-syslog`).
//! Otherwise the tests use `<target>/<profile>/defender-syslog` of the target directory the
//! test itself was built in (so `CARGO_TARGET_DIR` is honoured), and run
//! `cargo build --locked -p defender-syslog` (`--release` under `cargo test --release`) once per
//! test process first, so the binary is never stale: `cargo test -p e2e` is all it takes.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The binary under test, built if needed (once per process).
pub fn binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(locate_or_build).clone()
}

fn locate_or_build() -> PathBuf {
    if let Some(p) = std::env::var_os("DEFENDER_SYSLOG_BIN") {
        let p = PathBuf::from(p);
        assert!(
            p.exists(),
            "DEFENDER_SYSLOG_BIN={} does not exist",
            p.display()
        );
        return p;
    }
    // The test runs from <target>/<profile>/deps/<test>-<hash>.
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary in <target>/<profile>/deps")
        .to_path_buf();
    let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let workspace = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args([
            "build",
            "--locked",
            "-p",
            "defender-syslog",
            "--bin",
            "defender-syslog",
        ])
        .env("CARGO_TARGET_DIR", &target_dir);
    if release {
        cmd.arg("--release");
    }
    let status = cmd
        .status()
        .expect("running cargo build -p defender-syslog");
    assert!(status.success(), "cargo build -p defender-syslog failed");
    let bin = profile_dir.join("defender-syslog");
    assert!(bin.exists(), "{} missing after the build", bin.display());
    bin
}
