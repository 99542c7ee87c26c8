//! Sinks: where a job's rows go.
//!
//! - `stdout`: JSON lines (or CSV), flushed every epoch.
//! - `file`: JSON lines or CSV appended to a file. Its position is the byte
//!   length after the last checkpointed epoch; a restart truncates the file
//!   to it before the replayed epochs write again, so the file holds every
//!   row exactly once across crashes.
//! - `webhook`: one HTTP POST per row (a JSON object), retried with
//!   exponential backoff; rows that still fail are counted and written to
//!   stderr, never dropped silently.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::connector::Options;
use crate::error::{Error, Result};

/// How rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFormat {
    /// One JSON object per line.
    Json,
    /// CSV with a header line.
    Csv,
}

/// A sink of rows.
#[async_trait]
pub trait Sink: Send {
    /// Write rows (buffered until [`Sink::flush`]).
    async fn write(&mut self, batch: &RecordBatch) -> Result<()>;
    /// Make everything written so far durable (or visible, for stdout).
    async fn flush(&mut self) -> Result<()>;
    /// The position a checkpoint records, serialised (a byte length for
    /// files, per-partition offsets for Kafka).
    fn position(&self) -> Vec<u8>;
    /// Open the sink, going back to a checkpointed position (`None`: a fresh
    /// start).
    async fn restore(&mut self, position: Option<&[u8]>) -> Result<()>;
    /// Rows that could not be delivered (webhook), counted.
    fn failed(&self) -> u64 {
        0
    }
}

/// Dictionary-encoded columns (the detector's labels) as plain strings.
pub fn printable(batch: &RecordBatch) -> Result<RecordBatch> {
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Dictionary(..)))
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if let DataType::Dictionary(_, value) = f.data_type() {
            fields.push(Field::new(f.name(), (**value).clone(), f.is_nullable()));
            columns.push(cast(c, value)?);
        } else {
            fields.push((**f).clone());
            columns.push(Arc::clone(c));
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

pub(crate) fn encode(batch: &RecordBatch, format: RowFormat, header: bool) -> Result<Vec<u8>> {
    let batch = printable(batch)?;
    let mut buf = Vec::new();
    match format {
        RowFormat::Json => {
            let mut w = datafusion::arrow::json::LineDelimitedWriter::new(&mut buf);
            w.write(&batch)?;
            w.finish()?;
        }
        RowFormat::Csv => {
            let mut w = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(header)
                .build(&mut buf);
            w.write(&batch)?;
        }
    }
    Ok(buf)
}

pub(crate) fn row_format(opts: &Options<'_>, default: RowFormat) -> Result<RowFormat> {
    let d = match default {
        RowFormat::Json => "json",
        RowFormat::Csv => "csv",
    };
    Ok(match opts.choice("format", d, &["json", "csv"])?.as_str() {
        "csv" => RowFormat::Csv,
        _ => RowFormat::Json,
    })
}

/// `stdout` sink options.
pub const STDOUT_OPTIONS: [&str; 1] = ["format"];

/// Rows to standard output.
#[derive(Debug)]
pub struct StdoutSink {
    format: RowFormat,
    header_written: bool,
    rows: u64,
}

impl StdoutSink {
    /// Build from a table's options.
    pub fn new(opts: &Options<'_>, default: RowFormat) -> Result<Self> {
        Ok(Self::with_format(row_format(opts, default)?))
    }

    /// A stdout sink for a plain `SELECT` job.
    pub fn with_format(format: RowFormat) -> Self {
        StdoutSink {
            format,
            header_written: false,
            rows: 0,
        }
    }
}

#[async_trait]
impl Sink for StdoutSink {
    async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let buf = encode(batch, self.format, !self.header_written)?;
        self.header_written = true;
        self.rows += batch.num_rows() as u64;
        std::io::stdout()
            .lock()
            .write_all(&buf)
            .map_err(Error::Stdout)
    }

    async fn flush(&mut self) -> Result<()> {
        std::io::stdout().lock().flush().map_err(Error::Stdout)
    }

    fn position(&self) -> Vec<u8> {
        self.rows.to_le_bytes().to_vec()
    }

    async fn restore(&mut self, _position: Option<&[u8]>) -> Result<()> {
        Ok(())
    }
}

/// `file` sink options.
pub const FILE_OPTIONS: [&str; 2] = ["path", "format"];

/// Rows appended to a file, truncated back to the checkpoint on restore.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    format: RowFormat,
    file: Option<std::fs::File>,
    position: u64,
}

impl FileSink {
    /// Build from a table's options.
    pub fn new(opts: &Options<'_>) -> Result<Self> {
        let path = opts.required("path", "the file to write")?;
        let default = if path.ends_with(".csv") {
            RowFormat::Csv
        } else {
            RowFormat::Json
        };
        Ok(FileSink {
            path: PathBuf::from(path),
            format: row_format(opts, default)?,
            file: None,
            position: 0,
        })
    }

    fn io(&self, e: std::io::Error) -> Error {
        Error::Io(format!("file sink {}: {e}", self.path.display()))
    }
}

