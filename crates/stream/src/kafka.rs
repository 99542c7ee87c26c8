//! The `kafka` connector: a source and a sink over any Kafka-API broker,
//! through `rskafka` (a pure-Rust client; no librdkafka to build).
//!
//! Options follow Flink's Kafka connector, so Confluent and Flink DDL runs
//! unchanged:
//!
//! - source: `topic`, `properties.bootstrap.servers`, `scan.startup.mode`
//!   (`earliest-offset`, `latest-offset`, `timestamp` with
//!   `scan.startup.timestamp-millis`), `scan.bounded.mode` (`unbounded`, or
//!   `latest-offset`: stop at the end the topic had when the job started),
//!   `format` (`json`, `csv`, `avro`: see [`crate::avro`]), `properties.group.id` (accepted; offsets live
//!   in the job's checkpoint, not in a consumer group), and
//!   `properties.request.timeout.ms` (how long to retry an unreachable
//!   broker before failing, default 10000).
//! - sink: `topic`, `properties.bootstrap.servers`, `format` (`json`, `csv`,
//!   `avro`), `key.fields`
//!   (`a;b`: the record key is the JSON object of those columns, and rows
//!   with the same key go to the same partition by Kafka's own murmur2
//!   partitioner), `sink.delivery-guarantee` (`exactly-once`, the default,
//!   `at-least-once` or `none`), `sink.compression` (`none`, `gzip`,
//!   `snappy`, `lz4`, `zstd`) and `properties.request.timeout.ms`.
//!
//! Every partition of the source topic is a partition of the watermark; the
//! source position is the next offset of every partition.
//!
//! Exactly-once without broker transactions: the sink's checkpointed
//! position is the end offset of every partition of its topic. Rows written
//! after that checkpoint and before a crash are still in the topic; on
//! restore the sink reads them back as a multiset of (key, value) and skips
//! each one once when the replay produces it again. The replay produces the
//! same rows (the detectors and the reorder buffer are deterministic), so
//! the topic ends up with every row exactly once, whatever order the replay
//! writes them in. A checkpoint taken while such a replay is under way
//! carries the records it has still to skip, so a second crash loses
//! nothing either. This needs the job to be the only writer of its sink
//! topic between a crash and the restart, which is what a sink topic is.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use rskafka::BackoffConfig;
use rskafka::chrono::{TimeZone, Utc};
use rskafka::client::partition::{Compression, OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;
use serde::{Deserialize, Serialize};

use crate::avro::AvroSchema;
use crate::connector::Options;
use crate::error::{Error, Result};
use crate::sink::{RowFormat, Sink, encode};
use crate::source::{Format, Polled, Source, concat, parse_lines};

/// `kafka` source options (besides the common ones).
pub const SOURCE_OPTIONS: [&str; 8] = [
    "topic",
    "properties.bootstrap.servers",
    "properties.group.id",
    "properties.request.timeout.ms",
    "scan.startup.mode",
    "scan.startup.timestamp-millis",
    "scan.bounded.mode",
    "format",
];

/// `kafka` sink options.
pub const SINK_OPTIONS: [&str; 7] = [
    "topic",
    "properties.bootstrap.servers",
    "properties.request.timeout.ms",
    "format",
    "key.fields",
    "sink.delivery-guarantee",
    "sink.compression",
];

/// Bytes asked for per partition and fetch.
const FETCH_BYTES: i32 = 1 << 20;
/// Records per produce request.
const PRODUCE_RECORDS: usize = 2_000;
/// Longest pause between fetch rounds while every partition stays empty
/// (the pause doubles from 1 ms per empty round up to this).
const IDLE_BACKOFF_MAX_MS: u64 = 8;

/// Where to connect, and how long to keep trying.
#[derive(Debug, Clone)]
struct Broker {
    servers: Vec<String>,
    topic: String,
    timeout: Duration,
}

impl Broker {
    fn new(opts: &Options<'_>) -> Result<Self> {
        let servers: Vec<String> = opts
            .required(
                "properties.bootstrap.servers",
                "the brokers to connect to, e.g. '127.0.0.1:9092'",
            )?
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if servers.is_empty() {
            return Err(opts.error("option 'properties.bootstrap.servers' names no broker"));
        }
        for s in &servers {
            if s.rsplit_once(':')
                .is_none_or(|(_, port)| port.parse::<u16>().is_err())
            {
                return Err(opts.error(format!(
                    "option 'properties.bootstrap.servers': '{s}' is not host:port"
                )));
            }
        }
        let topic = opts
            .required("topic", "the Kafka topic")?
            .trim()
            .to_string();
        if topic.is_empty() || topic.contains(';') || topic.contains(',') {
            return Err(opts.error(format!(
                "option 'topic' = '{topic}': one topic name is accepted"
            )));
        }
        let timeout_ms = opts.u64("properties.request.timeout.ms", 10_000, 100, 600_000)?;
        Ok(Broker {
            servers,
            topic,
            timeout: Duration::from_millis(timeout_ms),
        })
    }

    fn what(&self) -> String {
        format!("kafka topic '{}' on {}", self.topic, self.servers.join(","))
    }

    fn err(&self, doing: &str, e: impl std::fmt::Display) -> Error {
        Error::Io(format!("{}: {doing}: {e}", self.what()))
    }

    /// Connect, find the topic and a client per partition (by partition id).
    async fn connect(&self) -> Result<(Client, Vec<Arc<PartitionClient>>)> {
        let backoff = BackoffConfig {
            init_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
            deadline: Some(self.timeout),
        };
        let build = ClientBuilder::new(self.servers.clone())
            .client_id("wasmad")
            .backoff_config(backoff)
            .build();
        let client = match tokio::time::timeout(self.timeout, build).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return Err(self.err(
                    "cannot reach the broker (option 'properties.bootstrap.servers')",
                    e,
                ));
            }
            Err(_) => {
                return Err(self.err(
                    "cannot reach the broker (option 'properties.bootstrap.servers')",
                    format!(
                        "no answer in {} ms ('properties.request.timeout.ms')",
                        self.timeout.as_millis()
                    ),
                ));
            }
        };
        let topics = client
            .list_topics()
            .await
            .map_err(|e| self.err("cannot list topics", e))?;
        let Some(t) = topics.into_iter().find(|t| t.name == self.topic) else {
            return Err(self.err(
                "no such topic (option 'topic')",
                "create it first, e.g. kafka-topics.sh --create --topic <name>",
            ));
        };
        let mut parts = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            let pc = client
                .partition_client(self.topic.clone(), p, UnknownTopicHandling::Retry)
                .await
                .map_err(|e| self.err(&format!("partition {p}"), e))?;
            parts.push(Arc::new(pc));
        }
        if parts.is_empty() {
            return Err(self.err("the topic has no partitions", "nothing to read or write"));
        }
        Ok((client, parts))
    }
}

