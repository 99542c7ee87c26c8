//! The epoch runtime: a job runs as a sequence of small epochs over one
//! physical plan built once.
//!
//! Each epoch reads what the source has (up to `epoch_rows` rows or
//! `epoch_time`), passes it through the reorder buffer, hands the rows the
//! watermark released to the plan (through a [`PartitionStream`] the source
//! table is registered as), runs the plan to completion and writes its output
//! to the sink. Detectors live in a [`DetectorStateStore`] that the plan's
//! `DetectAnomaliesExec` takes its state from and returns it to, so detection
//! is continuous across epochs, and between epochs nothing runs: a checkpoint
//! taken there is an exact cut.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::execution_plan::reset_plan_states;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use datafusion::prelude::SessionConfig;
use futures::StreamExt;
use wasmad_sql::{Backend, DetectorStateStore};

use crate::checkpoint::{self, Checkpoint};
use crate::connector::{self, build_sink, build_source};
use crate::ddl::{JobScript, TableDef, parse_job};
use crate::error::{Error, Result};
use crate::eventtime::EventTime;
use crate::metrics::Metrics;
use crate::sink::{RowFormat, Sink, StdoutSink, printable};
use crate::source::{Polled, Source};

/// How a job runs.
#[derive(Debug, Clone)]
pub struct JobOptions {
    /// Where detectors run.
    pub backend: Backend,
    /// Detector partitions (keys hash over them) and DataFusion target partitions.
    pub parallelism: usize,
    /// Checkpoint directory; `None`: no checkpoints.
    pub checkpoint_dir: Option<PathBuf>,
    /// Time between checkpoints.
    pub checkpoint_interval: Duration,
    /// Most rows per epoch.
    pub epoch_rows: usize,
    /// Longest an epoch waits for rows.
    pub epoch_time: Duration,
    /// Row format of stdout.
    pub stdout_format: RowFormat,
    /// Set to stop the job gracefully (SIGINT/SIGTERM): it finishes the
    /// epoch, checkpoints and returns.
    pub stop: Arc<AtomicBool>,
    /// Counters, shared with a metrics endpoint.
    pub metrics: Arc<Metrics>,
}

impl JobOptions {
    /// Defaults: 10 ms / 8192-row epochs, checkpoints every 10 s when a
    /// directory is given.
    pub fn new(backend: Backend, parallelism: usize) -> Self {
        JobOptions {
            backend,
            parallelism: parallelism.max(1),
            checkpoint_dir: None,
            checkpoint_interval: Duration::from_secs(10),
            epoch_rows: 8192,
            epoch_time: Duration::from_millis(10),
            stdout_format: RowFormat::Json,
            stop: Arc::new(AtomicBool::new(false)),
            metrics: Arc::new(Metrics::default()),
        }
    }
}

/// What a finished job did.
#[derive(Debug, Clone, Default)]
pub struct JobReport {
    /// Rows read (including rows read before a restore).
    pub rows_in: u64,
    /// Rows written to the sink.
    pub rows_out: u64,
    /// Anomalies written.
    pub anomalies: u64,
    /// Late rows.
    pub late_rows: u64,
    /// Epochs run by this process.
    pub epochs: u64,
    /// Wall time of this process's run.
    pub elapsed: Duration,
    /// Whether it resumed from a checkpoint.
    pub restored: bool,
}

/// The source table seen by DataFusion: one partition serving the rows of
/// the current epoch.
#[derive(Debug)]
struct EpochPartition {
    schema: SchemaRef,
    slot: Arc<Mutex<Vec<RecordBatch>>>,
}

impl PartitionStream for EpochPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let batches = std::mem::take(&mut *self.slot.lock().unwrap_or_else(|e| e.into_inner()));
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            futures::stream::iter(batches.into_iter().map(Ok)),
        ))
    }
}

const UNBOUNDED_HINT: &str = "hint: a streaming job runs its query over an unbounded source, one epoch (micro-batch) at a time; \
operators that need the whole input (ORDER BY, GROUP BY aggregates, window functions over the stream, joins between streams) \
cannot run on it. Score and filter rows per row: SELECT ... FROM ML_DETECT_ANOMALIES(source, ...) WHERE ...";

/// Where the rows of one table go.
struct SinkSlot {
    name: String,
    sink: Box<dyn Sink>,
    /// Declared columns, mapped to by position (`None`: write as produced).
    schema: Option<SchemaRef>,
}

