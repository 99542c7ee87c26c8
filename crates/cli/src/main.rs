//! `wasmad`: run SQL with `ML_DETECT_ANOMALIES` over files and tables.
//!
//! `wasmad` alone runs the bundled demo (`sql/quickstart.sql` over
//! `examples/data/`); `wasmad run FILE.sql` and `wasmad query "SQL; SQL"` run
//! statements in order and print each query's result; `wasmad bench` measures
//! native vs WASM vs SQL throughput; `wasmad eval nab --data DIR` scores a
//! detector config on the Numenta Anomaly Benchmark.

mod bench;
mod eval;
mod job;
mod script;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use datafusion::prelude::SessionConfig;
use wasmad_host::{Limits, Runtime};
use wasmad_sql::Backend;

use script::Format;

/// Anomaly detection for SQL, as a WebAssembly component.
#[derive(Debug, Parser)]
#[command(name = "wasmad", version, about, long_about = None)]
pub(crate) struct Cli {
    /// Output format: query results as a table, CSV or JSON lines; `bench` prints JSON lines with json/ndjson.
    #[arg(long, value_enum, default_value = "table", global = true)]
    pub(crate) format: Format,
    /// A detector component implementing wit/detector.wit (default: the embedded one).
    #[arg(long, value_name = "PATH", global = true)]
    pub(crate) module: Option<PathBuf>,
    /// Run detectors natively instead of in the WASM component (benchmarks, parity checks).
    #[arg(long, global = true, conflicts_with = "module")]
    pub(crate) native: bool,
    /// Largest linear memory one detector may use, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 2048, global = true)]
    pub(crate) memory_limit_mb: usize,
    /// Longest one call into the component may run, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000, global = true)]
    pub(crate) call_timeout_ms: u64,
    /// Worker threads and partitions (default: number of cores).
    #[arg(long, value_name = "N", global = true)]
    pub(crate) parallelism: Option<usize>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the statements of a SQL file in order, or a streaming job (a
    /// script with connector tables or INSERT INTO; see README "Streaming jobs").
    Run {
        /// The SQL file.
        file: PathBuf,
        #[command(flatten)]
        job: JobArgs,
    },
    /// Run the statements of a SQL string in order.
    Query {
        /// One or more statements separated by ';'.
        sql: String,
    },
    /// Print the detector module's description (algorithms, keys, defaults) as JSON.
    Describe,
    /// Write the detector component (.wasm) to a file, for other engines.
    ExportComponent {
        /// Where to write it.
        out: PathBuf,
    },
    /// Measure rows/s: native vs WASM per detector, and end-to-end SQL.
    Bench(bench::BenchArgs),
    /// Score a detector config on a benchmark corpus (`eval nab --data DIR`).
    Eval(eval::EvalArgs),
    /// Run the bundled demo (the default when no command is given).
    Demo,
}

/// Options of streaming jobs (ignored by plain scripts).
#[derive(Debug, clap::Args)]
pub(crate) struct JobArgs {
    /// Checkpoint directory: written every --checkpoint-interval and on a
    /// graceful stop; a restarted job resumes from it.
    #[arg(long, value_name = "DIR")]
    pub(crate) checkpoint_dir: Option<PathBuf>,
    /// Time between checkpoints (e.g. 500ms, 10s).
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub(crate) checkpoint_interval: String,
    /// Serve Prometheus text metrics on this address (e.g. 127.0.0.1:9100).
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics_addr: Option<std::net::SocketAddr>,
    /// Print throughput and latency percentiles to stderr at the end.
    #[arg(long)]
    pub(crate) stats: bool,
    /// Most rows per epoch (micro-batch).
    #[arg(long, value_name = "N", default_value_t = 8192)]
    pub(crate) epoch_rows: usize,
    /// Longest an epoch waits for rows, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10)]
    pub(crate) epoch_ms: u64,
}

pub(crate) fn backend(cli: &Cli) -> Result<Backend> {
    if cli.native {
        return Ok(Backend::Native);
    }
    let limits = Limits {
        memory_bytes: cli.memory_limit_mb.saturating_mul(1 << 20),
        call_timeout: Duration::from_millis(cli.call_timeout_ms),
    };
    let rt = match &cli.module {
        Some(path) => Runtime::from_file(path, limits)?,
        None => Runtime::embedded(limits)?,
    };
    Ok(Backend::Wasm(rt))
}

fn session_config(cli: &Cli) -> SessionConfig {
    let mut config = SessionConfig::new().with_information_schema(true);
    if let Some(n) = cli.parallelism {
        config = config.with_target_partitions(n.max(1));
    }
    config
}

/// Where the demo's files live: the current directory if it is a checkout,
/// else the checkout this binary was built from.
fn demo_root() -> Result<PathBuf> {
    let here = PathBuf::from(".");
    if here.join("examples/data/nab_metrics.csv").exists() {
        return Ok(here);
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if built_from.join("examples/data/nab_metrics.csv").exists() {
        return Ok(built_from);
    }
    anyhow::bail!(
        "the demo data (examples/data/nab_metrics.csv) was not found; run wasmad from the repository root"
    )
}

async fn run(cli: Cli) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match &cli.command {
        Some(Command::Describe) => {
            let desc: serde_json::Value = serde_json::from_str(&backend(&cli)?.describe())?;
            writeln!(stdout, "{}", serde_json::to_string_pretty(&desc)?)?;
            Ok(())
        }
        Some(Command::ExportComponent { out }) => {
            std::fs::write(out, wasmad_host::EMBEDDED_COMPONENT)
                .with_context(|| format!("cannot write {}", out.display()))?;
            eprintln!(
                "wrote {} ({} bytes)",
                out.display(),
                wasmad_host::EMBEDDED_COMPONENT.len()
            );
            Ok(())
        }
        Some(Command::Bench(args)) => {
            let json = matches!(cli.format, Format::Json | Format::Ndjson);
            bench::run(args, json, cli.parallelism).await
        }
        Some(Command::Eval(args)) => eval::run(args, cli.format, || match backend(&cli)? {
            Backend::Wasm(rt) => Ok(rt),
            Backend::Native => {
                anyhow::bail!("eval runs detectors in the WASM component; drop --native")
            }
        }),
        Some(Command::Run { file, job }) => {
            let sql = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            if wasmad_stream::is_job(&sql) {
                return job::run(&cli, job, &sql).await;
            }
            let ctx = wasmad_sql::context(session_config(&cli), backend(&cli)?);
            script::run_script(&ctx, &sql, cli.format, true, &mut stdout).await
        }
        Some(Command::Query { sql }) => {
            let ctx = wasmad_sql::context(session_config(&cli), backend(&cli)?);
            script::run_script(&ctx, sql, cli.format, false, &mut stdout).await
        }
        Some(Command::Demo) | None => {
            let root = demo_root()?;
            std::env::set_current_dir(&root)
                .with_context(|| format!("cannot enter {}", root.display()))?;
            let sql = std::fs::read_to_string("sql/quickstart.sql")
                .context("cannot read sql/quickstart.sql")?;
            writeln!(
                stdout,
                "wasmad demo: sql/quickstart.sql over four NAB series in examples/data/ (MIT, see examples/data/NOTICE)"
            )?;
            writeln!(
                stdout,
                "Detectors run inside the embedded WebAssembly component; one model per series (partitionBy)."
            )?;
            let ctx = wasmad_sql::context(session_config(&cli), backend(&cli)?);
            script::run_script(&ctx, &sql, cli.format, true, &mut stdout).await?;
            writeln!(
                stdout,
                "\nNext: wasmad run sql/per_key.sql, wasmad describe, wasmad bench (see README.md)."
            )?;
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let threads = cli
        .parallelism
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A broken pipe (e.g. `wasmad ... | head`) is not an error.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
