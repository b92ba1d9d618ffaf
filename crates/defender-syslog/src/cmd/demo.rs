//! `defender-syslog demo`.

#[allow(unused_imports)]
use std::path::Path;
use std::process::ExitCode;

pub fn run(args: crate::cli::DemoArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`demo` is not built yet")
}
