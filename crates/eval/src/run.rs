//! Running a wasmad detector over a corpus, through the WASM component, and
//! writing per-row results in NAB's format.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use wasmad_core::flags::{self, Status};
use wasmad_core::{Input, Scores};
use wasmad_host::Runtime;

use crate::corpus::{Corpus, CorpusFile};
use crate::error::{Error, Result};
use crate::time::format_timestamp;

/// Rows per call into the component.
pub const BATCH_ROWS: usize = 8192;

/// Which side of the forecast a config flags (its `direction` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Above and below.
    Both,
    /// Above only.
    Up,
    /// Below only.
    Down,
}

/// What the anomaly-score map needs from a detector's effective config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreMap {
    /// The config's `threshold` (band half-width in score units).
    pub threshold: f64,
    /// The config's `direction`.
    pub direction: Direction,
}

impl ScoreMap {
    /// Read `threshold` and `direction` from an effective config (the JSON
    /// `WasmDetector::config` returns, every default filled in).
    pub fn from_config(effective: &str) -> Result<ScoreMap> {
        let v: serde_json::Value = serde_json::from_str(effective).map_err(|e| {
            Error::Invalid(format!(
                "the detector's effective config is not JSON ({e}): {effective}"
            ))
        })?;
        let threshold = v
            .get("threshold")
            .and_then(serde_json::Value::as_f64)
            .filter(|t| t.is_finite() && *t > 0.0)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "the detector's effective config has no positive 'threshold': {effective}"
                ))
            })?;
        let direction = match v.get("direction").and_then(serde_json::Value::as_str) {
            None | Some("both") => Direction::Both,
            Some("up") => Direction::Up,
            Some("down") => Direction::Down,
            Some(other) => {
                return Err(Error::Invalid(format!(
                    "the detector's effective config has direction '{other}'; expected both, up or down"
                )));
            }
        };
        Ok(ScoreMap {
            threshold,
            direction,
        })
    }

    /// One row's NAB `anomaly_score` in `[0, 1]`.
    ///
    /// 0 for `warmup` and `skipped` rows and for rows on the side `direction`
    /// excludes (the flags' direction bit). Otherwise, with
    /// `x = |score| / threshold`, `x / (1 + x)`: strictly increasing in
    /// `|score|`, 0 on the forecast, 0.5 on the band edge (so NAB threshold
    /// 0.5 reproduces the detector's own `is_anomaly` up to rounding), and
    /// it rounds to 1.0 only from `x ≈ 2^53`, so distinct scores practically
    /// never tie (`1 - exp(-x)` rounds to 1.0 from `x ≈ 37`, merging every
    /// large deviation into one threshold). The threshold sweep makes any
    /// increasing map rank rows the same; this one keeps the distinctions.
    pub fn anomaly_score(&self, score: f64, row_flags: u8) -> f64 {
        if Status::from_flags(row_flags) != Status::Ok || score.is_nan() {
            return 0.0;
        }
        let up = flags::is_up(row_flags);
        let allowed = match self.direction {
            Direction::Both => true,
            Direction::Up => up,
            Direction::Down => !up,
        };
        if !allowed {
            return 0.0;
        }
        let x = score.abs() / self.threshold;
        if x.is_infinite() { 1.0 } else { x / (1.0 + x) }
    }
}

/// Our detector's anomaly scores for a whole corpus.
#[derive(Debug, Clone)]
pub struct CorpusRun {
    /// The corpus.
    pub corpus: Corpus,
    /// One anomaly-score column per corpus file.
    pub anomaly: Vec<Vec<f64>>,
    /// The detector's effective config (every default filled in).
    pub effective_config: String,
    /// Seconds spent in the detector (loading and scoring excluded).
    pub detect_seconds: f64,
}

/// Load the corpus at `data_dir`, run one fresh detector built from
/// `config` per file through the component (`runtime.create`, then
/// `process` in [`BATCH_ROWS`]-row batches), map each row to an NAB
/// anomaly score ([`ScoreMap::anomaly_score`]), and, with `out_dir`, write
/// `out_dir/<category>/wasmad_<name>.csv` (see [`write_results`]).
/// `progress(done, total)` is called after each file.
pub fn run_corpus(
    data_dir: &Path,
    config: &str,
    runtime: &Runtime,
    out_dir: Option<&Path>,
    progress: impl FnMut(usize, usize),
) -> Result<CorpusRun> {
    let corpus = Corpus::load(data_dir)?;
    let run = run_detector(corpus, config, runtime, progress)?;
    if let Some(out) = out_dir {
        write_results(out, "wasmad", &run.corpus, &run.anomaly)?;
    }
    Ok(run)
}

/// [`run_corpus`] over an already loaded corpus, writing nothing.
pub fn run_detector(
    corpus: Corpus,
    config: &str,
    runtime: &Runtime,
    mut progress: impl FnMut(usize, usize),
) -> Result<CorpusRun> {
    // Validate the config once, before any file, so a bad config is one
    // clear error rather than a failure on the first file.
    let mut probe = runtime.create(config).map_err(Error::Config)?;
    let effective_config = probe.config().map_err(Error::Config)?;
    drop(probe);
    let map = ScoreMap::from_config(&effective_config)?;
    let started = Instant::now();
    let mut anomaly = Vec::with_capacity(corpus.files.len());
    for (n, f) in corpus.files.iter().enumerate() {
        anomaly.push(score_file(f, config, runtime, &map)?);
        progress(n + 1, corpus.files.len());
    }
    Ok(CorpusRun {
        corpus,
        anomaly,
        effective_config,
        detect_seconds: started.elapsed().as_secs_f64(),
    })
}

