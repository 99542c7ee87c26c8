//! Sources: where a job's rows come from, with a position that a checkpoint
//! records and a restart seeks back to.
//!
//! - `datagen`: synthetic per-key series (trend, daily seasonality, noise,
//!   spikes, dips, level shifts), seeded and rate limited, with the ground
//!   truth of every injected anomaly in a BOOLEAN column. Every row is a pure
//!   function of the seed and its index, so its position is a row count.
//! - `file`: newline-delimited JSON or CSV, followed as it grows
//!   (`'follow' = 'true'`, the default) or read to its end; its position is a
//!   byte offset after the last complete line read.
//! - `stdin`: the same formats on standard input; it cannot be replayed, so a
//!   job reading it cannot resume from a checkpoint.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Float32Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};

use crate::connector::Options;
use crate::error::{Error, Result};

/// What a poll returned.
#[derive(Debug)]
pub enum Polled {
    /// Rows from one partition of the source.
    Rows {
        /// The partition (Kafka partition, file, ...): watermarks are tracked per partition.
        partition: usize,
        /// The rows, in the table's declared schema.
        batch: RecordBatch,
    },
    /// Nothing available right now.
    Pending,
    /// The source has ended (bounded sources only).
    End,
}

/// A source of rows.
#[async_trait]
pub trait Source: Send {
    /// Number of partitions (watermarks are per partition).
    fn partitions(&self) -> usize {
        1
    }
    /// Connect and learn the partitions (before [`Source::partitions`] and
    /// [`Source::seek`] are asked).
    async fn open(&mut self) -> Result<()> {
        Ok(())
    }
    /// Up to `max_rows` rows that are available now.
    async fn poll(&mut self, max_rows: usize) -> Result<Polled>;
    /// The position after the last row returned, serialised.
    fn offset(&self) -> Vec<u8>;
    /// Continue after `offset` (from a checkpoint).
    fn seek(&mut self, offset: &[u8]) -> Result<()>;
    /// When the rows last returned were produced, in milliseconds since the
    /// Unix epoch (the oldest of them), where the source knows it (Kafka
    /// record timestamps): event-to-output latency then counts from there,
    /// not from the poll that read them.
    fn produced_at_ms(&self) -> Option<i64> {
        None
    }
    /// Rows known to be available but not yet read (consumer lag), if known.
    fn lag(&self) -> Option<u64> {
        None
    }
}

fn u64_offset(offset: &[u8], what: &str) -> Result<u64> {
    let bytes: [u8; 8] = offset
        .try_into()
        .map_err(|_| Error::Checkpoint(format!("the {what} offset is not 8 bytes")))?;
    Ok(u64::from_le_bytes(bytes))
}

/// `datagen` options.
pub const DATAGEN_OPTIONS: [&str; 22] = [
    "rows-per-second",
    "number-of-rows",
    "keys",
    "seed",
    "start",
    "interval",
    "base",
    "trend",
    "seasonality",
    "noise",
    "spike.probability",
    "spike.magnitude",
    "dip.probability",
    "dip.magnitude",
    "level-shift.probability",
    "level-shift.magnitude",
    "level-shift.length",
    "anomaly.start",
    "anomaly.correlated",
    "shuffle",
    "key.prefix",
    "max-batch",
];

#[derive(Debug, Clone, Copy)]
enum GenColumn {
    Key,
    Time,
    Value(usize, bool),
    Injected,
    Seq,
}

/// Synthetic series (see the module docs and README's option table).
#[derive(Debug)]
pub struct Datagen {
    schema: SchemaRef,
    columns: Vec<GenColumn>,
    rate: f64,
    total: Option<u64>,
    keys: u64,
    seed: u64,
    start_us: i64,
    interval_us: i64,
    base: f64,
    trend: f64,
    seasonality: f64,
    noise: f64,
    spike_p: f64,
    spike_mag: f64,
    dip_p: f64,
    dip_mag: f64,
    shift_p: f64,
    shift_mag: f64,
    shift_len: u64,
    anomaly_start: u64,
    correlated: f64,
    shuffle: u64,
    key_prefix: String,
    max_batch: usize,
    /// Rows emitted (the position).
    emitted: u64,
    /// Rate limiting: when `rate_base` rows had been emitted.
    rate_clock: Option<(Instant, u64)>,
    perm: Option<(u64, Vec<u32>)>,
}

