//! A running `defender-syslog` child process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A command of the binary with a clean environment: no `DEFENDER_SYSLOG_*` overrides from the
/// developer's shell, not under systemd (no journal, no notify socket).
pub fn command() -> Command {
    let mut cmd = Command::new(crate::bin::binary());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("DEFENDER_SYSLOG_") {
            cmd.env_remove(k);
        }
    }
    cmd.env_remove("JOURNAL_STREAM")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("CREDENTIALS_DIRECTORY")
        .stdin(Stdio::null());
    cmd
}

/// `defender-syslog run --config <config>`, its stderr appended to a log file.
#[derive(Debug)]
pub struct Daemon {
    child: Option<Child>,
    log: PathBuf,
    status: Option<ExitStatus>,
}

impl Daemon {
    pub fn start(config: &Path, log: &Path) -> Daemon {
        Self::start_with_env::<&str>(config, log, &[])
    }

    /// [`Daemon::start`] with extra environment variables (a fake `NOTIFY_SOCKET`, systemd's
    /// `RUNTIME_DIRECTORY`, …).
    pub fn start_with_env<V: AsRef<std::ffi::OsStr>>(
        config: &Path,
        log: &Path,
        env: &[(&str, V)],
    ) -> Daemon {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = command()
            .args(["run", "--config"])
            .arg(config)
            .envs(env.iter().map(|(k, v)| (k, v.as_ref())))
            .stdout(Stdio::from(f.try_clone().unwrap()))
            .stderr(Stdio::from(f))
            .spawn()
            .unwrap();
        Daemon {
            child: Some(child),
            log: log.to_path_buf(),
            status: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends `sig` (`TERM`, `HUP`, `INT`) with kill(1).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// `kill -9`, and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            self.status = c.wait().ok();
        }
    }

    /// Still running?
    pub fn running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(Ok(Some(s))) => {
                self.status = Some(s);
                self.child = None;
                false
            }
            _ => false,
        }
    }

    /// Waits up to `timeout` for the exit; None if it is still running.
    pub async fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if !self.running() {
                return self.status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// SIGTERM, then asserts a clean exit (0) within 40 s.
    pub async fn stop(mut self) {
        self.signal("TERM");
        let status = self
            .wait(Duration::from_secs(40))
            .await
            .expect("exits after SIGTERM");
        assert!(
            status.success(),
            "SIGTERM → exit 0, got {status}\n{}",
            self.log()
        );
    }

    /// Everything it logged so far (all its runs into this log file).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}
