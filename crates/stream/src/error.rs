//! [`StreamError`]: every message says what is wrong and what to check; none carries a secret.

/// Errors of the stream source and its probe.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("streaming configuration: {0}")]
    Config(String),
    #[error(
        "cannot reach the Kafka brokers {bootstrap}: {detail} (check the address, the port \
         (Event Hubs: 9093) and the firewall)"
    )]
    Unreachable { bootstrap: String, detail: String },
    #[error(
        "the brokers {bootstrap} refused SASL authentication as {username:?}: {detail} (check \
         the password / connection string; Event Hubs: user $ConnectionString, password the \
         namespace's or hub's connection string)"
    )]
    SaslRefused {
        bootstrap: String,
        username: String,
        detail: String,
    },
    #[error(
        "TLS with the brokers {bootstrap} failed: {detail} (the broker's certificate is not \
         trusted: set ca_file to its CA bundle, or install the CA in the system store)"
    )]
    TlsUntrusted { bootstrap: String, detail: String },
    #[error(
        "the TLS handshake with the brokers {bootstrap} failed: {detail} (is this a TLS \
         listener? Event Hubs listens on 9093; a plaintext cluster needs security = \
         \"plaintext\")"
    )]
    TlsFailed { bootstrap: String, detail: String },
    #[error(
        "topic {topic:?} does not exist on {bootstrap}: {detail} (Event Hubs: the topic is the \
         event hub's name)"
    )]
    TopicMissing {
        bootstrap: String,
        topic: String,
        detail: String,
    },
    #[error("kafka client: {0}")]
    Kafka(String),
    #[error("committing offsets failed: {0} (they stay staged and are committed later)")]
    Commit(String),
}