/// splitmix64: a seeded, stateless hash for per-row randomness.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

impl Datagen {
    /// Build from a table's options and columns.
    pub fn new(opts: &Options<'_>) -> Result<Self> {
        let schema = Arc::clone(&opts.table().schema);
        let mut columns = Vec::new();
        let mut values = 0;
        for f in schema.fields() {
            let c = match f.data_type() {
                DataType::Utf8 => GenColumn::Key,
                DataType::Timestamp(_, _) => GenColumn::Time,
                DataType::Float64 => {
                    values += 1;
                    GenColumn::Value(values - 1, false)
                }
                DataType::Float32 => {
                    values += 1;
                    GenColumn::Value(values - 1, true)
                }
                DataType::Boolean => GenColumn::Injected,
                DataType::Int64 => GenColumn::Seq,
                other => {
                    return Err(opts.error(format!(
                        "column '{}' has type {other}; datagen fills STRING (the key), TIMESTAMP (event time), DOUBLE/FLOAT (a series each), BOOLEAN (true where an anomaly was injected) and BIGINT (row number) columns",
                        f.name()
                    )));
                }
            };
            columns.push(c);
        }
        if !columns.iter().any(|c| matches!(c, GenColumn::Time)) {
            return Err(opts.error("datagen needs a TIMESTAMP column for event time"));
        }
        let start = opts.str("start").unwrap_or("2024-01-01T00:00:00");
        let start_us = parse_timestamp_micros(start).ok_or_else(|| {
            opts.error(format!(
                "option 'start' = '{start}': expected a timestamp such as 2024-01-01T00:00:00"
            ))
        })?;
        let total = match opts.str("number-of-rows") {
            None => None,
            Some(_) => Some(opts.u64("number-of-rows", 0, 0, u64::MAX / 2)?),
        };
        let interval_us = opts.duration_micros("interval", 60_000_000)?;
        if interval_us == 0 {
            return Err(opts.error("option 'interval' must be positive"));
        }
        Ok(Datagen {
            schema,
            columns,
            rate: opts.f64("rows-per-second", 10_000.0, 0.0, 1e9)?,
            total,
            keys: opts.u64("keys", 1, 1, 10_000_000)?,
            seed: opts.u64("seed", 0, 0, u64::MAX)?,
            start_us,
            interval_us,
            base: opts.f64("base", 100.0, -1e15, 1e15)?,
            trend: opts.f64("trend", 0.0, -1e12, 1e12)?,
            seasonality: opts.f64("seasonality", 0.0, 0.0, 1e15)?,
            noise: opts.f64("noise", 1.0, 0.0, 1e15)?,
            spike_p: opts.f64("spike.probability", 0.001, 0.0, 1.0)?,
            spike_mag: opts.f64("spike.magnitude", 10.0, 0.0, 1e15)?,
            dip_p: opts.f64("dip.probability", 0.001, 0.0, 1.0)?,
            dip_mag: opts.f64("dip.magnitude", 10.0, 0.0, 1e15)?,
            shift_p: opts.f64("level-shift.probability", 0.0, 0.0, 1.0)?,
            shift_mag: opts.f64("level-shift.magnitude", 10.0, 0.0, 1e15)?,
            shift_len: opts.u64("level-shift.length", 500, 1, u64::MAX / 2)?,
            anomaly_start: opts.u64("anomaly.start", 50, 0, u64::MAX / 2)?,
            correlated: opts.f64("anomaly.correlated", 0.0, 0.0, 1.0)?,
            shuffle: opts.u64("shuffle", 0, 0, 1_000_000)?,
            key_prefix: opts.str("key.prefix").unwrap_or("key-").to_string(),
            max_batch: opts.u64("max-batch", 8192, 1, 1_000_000)? as usize,
            emitted: 0,
            rate_clock: None,
            perm: None,
        })
    }

