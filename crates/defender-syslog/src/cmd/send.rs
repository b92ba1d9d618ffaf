//! `defender-syslog send`.

#[allow(unused_imports)]
use std::path::Path;
use std::process::ExitCode;

pub fn run(config: Option<&Path>, args: crate::cli::SendArgs) -> anyhow::Result<ExitCode> {
    let _ = (config, args);
    anyhow::bail!("`send` is not built yet")
}
