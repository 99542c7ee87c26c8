//! `wasmad run JOB.sql` for streaming jobs: options, signals, `--stats`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use wasmad_stream::sink::RowFormat;
use wasmad_stream::{JobOptions, run_job};

use crate::script::Format;
use crate::{Cli, JobArgs, backend};

/// Run a job script until its sources end or SIGINT/SIGTERM.
pub async fn run(cli: &Cli, args: &JobArgs, sql: &str) -> Result<()> {
    // SIGINT / SIGTERM: finish the epoch, checkpoint, exit 0.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_flag = Arc::clone(&stop);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => {
                        let _ = ctrl_c.await;
                        stop.store(true, Ordering::Relaxed);
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        stop.store(true, Ordering::Relaxed);
    });
    let parallelism = cli
        .parallelism
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let mut opts = JobOptions::new(backend(cli)?, parallelism);
    opts.stop = stop_flag;
    opts.checkpoint_dir = args.checkpoint_dir.clone();
    let interval = wasmad_stream::ddl::parse_duration_micros(&args.checkpoint_interval)
        .map_err(|e| anyhow::anyhow!("--checkpoint-interval: {e}"))?;
    opts.checkpoint_interval = Duration::from_micros(interval.max(0) as u64);
    opts.epoch_rows = args.epoch_rows.max(1);
    opts.epoch_time = Duration::from_millis(args.epoch_ms.max(1));
    opts.stdout_format = match cli.format {
        Format::Csv => RowFormat::Csv,
        _ => RowFormat::Json,
    };
    if let Some(addr) = args.metrics_addr {
        let bound = wasmad_stream::metrics::serve(addr, Arc::clone(&opts.metrics)).await?;
        eprintln!("metrics: http://{bound}/metrics");
    }
    let metrics = Arc::clone(&opts.metrics);
    let report = run_job(sql, opts).await.context("job failed")?;
    if args.stats {
        let secs = report.elapsed.as_secs_f64().max(1e-9);
        let (p50, p99) = metrics.latency_percentiles().unwrap_or((0.0, 0.0));
        eprintln!(
            "stats: rows_in={} rows_out={} anomalies={} late_rows={} epochs={} elapsed_s={:.3} throughput_rows_per_s={:.0} latency_p50_ms={:.3} latency_p99_ms={:.3} sink_failed_rows={} keys={} checkpoint_ms={:.1} checkpoint_bytes={} rss_peak_mb={:.1}{}",
            report.rows_in,
            report.rows_out,
            report.anomalies,
            report.late_rows,
            report.epochs,
            secs,
            report.rows_in as f64 / secs,
            p50 * 1e3,
            p99 * 1e3,
            metrics.sink_failures.load(Ordering::Relaxed),
            metrics.keys.load(Ordering::Relaxed),
            metrics.checkpoint_micros.load(Ordering::Relaxed) as f64 / 1e3,
            metrics.checkpoint_bytes.load(Ordering::Relaxed),
            peak_rss_mib(),
            if report.restored {
                " (resumed from a checkpoint)"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// The process's peak resident set (VmHWM) in MiB; 0 where /proc is absent.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