    /// The row index emitted at position `j` (identity unless `shuffle`).
    fn row_at(&mut self, j: u64) -> u64 {
        if self.shuffle <= 1 {
            return j;
        }
        let block = j / self.shuffle;
        let lo = block * self.shuffle;
        let size = match self.total {
            Some(t) => (t - lo).min(self.shuffle),
            None => self.shuffle,
        };
        if self.perm.as_ref().is_none_or(|(b, _)| *b != block) {
            let mut p: Vec<u32> = (0..size as u32).collect();
            for i in (1..p.len()).rev() {
                let r = mix(self.seed ^ mix(block.wrapping_mul(31).wrapping_add(i as u64)));
                let k = (r % (i as u64 + 1)) as usize;
                p.swap(i, k);
            }
            self.perm = Some((block, p));
        }
        match &self.perm {
            Some((_, p)) => lo + u64::from(p[(j - lo) as usize]),
            None => j,
        }
    }

    fn shifted(&self, key: u64, col: usize, segment: u64) -> f64 {
        if self.shift_p == 0.0 || segment * self.shift_len < self.anomaly_start {
            return 0.0;
        }
        let h = mix(self.seed ^ mix(key ^ mix((col as u64) << 40 ^ segment ^ 0x5151)));
        if unit(h) < self.shift_p {
            if h & 1 == 0 {
                self.shift_mag
            } else {
                -self.shift_mag
            }
        } else {
            0.0
        }
    }

    /// Value and whether an anomaly was injected, for row `i` and series `col`.
    fn value(&self, i: u64, col: usize) -> (f64, bool) {
        let key = i % self.keys;
        let step = i / self.keys;
        let ts_s = (self.start_us + step as i64 * self.interval_us) as f64 / 1e6;
        let h = mix(self.seed ^ mix(i ^ ((col as u64) << 48)));
        let (u1, u2) = (unit(h).max(1e-300), unit(mix(h)));
        let gauss = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let mut v = self.base
            + key as f64 * 10.0
            + self.trend * step as f64
            + self.seasonality
                * (std::f64::consts::TAU * ts_s.rem_euclid(86_400.0) / 86_400.0).sin()
            + self.noise * gauss;
        let mut injected = false;
        if step >= self.anomaly_start {
            // With 'anomaly.correlated', that share of rows draws one spike
            // or dip decision for all its series (a host-wide incident).
            let shared = unit(mix(self.seed ^ mix(i ^ 0xC0C0))) < self.correlated;
            let dh = if shared { mix(self.seed ^ mix(i)) } else { h };
            let u = unit(mix(dh ^ 0xA5A5));
            if u < self.spike_p {
                v += self.spike_mag;
                injected = true;
            } else if u < self.spike_p + self.dip_p {
                v -= self.dip_mag;
                injected = true;
            }
        }
        let segment = step / self.shift_len;
        let level = self.shifted(key, col, segment);
        v += level;
        if step.is_multiple_of(self.shift_len)
            && segment > 0
            && level != self.shifted(key, col, segment - 1)
        {
            injected = true;
        }
        (v, injected)
    }

    fn generate(&mut self, n: usize) -> Result<RecordBatch> {
        let rows: Vec<u64> = (self.emitted..self.emitted + n as u64)
            .map(|j| self.row_at(j))
            .collect();
        let n_values = self
            .columns
            .iter()
            .filter(|c| matches!(c, GenColumn::Value(..)))
            .count();
        let vals: Vec<Vec<(f64, bool)>> = (0..n_values)
            .map(|c| rows.iter().map(|&i| self.value(i, c)).collect())
            .collect();
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for (c, field) in self.columns.iter().zip(self.schema.fields()) {
            let a: ArrayRef = match c {
                GenColumn::Key => Arc::new(StringArray::from_iter_values(
                    rows.iter()
                        .map(|i| format!("{}{}", self.key_prefix, i % self.keys)),
                )),
                GenColumn::Time => {
                    let us = Int64Array::from_iter_values(
                        rows.iter()
                            .map(|i| self.start_us + (i / self.keys) as i64 * self.interval_us),
                    );
                    let us = cast(&us, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
                    cast(&us, field.data_type())?
                }
                GenColumn::Value(k, f32) => {
                    let it = vals[*k].iter().map(|(v, _)| *v);
                    if *f32 {
                        Arc::new(Float32Array::from_iter_values(it.map(|v| v as f32)))
                    } else {
                        Arc::new(Float64Array::from_iter_values(it))
                    }
                }
                GenColumn::Injected => Arc::new(BooleanArray::from(
                    (0..rows.len())
                        .map(|r| vals.iter().any(|v| v[r].1))
                        .collect::<Vec<_>>(),
                )),
                GenColumn::Seq => {
                    Arc::new(Int64Array::from_iter_values(rows.iter().map(|&i| i as i64)))
                }
            };
            arrays.push(a);
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), arrays)?)
    }
}