/// The end offset of a partition (the offset the next record gets). Asked
/// both ways: ListOffsets(latest), and the high watermark a fetch answers
/// with. tansu 0.6 answers ListOffsets(latest) with the first offset of the
/// last record batch plus one, so a producer's batch of 2,000 records at
/// offset 0 reads as "ends at 1"; the fetch's high watermark is right there,
/// and on Kafka the two agree.
async fn end_offset(broker: &Broker, pc: &PartitionClient) -> Result<i64> {
    let id = pc.partition();
    let latest = pc
        .get_offset(OffsetAt::Latest)
        .await
        .map_err(|e| broker.err(&format!("partition {id}: end offset"), e))?;
    let (_, high) = pc
        .fetch_records(latest.max(0), 1..2, 0)
        .await
        .map_err(|e| broker.err(&format!("partition {id}: high watermark"), e))?;
    Ok(latest.max(high))
}

/// Records from offset `from` on. Kafka answers a fetch with the record batch
/// that holds `from` (the client drops the records before it); tansu 0.6
/// answers with the first batch that *starts* at or after `from`, which
/// loses the rest of a batch when a restore seeks into its middle. So when
/// the first record is past `from`, ask again from further back (1, 2, 4,
/// ... records) until the answer starts at or before `from`: then the gap
/// was tansu's, and the records from `from` on are all there. A real gap
/// (compaction, transaction markers) also ends the search, at once.
async fn fetch_from(
    client: &PartitionClient,
    from: i64,
    wait: i32,
) -> rskafka::client::error::Result<(Vec<rskafka::record::RecordAndOffset>, i64)> {
    let (records, high) = client.fetch_records(from, 1..FETCH_BYTES, wait).await?;
    if records.first().is_none_or(|r| r.offset <= from) {
        return Ok((records, high));
    }
    let mut back = 1i64;
    while back <= from && back <= 1 << 24 {
        let (earlier, high) = client.fetch_records(from - back, 1..FETCH_BYTES, 0).await?;
        if earlier.first().is_some_and(|r| r.offset <= from) {
            let kept: Vec<_> = earlier.into_iter().filter(|r| r.offset >= from).collect();
            return Ok((kept, high));
        }
        back *= 2;
    }
    Ok((records, high))
}

