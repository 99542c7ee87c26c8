//! The Numenta Anomaly Benchmark, built in: NAB v1.1 scoring, and running
//! wasmad detectors over a NAB corpus through the WASM component.
//!
//! - [`Corpus::load`] reads a NAB checkout (`data/`, `labels/combined_windows.json`,
//!   `config/profiles.json`); [`Corpus::read_results`] reads a results
//!   directory in NAB's layout (any detector's).
//! - [`run_corpus`] runs one detector config over every file, one fresh
//!   detector per file, in the component loaded by a [`wasmad_host::Runtime`],
//!   and maps each row to an NAB anomaly score ([`ScoreMap::anomaly_score`]:
//!   the anomaly probability when the config turns the likelihood layer on,
//!   else a map of the score; rows the detector flagged rank above the rest).
//! - [`evaluate`] scores anomaly scores exactly as NAB v1.1 does
//!   ([`scorer`]): probation, windows, the scaled sigmoid, one threshold per
//!   profile for the whole corpus (swept, or given), normalisation against
//!   the null and perfect detectors. `crates/eval/tests/nab.rs` reproduces
//!   NAB's published scores from NAB's own per-row results.
//!
//! No DataFusion here: a file is a series, a series goes to one detector.
//!
//! ```no_run
//! use std::path::Path;
//! let rt = wasmad_host::Runtime::embedded(Default::default())?;
//! let run = wasmad_eval::run_corpus(Path::new("NAB"), wasmad_eval::RECOMMENDED_CONFIG, &rt, None, |_, _| {})?;
//! let profiles = wasmad_eval::evaluate(&run.corpus, &run.anomaly, &wasmad_eval::Thresholds::Sweep)?;
//! for p in &profiles {
//!     println!("{}: {:.2}", p.name, p.normalised.unwrap_or(f64::NAN));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod corpus;
mod csv;
mod error;
mod html;
mod report;
mod run;
pub mod scorer;
pub mod time;

pub use corpus::{Corpus, CorpusFile, DATA, LABELS, PROFILES};
pub use error::{Error, Result};
pub use html::{CHART_BUCKETS, SCOREBOARD, html_report};
pub use report::{ProfileResult, RESERVED_KEYS, Report, Source, ThresholdSource};
pub use run::{
    BATCH_ROWS, Bands, CorpusRun, Direction, ScoreMap, run_corpus, run_detector, write_results,
};

use scorer::{best, normalise, null_score, perfect_score, score_corpus, sweep};

/// The config `wasmad eval nab` runs without `--config`: one global config
/// for every file, never tuned per file. The best `standard` score of the
/// documented global grid in `crates/eval/search/nab_search.sh` (raw
/// detectors, raw scores with cooldowns, the likelihood layer on every
/// detector and its settings one at a time, the hygiene keys, and ensembles
/// of calibrated detectors; each config applied unchanged to the whole
/// corpus): an ensemble of z-scores over all rows, a Random Cut Forest (50
/// trees, shingles of 4 rows) and a rolling MAD (1000 rows), each calibrated
/// per series by its likelihood layer (long-run memory 20000 rows), flagging
/// when the largest of their probabilities reaches 0.99999, at most one
/// alert per 100 rows of a series. NAB v1.1: 68.21 standard, 55.80 low FP,
/// 74.21 low FN (zscore with likelihood alone, the previous default: 62.64 /
/// 53.48 / 67.33; the raw z-score: 40.56 / 28.84 / 48.02). Replace it only
/// through a documented global search.
pub const RECOMMENDED_CONFIG: &str = concat!(
    r#"{"algorithm":"ensemble","members":["#,
    r#"{"algorithm":"zscore","likelihood":{"window":20000}},"#,
    r#"{"algorithm":"rcf","numberOfTrees":50,"shingleSize":4,"likelihood":{"window":20000}},"#,
    r#"{"algorithm":"mad","window":1000,"likelihood":{"window":20000}}],"#,
    r#""combine":"max","threshold":0.99999,"cooldown":100}"#
);

/// How each profile's threshold is chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum Thresholds {
    /// Sweep every distinct anomaly score over the corpus and keep the best,
    /// per profile (NAB's optimise step).
    Sweep,
    /// One threshold per profile name (e.g. NAB's `config/thresholds.json`).
    Given(Vec<(String, f64)>),
}

/// Score one anomaly-score column per corpus file under every profile of
/// the corpus (NAB's optimise, score and normalise steps).
pub fn evaluate(
    corpus: &Corpus,
    anomaly: &[Vec<f64>],
    thresholds: &Thresholds,
) -> Result<Vec<ProfileResult>> {
    let inputs = corpus.inputs(anomaly)?;
    let mut out = Vec::with_capacity(corpus.profiles.len());
    for profile in &corpus.profiles {
        let cost = &profile.cost;
        let (threshold, source) = match thresholds {
            Thresholds::Sweep => {
                let entries = sweep(&inputs, cost);
                let b = best(&entries).ok_or_else(|| {
                    Error::Invalid("the threshold sweep found no thresholds".into())
                })?;
                (b.threshold, ThresholdSource::Sweep)
            }
            Thresholds::Given(list) => {
                let t = list
                    .iter()
                    .find(|(name, _)| *name == profile.name)
                    .map(|(_, t)| *t)
                    .ok_or_else(|| {
                        Error::Invalid(format!(
                            "no threshold given for profile '{}'; given: {}",
                            profile.name,
                            list.iter()
                                .map(|(n, _)| n.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })?;
                if t.is_nan() {
                    return Err(Error::Invalid(format!(
                        "the threshold for profile '{}' is NaN",
                        profile.name
                    )));
                }
                (t, ThresholdSource::Given)
            }
        };
        let (files, total) = score_corpus(&inputs, cost, threshold);
        let null = null_score(&inputs, cost);
        let perfect = perfect_score(&inputs, cost);
        out.push(ProfileResult {
            name: profile.name.clone(),
            cost: *cost,
            threshold_source: source,
            total,
            files,
            null,
            perfect,
            normalised: normalise(total.score, null, perfect),
        });
    }
    Ok(out)
}