#[async_trait]
impl Source for Datagen {
    async fn poll(&mut self, max_rows: usize) -> Result<Polled> {
        let mut n = max_rows.min(self.max_batch) as u64;
        if let Some(total) = self.total {
            if self.emitted >= total {
                return Ok(Polled::End);
            }
            n = n.min(total - self.emitted);
        }
        if self.rate > 0.0 {
            let (t0, base) = *self
                .rate_clock
                .get_or_insert((Instant::now(), self.emitted));
            let allowed = base + (t0.elapsed().as_secs_f64() * self.rate) as u64;
            n = n.min(allowed.saturating_sub(self.emitted));
        }
        if n == 0 {
            return Ok(Polled::Pending);
        }
        let batch = self.generate(n as usize)?;
        self.emitted += n;
        Ok(Polled::Rows {
            partition: 0,
            batch,
        })
    }

    fn offset(&self) -> Vec<u8> {
        self.emitted.to_le_bytes().to_vec()
    }

    fn seek(&mut self, offset: &[u8]) -> Result<()> {
        self.emitted = u64_offset(offset, "datagen")?;
        self.rate_clock = None;
        Ok(())
    }

    fn lag(&self) -> Option<u64> {
        self.total.map(|t| t.saturating_sub(self.emitted))
    }
}

/// `2024-01-01T00:00:00` or `2024-01-01 00:00:00[.ffffff]` (UTC) to microseconds.
fn parse_timestamp_micros(s: &str) -> Option<i64> {
    let a = datafusion::arrow::array::StringArray::from(vec![s]);
    let t = cast(&a, &DataType::Timestamp(TimeUnit::Microsecond, None)).ok()?;
    let t = cast(&t, &DataType::Int64).ok()?;
    let t = t.as_any().downcast_ref::<Int64Array>()?;
    (!t.is_null(0)).then(|| t.value(0))
}

/// Row formats of the file and stdin sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Newline-delimited JSON objects.
    Json,
    /// CSV lines.
    Csv,
}

pub(crate) fn parse_lines(
    schema: &SchemaRef,
    format: Format,
    data: &[u8],
) -> Result<Vec<RecordBatch>> {
    use datafusion::arrow::{csv, json};
    let mut out = Vec::new();
    match format {
        Format::Json => {
            let reader = json::ReaderBuilder::new(Arc::clone(schema))
                .with_batch_size(8192)
                .build(std::io::Cursor::new(data))?;
            for b in reader {
                out.push(b?);
            }
        }
        Format::Csv => {
            let reader = csv::ReaderBuilder::new(Arc::clone(schema))
                .with_header(false)
                .with_batch_size(8192)
                .build(std::io::Cursor::new(data))?;
            for b in reader {
                out.push(b?);
            }
        }
    }
    Ok(out)
}

