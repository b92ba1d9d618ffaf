//! Transport errors. None of them carries key material: file errors name the path only.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("transport configuration: {0}")]
    Config(String),
    /// A value the transport refuses, with the [`super::TransportConfig`] field it is about
    /// (the same name as the config file's key), so the binary can name the key.
    #[error("{key}: {reason}")]
    Setting { key: &'static str, reason: String },
    #[error("cannot read {what} {path}: {source}")]
    File {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} {path}: {reason}")]
    Pem {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("TLS setup: {0}")]
    TlsSetup(String),
    #[error("{address}: cannot resolve: {source}")]
    Resolve {
        address: String,
        source: std::io::Error,
    },
    #[error("{address}: connect failed: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("{address}: connect timed out after {secs:.1}s")]
    ConnectTimeout { address: String, secs: f64 },
    /// Certificate verification or other TLS handshake failure. `detail` says which name was
    /// checked and which trust anchors were used.
    #[error("{address}: TLS handshake failed (server name {server_name:?}; {trust}): {detail}")]
    Handshake {
        address: String,
        server_name: String,
        trust: String,
        detail: String,
    },
    #[error("{address}: {source}")]
    Io {
        address: String,
        source: std::io::Error,
    },
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    MessageTooLarge { len: usize, max: usize },
    #[error("empty message (an octet-counted frame needs at least one byte)")]
    EmptyMessage,
    #[error(
        "message contains a line feed at byte {at}: with LF framing the collector would split it into two events"
    )]
    NewlineInLfFrame { at: usize },
    #[error("transport {0} is shut down")]
    Closed(String),
}

impl TransportError {
    /// True for errors caused by the certificate / TLS policy rather than the network.
    pub fn is_handshake(&self) -> bool {
        matches!(self, TransportError::Handshake { .. })
    }
}