impl SinkSlot {
    fn conform(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let Some(schema) = &self.schema else {
            return Ok(batch.clone());
        };
        let batch = printable(batch)?;
        let columns = batch
            .columns()
            .iter()
            .zip(schema.fields())
            .map(|(c, f)| {
                if c.data_type() == f.data_type() {
                    Ok(Arc::clone(c))
                } else {
                    cast(c, f.data_type()).map_err(|e| {
                        Error::Ddl(format!(
                            "sink '{}', column '{}': cannot convert {} to {}: {e}",
                            self.name,
                            f.name(),
                            c.data_type(),
                            f.data_type()
                        ))
                    })
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let relaxed = Arc::new(datafusion::arrow::datatypes::Schema::new(
            schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
        ));
        Ok(RecordBatch::try_new(relaxed, columns)?)
    }
}

fn find_table<'a>(job: &'a JobScript, name: &str) -> Option<&'a TableDef> {
    job.tables
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(name))
}

/// Tables a logical plan scans, including inside `ML_DETECT_ANOMALIES`.
fn scanned_tables(plan: &LogicalPlan) -> Vec<String> {
    let mut out = Vec::new();
    let _ = plan.apply(|p| {
        if let LogicalPlan::TableScan(scan) = p {
            out.push(scan.table_name.table().to_string());
        }
        let _ = p.apply_subqueries(|sub| {
            out.extend(scanned_tables(sub));
            Ok(TreeNodeRecursion::Continue)
        });
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// Run a job script to its end (bounded sources) or until `opts.stop`.
pub async fn run_job(script: &str, opts: JobOptions) -> Result<JobReport> {
    let started = Instant::now();
    let job = parse_job(script)?;
    let metrics = Arc::clone(&opts.metrics);

    // The session: the detector state store, fixed hash partitioning, no
    // round-robin repartitioning (it would reorder a key's rows).
    let store = Arc::new(DetectorStateStore::new());
    let mut config = SessionConfig::new()
        .with_target_partitions(opts.parallelism)
        .with_extension(Arc::clone(&store));
    config
        .options_mut()
        .optimizer
        .enable_round_robin_repartition = false;
    let ctx = wasmad_sql::context(config, opts.backend.clone());

    for stmt in &job.datafusion {
        wasmad_sql::sql(&ctx, stmt).await?.collect().await?;
    }

    // Every connector table other than the sink can be read: register it as
    // an unbounded table fed one epoch at a time.
    let sink_name = job.query.sink.clone();
    let mut slots = Vec::new();
    for t in &job.tables {
        if sink_name
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case(&t.name))
        {
            continue;
        }
        let slot = Arc::new(Mutex::new(Vec::new()));
        let part = Arc::new(EpochPartition {
            schema: Arc::clone(&t.schema),
            slot: Arc::clone(&slot),
        });
        let table =
            StreamingTable::try_new(Arc::clone(&t.schema), vec![part])?.with_infinite_table(true);
        ctx.register_table(t.name.as_str(), Arc::new(table))?;
        slots.push((t.name.clone(), slot));
    }

    // Check every connector table's options before planning, so a bad
    // option is reported as such. Sinks: the INSERT target and late outputs.
    let late_targets: Vec<&String> = job
        .tables
        .iter()
        .filter_map(|t| t.options.get("late.sink"))
        .collect();
    for t in &job.tables {
        let is_sink = sink_name
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case(&t.name))
            || late_targets.iter().any(|l| l.eq_ignore_ascii_case(&t.name));
        if is_sink {
            build_sink(t, opts.stdout_format)?;
        } else {
            build_source(t)?;
        }
    }

    // Through wasmad's rewrite: Confluent, Kinesis and ASA forms work in jobs too.
    let df = wasmad_sql::sql(&ctx, &job.query.select)
        .await
        .map_err(|e| Error::Ddl(format!("the job's query cannot be planned: {e}")))?;
    let scanned = scanned_tables(df.logical_plan());
    let mut sources: Vec<&TableDef> = Vec::new();
    for name in &scanned {
        if let Some(t) = find_table(&job, name)
            && !sources.iter().any(|s| s.name == t.name)
        {
            sources.push(t);
        }
    }
    // No connector source: the query reads DataFusion tables only (e.g. a
    // `CREATE UNBOUNDED EXTERNAL TABLE` over a FIFO) and runs as one stream.
    let source_def: Option<&TableDef> = match sources.as_slice() {
        [one] => Some(*one),
        [] => None,
        many => {
            return Err(Error::Ddl(format!(
                "a job reads one source table; the query reads {}",
                many.iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    };
    let slot = source_def.and_then(|d| {
        slots
            .iter()
            .find(|(n, _)| *n == d.name)
            .map(|(_, s)| Arc::clone(s))
    });
    let plan: Arc<dyn ExecutionPlan> = df.create_physical_plan().await.map_err(|e| {
        Error::Ddl(format!(
            "the job's query cannot run on an unbounded source: {e}\n{UNBOUNDED_HINT}"
        ))
    })?;
    let out_schema = plan.schema();

    // The sink.
    let mut sink = match &sink_name {
        None => SinkSlot {
            name: "stdout".into(),
            sink: Box::new(StdoutSink::with_format(opts.stdout_format)),
            schema: None,
        },
        Some(name) => {
            let t = find_table(&job, name).ok_or_else(|| {
                Error::Ddl(format!(
                    "INSERT INTO {name}: no such table; declare it with CREATE TABLE {name} (...) WITH ('connector' = 'file' | 'stdout' | 'webhook', ...)"
                ))
            })?;
            if t.schema.fields().len() != out_schema.fields().len() {
                return Err(Error::Ddl(format!(
                    "INSERT INTO {name}: the sink declares {} columns ({}) but the query produces {} ({}); columns map by position",
                    t.schema.fields().len(),
                    t.schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    out_schema.fields().len(),
                    out_schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                )));
            }
            SinkSlot {
                name: t.name.clone(),
                sink: build_sink(t, opts.stdout_format)?,
                schema: Some(Arc::clone(&t.schema)),
            }
        }
    };
    let (Some(source_def), Some(slot)) = (source_def, slot) else {
        if opts.checkpoint_dir.is_some() {
            return Err(Error::Ddl(
                "--checkpoint-dir needs a connector source (CREATE TABLE ... WITH ('connector' = ...)): the query reads only DataFusion tables, which cannot be replayed from a position".into(),
            ));
        }
        return run_direct(plan, &ctx, sink, opts, started).await;
    };
    // The late side output.
    let mut late_sink = match source_def.options.get("late.sink") {
        None => None,
        Some(name) => {
            let t = find_table(&job, name).ok_or_else(|| {
                connector::Options::new(source_def)
                    .error(format!("option 'late.sink' = '{name}': no such table"))
            })?;
            Some(SinkSlot {
                name: t.name.clone(),
                sink: build_sink(t, opts.stdout_format)?,
                schema: None,
            })
        }
    };

    let mut source: Box<dyn Source> = build_source(source_def)?;
    source.open().await?;
    let time_col = source_def
        .watermark
        .as_ref()
        .map(|w| w.column.clone())
        .unwrap_or_default();
    let time_idx = source_def.schema.index_of(&time_col).unwrap_or(0);
    let mut event_time = EventTime::new(
        Arc::clone(&source_def.schema),
        time_idx,
        source_def.watermark.as_ref().map(|w| w.delay_micros),
        connector::idle_timeout_micros(source_def)?,
        source.partitions(),
    );
    *metrics.source.lock().unwrap_or_else(|e| e.into_inner()) = source_def.name.clone();
    *metrics.sink.lock().unwrap_or_else(|e| e.into_inner()) = sink.name.clone();

    // Resume from the checkpoint, if any.
    let job_id = checkpoint::fingerprint(script);
    let mut epoch: u64 = 0;
    let mut restored = false;
    let now_us = |t: Instant| t.duration_since(started).as_micros() as u64;
    let ckpt = match &opts.checkpoint_dir {
        Some(dir) => checkpoint::read(dir)?,
        None => None,
    };
    match ckpt {
        Some(c) => {
            if c.job != job_id {
                return Err(Error::Checkpoint(format!(
                    "{} holds a checkpoint of a different job (the script changed); use a new directory or delete it",
                    opts.checkpoint_dir
                        .as_deref()
                        .map(|d| d.display().to_string())
                        .unwrap_or_default()
                )));
            }
            if c.partitions != opts.parallelism {
                return Err(Error::Checkpoint(format!(
                    "the checkpoint was taken with --parallelism {}, this run has {}; keys hash to partitions, so restore with --parallelism {}",
                    c.partitions, opts.parallelism, c.partitions
                )));
            }
            source.seek(&c.source_offset)?;
            event_time.restore(c.event_time, &c.buffer, now_us(Instant::now()))?;
            store.restore(
                c.detectors.into_iter().map(Into::into).collect(),
                &opts.backend,
            )?;
            sink.sink.restore(Some(&c.sink_position)).await?;
            if let Some(l) = late_sink.as_mut() {
                l.sink.restore(c.late_sink_position.as_deref()).await?;
            }
            let [a, b, d, e] = c.counters;
            metrics.rows_in.store(a, Ordering::Relaxed);
            metrics.rows_out.store(b, Ordering::Relaxed);
            metrics.anomalies.store(d, Ordering::Relaxed);
            metrics.late_rows.store(e, Ordering::Relaxed);
            epoch = c.epoch;
            restored = true;
        }
        None => {
            sink.sink.restore(None).await?;
            if let Some(l) = late_sink.as_mut() {
                l.sink.restore(None).await?;
            }
        }
    }

    let anomaly_idx = out_schema
        .index_of("is_anomaly")
        .ok()
        .filter(|&i| out_schema.field(i).data_type() == &DataType::Boolean);
    let task_ctx = ctx.task_ctx();
    let mut last_checkpoint = Instant::now();
    let mut epochs_run = 0u64;
    let mut ended = false;
    let mut dirty = false;

    loop {
        let stopping = opts.stop.load(Ordering::Relaxed);
        // 1. Read what the source has, for at most one epoch.
        let epoch_start = Instant::now();
        let mut got = 0usize;
        while !ended
            && !stopping
            && got < opts.epoch_rows
            && epoch_start.elapsed() < opts.epoch_time
        {
            match source.poll(opts.epoch_rows - got).await? {
                Polled::Rows { partition, batch } => {
                    let n = batch.num_rows();
                    got += n;
                    metrics.rows_in.fetch_add(n as u64, Ordering::Relaxed);
                    let mut arrived = now_us(Instant::now());
                    if let Some(ms) = source.produced_at_ms() {
                        let age_ms = wall_ms().saturating_sub(ms).max(0) as u64;
                        arrived = arrived.saturating_sub(age_ms * 1000);
                    }
                    if let Some(late) = event_time.push(partition, batch, arrived)? {
                        write_late(
                            &mut late_sink,
                            &source_def.name,
                            event_time.watermark(),
                            &late,
                            &metrics,
                        )
                        .await?;
                    }
                }
                Polled::Pending => {
                    if got > 0 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Polled::End => ended = true,
            }
        }
        // 2. Advance the watermark and release what it passed.
        event_time.advance(now_us(Instant::now()));
        if ended {
            event_time.finish();
        }
        if let Some((batch, arrivals)) = event_time.release()? {
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = vec![batch];
            let run = reset_plan_states(Arc::clone(&plan))?;
            let mut stream = execute_stream(Arc::clone(&run), Arc::clone(&task_ctx))?;
            while let Some(out) = stream.next().await {
                let out = out?;
                if out.num_rows() == 0 {
                    continue;
                }
                if let Some(i) = anomaly_idx {
                    let n = out.column(i).as_boolean().true_count();
                    metrics.anomalies.fetch_add(n as u64, Ordering::Relaxed);
                }
                let conformed = sink.conform(&out)?;
                sink.sink.write(&conformed).await?;
                metrics
                    .rows_out
                    .fetch_add(out.num_rows() as u64, Ordering::Relaxed);
            }
            drop(stream);
            if anomaly_idx.is_none() {
                metrics
                    .anomalies
                    .fetch_add(detector_anomalies(&run), Ordering::Relaxed);
            }
            if sink_name.is_none() {
                sink.sink.flush().await?;
            }
            let done = now_us(Instant::now());
            let lat: Vec<f64> = arrivals
                .iter()
                .map(|a| done.saturating_sub(*a) as f64 / 1e6)
                .collect();
            metrics.observe_latency(&lat);
            epoch += 1;
            epochs_run += 1;
            dirty = true;
            metrics.epochs.fetch_add(1, Ordering::Relaxed);
            metrics
                .sink_failures
                .store(sink.sink.failed(), Ordering::Relaxed);
        }
        metrics
            .watermark
            .store(event_time.watermark(), Ordering::Relaxed);
        metrics
            .buffered_rows
            .store(event_time.buffered() as u64, Ordering::Relaxed);
        metrics
            .consumer_lag
            .store(source.lag().unwrap_or(0), Ordering::Relaxed);
        metrics
            .keys
            .store(store.key_count() as u64, Ordering::Relaxed);
        metrics
            .evicted_keys
            .store(store.evicted_keys(), Ordering::Relaxed);

        let finished = ended && event_time.buffered() == 0;
        // 3. Checkpoint when due, and at the end.
        if let Some(dir) = &opts.checkpoint_dir {
            let due = last_checkpoint.elapsed() >= opts.checkpoint_interval;
            if (due && dirty) || finished || stopping {
                let t0 = Instant::now();
                sink.sink.flush().await?;
                if let Some(l) = late_sink.as_mut() {
                    l.sink.flush().await?;
                }
                let (et_state, buffer) = event_time.checkpoint()?;
                let detectors: Vec<checkpoint::DetectorSlot> =
                    store.snapshot()?.into_iter().map(Into::into).collect();
                let state_bytes: usize = detectors.iter().map(|d| d.detector.len()).sum();
                let keys = store.key_count().max(1);
                metrics
                    .state_bytes_per_key
                    .store((state_bytes / keys) as u64, Ordering::Relaxed);
                let c = Checkpoint {
                    job: job_id,
                    epoch,
                    partitions: opts.parallelism,
                    source_offset: source.offset(),
                    event_time: et_state,
                    buffer,
                    detectors,
                    sink_position: sink.sink.position(),
                    late_sink_position: late_sink.as_ref().map(|l| l.sink.position()),
                    counters: [
                        metrics.rows_in.load(Ordering::Relaxed),
                        metrics.rows_out.load(Ordering::Relaxed),
                        metrics.anomalies.load(Ordering::Relaxed),
                        metrics.late_rows.load(Ordering::Relaxed),
                    ],
                };
                let bytes = checkpoint::write(dir, &c)?;
                metrics.checkpoints.fetch_add(1, Ordering::Relaxed);
                metrics.checkpoint_bytes.store(bytes, Ordering::Relaxed);
                metrics
                    .checkpoint_micros
                    .store(t0.elapsed().as_micros() as u64, Ordering::Relaxed);
                last_checkpoint = Instant::now();
                dirty = false;
            }
        }
        if finished || stopping {
            break;
        }
    }
    sink.sink.flush().await?;
    if let Some(l) = late_sink.as_mut() {
        l.sink.flush().await?;
    }
    Ok(JobReport {
        rows_in: metrics.rows_in.load(Ordering::Relaxed),
        rows_out: metrics.rows_out.load(Ordering::Relaxed),
        anomalies: metrics.anomalies.load(Ordering::Relaxed),
        late_rows: metrics.late_rows.load(Ordering::Relaxed),
        epochs: epochs_run,
        elapsed: started.elapsed(),
        restored,
    })
}

/// Run a query over DataFusion tables once, as one stream, into the sink
/// (flushed after every batch).
async fn run_direct(
    plan: Arc<dyn ExecutionPlan>,
    ctx: &datafusion::prelude::SessionContext,
    mut sink: SinkSlot,
    opts: JobOptions,
    started: Instant,
) -> Result<JobReport> {
    let metrics = &opts.metrics;
    *metrics.sink.lock().unwrap_or_else(|e| e.into_inner()) = sink.name.clone();
    sink.sink.restore(None).await?;
    let mut stream = execute_stream(plan, ctx.task_ctx())?;
    while let Some(out) = stream.next().await {
        if opts.stop.load(Ordering::Relaxed) {
            break;
        }
        let out = out?;
        let conformed = sink.conform(&out)?;
        sink.sink.write(&conformed).await?;
        sink.sink.flush().await?;
        metrics
            .rows_out
            .fetch_add(out.num_rows() as u64, Ordering::Relaxed);
    }
    sink.sink.flush().await?;
    Ok(JobReport {
        rows_out: metrics.rows_out.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        ..JobReport::default()
    })
}

async fn write_late(
    late_sink: &mut Option<SinkSlot>,
    source: &str,
    watermark: i64,
    late: &RecordBatch,
    metrics: &Metrics,
) -> Result<()> {
    metrics
        .late_rows
        .fetch_add(late.num_rows() as u64, Ordering::Relaxed);
    match late_sink {
        Some(s) => s.sink.write(late).await,
        None => {
            // No side output declared: the rows go to stderr, never dropped silently.
            let mut buf = Vec::new();
            {
                let mut w = datafusion::arrow::json::LineDelimitedWriter::new(&mut buf);
                w.write(&printable(late)?)?;
                w.finish()?;
            }
            for line in String::from_utf8_lossy(&buf).lines() {
                eprintln!(
                    "late row (source {source}, below watermark {watermark} us; set 'late.sink' to keep them): {line}"
                );
            }
            Ok(())
        }
    }
}

/// Anomalies flagged by the plan's detector operators in one execution (when
/// the query does not output `is_anomaly`).
fn detector_anomalies(plan: &Arc<dyn ExecutionPlan>) -> u64 {
    let own = if plan.name() == "DetectAnomaliesExec" {
        plan.metrics()
            .and_then(|m| m.sum_by_name("anomalies"))
            .map_or(0, |v| v.as_usize() as u64)
    } else {
        0
    };
    own + plan
        .children()
        .into_iter()
        .map(detector_anomalies)
        .sum::<u64>()
}

/// Wall-clock milliseconds since the Unix epoch.
fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