pub(crate) fn concat(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<RecordBatch> {
    Ok(datafusion::arrow::compute::concat_batches(schema, batches)?)
}

pub(crate) fn format_option(opts: &Options<'_>, path: Option<&str>) -> Result<Format> {
    let default = match path {
        Some(p) if p.ends_with(".csv") => "csv",
        _ => "json",
    };
    Ok(
        match opts.choice("format", default, &["json", "csv"])?.as_str() {
            "csv" => Format::Csv,
            _ => Format::Json,
        },
    )
}

/// `file` source options.
pub const FILE_OPTIONS: [&str; 4] = ["path", "format", "follow", "csv.has-header"];

/// One file of a file source.
#[derive(Debug)]
struct OneFile {
    schema: SchemaRef,
    path: PathBuf,
    format: Format,
    follow: bool,
    has_header: bool,
    offset: u64,
    file_len: u64,
}

const CHUNK: usize = 1 << 20;

impl OneFile {
    async fn poll(&mut self, _max_rows: usize) -> Result<Polled> {
        let mut file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.follow => {
                return Ok(Polled::Pending);
            }
            Err(e) => {
                return Err(Error::Io(format!(
                    "file source {}: cannot open: {e}",
                    self.path.display()
                )));
            }
        };
        let io = |e: std::io::Error| Error::Io(format!("file source {}: {e}", self.path.display()));
        self.file_len = file.metadata().map_err(io)?.len();
        if self.file_len < self.offset {
            return Err(Error::Io(format!(
                "file source {}: the file shrank below the position already read ({} < {} bytes); files are followed as append-only",
                self.path.display(),
                self.file_len,
                self.offset
            )));
        }
        if self.file_len == self.offset {
            return Ok(if self.follow {
                Polled::Pending
            } else {
                Polled::End
            });
        }
        file.seek(SeekFrom::Start(self.offset)).map_err(io)?;
        let want = ((self.file_len - self.offset) as usize).min(CHUNK);
        let mut buf = vec![0u8; want];
        file.read_exact(&mut buf).map_err(io)?;
        // Only complete lines, unless the file is read to its end once.
        let at_end = self.offset + want as u64 == self.file_len;
        let used = match buf.iter().rposition(|b| *b == b'\n') {
            Some(p) => p + 1,
            None if at_end && !self.follow => buf.len(),
            None if want == CHUNK => {
                return Err(Error::Io(format!(
                    "file source {}: a line at byte {} is longer than {CHUNK} bytes",
                    self.path.display(),
                    self.offset
                )));
            }
            None => return Ok(Polled::Pending),
        };
        let used = if at_end && !self.follow {
            buf.len()
        } else {
            used
        };
        let mut data = &buf[..used];
        if self.offset == 0 && self.has_header {
            let nl = data
                .iter()
                .position(|b| *b == b'\n')
                .map_or(data.len(), |p| p + 1);
            data = &data[nl..];
        }
        let batches = parse_lines(&self.schema, self.format, data).map_err(|e| {
            Error::Io(format!(
                "file source {}: cannot read the lines after byte {}: {e}",
                self.path.display(),
                self.offset
            ))
        })?;
        self.offset += used as u64;
        let batch = concat(&self.schema, &batches)?;
        if batch.num_rows() == 0 {
            return Ok(Polled::Pending);
        }
        Ok(Polled::Rows {
            partition: 0,
            batch,
        })
    }

    fn lag(&self) -> u64 {
        self.file_len.saturating_sub(self.offset)
    }
}

/// CSV or NDJSON files (`'path'` is one path or a comma-separated list),
/// each followed as it grows and tracked as its own partition for the
/// watermark.
#[derive(Debug)]
pub struct FileSource {
    files: Vec<OneFile>,
    next: usize,
}

impl FileSource {
    /// Build from a table's options.
    pub fn new(opts: &Options<'_>) -> Result<Self> {
        let paths = opts.required("path", "the file to read, or a comma-separated list")?;
        let mut files = Vec::new();
        for path in paths.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let format = format_option(opts, Some(path))?;
            files.push(OneFile {
                schema: Arc::clone(&opts.table().schema),
                path: PathBuf::from(path),
                format,
                follow: opts.bool("follow", true)?,
                has_header: opts.bool("csv.has-header", format == Format::Csv)?,
                offset: 0,
                file_len: 0,
            });
        }
        if files.is_empty() {
            return Err(opts.error("option 'path' names no file"));
        }
        Ok(FileSource { files, next: 0 })
    }
}

#[async_trait]
impl Source for FileSource {
    fn partitions(&self) -> usize {
        self.files.len()
    }

