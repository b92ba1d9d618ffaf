//! `defender-syslog generate`.

#[allow(unused_imports)]
use std::path::Path;
use std::process::ExitCode;

pub fn run(args: crate::cli::GenerateArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`generate` is not built yet")
}
