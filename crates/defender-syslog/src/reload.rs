//! How `systemctl reload` learns whether the daemon took the new config.
//!
//! On systemd 252 and later, `ExecReload=` commands of a unit with a mount namespace cannot read
//! `/run/credentials` (systemd issue #35227), so they cannot validate the config themselves. The
//! unit's `ExecReload=defender-syslog reload --pid $MAINPID` therefore only signals: it sends
//! SIGHUP and waits for the daemon, which validates (with its credential) and writes its verdict
//! to `$RUNTIME_DIRECTORY/reload-result` (`RuntimeDirectory=` in the unit). The helper exits 0 when
//! the daemon applied the config and 2 when it refused it, so `systemctl reload` fails for an
//! invalid config while the daemon goes on with the old one (what `Type=notify-reload`, systemd
//! 253+, does natively). docs/packaging.md explains it.

use std::path::{Path, PathBuf};

/// The file in `$RUNTIME_DIRECTORY` holding the verdict on the latest SIGHUP.
pub const RESULT_FILE: &str = "reload-result";

/// The daemon's side: one line per SIGHUP, `<pid> <n> applied` or `<pid> <n> refused <why>`.
#[derive(Debug)]
pub struct Reporter {
    path: Option<PathBuf>,
    count: u64,
}

impl Reporter {
    /// Reports into `$RUNTIME_DIRECTORY` when systemd set it; otherwise reports nothing.
    pub fn from_env() -> Self {
        Self {
            path: runtime_dir().map(|d| d.join(RESULT_FILE)),
            count: 0,
        }
    }

    pub fn applied(&mut self) {
        self.write("applied");
    }

    pub fn refused(&mut self, why: &str) {
        self.write(&format!("refused {}", why.replace('\n', " ")));
    }

    fn write(&mut self, verdict: &str) {
        self.count += 1;
        let Some(path) = &self.path else { return };
        let line = format!("{} {} {verdict}\n", std::process::id(), self.count);
        // Written whole and renamed, so the helper never reads half a line.
        let tmp = path.with_extension("tmp");
        if let Err(e) = std::fs::write(&tmp, line).and_then(|()| std::fs::rename(&tmp, path)) {
            tracing::warn!(file = %path.display(), error = %e, "Cannot report the reload result to systemctl.");
        }
    }
}

/// `$RUNTIME_DIRECTORY` (its first entry when systemd lists several).
pub fn runtime_dir() -> Option<PathBuf> {
    let v = std::env::var_os("RUNTIME_DIRECTORY")?;
    let first = v.to_str()?.split(':').next()?.to_owned();
    (!first.is_empty()).then(|| PathBuf::from(first))
}

/// The helper's reading of the result file: `Some((pid, n, verdict))`.
pub fn read_result(dir: &Path) -> Option<(u32, u64, String)> {
    let s = std::fs::read_to_string(dir.join(RESULT_FILE)).ok()?;
    let mut parts = s.trim_end().splitn(3, ' ');
    let pid = parts.next()?.parse().ok()?;
    let n = parts.next()?.parse().ok()?;
    Some((pid, n, parts.next()?.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Reporter {
            path: Some(dir.path().join(RESULT_FILE)),
            count: 0,
        };
        assert_eq!(read_result(dir.path()), None);
        r.applied();
        let pid = std::process::id();
        assert_eq!(read_result(dir.path()), Some((pid, 1, "applied".into())));
        r.refused("config.toml: destination[0].format: expected one of rfc5424, leef, cef\nx");
        assert_eq!(
            read_result(dir.path()),
            Some((
                pid,
                2,
                "refused config.toml: destination[0].format: expected one of rfc5424, leef, cef x"
                    .into()
            ))
        );
    }
}
