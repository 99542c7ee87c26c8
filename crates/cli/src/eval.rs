//! `wasmad eval nab`: NAB v1.1 scores of one detector config over a NAB
//! corpus, or of a results directory produced elsewhere (`--score-only`).
//! The work is `wasmad_eval`'s; this is arguments, progress and printing.
//!
//! Output follows the global `--format`: `table` (default) prints a summary
//! table, `json` one pretty JSON object (`ndjson` the same object on one
//! line) whose keys `standard`, `reward_low_FP_rate` and `reward_low_FN_rate`
//! hold the normalised scores; `csv` is refused.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use wasmad_eval::{Corpus, Report, Source, Thresholds};
use wasmad_host::Runtime;

use crate::script::Format;

/// Options of `wasmad eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    #[command(subcommand)]
    benchmark: Benchmark,
}

#[derive(Debug, clap::Subcommand)]
enum Benchmark {
    /// Numenta Anomaly Benchmark: run a detector config over every file of a
    /// NAB corpus and score it as NAB v1.1 does (threshold swept per profile).
    Nab(NabArgs),
}

#[derive(Debug, clap::Args)]
struct NabArgs {
    /// A NAB checkout: `data/<category>/<name>.csv`, `labels/combined_windows.json`, `config/profiles.json`.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Detector config JSON, the same for every file [default: wasmad_eval::RECOMMENDED_CONFIG].
    #[arg(long, value_name = "JSON", conflicts_with = "score_only")]
    config: Option<String>,
    /// Write per-row results (`DIR/<category>/wasmad_<name>.csv`, NAB's columns) and
    /// per-file score tables (DIR/<detector>_<profile>_scores.csv).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Write one self-contained HTML report: scores per profile and category beside
    /// NAB's scoreboard, and a chart per series (values, forecast band, label
    /// windows, detections at the standard threshold).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Score the results in --results instead of running a detector.
    #[arg(long, requires = "results")]
    score_only: bool,
    /// With --score-only: a results directory in NAB's layout,
    /// `<category>/<detector>_<name>.csv` with an anomaly_score column.
    #[arg(long, value_name = "DIR", requires = "score_only")]
    results: Option<PathBuf>,
}

/// Run `wasmad eval ...`; `runtime` is called only when a detector must run.
pub fn run(
    args: &EvalArgs,
    format: Format,
    runtime: impl FnOnce() -> Result<Runtime>,
) -> Result<()> {
    let Benchmark::Nab(args) = &args.benchmark;
    if format == Format::Csv {
        anyhow::bail!(
            "eval nab prints --format table (default) or json (ndjson: the same JSON on one line); csv is for query results"
        );
    }
    let started = Instant::now();
    let corpus = Corpus::load(&args.data)?;
    let (corpus, anomaly, bands, source, detector, detect_seconds) = match &args.results {
        Some(dir) if args.score_only => {
            let anomaly = {
                let mut bar = Progress::new("reading results");
                corpus.read_results(dir, |d, t| bar.update(d, t))?
            };
            let name = dir.file_name().map_or_else(
                || "results".to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            let source = Source::Results(dir.display().to_string());
            (corpus, anomaly, None, source, name, None)
        }
        _ => {
            let config = args
                .config
                .clone()
                .unwrap_or_else(|| wasmad_eval::RECOMMENDED_CONFIG.to_string());
            let rt = runtime()?;
            let run = {
                let mut bar = Progress::new("running the detector");
                wasmad_eval::run_detector(corpus, &config, &rt, |d, t| bar.update(d, t))?
            };
            if let Some(out) = &args.out {
                wasmad_eval::write_results(out, "wasmad", &run.corpus, &run.anomaly)?;
            }
            let map = wasmad_eval::ScoreMap::from_config(&run.effective_config)?;
            let source = Source::Detector {
                config,
                effective: run.effective_config,
                map,
            };
            let seconds = Some(run.detect_seconds);
            let bands = Some(run.bands);
            (
                run.corpus,
                run.anomaly,
                bands,
                source,
                "wasmad".into(),
                seconds,
            )
        }
    };
    let profiles = wasmad_eval::evaluate(&corpus, &anomaly, &Thresholds::Sweep)?;
    let report = Report {
        source,
        files: corpus.files.len(),
        rows: corpus.rows(),
        windows: corpus.windows(),
        seconds: started.elapsed().as_secs_f64(),
        detect_seconds,
        profiles,
    };
    if let Some(out) = &args.out {
        report.write_score_tables(out, &detector, &corpus)?;
    }
    if let Some(path) = &args.report {
        let html = wasmad_eval::html_report(&report, &corpus, &anomaly, bands.as_deref())?;
        std::fs::write(path, html)
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    print(&report, format, args.out.as_deref())
}

fn print(report: &Report, format: Format, out: Option<&Path>) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match format {
        Format::Json => writeln!(
            stdout,
            "{}",
            serde_json::to_string_pretty(&report.to_json())?
        )?,
        Format::Ndjson => writeln!(stdout, "{}", report.to_json())?,
        _ => {
            write!(stdout, "{}", report.to_table())?;
            if let Some(out) = out {
                writeln!(
                    stdout,
                    "\nresults and score tables written to {}",
                    out.display()
                )?;
            }
        }
    }
    stdout.flush().context("cannot write to stdout")
}

/// A one-line progress bar on stderr, drawn only when stderr is a terminal.
struct Progress {
    label: &'static str,
    enabled: bool,
}

impl Progress {
    fn new(label: &'static str) -> Progress {
        Progress {
            label,
            enabled: std::io::stderr().is_terminal(),
        }
    }

    fn update(&mut self, done: usize, total: usize) {
        if !self.enabled || total == 0 {
            return;
        }
        const WIDTH: usize = 30;
        let filled = WIDTH * done / total;
        eprint!(
            "\r{} [{}{}] {done}/{total} files",
            self.label,
            "#".repeat(filled),
            " ".repeat(WIDTH - filled)
        );
    }
}

impl Drop for Progress {
    /// Clear the line, whether the work finished or failed.
    fn drop(&mut self) {
        if self.enabled {
            eprint!("\r{}\r", " ".repeat(self.label.len() + 50));
        }
    }
}
