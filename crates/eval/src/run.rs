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
    /// Whether the config turns the likelihood layer on (rows then carry an
    /// anomaly probability).
    pub probability: bool,
    /// The score is a p-value, smaller meaning more anomalous (`spike_dip`);
    /// `threshold` is then the p-value at which rows are flagged
    /// (`1 - confidence / 100`).
    pub p_value: bool,
}

impl ScoreMap {
    /// Read `threshold`, `direction` and `likelihood` from an effective
    /// config (the JSON `WasmDetector::config` returns, every default filled in).
    pub fn from_config(effective: &str) -> Result<ScoreMap> {
        let v: serde_json::Value = serde_json::from_str(effective).map_err(|e| {
            Error::Invalid(format!(
                "the detector's effective config is not JSON ({e}): {effective}"
            ))
        })?;
        let algorithm = v.get("algorithm").and_then(serde_json::Value::as_str);
        // Rows carry a calibrated probability with the likelihood layer on,
        // and always from an ensemble; the flag threshold is then that of
        // the probability.
        let likelihood = v.get("likelihood").filter(|l| l.is_object());
        let ensemble = algorithm == Some("ensemble");
        let probability = ensemble || likelihood.is_some();
        // spike_dip scores a p-value against 1 - confidence/100.
        let p_value = algorithm == Some("spike_dip");
        let threshold = if let Some(l) = likelihood {
            l.get("threshold").and_then(serde_json::Value::as_f64)
        } else if p_value {
            v.get("confidence")
                .and_then(serde_json::Value::as_f64)
                .map(|c| 1.0 - c / 100.0)
        } else {
            v.get("threshold").and_then(serde_json::Value::as_f64)
        }
        .filter(|t| t.is_finite() && *t > 0.0)
        .ok_or_else(|| {
            Error::Invalid(format!(
                "the detector's effective config has no positive 'threshold' (nor, for spike_dip, a 'confidence' below 100; nor, with likelihood, a 'likelihood.threshold'), so its scores cannot be mapped to NAB's anomaly score: {effective}"
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
            probability,
            p_value,
        })
    }

    /// One row's NAB `anomaly_score` in `[0, 1]`, from its score, flags and
    /// (with likelihood on) anomaly probability.
    ///
    /// 0 for `warmup` and `skipped` rows and for rows on the side `direction`
    /// excludes (the flags' direction bit). Otherwise a *level*: the
    /// probability when there is one (already in `[0, 1]`), else, with
    /// `x = |score| / threshold`, `x / (1 + x)`: strictly increasing in
    /// `|score|`, 0 on the forecast, 0.5 on the band edge, and it rounds to
    /// 1.0 only from `x ≈ 2^53`, so distinct scores practically never tie
    /// (`1 - exp(-x)` rounds to 1.0 from `x ≈ 37`, merging every large
    /// deviation into one threshold).
    ///
    /// Rows the detector flagged keep their level (above 0.5: a flag needs
    /// `|score| > threshold`, or a probability of at least
    /// `likelihood.threshold`, which is above 0.5); rows it did not flag get
    /// half of it (below 0.5). So every flagged row ranks above every
    /// unflagged one, and within each group rows rank by level. Without alert
    /// hygiene (`minConsecutive`, `cooldown`, `minDeviation`) a row is flagged
    /// exactly when its level exceeds the flag threshold, so this ranks rows
    /// as the level alone does; with it, the rows hygiene holds back rank
    /// below every alert. NAB's threshold sweep then picks the best cut: at
    /// or above 0.5 among the detector's alerts, below 0.5 adding unflagged
    /// rows by level.
    pub fn anomaly_score(&self, score: f64, row_flags: u8, probability: Option<f64>) -> f64 {
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
        let level = match probability {
            Some(p) if self.probability => {
                if p.is_nan() {
                    return 0.0;
                }
                p.clamp(0.0, 1.0)
            }
            // A p-value p against the flag level alpha: alpha / (alpha + p),
            // strictly decreasing in p, 0.5 at alpha.
            _ if self.p_value => self.threshold / (self.threshold + score.abs()),
            _ => {
                let x = score.abs() / self.threshold;
                if x.is_infinite() { 1.0 } else { x / (1.0 + x) }
            }
        };
        if flags::is_anomaly(row_flags) {
            level
        } else {
            level / 2.0
        }
    }

    /// What an NAB anomaly-score threshold stands for in the detector's
    /// terms: whether only flagged rows reach it, and the `|score|` (or,
    /// with likelihood, the probability) a row needs.
    pub fn level_at(&self, anomaly_threshold: f64) -> Option<(bool, f64)> {
        if !(0.0..1.0).contains(&anomaly_threshold) {
            return None;
        }
        let flagged_only = anomaly_threshold > 0.5;
        let level = if flagged_only {
            anomaly_threshold
        } else {
            (2.0 * anomaly_threshold).min(1.0)
        };
        if self.probability {
            Some((flagged_only, level))
        } else if level < 1.0 {
            Some((flagged_only, self.threshold * level / (1.0 - level)))
        } else {
            None
        }
    }
}

/// Our detector's anomaly scores for a whole corpus.
#[derive(Debug, Clone)]
pub struct CorpusRun {
    /// The corpus.
    pub corpus: Corpus,
    /// One anomaly-score column per corpus file.
    pub anomaly: Vec<Vec<f64>>,
    /// Each file's forecast band, as the detector returned it.
    pub bands: Vec<Bands>,
    /// The detector's effective config (every default filled in).
    pub effective_config: String,
    /// Seconds spent in the detector (loading and scoring excluded).
    pub detect_seconds: f64,
}

/// One file's forecast band, row by row (NaN where the detector has none:
/// warm-up and skipped rows, detectors without a band). The HTML report
/// draws it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bands {
    /// `lower_bound`.
    pub lower: Vec<f64>,
    /// `upper_bound`.
    pub upper: Vec<f64>,
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
    let mut bands = Vec::with_capacity(corpus.files.len());
    for (n, f) in corpus.files.iter().enumerate() {
        let (a, b) = score_file(f, config, runtime, &map)?;
        anomaly.push(a);
        bands.push(b);
        progress(n + 1, corpus.files.len());
    }
    Ok(CorpusRun {
        corpus,
        anomaly,
        bands,
        effective_config,
        detect_seconds: started.elapsed().as_secs_f64(),
    })
}

fn score_file(
    f: &CorpusFile,
    config: &str,
    runtime: &Runtime,
    map: &ScoreMap,
) -> Result<(Vec<f64>, Bands)> {
    let failed = |error| Error::Detector {
        file: f.name.clone(),
        error,
    };
    let mut det = runtime.create(config).map_err(failed)?;
    let mut out = Vec::with_capacity(f.rows());
    let mut bands = Bands::default();
    let mut scores = Scores::default();
    for (ts, vs) in f
        .timestamps
        .chunks(BATCH_ROWS)
        .zip(f.values.chunks(BATCH_ROWS))
    {
        det.process(&Input::univariate(ts, vs), &mut scores)
            .map_err(failed)?;
        let probability = |i: usize| scores.probability.get(i).copied();
        out.extend(
            scores
                .score
                .iter()
                .zip(&scores.flags)
                .enumerate()
                .map(|(i, (s, fl))| map.anomaly_score(*s, *fl, probability(i))),
        );
        bands.lower.extend_from_slice(&scores.lower);
        bands.upper.extend_from_slice(&scores.upper);
    }
    Ok((out, bands))
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

    const BOTH: ScoreMap = ScoreMap {
        threshold: 3.0,
        direction: Direction::Both,
        probability: false,
        p_value: false,
    };

    #[test]
    fn p_values_rank_smaller_first_and_cross_one_half_at_alpha() {
        let map = ScoreMap::from_config(
            r#"{"algorithm":"spike_dip","confidence":99.0,"direction":"both"}"#,
        )
        .unwrap();
        assert!(map.p_value);
        assert!((map.threshold - 0.01).abs() < 1e-12);
        let level = |p: f64| map.anomaly_score(p, flags::ANOMALY | flags::UP, None);
        assert!((level(0.01) - 0.5).abs() < 1e-12);
        assert!(level(1e-8) > level(1e-4) && level(1e-4) > level(0.01));
        // Unflagged rows rank below every flagged one.
        assert!(map.anomaly_score(0.2, flags::UP, None) < 0.5);
        // zscore-style configs are unchanged.
        assert!(
            !ScoreMap::from_config(r#"{"algorithm":"zscore","threshold":3.0}"#)
                .unwrap()
                .p_value
        );
    }

    #[test]
    fn anomaly_score_table() {
        let both = BOTH;
        let up = ScoreMap {
            direction: Direction::Up,
            ..both
        };
        let down = ScoreMap {
            direction: Direction::Down,
            ..both
        };
        let lik = ScoreMap {
            probability: true,
            ..both
        };
        let lik_up = ScoreMap {
            direction: Direction::Up,
            ..lik
        };
        let ok_up = flags::UP;
        let ok_down = 0u8;
        let a = flags::ANOMALY;
        /// (name, map, score, flags, probability, want)
        type Case<'a> = (&'a str, ScoreMap, f64, u8, Option<f64>, f64);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("on the forecast", both, 0.0, ok_up, None, 0.0),
            ("just past the band edge, flagged", both, 3.0000001, ok_up | a, None, 0.5),
            ("below, past the band edge, flagged", both, -3.0000001, ok_down | a, None, 0.5),
            ("on the band edge, not flagged, is a quarter", both, 3.0, ok_up, None, 0.25),
            ("twice the threshold, flagged", both, 6.0, ok_up | a, None, 2.0 / 3.0),
            ("twice the threshold held back by hygiene", both, 6.0, ok_up, None, 1.0 / 3.0),
            ("inside the band", both, 1.5, ok_down, None, 1.0 / 6.0),
            ("huge but finite stays below 1", both, 3e15, ok_up | a, None, 1.0 - 1e-15),
            ("beyond 2^53 thresholds rounds to 1", both, 1e300, ok_up | a, None, 1.0),
            ("infinite is 1", both, f64::INFINITY, ok_up | a, None, 1.0),
            ("warmup is 0", both, 0.0, flags::WARMUP, None, 0.0),
            ("skipped is 0", both, 0.0, flags::SKIPPED, None, 0.0),
            ("NaN is 0", both, f64::NAN, ok_up, None, 0.0),
            ("direction up keeps rows above", up, 6.0, ok_up | a, None, 2.0 / 3.0),
            ("direction up drops rows below", up, -6.0, ok_down, None, 0.0),
            ("direction down keeps rows below", down, -6.0, ok_down | a, None, 2.0 / 3.0),
            ("direction down drops rows above", down, 6.0, ok_up, None, 0.0),
            ("a probability is used directly when flagged", lik, 1.0, ok_up | a, Some(0.99995), 0.99995),
            ("a probability of 1", lik, 9.0, ok_up | a, Some(1.0), 1.0),
            ("an unflagged probability is halved", lik, 1.0, ok_up, Some(0.9), 0.45),
            ("a held-back probability of 1 is one half", lik, 9.0, ok_down, Some(1.0), 0.5),
            ("the score does not matter with a probability", lik, 100.0, ok_up, Some(0.2), 0.1),
            ("a NaN probability is 0", lik, 1.0, ok_up, Some(f64::NAN), 0.0),
            ("a probability on an excluded side is 0", lik_up, -5.0, ok_down, Some(0.99), 0.0),
            ("warmup with a probability column is 0", lik, f64::NAN, flags::WARMUP, Some(f64::NAN), 0.0),
            ("no probability column: the score's level", lik, 6.0, ok_up | a, None, 2.0 / 3.0),
        ];
        for (name, map, score, fl, p, want) in cases {
            let got = map.anomaly_score(*score, *fl, *p);
            assert!((got - want).abs() < 1e-6, "{name}: got {got}, want {want}");
            assert!((0.0..=1.0).contains(&got), "{name}: {got} outside [0, 1]");
        }
        assert!(both.anomaly_score(3e15, ok_up | a, None) < 1.0);
    }

