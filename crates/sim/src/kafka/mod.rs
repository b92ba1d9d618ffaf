//! A mock Kafka cluster (librdkafka's `MockCluster`: real localhost listeners) with, before
//! each broker, a TLS + SASL PLAIN front, so the real `sasl_ssl` + `$ConnectionString` path
//! of an Event Hubs client runs against it.
//!
//! - [`MockKafka`]: start, addresses, the CA and an Event Hubs-shaped connection string,
//!   produce (one message or a bulk batch), end offsets and a group's committed offsets.
//! - `front`: the TLS listener and the SASL handshake it speaks itself.
//! - `wire`: the bits of the Kafka protocol the front decodes.
//!
//! Each partition keeps only its newest [`PARTITION_RETENTION_BYTES`] (librdkafka's mock).
//!
//! Each broker advertises its front's address, so a client that bootstraps through a front
//! only ever talks through the fronts. The mock's own helpers (produce, offsets) are clients
//! of the fronts too: an advertised address is the same for every client, so there is no
//! raw back door. `MockCluster` itself is neither `Send` nor `Sync` (a raw pointer); the
//! cluster is owned by an rdkafka client (which is both) created with
//! `test.mock.num.brokers`, so [`MockKafka`] is `Send + Sync` without a thread of its own.

mod front;
mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

pub use front::FrontCounters;

use crate::pki::{PkiError, TestPki};

/// The SAS key name of [`Front::default`] (Event Hubs' namespace-wide default policy).
pub const DEFAULT_KEY_NAME: &str = "RootManageSharedAccessKey";

/// How much each partition keeps: librdkafka's mock drops a partition's oldest batches past
/// 5 MiB (hard-coded there), as retention would. Producing more than this to a partition
/// before it is consumed loses the oldest messages: size partitions (or produce while
/// consuming) accordingly; [`MockKafka::watermarks`] shows the low watermark.
pub const PARTITION_RETENTION_BYTES: usize = 5 << 20;

/// Why the mock could not start or answer.
#[derive(Debug, thiserror::Error)]
pub enum KafkaMockError {
    #[error("mock kafka PKI: {0}")]
    Pki(#[from] PkiError),
    #[error("mock kafka I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("mock kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("mock kafka: {0}")]
    Mock(String),
}

/// A topic to create, with its partition count.
#[derive(Debug, Clone)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
}

impl TopicSpec {
    pub fn new(name: &str, partitions: i32) -> Self {
        Self {
            name: name.into(),
            partitions,
        }
    }
}

/// The SASL PLAIN credentials the fronts accept (besides `$ConnectionString` with
/// [`MockKafka::eventhubs_connection_string`]). The password is the SAS key.
#[derive(Clone)]
pub struct Front {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Front {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Front")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Default for Front {
    fn default() -> Self {
        Self {
            username: DEFAULT_KEY_NAME.into(),
            // Event Hubs keys are 32 random bytes in base64; this one only guards a mock.
            password: "bW9jay1ldmVudC1odWJzLXNhcy1rZXktMDEyMzQ1Ng=".into(),
        }
    }
}

/// How the mock cluster starts.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    pub brokers: i32,
    pub topics: Vec<TopicSpec>,
    /// `None`: plaintext, the raw mock listeners are the bootstrap.
    pub front: Option<Front>,
}

impl Default for KafkaOptions {
    fn default() -> Self {
        Self {
            brokers: 3,
            topics: vec![TopicSpec::new("defender-events", 6)],
            front: Some(Front::default()),
        }
    }
}

/// Where a batch of produced messages landed, in the order given.
#[derive(Debug, Clone)]
pub struct Produced {
    /// `(partition, offset)` of each message.
    pub positions: Vec<(i32, i64)>,
    pub elapsed: Duration,
}

/// A running mock cluster; stops on drop.
pub struct MockKafka {
    // Drop order matters: the producer (a client of the fronts) first, then the fronts'
    // runtime (in `Drop`), and the cluster's owner last.
    producer: Option<BaseProducer<Deliveries>>,
    runtime: Option<tokio::runtime::Runtime>,
    cancel: CancellationToken,
    _owner: BaseProducer<Quiet>,
    bootstrap: String,
    pki: Option<TestPki>,
    front: Option<Front>,
    counters: Vec<Arc<FrontCounters>>,
    topics: HashMap<String, i32>,
}

impl std::fmt::Debug for MockKafka {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockKafka")
            .field("bootstrap", &self.bootstrap)
            .field("front", &self.front)
            .field("topics", &self.topics)
            .finish_non_exhaustive()
    }
}

impl Drop for MockKafka {
    fn drop(&mut self) {
        drop(self.producer.take());
        self.cancel.cancel();
        if let Some(rt) = self.runtime.take() {
            // Not a blocking shutdown: the mock may be dropped inside an async test.
            rt.shutdown_background();
        }
    }
}