/// Where a source starts without a checkpoint.
#[derive(Debug, Clone, Copy)]
enum Startup {
    Earliest,
    Latest,
    TimestampMillis(i64),
}

/// One partition of the source topic.
#[derive(Debug)]
struct SourcePart {
    client: Arc<PartitionClient>,
    /// The offset after the last row handed out (the checkpointed position).
    next: i64,
    /// The offset to fetch from next (ahead of `next` while rows wait in `ready`).
    fetch: i64,
    /// The partition's high watermark at the last fetch.
    high: i64,
    /// Bounded mode: stop before this offset.
    end: Option<i64>,
}

impl SourcePart {
    fn done(&self) -> bool {
        self.end.is_some_and(|e| self.fetch >= e)
    }
}

/// Rows of one fetch from one partition, waiting to be handed out.
#[derive(Debug)]
struct Fetched {
    /// Index into `parts`.
    part: usize,
    rows: RecordBatch,
    /// The offset after each row's record, when every record held one row
    /// (then the rows can be handed out in slices); else `None`.
    row_ends: Option<VecDeque<i64>>,
    /// The offset after the last record.
    after: i64,
    /// The oldest record timestamp (ms since the Unix epoch).
    oldest_ms: Option<i64>,
}

/// How a record's value holds a row.
#[derive(Debug)]
enum ValueFormat {
    /// A JSON object or a CSV line.
    Line(Format),
    /// One Avro datum of the table's schema.
    Avro(AvroSchema),
}

impl ValueFormat {
    /// The table's `format` option (default `json`).
    fn from_options(opts: &Options<'_>) -> Result<ValueFormat> {
        Ok(
            match opts
                .choice("format", "json", &["json", "csv", "avro"])?
                .as_str()
            {
                "avro" => ValueFormat::Avro(
                    AvroSchema::for_table(&opts.table().schema)
                        .map_err(|e| opts.error(format!("option 'format' = 'avro': {e}")))?,
                ),
                "csv" => ValueFormat::Line(Format::Csv),
                _ => ValueFormat::Line(Format::Json),
            },
        )
    }
}

/// Rows from every partition of a topic.
#[derive(Debug)]
pub struct KafkaSource {
    broker: Broker,
    schema: SchemaRef,
    format: ValueFormat,
    startup: Startup,
    bounded: bool,
    client: Option<Client>,
    parts: Vec<SourcePart>,
    /// Fetched rows not yet handed out.
    ready: VecDeque<Fetched>,
    /// Consecutive fetch rounds that found nothing (the next one waits
    /// first; see `fetch_round`).
    empty_rounds: u32,
    /// The oldest record timestamp of the rows last handed out.
    produced_ms: Option<i64>,
}

impl KafkaSource {
    /// Build from a table's options (connects on [`Source::open`]).
    pub fn new(opts: &Options<'_>) -> Result<Self> {
        let broker = Broker::new(opts)?;
        let format = ValueFormat::from_options(opts)?;
        let startup = match opts
            .choice(
                "scan.startup.mode",
                "earliest-offset",
                &["earliest-offset", "latest-offset", "timestamp"],
            )?
            .as_str()
        {
            "latest-offset" => Startup::Latest,
            "timestamp" => {
                let ms = opts.required(
                    "scan.startup.timestamp-millis",
                    "milliseconds since the epoch, with 'scan.startup.mode' = 'timestamp'",
                )?;
                Startup::TimestampMillis(ms.trim().parse::<i64>().map_err(|_| {
                    opts.error(format!(
                        "option 'scan.startup.timestamp-millis' = '{ms}': expected milliseconds since the epoch"
                    ))
                })?)
            }
            _ => Startup::Earliest,
        };
        if opts.str("scan.startup.timestamp-millis").is_some()
            && !matches!(startup, Startup::TimestampMillis(_))
        {
            return Err(opts.error(
                "option 'scan.startup.timestamp-millis' needs 'scan.startup.mode' = 'timestamp'",
            ));
        }
        let bounded = opts.choice(
            "scan.bounded.mode",
            "unbounded",
            &["unbounded", "latest-offset"],
        )? == "latest-offset";
        Ok(KafkaSource {
            broker,
            schema: Arc::clone(&opts.table().schema),
            format,
            startup,
            bounded,
            client: None,
            parts: Vec::new(),
            ready: VecDeque::new(),
            empty_rounds: 0,
            produced_ms: None,
        })
    }

