//! `defender-syslog reload --pid PID` (hidden): the unit's `ExecReload=`. Sends SIGHUP to the
//! daemon and waits for its verdict in `$RUNTIME_DIRECTORY` (see `crate::reload`): exit 0 when
//! the new config is applied, 2 when the daemon refused it (and runs on), 1 when it did not answer.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::reload::{read_result, runtime_dir};

pub fn run(args: crate::cli::ReloadArgs) -> anyhow::Result<ExitCode> {
    let Some(dir) = runtime_dir() else {
        return Err(crate::usage_error(
            "reload: $RUNTIME_DIRECTORY is not set: this is the unit's ExecReload=; use `systemctl reload defender-syslog`",
        ));
    };
    let pid = u32::try_from(args.pid)
        .ok()
        .filter(|p| *p > 1)
        .ok_or_else(|| {
            crate::usage_error(format!("reload: --pid {}: not a daemon's PID", args.pid))
        })?;
    let before = read_result(&dir)
        .filter(|(p, _, _)| *p == pid)
        .map(|(_, n, _)| n);
    kill(Pid::from_raw(args.pid), Signal::SIGHUP)
        .with_context(|| format!("reload: cannot signal PID {pid}"))?;
    let deadline = Instant::now() + args.timeout;
    loop {
        if let Some((p, n, verdict)) = read_result(&dir)
            && p == pid
            && Some(n) != before
        {
            if verdict == "applied" {
                println!("defender-syslog: the new config is applied.");
                return Ok(ExitCode::SUCCESS);
            }
            let why = verdict.strip_prefix("refused ").unwrap_or(&verdict);
            eprintln!(
                "defender-syslog: reload refused, still running on the previous config: {why}"
            );
            return Ok(ExitCode::from(2));
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "reload: the daemon (PID {pid}) did not report on the new config within {}",
                humantime::format_duration(args.timeout)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
