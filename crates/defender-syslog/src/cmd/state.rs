//! `defender-syslog state`.

#[allow(unused_imports)]
use std::path::Path;
use std::process::ExitCode;

pub fn run(config: Option<&Path>, args: crate::cli::StateArgs) -> anyhow::Result<ExitCode> {
    let _ = (config, args);
    anyhow::bail!("`state` is not built yet")
}