    /// Fetch every partition once, at its next offset.
    ///
    /// Fetches never ask the broker to wait (max_wait 0): tansu 0.6 holds a
    /// fetch for its whole max_wait even when records are there (its fetch
    /// service sleeps the remaining wait before it checks the bytes it
    /// has), so the 20 ms long-poll this used after an empty round added up
    /// to 20 ms to the first record after a pause, and back-to-back polls
    /// with no wait would keep an idle broker busy. Instead the client
    /// pauses after empty rounds, 1, 2, 4, then 8 ms while partitions stay
    /// empty, and not at all while records flow. (With Apache Kafka, whose
    /// long-poll returns as soon as records arrive, this costs a few more
    /// requests when idle and nothing in latency.)
    async fn fetch_round(&mut self) -> Result<()> {
        if self.empty_rounds > 0 {
            let ms = (1u64 << (self.empty_rounds - 1).min(3)).min(IDLE_BACKOFF_MAX_MS);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let wait = 0;
        let fetches = self.parts.iter().map(|p| {
            let client = Arc::clone(&p.client);
            let (from, done) = (p.fetch, p.done());
            async move {
                if done {
                    return Ok((Vec::new(), -1));
                }
                fetch_from(&client, from, wait).await
            }
        });
        let results = futures::future::join_all(fetches).await;
        let mut any = false;
        for (i, r) in results.into_iter().enumerate() {
            let p = &mut self.parts[i];
            let id = p.client.partition();
            let (records, high) = r.map_err(|e| {
                self.broker.err(
                    &format!("cannot fetch partition {id} at offset {}", p.fetch),
                    e,
                )
            })?;
            if high >= 0 {
                p.high = high;
            }
            let mut values: Vec<Vec<u8>> = Vec::with_capacity(records.len());
            let mut after = p.fetch;
            let mut row_ends: VecDeque<i64> = VecDeque::with_capacity(records.len());
            let mut oldest_ms: Option<i64> = None;
            for r in records {
                if p.end.is_some_and(|e| r.offset >= e) {
                    break;
                }
                after = r.offset + 1;
                // A record without a value (a tombstone) carries no row.
                let ms = r.record.timestamp.timestamp_millis();
                oldest_ms = Some(oldest_ms.map_or(ms, |o| o.min(ms)));
                if let Some(v) = r.record.value {
                    row_ends.push_back(after);
                    values.push(v);
                }
            }
            if after == p.fetch {
                continue;
            }
            let what = || {
                format!(
                    "cannot read the records of partition {id} at offsets {}..{after}",
                    p.fetch
                )
            };
            let batch = match &self.format {
                ValueFormat::Line(format) => {
                    let mut data: Vec<u8> = Vec::with_capacity(values.iter().map(Vec::len).sum());
                    for v in &values {
                        data.extend_from_slice(v);
                        if !v.ends_with(b"\n") {
                            data.push(b'\n');
                        }
                    }
                    let batches = parse_lines(&self.schema, *format, &data)
                        .map_err(|e| self.broker.err(&what(), e))?;
                    concat(&self.schema, &batches)?
                }
                ValueFormat::Avro(avro) => {
                    avro.decode(values.iter().map(Vec::as_slice)).map_err(|e| {
                        // Name the record: datum i is the record that ends at row_ends[i].
                        let at = e
                            .strip_prefix("datum ")
                            .and_then(|rest| rest.split([',', ':']).next())
                            .and_then(|i| i.parse::<usize>().ok())
                            .and_then(|i| row_ends.get(i))
                            .map(|end| format!(" (the record at offset {})", end - 1))
                            .unwrap_or_default();
                        self.broker.err(&what(), format!("{e}{at}"))
                    })?
                }
            };
            p.fetch = after;
            any = true;
            let row_ends = (row_ends.len() == batch.num_rows()).then_some(row_ends);
            self.ready.push_back(Fetched {
                part: i,
                rows: batch,
                row_ends,
                after,
                oldest_ms,
            });
        }
        self.empty_rounds = if any {
            0
        } else {
            self.empty_rounds.saturating_add(1)
        };
        Ok(())
    }
}

fn offset_at(startup: Startup) -> OffsetAt {
    match startup {
        Startup::Earliest => OffsetAt::Earliest,
        Startup::Latest => OffsetAt::Latest,
        Startup::TimestampMillis(ms) => OffsetAt::Timestamp(
            Utc.timestamp_millis_opt(ms)
                .single()
                .unwrap_or_else(|| Utc.timestamp_millis_opt(0).unwrap()),
        ),
    }
}

#[async_trait]
impl Source for KafkaSource {
    fn partitions(&self) -> usize {
        self.parts.len().max(1)
    }

