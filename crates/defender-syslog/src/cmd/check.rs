//! `defender-syslog check`.

#[allow(unused_imports)]
use std::path::Path;
use std::process::ExitCode;

pub fn run(config: Option<&Path>, args: crate::cli::CheckArgs) -> anyhow::Result<ExitCode> {
    let _ = (config, args);
    anyhow::bail!("`check` is not built yet")
}