const TIMEOUT: Duration = Duration::from_secs(15);

impl MockKafka {
    /// Starts the cluster, creates the topics and, with a front, puts a TLS + SASL listener
    /// on `127.0.0.1:0` before each broker. Blocking; fine inside an async context.
    pub fn start(opts: KafkaOptions) -> Result<Self, KafkaMockError> {
        if opts.brokers < 1 {
            return Err(KafkaMockError::Mock("at least one broker".into()));
        }
        let pki = opts.front.as_ref().map(|_| TestPki::new()).transpose()?;
        // The owner only holds the cluster, but librdkafka connects every client to a
        // bootstrap broker (in plaintext: the mock forces it) and then to the brokers it
        // learns of, which will be the fronts. Resolving the mock's IPv4 listeners as IPv6
        // fails (no AI_V4MAPPED), so the owner never connects anywhere and nothing knocks on
        // a front in plaintext; its retries are slowed to almost nothing.
        let owner: BaseProducer<Quiet> = ClientConfig::new()
            .set("test.mock.num.brokers", opts.brokers.to_string())
            .set("broker.address.family", "v6")
            .set("reconnect.backoff.ms", "10000")
            .set("reconnect.backoff.max.ms", "3600000")
            .set("topic.metadata.refresh.interval.ms", "-1")
            .create_with_context(Quiet)?;
        let cluster = owner
            .client()
            .mock_cluster()
            .ok_or_else(|| KafkaMockError::Mock("no mock cluster on the owner client".into()))?;
        // The mock creates brokers 1..=n and lists them in that order (fixed at creation,
        // unaffected by advertising another address later).
        let raw: Vec<SocketAddr> = cluster
            .bootstrap_servers()
            .split(',')
            .map(|a| a.parse())
            .collect::<Result<_, _>>()
            .map_err(|e| KafkaMockError::Mock(format!("mock bootstrap list: {e}")))?;
        if raw.len() != usize::try_from(opts.brokers).unwrap_or(0) {
            return Err(KafkaMockError::Mock(format!(
                "mock has {} brokers",
                raw.len()
            )));
        }
        let mut topics = HashMap::new();
        for t in &opts.topics {
            cluster.create_topic(&t.name, t.partitions, 1)?;
            topics.insert(t.name.clone(), t.partitions);
        }
        drop(cluster);

        let cancel = CancellationToken::new();
        let (runtime, bootstrap, counters) = match (&opts.front, &pki) {
            (Some(front), Some(pki)) => {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("mock-kafka-front")
                    .enable_all()
                    .build()?;
                let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config(false)?);
                let credentials = Arc::new(front::Credentials::new(vec![
                    (front.username.clone(), front.password.clone()),
                    ("$ConnectionString".into(), connection_string(front)),
                ]));
                let mut list = Vec::new();
                let mut counters = Vec::new();
                for (broker_id, broker) in (1..).zip(&raw) {
                    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
                    listener.set_nonblocking(true)?;
                    let port = listener.local_addr()?.port();
                    advertise(&owner, broker_id, "127.0.0.1", port)?;
                    let c = Arc::new(FrontCounters::default());
                    runtime.spawn(front::serve(
                        listener,
                        *broker,
                        acceptor.clone(),
                        credentials.clone(),
                        c.clone(),
                        cancel.clone(),
                    ));
                    list.push(format!("127.0.0.1:{port}"));
                    counters.push(c);
                }
                (Some(runtime), list.join(","), counters)
            }
            _ => {
                let list = raw.iter().map(|a| a.to_string()).collect::<Vec<_>>();
                (None, list.join(","), Vec::new())
            }
        };
        let mut mock = Self {
            producer: None,
            runtime,
            cancel,
            _owner: owner,
            bootstrap,
            pki,
            front: opts.front,
            counters,
            topics,
        };
        let producer = mock
            .client_config()
            // Throughput for the bulk path: big batches, a short linger, a deep queue.
            .set("linger.ms", "5")
            .set("batch.size", "1000000")
            .set("queue.buffering.max.messages", "1000000")
            .set("queue.buffering.max.kbytes", "1048576")
            .set("acks", "all")
            .create_with_context(Deliveries)?;
        mock.producer = Some(producer);
        Ok(mock)
    }

    /// `host:port,…` of the fronts (or of the raw brokers without a front).
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The PEM of the CA that signed the fronts' certificate (`localhost`, `127.0.0.1`).
    pub fn ca_pem(&self) -> Option<&str> {
        self.pki.as_ref().map(|p| p.ca.cert_pem.as_str())
    }

    /// `Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…`: the fronts accept it as the
    /// password of username `$ConnectionString`, byte for byte (no trimming).
    pub fn eventhubs_connection_string(&self) -> Option<String> {
        self.front.as_ref().map(connection_string)
    }

    /// What each front saw, in broker order (empty without a front).
    pub fn front_counters(&self) -> &[Arc<FrontCounters>] {
        &self.counters
    }

    /// Partition count of a topic created at start.
    pub fn partitions(&self, topic: &str) -> Option<i32> {
        self.topics.get(topic).copied()
    }

    /// A librdkafka configuration that reaches the cluster the way a client should (through
    /// the fronts, SASL_SSL with the front's user, the CA given as PEM).
    pub fn client_config(&self) -> ClientConfig {
        secure_config(&self.bootstrap, self.front.as_ref(), self.pki.as_ref())
    }

    /// Produces one message; returns its offset. Blocking.
    pub fn produce(&self, topic: &str, partition: i32, body: &[u8]) -> Result<i64, KafkaMockError> {
        let batch = self.send(topic, std::iter::once((partition, body)))?;
        batch
            .positions
            .first()
            .map(|&(_, offset)| offset)
            .ok_or_else(|| KafkaMockError::Mock("no delivery report".into()))
    }

    /// Produces every body, message `i` to partition `i % partitions` of `topic`, as fast as
    /// librdkafka batches them (for benchmarks). Blocking until every one is acknowledged.
    pub fn produce_batch<B: AsRef<[u8]>>(
        &self,
        topic: &str,
        bodies: impl IntoIterator<Item = B>,
    ) -> Result<Produced, KafkaMockError> {
        let partitions = self
            .partitions(topic)
            .ok_or_else(|| KafkaMockError::Mock(format!("unknown topic {topic}")))?;
        let bodies: Vec<B> = bodies.into_iter().collect();
        let items = (0..partitions)
            .cycle()
            .zip(bodies.iter().map(|b| b.as_ref()));
        self.send(topic, items)
    }

    fn send<'a>(
        &self,
        topic: &str,
        items: impl Iterator<Item = (i32, &'a [u8])>,
    ) -> Result<Produced, KafkaMockError> {
        let producer = self
            .producer
            .as_ref()
            .ok_or_else(|| KafkaMockError::Mock("stopped".into()))?;
        let started = Instant::now();
        let batch = Arc::new(Batch::default());
        let mut sent = 0usize;
        for (partition, body) in items {
            let mut record = BaseRecord::with_opaque_to(topic, Box::new((batch.clone(), sent)))
                .partition(partition)
                .payload(body);
            loop {
                match producer.send::<[u8], [u8]>(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        producer.poll(Duration::from_millis(10));
                    }
                    Err((e, _)) => return Err(e.into()),
                }
            }
            sent += 1;
        }
        lock(&batch.positions).resize(sent, (-1, -1));
        let deadline = Instant::now() + TIMEOUT + Duration::from_micros(sent as u64 * 100);
        while batch.done.load(Ordering::Acquire) < sent {
            if Instant::now() > deadline {
                return Err(KafkaMockError::Mock(format!(
                    "{} of {sent} deliveries reported in time",
                    batch.done.load(Ordering::Acquire)
                )));
            }
            producer.poll(Duration::from_millis(20));
        }
        if let Some(e) = lock(&batch.error).take() {
            return Err(KafkaMockError::Mock(format!("delivery failed: {e}")));
        }
        let positions = std::mem::take(&mut *lock(&batch.positions));
        Ok(Produced {
            positions,
            elapsed: started.elapsed(),
        })
    }

    /// The high watermark (next offset) of every partition of `topic`. Blocking.
    pub fn end_offsets(&self, topic: &str) -> Result<Vec<(i32, i64)>, KafkaMockError> {
        Ok(self
            .watermarks(topic)?
            .into_iter()
            .map(|(p, _, high)| (p, high))
            .collect())
    }

    /// `(partition, low, high)` of every partition of `topic`: `low` moves up once a
    /// partition holds more than [`PARTITION_RETENTION_BYTES`]. Blocking.
    pub fn watermarks(&self, topic: &str) -> Result<Vec<(i32, i64, i64)>, KafkaMockError> {
        let producer = self
            .producer
            .as_ref()
            .ok_or_else(|| KafkaMockError::Mock("stopped".into()))?;
        let partitions = self
            .partitions(topic)
            .ok_or_else(|| KafkaMockError::Mock(format!("unknown topic {topic}")))?;
        (0..partitions)
            .map(|p| {
                let (low, high) = producer.client().fetch_watermarks(topic, p, TIMEOUT)?;
                Ok((p, low, high))
            })
            .collect()
    }

    /// The offsets `group` committed for each partition of `topic` (`None`: nothing yet).
    /// Blocking; asks the group coordinator without joining the group.
    pub fn committed(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<Vec<(i32, Option<i64>)>, KafkaMockError> {
        let partitions = self
            .partitions(topic)
            .ok_or_else(|| KafkaMockError::Mock(format!("unknown topic {topic}")))?;
        let consumer: BaseConsumer<Quiet> = self
            .client_config()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create_with_context(Quiet)?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
        let got = consumer.committed_offsets(tpl, TIMEOUT)?;
        Ok((0..partitions)
            .map(|p| {
                let offset = match got.find_partition(topic, p).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => Some(o),
                    _ => None,
                };
                (p, offset)
            })
            .collect())
    }
}

