//! `defender-syslog preview`.

#[allow(unused_imports)]
use std::path::Path;
use std::process::ExitCode;

pub fn run(config: Option<&Path>, args: crate::cli::PreviewArgs) -> anyhow::Result<ExitCode> {
    let _ = (config, args);
    anyhow::bail!("`preview` is not built yet")
}
