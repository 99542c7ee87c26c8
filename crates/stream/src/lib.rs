//! Streaming jobs for wasmad: connector DDL, sources and sinks, event time,
//! and the epoch runtime that runs `ML_DETECT_ANOMALIES` continuously.
//!
//! A job script declares its tables with Flink-style DDL ([`ddl`]) and runs
//! one query:
//!
//! ```sql
//! CREATE TABLE metrics (host STRING, ts TIMESTAMP(3), cpu DOUBLE, injected BOOLEAN,
//!   WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
//! WITH ('connector' = 'datagen', 'keys' = '4', 'number-of-rows' = '10000');
//! CREATE TABLE alerts (host STRING, ts TIMESTAMP(3), cpu DOUBLE, score DOUBLE)
//! WITH ('connector' = 'file', 'path' = 'alerts.json');
//! INSERT INTO alerts
//! SELECT host, ts, cpu, score FROM ML_DETECT_ANOMALIES(metrics, 'cpu', 'ts', '{"partitionBy":"host"}')
//! WHERE is_anomaly;
//! ```
//!
//! [`job::run_job`] runs it as a sequence of epochs ([`job`]): the source
//! ([`source`]) is read, rows wait in the reorder buffer until the watermark
//! passes them ([`eventtime`]), the released rows run through one physical
//! plan whose detectors keep their state across epochs
//! ([`wasmad_sql::DetectorStateStore`]), and the output goes to the sink
//! ([`sink`]). Between epochs, [`checkpoint`] writes an exact cut; a
//! restarted job resumes from it with the sink truncated to the checkpoint.

pub mod avro;
pub mod checkpoint;
pub mod connector;
pub mod ddl;
pub mod error;
pub mod eventtime;
pub mod job;
pub mod kafka;
pub mod metrics;
pub mod sink;
pub mod source;

pub use ddl::{is_job, parse_job};
pub use error::{Error, Result};
pub use job::{JobOptions, JobReport, run_job};
pub use metrics::Metrics;
