//! What a destination's transport is told: kind, addresses, TLS options, framing, timeouts.

use std::path::PathBuf;
use std::time::Duration;

use super::TransportError;

/// TLS (RFC 5425), plain TCP (RFC 6587) or UDP (RFC 5426).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    Tls,
    Tcp,
    Udp,
}

impl TransportKind {
    /// Port used when an address has none: 6514 for TLS (RFC 5425), 514 otherwise.
    pub fn default_port(self) -> u16 {
        match self {
            TransportKind::Tls => 6514,
            TransportKind::Tcp | TransportKind::Udp => 514,
        }
    }
}

impl std::str::FromStr for TransportKind {
    type Err = TransportError;
    /// `tls`, `tcp` or `udp` (the config file's `transport` key).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tls" => Ok(TransportKind::Tls),
            "tcp" => Ok(TransportKind::Tcp),
            "udp" => Ok(TransportKind::Udp),
            _ => Err(TransportError::Config(format!(
                "transport {s:?}: expected tls, tcp or udp"
            ))),
        }
    }
}

impl std::str::FromStr for Framing {
    type Err = TransportError;
    /// `octet-counting` or `lf`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "octet-counting" | "octet_counting" => Ok(Framing::OctetCounting),
            "lf" => Ok(Framing::Lf),
            _ => Err(TransportError::Config(format!(
                "framing {s:?}: expected octet-counting or lf"
            ))),
        }
    }
}

/// How frames are delimited on a stream (TLS/TCP). UDP ignores it: one message per datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// `MSG-LEN SP MSG` (RFC 5425 §4.3, RFC 6587 §3.4.1); MSG-LEN counts octets.
    #[default]
    OctetCounting,
    /// `MSG LF` (RFC 6587 §3.4.2). A message containing LF is refused, because the collector
    /// would split it into two events.
    Lf,
}

/// Certificates and names for TLS. Paths are read at [`super::Transport::start`] and
/// [`super::Transport::probe`]; a read error names the file, never its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// Extra trust anchors (PEM, one or more certificates) for verifying the collector.
    pub ca_file: Option<PathBuf>,
    /// Our certificate chain for mutual TLS (PEM, leaf first; every certificate is sent).
    pub client_cert_file: Option<PathBuf>,
    /// The private key of `client_cert_file` (PEM: PKCS#8, PKCS#1 or SEC1).
    pub client_key_file: Option<PathBuf>,
    /// Name to verify the collector's certificate against (default: the address's host).
    pub server_name: Option<String>,
    /// SHA-256 fingerprints of acceptable collector (end-entity) certificates, hex with or
    /// without `:` separators. Checked in addition to the CA chain; when no trust anchor is
    /// configured at all (`use_system_roots = false`, no `ca_file`), the pin alone
    /// authenticates the collector (RFC 5425 §4.2.2 fingerprint mode).
    pub pin_sha256: Vec<String>,
    /// Trust the operating system's CA store (via rustls-native-certs), in addition to `ca_file`.
    pub use_system_roots: bool,
}

impl Default for TlsOptions {
    fn default() -> Self {
        Self {
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            server_name: None,
            pin_sha256: Vec::new(),
            use_system_roots: true,
        }
    }
}

/// One destination's transport. [`TransportConfig::new`] fills in the defaults below.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    pub kind: TransportKind,
    /// Ordered failover list of `host:port` (`[v6]:port`; port optional).
    pub addresses: Vec<String>,
    pub tls: TlsOptions,
    pub framing: Framing,
    /// Largest message accepted by `send` (the frame header is not counted). UDP is further
    /// capped at 65,507 octets.
    pub max_message_bytes: usize,
    /// Bound on queued + in-flight (not yet delivered) frame bytes; `send` waits beyond it.
    pub max_inflight_bytes: usize,
    pub connect_timeout: Duration,
    /// A write or TLS handshake that makes no progress for this long fails the connection.
    pub write_timeout: Duration,
    /// Unacknowledged bytes that the collector's TCP stack has not acknowledged any of for
    /// this long mean a silently dead peer: the connection is dropped and its messages resent.
    pub no_progress_timeout: Duration,
    /// TCP keepalive idle time (None: off).
    pub keepalive: Option<Duration>,
    /// While connected to a later address, go back to the first after this long (None: never).
    pub failback_after: Option<Duration>,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// A new TLS connection reports nothing delivered until it has stayed open this long:
    /// a TLS 1.3 server, and rsyslog's `PermittedPeer` check, refuse a client only after the
    /// client's side of the handshake has completed, and bytes its kernel acknowledged before
    /// that refusal were never accepted. The settle ends earlier once the collector has
    /// acknowledged our first record and the connection then stayed open for 250 ms (or twice
    /// the connect + handshake time, if longer): the refusal would have arrived by then.
    pub tls_settle: Duration,
}

/// UDP payload ceiling over IPv4 (RFC 5426 §3.2 / RFC 768).
pub const UDP_MAX_PAYLOAD: usize = 65_507;

impl TransportConfig {
    pub fn new(kind: TransportKind, addresses: Vec<String>) -> Self {
        Self {
            kind,
            addresses,
            tls: TlsOptions::default(),
            framing: Framing::OctetCounting,
            max_message_bytes: 64 * 1024,
            max_inflight_bytes: 8 * 1024 * 1024,
            connect_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            no_progress_timeout: Duration::from_secs(60),
            keepalive: Some(Duration::from_secs(30)),
            failback_after: Some(Duration::from_secs(30 * 60)),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            tls_settle: Duration::from_secs(2),
        }
    }

