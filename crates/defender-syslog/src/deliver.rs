//! The delivery loop `run` (each destination's pipeline) and `send` share: format a message
//! into one reused buffer, hand it to the transport (waiting while its in-flight buffer is
//! full), follow the count the transport reports delivered, and drain at the end.
//!
//! What each caller does with the counts differs: the pipeline feeds them to its
//! `alert_model::cursor::CommitTracker`; `send` waits until everything it read is delivered.

use std::sync::Arc;
use std::time::Duration;

use alert_model::{AlertRef, Unreadable, VersionKey};
use forwarder::format::Formatter;
use forwarder::transport::{ShutdownReport, Transport, TransportError};
use tokio::sync::watch;

/// An alert type read from a file by `send` / `preview`: either source's, as an [`AlertRef`].
pub trait AsAlertRef: alert_model::ApiAlert + Sync {
    fn alert_ref(&self) -> AlertRef<'_>;
}

impl AsAlertRef for alert_model::Alert {
    fn alert_ref(&self) -> AlertRef<'_> {
        AlertRef::Mde(self)
    }
}

impl AsAlertRef for alert_model::GraphAlert {
    fn alert_ref(&self) -> AlertRef<'_> {
        AlertRef::Graph(self)
    }
}

/// The source of `send` / `preview` input: `--source`, else the config's.
pub fn input_source(arg: Option<&str>, configured: fetcher::Source) -> fetcher::Source {
    // clap only lets `graph` and `mde` through.
    arg.and_then(|s| s.parse().ok()).unwrap_or(configured)
}

/// One message to forward: an alert of either source, or an unreadable element.
#[derive(Debug, Clone, Copy)]
pub enum Message<'a> {
    Alert(AlertRef<'a>),
    /// Forwarded as a marked "unreadable alert" event.
    Unreadable(&'a Unreadable),
    /// A record of the streaming source.
    Record(&'a alert_model::stream::StreamRecord),
}

impl Message<'_> {
    /// The alert version it carries, for the cursor's delivered keys (None: no id or time).
    pub fn key(&self) -> Option<VersionKey> {
        match self {
            Message::Alert(a) => a.version_key(),
            Message::Unreadable(u) => Some(u.key.clone()),
            Message::Record(_) => None,
        }
    }
}

/// A destination's formatter and transport.
#[derive(Debug)]
pub struct Delivery {
    formatter: Formatter,
    transport: Arc<Transport>,
    /// One buffer for every message: the transport copies each into its frame.
    msg: Vec<u8>,
}

impl Delivery {
    pub fn new(formatter: Formatter, transport: Arc<Transport>) -> Delivery {
        Delivery {
            formatter,
            transport,
            msg: Vec::with_capacity(4096),
        }
    }

    /// Formats `m` and hands it to the transport; its sequence number (0, 1, 2, …). Waits
    /// while the transport's in-flight buffer is full (the collector holds us back).
    pub async fn push(&mut self, m: Message<'_>) -> Result<u64, TransportError> {
        self.msg.clear();
        match m {
            Message::Alert(a) => self.formatter.format_ref(a, &mut self.msg),
            Message::Unreadable(u) => self.formatter.format_unreadable(u, &mut self.msg),
            Message::Record(r) => self.formatter.format_record(r, &mut self.msg),
        }
        self.transport.send_bytes(&self.msg).await
    }

    /// N = messages 0..N are delivered. Only ever grows.
    pub fn delivered(&self) -> watch::Receiver<u64> {
        self.transport.delivered()
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Refuses new messages and waits up to `grace` for the ones in flight to be delivered.
    pub async fn finish(&self, grace: Duration) -> ShutdownReport {
        self.transport.shutdown(grace).await
    }
}