/// A client configuration for `bootstrap`: SASL_SSL with the front's user and the CA as PEM
/// when there is a front, else plaintext.
fn secure_config(bootstrap: &str, front: Option<&Front>, pki: Option<&TestPki>) -> ClientConfig {
    let mut c = ClientConfig::new();
    if !bootstrap.is_empty() {
        c.set("bootstrap.servers", bootstrap);
    }
    if let (Some(front), Some(pki)) = (front, pki) {
        c.set("security.protocol", "SASL_SSL")
            .set("sasl.mechanisms", "PLAIN")
            .set("sasl.username", &front.username)
            .set("sasl.password", &front.password)
            .set("ssl.ca.pem", &pki.ca.cert_pem);
    }
    c.set_log_level(RDKafkaLogLevel::Warning);
    c
}

fn connection_string(front: &Front) -> String {
    format!(
        "Endpoint=sb://localhost/;SharedAccessKeyName={};SharedAccessKey={}",
        front.username, front.password
    )
}

/// Makes broker `broker_id` advertise `host:port` (its front) in metadata and coordinator
/// answers. rdkafka has no safe wrapper for this one call.
#[allow(unsafe_code)]
fn advertise(
    owner: &BaseProducer<Quiet>,
    broker_id: i32,
    host: &str,
    port: u16,
) -> Result<(), KafkaMockError> {
    let host =
        std::ffi::CString::new(host).map_err(|_| KafkaMockError::Mock("host with NUL".into()))?;
    // SAFETY: `owner` is alive for the whole call and was created with
    // `test.mock.num.brokers`, so it owns a mock cluster and the pointer returned for it is
    // valid until `owner` is destroyed; null is checked. `rd_kafka_mock_broker_set_host_port`
    // copies `host` (snprintf into the broker struct) under the cluster lock, so the CString
    // need only outlive the call, and an unknown broker id is ignored by librdkafka.
    unsafe {
        let cluster = rdkafka::bindings::rd_kafka_handle_mock_cluster(owner.client().native_ptr());
        if cluster.is_null() {
            return Err(KafkaMockError::Mock("no mock cluster".into()));
        }
        rdkafka::bindings::rd_kafka_mock_broker_set_host_port(
            cluster,
            broker_id,
            host.as_ptr(),
            std::ffi::c_int::from(port),
        );
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// librdkafka's log and errors of the mock's own clients go to `tracing` at debug: their
/// reconnects are noise for whoever uses the mock.
struct Quiet;

impl ClientContext for Quiet {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        tracing::debug!(target: "sim::kafka", "librdkafka {level:?} {fac}: {log_message}");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(target: "sim::kafka", "librdkafka error {error}: {reason}");
    }
}

impl rdkafka::consumer::ConsumerContext for Quiet {}

impl ProducerContext for Quiet {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &DeliveryResult<'_>, _: ()) {}
}

#[derive(Default)]
struct Batch {
    done: AtomicUsize,
    positions: Mutex<Vec<(i32, i64)>>,
    error: Mutex<Option<String>>,
}

/// Delivery reports of the mock's producer go to the batch that sent the message.
struct Deliveries;

impl ClientContext for Deliveries {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        Quiet.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        Quiet.error(error, reason);
    }
}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<(Arc<Batch>, usize)>;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: Self::DeliveryOpaque) {
        let (batch, index) = *opaque;
        match result {
            Ok(m) => {
                let mut positions = lock(&batch.positions);
                // The batch sizes the vector after sending; a report can come before that.
                if positions.len() <= index {
                    positions.resize(index + 1, (-1, -1));
                }
                positions[index] = (m.partition(), m.offset());
            }
            Err((e, _)) => {
                lock(&batch.error).get_or_insert_with(|| e.to_string());
            }
        }
        batch.done.fetch_add(1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mock_is_send_and_sync_and_hides_the_key() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<MockKafka>();
        let shown = format!("{:?}", Front::default());
        assert!(!shown.contains(&Front::default().password), "{shown}");
        assert!(shown.contains(DEFAULT_KEY_NAME));
    }
}
