//! Runs every `tests/sql/*.slt` file (sqllogictest format) against a session
//! with `ML_DETECT_ANOMALIES` installed, one fresh session per file, with the
//! detectors inside the embedded WASM component.
//!
//! `WASMAD_SLT_COMPLETE=1 cargo test -p wasmad-sql --test sqllogictests`
//! rewrites the expected results in place (review the diff before committing).
//! `WASMAD_SLT_FILTER=name` runs only files whose name contains `name`.

#![allow(clippy::unwrap_used)] // test helpers panic on purpose

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};
use wasmad_sql::Backend;

fn backend() -> Backend {
    static B: OnceLock<Backend> = OnceLock::new();
    B.get_or_init(|| Backend::embedded().expect("embedded component loads"))
        .clone()
}

struct Db {
    ctx: SessionContext,
}

fn cell(array: &dyn Array, row: usize) -> Result<String, DataFusionError> {
    if array.is_null(row) {
        return Ok("NULL".into());
    }
    let f = ArrayFormatter::try_new(array, &FormatOptions::default())?;
    let text = f.value(row).to_string();
    match array.data_type() {
        DataType::Float64 | DataType::Float32 => {
            let v: f64 = text.parse().unwrap_or(f64::NAN);
            // 9 decimals: stable across platforms, precise enough to catch changes.
            let s = format!("{v:.9}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            Ok(if s == "-0" { "0".into() } else { s.to_string() })
        }
        // Plans print file paths: make them independent of the checkout's location.
        _ => Ok(if text.is_empty() {
            "(empty)".into()
        } else {
            text.trim_end().replace(root_prefix(), "$ROOT/")
        }),
    }
}

/// The workspace root as DataFusion prints it in plans (no leading slash).
fn root_prefix() -> &'static str {
    static P: OnceLock<String> = OnceLock::new();
    P.get_or_init(|| {
        let root = root().canonicalize().expect("workspace root");
        format!("{}/", root.display().to_string().trim_start_matches('/'))
    })
}

/// Result rows as text. A multi-line cell (an EXPLAIN plan) becomes one row
/// per line, as the expected output in `.slt` files is compared line by line.
fn rows(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, DataFusionError> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let cells = b
                .columns()
                .iter()
                .map(|c| cell(c.as_ref(), r))
                .collect::<Result<Vec<_>, _>>()?;
            let mut first = Vec::new();
            let mut continuation = Vec::new();
            for c in cells {
                let mut lines = c.lines();
                first.push(lines.next().unwrap_or_default().to_string());
                continuation.extend(lines.map(|l| vec![l.to_string()]));
            }
            out.push(first);
            out.extend(continuation);
        }
    }
    Ok(out)
}

#[async_trait::async_trait]
impl AsyncDB for Db {
    type Error = DataFusionError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<Self::ColumnType>, Self::Error> {
        let df = wasmad_sql::sql(&self.ctx, sql).await?;
        let schema = df.schema().clone();
        let batches = df.collect().await?;
        if schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Any; schema.fields().len()],
            rows: rows(&batches)?,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "wasmad"
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictests() {
    std::env::set_current_dir(root()).expect("enter the workspace root");
    let complete = std::env::var_os("WASMAD_SLT_COMPLETE").is_some();
    let filter = std::env::var("WASMAD_SLT_FILTER").unwrap_or_default();
    let mut files: Vec<PathBuf> = std::fs::read_dir("tests/sql")
        .expect("tests/sql exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .filter(|p| p.to_string_lossy().contains(&filter))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files found in tests/sql");
    let mut failures = Vec::new();
    for file in &files {
        let mut runner = Runner::new(|| async {
            // Two partitions and tiny batches, so that repartitioning and
            // batch boundaries are exercised by every query.
            let config = SessionConfig::new()
                .with_target_partitions(2)
                .with_batch_size(7);
            Ok(Db {
                ctx: wasmad_sql::context(config, backend()),
            })
        });
        let result = if complete {
            runner
                .update_test_file(
                    file,
                    " ",
                    sqllogictest::default_validator,
                    sqllogictest::default_normalizer,
                    sqllogictest::default_column_validator,
                )
                .await
                .map_err(|e| e.to_string())
        } else {
            runner.run_file_async(file).await.map_err(|e| e.to_string())
        };
        match result {
            Ok(()) => println!("ok   {}", file.display()),
            Err(e) => {
                println!("FAIL {}\n{e}", file.display());
                failures.push(file.display().to_string());
            }
        }
    }
    assert!(failures.is_empty(), "failed: {failures:?}");
}