    async fn poll(&mut self, max_rows: usize) -> Result<Polled> {
        // Round robin, so one busy file cannot starve the others.
        let n = self.files.len();
        let mut all_ended = true;
        for step in 0..n {
            let i = (self.next + step) % n;
            match self.files[i].poll(max_rows).await? {
                Polled::Rows { batch, .. } => {
                    self.next = (i + 1) % n;
                    return Ok(Polled::Rows {
                        partition: i,
                        batch,
                    });
                }
                Polled::Pending => all_ended = false,
                Polled::End => {}
            }
        }
        Ok(if all_ended {
            Polled::End
        } else {
            Polled::Pending
        })
    }

    fn offset(&self) -> Vec<u8> {
        self.files
            .iter()
            .flat_map(|f| f.offset.to_le_bytes())
            .collect()
    }

    fn seek(&mut self, offset: &[u8]) -> Result<()> {
        if offset.len() != 8 * self.files.len() {
            return Err(Error::Checkpoint(format!(
                "the checkpoint holds positions for {} files, the source reads {}",
                offset.len() / 8,
                self.files.len()
            )));
        }
        for (f, o) in self.files.iter_mut().zip(offset.chunks(8)) {
            f.offset = u64_offset(o, "file")?;
        }
        Ok(())
    }

    fn lag(&self) -> Option<u64> {
        Some(self.files.iter().map(OneFile::lag).sum())
    }
}

/// `stdin` source options.
pub const STDIN_OPTIONS: [&str; 1] = ["format"];

/// Lines on standard input (JSON or CSV, no header).
#[derive(Debug)]
pub struct StdinSource {
    schema: SchemaRef,
    format: Format,
    /// Lines read by a thread started on the first poll.
    rx: Option<tokio::sync::mpsc::Receiver<std::io::Result<String>>>,
    read: u64,
}

impl StdinSource {
    /// Build from a table's options (stdin is read from the first poll on).
    pub fn new(opts: &Options<'_>) -> Result<Self> {
        let format = format_option(opts, None)?;
        Ok(StdinSource {
            schema: Arc::clone(&opts.table().schema),
            format,
            rx: None,
            read: 0,
        })
    }

    fn start(&mut self) -> &mut tokio::sync::mpsc::Receiver<std::io::Result<String>> {
        self.rx.get_or_insert_with(|| {
            let (tx, rx) = tokio::sync::mpsc::channel(65_536);
            std::thread::spawn(move || {
                let stdin = std::io::stdin();
                let mut line = String::new();
                loop {
                    line.clear();
                    match stdin.read_line(&mut line) {
                        Ok(0) => break,
                        Ok(_) => {
                            if tx.blocking_send(Ok(line.clone())).is_err() {
                                break;
                            }
                        }
                        Err(e) => {
                            let _ = tx.blocking_send(Err(e));
                            break;
                        }
                    }
                }
            });
            rx
        })
    }
}

#[async_trait]
impl Source for StdinSource {
    async fn poll(&mut self, max_rows: usize) -> Result<Polled> {
        let mut data = String::new();
        let mut n = 0;
        let mut ended = false;
        let rx = self.start();
        while n < max_rows {
            match rx.try_recv() {
                Ok(Ok(line)) => {
                    if !line.trim().is_empty() {
                        data.push_str(&line);
                        if !line.ends_with('\n') {
                            data.push('\n');
                        }
                        n += 1;
                    }
                }
                Ok(Err(e)) => return Err(Error::Io(format!("stdin source: {e}"))),
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                    ended = true;
                    break;
                }
            }
        }
        if n == 0 {
            return Ok(if ended { Polled::End } else { Polled::Pending });
        }
        let batches = parse_lines(&self.schema, self.format, data.as_bytes()).map_err(|e| {
            Error::Io(format!(
                "stdin source: cannot read the lines after line {}: {e}",
                self.read
            ))
        })?;
        self.read += n as u64;
        Ok(Polled::Rows {
            partition: 0,
            batch: concat(&self.schema, &batches)?,
        })
    }

    fn offset(&self) -> Vec<u8> {
        self.read.to_le_bytes().to_vec()
    }

    fn seek(&mut self, offset: &[u8]) -> Result<()> {
        if u64_offset(offset, "stdin")? == 0 {
            return Ok(());
        }
        Err(Error::Checkpoint(
            "the stdin connector cannot resume from a checkpoint (its input cannot be replayed); use the file connector, or a new checkpoint directory".into(),
        ))
    }
}
