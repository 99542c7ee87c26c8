//! Job metrics: counters, the event-to-output latency histogram, and a
//! Prometheus text endpoint (`--metrics-addr`).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{Error, Result};

/// Latency histogram bucket upper bounds, in seconds.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0,
];

/// Everything a job counts. Shared with the metrics endpoint.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Source table name.
    pub source: Mutex<String>,
    /// Sink table name (`stdout` for a plain SELECT).
    pub sink: Mutex<String>,
    /// Rows read from the source.
    pub rows_in: AtomicU64,
    /// Rows written to the sink.
    pub rows_out: AtomicU64,
    /// Output rows with `is_anomaly` true.
    pub anomalies: AtomicU64,
    /// Rows below the watermark on arrival.
    pub late_rows: AtomicU64,
    /// Keys evicted from detector state.
    pub evicted_keys: AtomicU64,
    /// Keys held by the detectors.
    pub keys: AtomicU64,
    /// Detector state bytes per key (last checkpoint).
    pub state_bytes_per_key: AtomicU64,
    /// Rows known to be waiting in the source.
    pub consumer_lag: AtomicU64,
    /// Rows waiting in the reorder buffer.
    pub buffered_rows: AtomicU64,
    /// Current watermark, µs since the epoch.
    pub watermark: AtomicI64,
    /// Epochs run.
    pub epochs: AtomicU64,
    /// Checkpoints written.
    pub checkpoints: AtomicU64,
    /// Last checkpoint: duration in µs.
    pub checkpoint_micros: AtomicU64,
    /// Last checkpoint: bytes.
    pub checkpoint_bytes: AtomicU64,
    /// Rows the sink could not deliver.
    pub sink_failures: AtomicU64,
    latency: Mutex<Latency>,
}

#[derive(Debug, Default)]
struct Latency {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
    /// Exact samples for percentiles (a bounded reservoir).
    samples: Vec<f64>,
    seen: u64,
}

const RESERVOIR: usize = 100_000;

impl Metrics {
    /// Record the latency of `n` rows that all took `seconds`... one by one.
    pub fn observe_latency(&self, seconds: &[f64]) {
        let mut l = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        for &s in seconds {
            l.count += 1;
            l.sum += s;
            if let Some(i) = LATENCY_BUCKETS.iter().position(|b| s <= *b) {
                l.buckets[i] += 1;
            }
            l.seen += 1;
            if l.samples.len() < RESERVOIR {
                l.samples.push(s);
            } else {
                // Deterministic reservoir replacement (no RNG needed for a statistic).
                let slot = (l.seen.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17) % l.seen;
                if (slot as usize) < RESERVOIR {
                    l.samples[slot as usize] = s;
                }
            }
        }
    }

    /// Latency percentiles (p50, p99) in seconds, if any row was written.
    pub fn latency_percentiles(&self) -> Option<(f64, f64)> {
        let l = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        if l.samples.is_empty() {
            return None;
        }
        let mut s = l.samples.clone();
        s.sort_by(f64::total_cmp);
        let at = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize];
        Some((at(0.5), at(0.99)))
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let source = self
            .source
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let sink = self.sink.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, kind: &str, labels: &str, v: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{labels} {v}"
            );
        };
        let src = format!("{{source=\"{source}\"}}");
        let snk = format!("{{sink=\"{sink}\"}}");
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed).to_string();
        counter(
            "wasmad_source_rows_total",
            "Rows read from the source.",
            "counter",
            &src,
            g(&self.rows_in),
        );
        counter(
            "wasmad_sink_rows_total",
            "Rows written to the sink.",
            "counter",
            &snk,
            g(&self.rows_out),
        );
        counter(
            "wasmad_sink_failed_rows_total",
            "Rows the sink could not deliver after retries.",
            "counter",
            &snk,
            g(&self.sink_failures),
        );
        counter(
            "wasmad_anomalies_total",
            "Output rows flagged is_anomaly.",
            "counter",
            "",
            g(&self.anomalies),
        );
        counter(
            "wasmad_late_rows_total",
            "Rows that arrived below the watermark (sent to the late side output).",
            "counter",
            &src,
            g(&self.late_rows),
        );
        counter(
            "wasmad_evicted_keys_total",
            "Keys evicted from detector state.",
            "counter",
            "",
            g(&self.evicted_keys),
        );
        counter(
            "wasmad_keys",
            "Keys held by the detectors.",
            "gauge",
            "",
            g(&self.keys),
        );
        counter(
            "wasmad_state_bytes_per_key",
            "Detector snapshot bytes per key at the last checkpoint.",
            "gauge",
            "",
            g(&self.state_bytes_per_key),
        );
        counter(
            "wasmad_consumer_lag",
            "Rows (datagen) or bytes (file) available in the source but not read yet.",
            "gauge",
            &src,
            g(&self.consumer_lag),
        );
        counter(
            "wasmad_reorder_buffer_rows",
            "Rows waiting for the watermark.",
            "gauge",
            &src,
            g(&self.buffered_rows),
        );
        counter(
            "wasmad_watermark_micros",
            "The source watermark, microseconds since the epoch.",
            "gauge",
            &src,
            self.watermark.load(Ordering::Relaxed).to_string(),
        );
        counter(
            "wasmad_epochs_total",
            "Epochs (micro-batches) run.",
            "counter",
            "",
            g(&self.epochs),
        );
        counter(
            "wasmad_checkpoints_total",
            "Checkpoints written.",
            "counter",
            "",
            g(&self.checkpoints),
        );
        counter(
            "wasmad_checkpoint_duration_seconds",
            "Duration of the last checkpoint.",
            "gauge",
            "",
            format!(
                "{}",
                self.checkpoint_micros.load(Ordering::Relaxed) as f64 / 1e6
            ),
        );
        counter(
            "wasmad_checkpoint_size_bytes",
            "Size of the last checkpoint.",
            "gauge",
            "",
            g(&self.checkpoint_bytes),
        );
        let l = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let name = "wasmad_event_to_output_latency_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} From a row's arrival at the source to its output row written to the sink.\n# TYPE {name} histogram"
        );
        let mut cum = 0;
        for (b, c) in LATENCY_BUCKETS.iter().zip(l.buckets.iter()) {
            cum += c;
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cum}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", l.count);
        let _ = writeln!(out, "{name}_sum {}", l.sum);
        let _ = writeln!(out, "{name}_count {}", l.count);
        out
    }
}

/// Serve `metrics` as Prometheus text on `addr` until the process exits.
/// Returns the bound address (port 0 picks a free one).
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Io(format!("--metrics-addr {addr}: cannot listen: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::Io(format!("--metrics-addr {addr}: {e}")))?;
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            let m = Arc::clone(&metrics);
            tokio::spawn(async move {
                let mut req = [0u8; 2048];
                let _ = sock.read(&mut req).await;
                let body = m.render();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Ok(bound)
}