    async fn open(&mut self) -> Result<()> {
        let (client, parts) = self.broker.connect().await?;
        self.parts.clear();
        for pc in parts {
            let id = pc.partition();
            let high = end_offset(&self.broker, &pc).await?;
            let start = match offset_at(self.startup) {
                OffsetAt::Latest => high,
                at => pc
                    .get_offset(at)
                    .await
                    .map_err(|e| self.broker.err(&format!("partition {id}: start offset"), e))?,
            };
            // A timestamp past the last record answers -1: start at the end.
            let start = if start < 0 { high } else { start };
            self.parts.push(SourcePart {
                client: pc,
                next: start,
                fetch: start,
                high,
                end: self.bounded.then_some(high),
            });
        }
        self.client = Some(client);
        Ok(())
    }

    async fn poll(&mut self, max_rows: usize) -> Result<Polled> {
        if self.ready.is_empty() {
            if self.parts.iter().all(SourcePart::done) {
                return Ok(Polled::End);
            }
            self.fetch_round().await?;
        }
        let Some(front) = self.ready.front_mut() else {
            return Ok(Polled::Pending);
        };
        let part = front.part;
        self.produced_ms = front.oldest_ms;
        let n = front.rows.num_rows();
        // At most `max_rows` (an epoch's worth), when rows map to records.
        let batch = match front.row_ends.as_mut() {
            Some(ends) if n > max_rows && max_rows > 0 => {
                let head = front.rows.slice(0, max_rows);
                front.rows = front.rows.slice(max_rows, n - max_rows);
                let next = ends.get(max_rows - 1).copied().unwrap_or(front.after);
                ends.drain(..max_rows);
                self.parts[part].next = next;
                head
            }
            _ => {
                let whole = self.ready.pop_front().map(|f| (f.rows, f.after));
                let Some((rows, after)) = whole else {
                    return Ok(Polled::Pending);
                };
                self.parts[part].next = after;
                rows
            }
        };
        if batch.num_rows() == 0 {
            return Ok(Polled::Pending);
        }
        Ok(Polled::Rows {
            partition: part,
            batch,
        })
    }

    fn offset(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 * self.parts.len());
        for p in &self.parts {
            out.extend_from_slice(&p.client.partition().to_le_bytes());
            out.extend_from_slice(&p.next.to_le_bytes());
        }
        out
    }

    fn seek(&mut self, offset: &[u8]) -> Result<()> {
        let saved = decode_offsets(offset, "source")?;
        if saved.len() != self.parts.len() {
            return Err(Error::Checkpoint(format!(
                "the checkpoint holds offsets of {} partitions of {}, it now has {}; restore needs the same partitions",
                saved.len(),
                self.broker.what(),
                self.parts.len()
            )));
        }
        self.ready.clear();
        for (p, (id, next)) in self.parts.iter_mut().zip(saved) {
            if p.client.partition() != id {
                return Err(Error::Checkpoint(format!(
                    "the checkpoint's partition {id} is not a partition of {}",
                    self.broker.what()
                )));
            }
            p.next = next;
            p.fetch = next;
        }
        Ok(())
    }