fn score_file(f: &CorpusFile, config: &str, runtime: &Runtime, map: &ScoreMap) -> Result<Vec<f64>> {
    let failed = |error| Error::Detector {
        file: f.name.clone(),
        error,
    };
    let mut det = runtime.create(config).map_err(failed)?;
    let mut out = Vec::with_capacity(f.rows());
    let mut scores = Scores::default();
    for (ts, vs) in f
        .timestamps
        .chunks(BATCH_ROWS)
        .zip(f.values.chunks(BATCH_ROWS))
    {
        det.process(&Input::univariate(ts, vs), &mut scores)
            .map_err(failed)?;
        out.extend(
            scores
                .score
                .iter()
                .zip(&scores.flags)
                .map(|(s, fl)| map.anomaly_score(*s, *fl)),
        );
    }
    Ok(out)
}

/// Write `out_dir/<category>/<detector>_<name>.csv` for every corpus file,
/// with NAB's columns `timestamp,value,anomaly_score,label` (label 1 inside
/// a window). Scores are written exactly (shortest round-trip form), so
/// `Corpus::read_results` on `out_dir` reads back the same numbers.
pub fn write_results(
    out_dir: &Path,
    detector: &str,
    corpus: &Corpus,
    anomaly: &[Vec<f64>],
) -> Result<()> {
    let inputs = corpus.inputs(anomaly)?;
    for (f, input) in corpus.files.iter().zip(inputs) {
        let (category, name) = f.split_name();
        let dir = out_dir.join(category);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        let path = dir.join(format!("{detector}_{name}"));
        let file = std::fs::File::create(&path).map_err(|e| Error::io("create", &path, e))?;
        let mut w = std::io::BufWriter::new(file);
        let labels = f.labels();
        let write = |w: &mut std::io::BufWriter<std::fs::File>| -> std::io::Result<()> {
            writeln!(w, "timestamp,value,anomaly_score,label")?;
            let rows = f.timestamps.iter().zip(&f.values).zip(input.anomaly);
            for (((t, v), a), l) in rows.zip(&labels) {
                writeln!(w, "{},{v},{a},{l}", format_timestamp(*t))?;
            }
            w.flush()
        };
        write(&mut w).map_err(|e| Error::io("write", &path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anomaly_score_table() {
        let both = ScoreMap {
            threshold: 3.0,
            direction: Direction::Both,
        };
        let up = ScoreMap {
            direction: Direction::Up,
            ..both
        };
        let down = ScoreMap {
            direction: Direction::Down,
            ..both
        };
        let ok_up = flags::UP;
        let ok_down = 0u8;
        #[rustfmt::skip]
        let cases: &[(&str, ScoreMap, f64, u8, f64)] = &[
            ("on the forecast", both, 0.0, ok_up, 0.0),
            ("on the band edge is one half", both, 3.0, ok_up | flags::ANOMALY, 0.5),
            ("below, on the band edge", both, -3.0, ok_down | flags::ANOMALY, 0.5),
            ("twice the threshold", both, 6.0, ok_up, 2.0 / 3.0),
            ("huge but finite stays below 1", both, 3e15, ok_up, 1.0 - 1e-15),
            ("beyond 2^53 thresholds rounds to 1", both, 1e300, ok_up, 1.0),
            ("infinite is 1", both, f64::INFINITY, ok_up, 1.0),
            ("warmup is 0", both, 0.0, flags::WARMUP, 0.0),
            ("skipped is 0", both, 0.0, flags::SKIPPED, 0.0),
            ("NaN is 0", both, f64::NAN, ok_up, 0.0),
            ("direction up keeps rows above", up, 6.0, ok_up, 2.0 / 3.0),
            ("direction up drops rows below", up, -6.0, ok_down, 0.0),
            ("direction down keeps rows below", down, -6.0, ok_down, 2.0 / 3.0),
            ("direction down drops rows above", down, 6.0, ok_up, 0.0),
        ];
        for (name, map, score, fl, want) in cases {
            let got = map.anomaly_score(*score, *fl);
            assert!((got - want).abs() < 1e-12, "{name}: got {got}, want {want}");
            assert!((0.0..=1.0).contains(&got), "{name}: {got} outside [0, 1]");
        }
        assert!(both.anomaly_score(3e15, ok_up) < 1.0);
    }

    #[test]
    fn anomaly_score_is_strictly_increasing() {
        let map = ScoreMap {
            threshold: 3.5,
            direction: Direction::Both,
        };
        // Increasing in steps of 7% up to 1e13 (beyond, 7% is below one ulp of 1 - a).
        let mut prev = -1.0;
        for i in 0..450 {
            let s = 1.07f64.powi(i) - 1.0;
            let a = map.anomaly_score(s, flags::UP);
            assert!(a > prev, "not increasing at score {s}: {a} <= {prev}");
            prev = a;
        }
    }

    #[test]
    fn score_map_reads_the_effective_config() {
        let m = ScoreMap::from_config(
            r#"{"algorithm":"mad","threshold":3.5,"minTrainingSize":30,"direction":"down","window":100}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            ScoreMap {
                threshold: 3.5,
                direction: Direction::Down
            }
        );
        for bad in [
            "not json",
            r#"{"direction":"both"}"#,
            r#"{"threshold":0}"#,
            r#"{"threshold":1,"direction":"sideways"}"#,
        ] {
            assert!(ScoreMap::from_config(bad).is_err(), "{bad}");
        }
    }
}