    #[test]
    fn anomaly_score_is_strictly_increasing_and_flags_rank_first() {
        let map = ScoreMap {
            threshold: 3.5,
            ..BOTH
        };
        // Increasing in steps of 7% up to 1e13 (beyond, 7% is below one ulp
        // of 1 - a); a flagged row lies beyond the threshold.
        for flagged in [false, true] {
            let mut prev = -1.0;
            for i in 1..450 {
                let s = 1.07f64.powi(i) - 1.0 + if flagged { 3.5 } else { 0.0 };
                let fl = flags::UP | if flagged { flags::ANOMALY } else { 0 };
                let a = map.anomaly_score(s, fl, None);
                assert!(a > prev, "not increasing at score {s}: {a} <= {prev}");
                assert_eq!(a > 0.5, flagged, "score {s}: {a}");
                prev = a;
            }
        }
    }

    #[test]
    fn level_at_inverts_the_map() {
        let lik = ScoreMap {
            probability: true,
            ..BOTH
        };
        /// (name, map, anomaly threshold, want)
        type Case<'a> = (&'a str, ScoreMap, f64, Option<(bool, f64)>);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("flagged rows, twice the threshold", BOTH, 2.0 / 3.0, Some((true, 6.0))),
            ("unflagged rows too", BOTH, 1.0 / 3.0, Some((false, 6.0))),
            ("one half takes every unflagged row", BOTH, 0.5, None),
            ("1 is beyond every finite score", BOTH, 1.0, None),
            ("a probability, flagged rows", lik, 0.9999, Some((true, 0.9999))),
            ("a probability, unflagged rows too", lik, 0.45, Some((false, 0.9))),
            ("a probability, one half", lik, 0.5, Some((false, 1.0))),
        ];
        for (name, map, t, want) in cases {
            let got = map.level_at(*t);
            match (got, want) {
                (Some((f, l)), Some((wf, wl))) => {
                    assert_eq!(f, *wf, "{name}");
                    assert!((l - wl).abs() < 1e-9, "{name}: {l} vs {wl}");
                }
                (None, None) => {}
                _ => panic!("{name}: {got:?} vs {want:?}"),
            }
        }
    }

    #[test]
    fn score_map_reads_the_effective_config() {
        let m = ScoreMap::from_config(
            r#"{"algorithm":"mad","threshold":3.5,"minTrainingSize":30,"direction":"down","window":100,"likelihood":null}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            ScoreMap {
                threshold: 3.5,
                direction: Direction::Down,
                probability: false,
                p_value: false,
            }
        );
        let m =
            ScoreMap::from_config(r#"{"threshold":3,"likelihood":{"threshold":0.9999}}"#).unwrap();
        assert!(m.probability);
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