    /// Largest message `send` accepts.
    pub fn effective_max_message(&self) -> usize {
        match self.kind {
            TransportKind::Udp => self.max_message_bytes.min(UDP_MAX_PAYLOAD),
            _ => self.max_message_bytes,
        }
    }

    /// Checks what can be checked without files or network.
    pub fn validate(&self) -> Result<(), TransportError> {
        let bad = |m: String| Err(TransportError::Config(m));
        if self.addresses.is_empty() {
            return bad("addresses is empty: give at least one host:port".into());
        }
        for a in &self.addresses {
            split_host_port(a, self.kind.default_port())?;
        }
        if self.kind == TransportKind::Udp && self.addresses.len() > 1 {
            // A list is a failover order, and UDP gets no acknowledgement that could tell a
            // dead collector from a live one: the later addresses would never be used.
            return Err(TransportError::Setting {
                key: "addresses",
                reason: format!(
                    "udp takes one address, got {}: UDP has no acknowledgement, so it cannot fail over (use tls or tcp for a failover list)",
                    self.addresses.len()
                ),
            });
        }
        if self.max_message_bytes == 0 {
            return bad("max_message_bytes must be at least 1".into());
        }
        if self.max_inflight_bytes < self.max_message_bytes {
            return bad(format!(
                "max_inflight_bytes ({}) must be at least max_message_bytes ({})",
                self.max_inflight_bytes, self.max_message_bytes
            ));
        }
        if self.backoff_min.is_zero() || self.backoff_min > self.backoff_max {
            return bad("backoff_min must be > 0 and <= backoff_max".into());
        }
        if self.kind == TransportKind::Tls {
            let t = &self.tls;
            if t.client_cert_file.is_some() != t.client_key_file.is_some() {
                return bad(
                    "client_cert_file and client_key_file must be given together (mutual TLS)"
                        .into(),
                );
            }
        } else if self.tls != TlsOptions::default() {
            return bad(format!(
                "TLS options (ca_file, client_cert_file, server_name, pin_sha256, use_system_roots) need transport = tls, not {:?}",
                self.kind
            ));
        }
        if self.kind == TransportKind::Udp && self.framing == Framing::Lf {
            return bad("framing does not apply to UDP (one message per datagram)".into());
        }
        Ok(())
    }
}

/// Splits `host:port`, `[v6]:port`, `host` or `[v6]` (a bare IPv6 literal is taken whole).
pub(crate) fn split_host_port(
    address: &str,
    default_port: u16,
) -> Result<(String, u16), TransportError> {
    let err = |why: &str| TransportError::Config(format!("address {address:?}: {why}"));
    let a = address.trim();
    if a.is_empty() {
        return Err(err("empty"));
    }
    if let Some(rest) = a.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| err("missing ']'"))?;
        let port = match after {
            "" => default_port,
            p => p
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| err("bad port"))?,
        };
        return Ok((host.to_string(), port));
    }
    if a.matches(':').count() > 1 {
        return Ok((a.to_string(), default_port)); // bare IPv6
    }
    match a.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => {
            let port: u16 = p.parse().map_err(|_| err("bad port"))?;
            if port == 0 {
                return Err(err("port 0"));
            }
            Ok((h.to_string(), port))
        }
        Some(_) => Err(err("missing host")),
        None => Ok((a.to_string(), default_port)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_with_default_ports() {
        assert_eq!(
            split_host_port("siem.example:6514", 1).unwrap(),
            ("siem.example".into(), 6514)
        );
        assert_eq!(
            split_host_port("siem.example", 6514).unwrap(),
            ("siem.example".into(), 6514)
        );
        assert_eq!(
            split_host_port("[::1]:7000", 1).unwrap(),
            ("::1".into(), 7000)
        );
        assert_eq!(split_host_port("::1", 514).unwrap(), ("::1".into(), 514));
        assert!(split_host_port("host:x", 1).is_err());
        assert!(split_host_port(":514", 1).is_err());
        assert!(split_host_port("[::1", 1).is_err());
    }

    #[test]
    fn validation_names_the_problem() {
        let mut c = TransportConfig::new(TransportKind::Tls, vec![]);
        assert!(c.validate().unwrap_err().to_string().contains("addresses"));
        c.addresses = vec!["127.0.0.1".into()];
        c.tls.client_cert_file = Some("/c.pem".into());
        assert!(c.validate().unwrap_err().to_string().contains("together"));
        let mut u = TransportConfig::new(TransportKind::Udp, vec!["127.0.0.1".into()]);
        u.tls.ca_file = Some("/ca.pem".into());
        assert!(
            u.validate()
                .unwrap_err()
                .to_string()
                .contains("transport = tls")
        );
        let two = vec!["127.0.0.1:514".into(), "127.0.0.2:514".into()];
        let e = TransportConfig::new(TransportKind::Udp, two.clone())
            .validate()
            .unwrap_err();
        assert!(
            matches!(
                e,
                TransportError::Setting {
                    key: "addresses",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("cannot fail over"), "{e}");
        TransportConfig::new(TransportKind::Tcp, two)
            .validate()
            .unwrap();
        let t = TransportConfig::new(TransportKind::Tcp, vec!["127.0.0.1:514".into()]);
        t.validate().unwrap();
        assert_eq!("TLS".parse::<TransportKind>().unwrap(), TransportKind::Tls);
        assert!("ssl".parse::<TransportKind>().is_err());
        assert_eq!("lf".parse::<Framing>().unwrap(), Framing::Lf);
    }
}
