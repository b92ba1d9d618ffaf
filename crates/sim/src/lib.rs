//! Simulated peers of defender-syslog, shared by `demo`, tests and benchmarks.
//!
//! Nothing here is used by the daemon's real data path; it stands in for what we cannot
//! reach (the Defender cloud) and checks what we send (collectors and strict parsers).
//!
//! - [`pki`]: a throwaway CA with server and client certificates (rcgen).
//! - [`defender`]: a simulated Entra ID token endpoint + Defender `/api/alerts` over TLS, with
//!   fault injection (token expiry, 429, 5xx, malformed pages, late alerts, ties).
//! - [`kafka`]: librdkafka's mock Kafka cluster behind TLS + SASL PLAIN fronts (the Event
//!   Hubs shape), with produce and offset helpers.
//! - [`collector`]: an in-process RFC 5425 TLS / TCP / UDP syslog receiver that records frames.
//! - [`external`]: launchers for real collectors (rsyslog, syslog-ng) on loopback.
//! - [`parse`]: strict LEEF and CEF parsers written from the specs (formats.md), independent
//!   of the forwarder's formatters.
//! - [`setup`]: the `config.toml` of a simulated setup (mock API, collectors, state directory).
// `deny`, not `forbid`: `kafka` allows one FFI call rdkafka does not wrap.
#![deny(unsafe_code)]

pub mod collector;
pub mod defender;
pub mod external;
pub mod kafka;
pub mod parse;
pub mod pki;
pub mod setup;

/// Tells the person running the tests that a check did not run, on the real stderr: libtest
/// captures `eprintln!` of passing tests, which would hide the notice.
pub fn skip_notice(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED: {message}");
}