#[async_trait]
impl Sink for FileSink {
    async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let buf = encode(batch, self.format, self.position == 0)?;
        let Some(file) = self.file.as_mut() else {
            return Err(Error::Io(format!(
                "file sink {}: written before it was opened",
                self.path.display()
            )));
        };
        let r = file.write_all(&buf);
        r.map_err(|e| self.io(e))?;
        self.position += buf.len() as u64;
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        if let Some(f) = self.file.as_mut() {
            let r = f.sync_data();
            r.map_err(|e| self.io(e))?;
        }
        Ok(())
    }

    fn position(&self) -> Vec<u8> {
        self.position.to_le_bytes().to_vec()
    }

    async fn restore(&mut self, position: Option<&[u8]>) -> Result<()> {
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| self.io(e))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| self.io(e))?;
        let len = file.metadata().map_err(|e| self.io(e))?.len();
        let keep = match position {
            None => 0,
            Some(p) => u64::from_le_bytes(p.try_into().map_err(|_| {
                Error::Checkpoint(format!(
                    "file sink {}: the checkpointed position is not 8 bytes",
                    self.path.display()
                ))
            })?),
        };
        if len < keep {
            return Err(Error::Io(format!(
                "file sink {}: the file holds {len} bytes but the checkpoint recorded {keep}; it was truncated or replaced outside the job",
                self.path.display()
            )));
        }
        // Rows written after the checkpoint are written again by the replay.
        file.set_len(keep).map_err(|e| self.io(e))?;
        file.sync_all().map_err(|e| self.io(e))?;
        self.position = keep;
        self.file = Some(file);
        Ok(())
    }
}

/// `webhook` sink options.
pub const WEBHOOK_OPTIONS: [&str; 4] = ["url", "retries", "retry.backoff", "timeout"];

/// One HTTP POST per row (plain `http://` only).
#[derive(Debug)]
pub struct WebhookSink {
    url: String,
    host: String,
    port: u16,
    path: String,
    retries: u64,
    backoff: Duration,
    timeout: Duration,
    sent: u64,
    failed: u64,
}

impl WebhookSink {
    /// Build from a table's options.
    pub fn new(opts: &Options<'_>) -> Result<Self> {
        let url = opts.required("url", "where to POST each row, http://host:port/path")?;
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            opts.error(format!(
                "option 'url' = '{url}': only http:// URLs are supported (no TLS in this build)"
            ))
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse::<u16>()
                    .map_err(|_| opts.error(format!("option 'url' = '{url}': bad port '{p}'")))?,
            ),
            None => (authority.to_string(), 80),
        };
        if host.is_empty() {
            return Err(opts.error(format!("option 'url' = '{url}': no host")));
        }
        Ok(WebhookSink {
            url: url.to_string(),
            host,
            port,
            path,
            retries: opts.u64("retries", 5, 0, 100)?,
            backoff: Duration::from_micros(opts.duration_micros("retry.backoff", 100_000)? as u64),
            timeout: Duration::from_micros(opts.duration_micros("timeout", 5_000_000)? as u64),
            sent: 0,
            failed: 0,
        })
    }

    async fn post(&self, body: &[u8]) -> std::result::Result<(), String> {
        let attempt = async {
            let mut s = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let head = format!(
                "POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                self.path,
                self.host,
                self.port,
                body.len()
            );
            s.write_all(head.as_bytes())
                .await
                .map_err(|e| format!("send: {e}"))?;
            s.write_all(body).await.map_err(|e| format!("send: {e}"))?;
            let mut resp = Vec::new();
            s.read_to_end(&mut resp)
                .await
                .map_err(|e| format!("receive: {e}"))?;
            let status_line = resp.split(|b| *b == b'\n').next().unwrap_or_default();
            let status = String::from_utf8_lossy(status_line);
            let code = status.split_whitespace().nth(1).unwrap_or("");
            if code.starts_with('2') {
                Ok(())
            } else {
                Err(format!("status '{}'", status.trim()))
            }
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }
}

#[async_trait]
impl Sink for WebhookSink {
    async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let buf = encode(batch, RowFormat::Json, false)?;
        for line in buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let mut delay = self.backoff;
            let mut last = String::new();
            let mut ok = false;
            for attempt in 0..=self.retries {
                match self.post(line).await {
                    Ok(()) => {
                        ok = true;
                        break;
                    }
                    Err(e) => last = e,
                }
                if attempt < self.retries {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
            if ok {
                self.sent += 1;
            } else {
                self.failed += 1;
                eprintln!(
                    "webhook {}: row not delivered after {} attempts ({last}): {}",
                    self.url,
                    self.retries + 1,
                    String::from_utf8_lossy(line)
                );
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    fn position(&self) -> Vec<u8> {
        self.sent.to_le_bytes().to_vec()
    }

    async fn restore(&mut self, _position: Option<&[u8]>) -> Result<()> {
        Ok(())
    }

    fn failed(&self) -> u64 {
        self.failed
    }
}