    fn produced_at_ms(&self) -> Option<i64> {
        self.produced_ms
    }

    fn lag(&self) -> Option<u64> {
        Some(
            self.parts
                .iter()
                .map(|p| p.high.saturating_sub(p.next).max(0) as u64)
                .sum(),
        )
    }
}

fn decode_offsets(bytes: &[u8], what: &str) -> Result<Vec<(i32, i64)>> {
    if !bytes.len().is_multiple_of(12) {
        return Err(Error::Checkpoint(format!(
            "the kafka {what} position is {} bytes, not a multiple of 12",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(12)
        .map(|c| {
            let id = i32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            let mut o = [0u8; 8];
            o.copy_from_slice(&c[4..]);
            (id, i64::from_le_bytes(o))
        })
        .collect())
}

/// Kafka's default partitioner hash (murmur2, as the Java client computes it),
/// so rows land where any Kafka producer would put the same key.
pub fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let seed: u32 = 0x9747_b28c;
    let len = data.len();
    let mut h: u32 = seed ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner picks for `key`.
pub fn partition_for(key: &[u8], partitions: usize) -> usize {
    ((murmur2(key) & 0x7fff_ffff) as usize) % partitions.max(1)
}

/// What the sink's checkpoint records.
#[derive(Debug, Serialize, Deserialize)]
struct SinkPosition {
    /// (partition, end offset) after the last write before the checkpoint.
    ends: Vec<(i32, i64)>,
    /// Records already in the topic that the replay is still to produce
    /// again (key, value, count): left over from an earlier restore.
    skip: Vec<(Option<Vec<u8>>, Vec<u8>, u32)>,
}

/// Rows as records of a topic.
#[derive(Debug)]
pub struct KafkaSink {
    broker: Broker,
    format: RowFormat,
    /// `format` = `avro`: values are Avro datums of the table's schema.
    avro: Option<AvroSchema>,
    key_fields: Vec<String>,
    exactly_once: bool,
    compression: Compression,
    client: Option<Client>,
    parts: Vec<Arc<PartitionClient>>,
    /// Records of the batch being written, per partition.
    pending: Vec<Vec<Record>>,
    /// The end offset of every partition after the last flush.
    ends: Vec<i64>,
    /// Records written after the restored checkpoint, (key, value) -> count:
    /// the replay skips each once.
    replayed: HashMap<(Option<Vec<u8>>, Vec<u8>), u32>,
    skipped: u64,
}

impl KafkaSink {
    /// Build from a table's options (connects on [`Sink::restore`]).
    pub fn new(opts: &Options<'_>) -> Result<Self> {
        let broker = Broker::new(opts)?;
        let (format, avro) = match ValueFormat::from_options(opts)? {
            ValueFormat::Avro(a) => (RowFormat::Json, Some(a)),
            ValueFormat::Line(Format::Csv) => (RowFormat::Csv, None),
            ValueFormat::Line(Format::Json) => (RowFormat::Json, None),
        };
        let key_fields: Vec<String> = opts
            .str("key.fields")
            .map(|s| {
                s.split(';')
                    .map(|f| f.trim().to_string())
                    .filter(|f| !f.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        for f in &key_fields {
            if opts.table().schema.index_of(f).is_err() {
                let names: Vec<&str> = opts
                    .table()
                    .schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect();
                return Err(opts.error(format!(
                    "option 'key.fields': '{f}' is not a column of the table; columns: {}",
                    names.join(", ")
                )));
            }
        }
        let exactly_once = opts.choice(
            "sink.delivery-guarantee",
            "exactly-once",
            &["exactly-once", "at-least-once", "none"],
        )? == "exactly-once";
        let compression = match opts
            .choice(
                "sink.compression",
                "none",
                &["none", "gzip", "snappy", "lz4", "zstd"],
            )?
            .as_str()
        {
            "gzip" => Compression::Gzip,
            "snappy" => Compression::Snappy,
            "lz4" => Compression::Lz4,
            "zstd" => Compression::Zstd,
            _ => Compression::NoCompression,
        };
        Ok(KafkaSink {
            broker,
            format,
            avro,
            key_fields,
            exactly_once,
            compression,
            client: None,
            parts: Vec::new(),
            pending: Vec::new(),
            ends: Vec::new(),
            replayed: HashMap::new(),
            skipped: 0,
        })
    }

    /// Records skipped on replay because the topic already held them.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// One encoded value per row (JSON objects, CSV lines without a
    /// header, or Avro datums).
    fn lines(&self, batch: &RecordBatch) -> Result<Vec<Vec<u8>>> {
        if let Some(avro) = &self.avro {
            return avro
                .encode(batch)
                .map_err(|e| self.broker.err("cannot encode the rows as Avro", e));
        }
        let n = batch.num_rows();
        if self.format == RowFormat::Json {
            let buf = encode(batch, RowFormat::Json, false)?;
            let lines: Vec<Vec<u8>> = buf
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec)
                .collect();
            if lines.len() == n {
                return Ok(lines);
            }
        }
        // CSV (a quoted field may hold a newline): one row at a time.
        (0..n)
            .map(|i| {
                let mut one = encode(&batch.slice(i, 1), self.format, false)?;
                while one.last() == Some(&b'\n') {
                    one.pop();
                }
                Ok(one)
            })
            .collect()
    }

    fn keys(&self, batch: &RecordBatch) -> Result<Option<Vec<Vec<u8>>>> {
        if self.key_fields.is_empty() {
            return Ok(None);
        }
        let idx: Vec<usize> = self
            .key_fields
            .iter()
            .map(|f| batch.schema().index_of(f))
            .collect::<std::result::Result<_, _>>()?;
        let keys = batch.project(&idx)?;
        let buf = encode(&keys, RowFormat::Json, false)?;
        let lines: Vec<Vec<u8>> = buf
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        if lines.len() != batch.num_rows() {
            return Err(self
                .broker
                .err("cannot encode the record keys", "one key per row expected"));
        }
        Ok(Some(lines))
    }
}

#[async_trait]
impl Sink for KafkaSink {
    async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.parts.is_empty() {
            return Err(self
                .broker
                .err("written before it was opened", "no partitions"));
        }
        let values = self.lines(batch)?;
        let keys = self.keys(batch)?;
        let now = Utc::now();
        for (i, value) in values.into_iter().enumerate() {
            let key = keys.as_ref().map(|k| k[i].clone());
            if !self.replayed.is_empty() {
                let id = (key, value);
                if let Some(c) = self.replayed.get_mut(&id) {
                    *c -= 1;
                    if *c == 0 {
                        self.replayed.remove(&id);
                    }
                    self.skipped += 1;
                    continue;
                }
                let (key, value) = id;
                self.push(key, value, now);
            } else {
                self.push(key, value, now);
            }
        }
        // Produced now, not at the next checkpoint: an alert leaves as soon
        // as its epoch is processed.
        self.flush().await
    }

    async fn flush(&mut self) -> Result<()> {
        // Every partition at once; each partition's chunks in order.
        let compression = self.compression;
        let sends = self
            .parts
            .iter()
            .zip(self.pending.iter_mut())
            .map(|(pc, pending)| {
                let records = std::mem::take(pending);
                let pc = Arc::clone(pc);
                async move {
                    let mut end = None;
                    let mut it = records.into_iter().peekable();
                    while it.peek().is_some() {
                        let chunk: Vec<Record> = it.by_ref().take(PRODUCE_RECORDS).collect();
                        let offsets = pc
                            .produce(chunk, compression)
                            .await
                            .map_err(|e| (pc.partition(), e))?;
                        end = offsets.last().map(|o| o + 1).or(end);
                    }
                    Ok::<_, (i32, rskafka::client::error::Error)>(end)
                }
            });
        let results = futures::future::join_all(sends).await;
        let mut first_error = None;
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(Some(end)) => self.ends[i] = end,
                Ok(None) => {}
                Err((p, e)) => {
                    first_error.get_or_insert_with(|| {
                        self.broker
                            .err(&format!("cannot produce to partition {p}"), e)
                    });
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn position(&self) -> Vec<u8> {
        let position = SinkPosition {
            ends: self
                .parts
                .iter()
                .zip(&self.ends)
                .map(|(pc, end)| (pc.partition(), *end))
                .collect(),
            skip: self
                .replayed
                .iter()
                .map(|((k, v), n)| (k.clone(), v.clone(), *n))
                .collect(),
        };
        postcard::to_allocvec(&position).unwrap_or_default()
    }

    async fn restore(&mut self, position: Option<&[u8]>) -> Result<()> {
        let (client, parts) = self.broker.connect().await?;
        let mut ends = Vec::with_capacity(parts.len());
        for pc in &parts {
            ends.push(end_offset(&self.broker, pc).await?);
        }
        self.replayed.clear();
        if let Some(pos) = position {
            let SinkPosition { ends: saved, skip } = postcard::from_bytes(pos).map_err(|e| {
                Error::Checkpoint(format!(
                    "the sink position of {} cannot be read: {e}",
                    self.broker.what()
                ))
            })?;
            // Rows a replay before this checkpoint had still to skip: they
            // lie before the checkpointed ends, and the replay comes to them.
            for (k, v, n) in skip {
                *self.replayed.entry((k, v)).or_insert(0) += n;
            }
            if saved.len() != parts.len() {
                return Err(Error::Checkpoint(format!(
                    "the checkpoint holds end offsets of {} partitions of the sink {}, it now has {}",
                    saved.len(),
                    self.broker.what(),
                    parts.len()
                )));
            }
            for ((pc, end), (id, at)) in parts.iter().zip(&ends).zip(saved) {
                if pc.partition() != id {
                    return Err(Error::Checkpoint(format!(
                        "the checkpoint's partition {id} is not a partition of the sink {}",
                        self.broker.what()
                    )));
                }
                if *end < at {
                    return Err(Error::Checkpoint(format!(
                        "the sink {} partition {id} ends at offset {end} but the checkpoint wrote up to {at}; the topic was deleted or truncated outside the job",
                        self.broker.what()
                    )));
                }
                if !self.exactly_once {
                    continue;
                }
                // Rows written after the checkpoint: the replay writes them again.
                let mut from = at;
                while from < *end {
                    let (records, _) = fetch_from(pc, from, 0).await.map_err(|e| {
                        self.broker.err(
                            &format!("cannot read back partition {id} at offset {from}"),
                            e,
                        )
                    })?;
                    let Some(last) = records.last().map(|r| r.offset) else {
                        break;
                    };
                    for r in records {
                        if r.offset >= *end {
                            break;
                        }
                        let value = r.record.value.unwrap_or_default();
                        *self.replayed.entry((r.record.key, value)).or_insert(0) += 1;
                    }
                    from = last + 1;
                }
            }
        }
        if !self.replayed.is_empty() {
            let n: u32 = self.replayed.values().sum();
            eprintln!(
                "{}: {n} records were written after the checkpoint; the replay skips them as it produces them again",
                self.broker.what()
            );
        }
        self.pending = vec![Vec::new(); parts.len()];
        self.ends = ends;
        self.parts = parts;
        self.client = Some(client);
        Ok(())
    }
}

impl KafkaSink {
    fn push(&mut self, key: Option<Vec<u8>>, value: Vec<u8>, now: rskafka::chrono::DateTime<Utc>) {
        let p = partition_for(key.as_deref().unwrap_or(&value), self.parts.len());
        self.pending[p].push(Record {
            key,
            value: Some(value),
            headers: Default::default(),
            timestamp: now,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_the_java_client() {
        // Values from Kafka's UtilsTest.testMurmur2.
        assert_eq!(murmur2(b"21"), -973_932_308);
        assert_eq!(murmur2(b"foobar"), -790_332_482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985_981_536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1_486_304_829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
            -58_897_971
        );
        assert_eq!(murmur2(b"abc"), 479_470_107);
    }

    #[test]
    fn offsets_round_trip_and_bad_bytes_are_refused() {
        let mut b = Vec::new();
        for (id, o) in [(0i32, 5i64), (3, 1 << 40)] {
            b.extend_from_slice(&id.to_le_bytes());
            b.extend_from_slice(&o.to_le_bytes());
        }
        assert_eq!(decode_offsets(&b, "x").unwrap(), vec![(0, 5), (3, 1 << 40)]);
        assert!(decode_offsets(&b[..5], "x").is_err());
    }
}
