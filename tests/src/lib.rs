//! Helpers for the black-box tests in `tests/tests/`: they run the **built** `defender-syslog`
//! binary as a child process against the simulated Defender API (`sim::defender`, in-process)
//! and real collectors (rsyslog over mutual TLS, `sim::collector` TLS receivers), then check
//! what arrived with a conservation oracle.
//!
//! - [`bin`]: where the binary is (and building it once if needed).
//! - [`daemon`]: a running `defender-syslog run` (signals, `kill -9`, exit status, its log).
//! - [`setup`]: the mock, PKI, collectors and the config file a scenario needs.
//! - [`oracle`]: decoding received messages strictly and the conservation check;
//!   [`graph_oracle`]: the same for Graph alerts_v2 messages.
//! - [`stream`]: the streaming source's world (mock Kafka behind TLS + SASL fronts) and its
//!   record oracle.
//! - [`scrape`]: the daemon's `/metrics` and `/healthz`, and a real Prometheus server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod bin;
pub mod daemon;
pub mod graph_oracle;
pub mod oracle;
pub mod scrape;
pub mod setup;
pub mod stream;

/// `eprintln!` that the test harness does not capture: figures (duplicates, conservation
/// tallies) and skip notices must be visible in the output of passing tests too.
#[macro_export]
macro_rules! report {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}
