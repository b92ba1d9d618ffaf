//! The forwarder: formats and transports.
//!
//! - `format`: RFC 5424, LEEF and CEF, each a pure function of an alert (no I/O).
//! - `transport`: TLS (RFC 5425), TCP and UDP with framing, delivery tracking, reconnect and
//!   failover between collector hosts.
//!
//! It never imports the fetcher: a pipeline in the binary hands it alerts from a bounded channel.
pub mod format;
pub mod transport;
