//! Results per profile, and their table, JSON and NAB score-table forms.

use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::corpus::Corpus;
use crate::error::{Error, Result};
use crate::run::ScoreMap;
use crate::scorer::{CostMatrix, Scored};

/// Top-level keys of the JSON report besides the profile names; a profile
/// may not be called any of these.
pub const RESERVED_KEYS: &[&str] = &[
    "profiles",
    "files",
    "rows",
    "windows",
    "seconds",
    "detect_seconds",
    "config",
    "results",
    "nab",
];

/// How a profile's threshold was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ThresholdSource {
    /// The best of every distinct anomaly score over the corpus.
    Sweep,
    /// Given by the caller.
    Given,
}

/// One profile's result over a corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileResult {
    /// The profile name.
    pub name: String,
    /// Its weights.
    pub cost: CostMatrix,
    /// How the threshold was chosen.
    pub threshold_source: ThresholdSource,
    /// The corpus total at the threshold.
    pub total: Scored,
    /// Each file's result at the threshold, in corpus order.
    pub files: Vec<Scored>,
    /// The score of a detector that never detects.
    pub null: f64,
    /// The score of a perfect detector.
    pub perfect: f64,
    /// NAB's normalised score, 0 for null and 100 for perfect.
    pub normalised: Option<f64>,
}

/// Where the anomaly scores came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A wasmad detector run over the corpus.
    Detector {
        /// The config as given.
        config: String,
        /// The effective config (defaults filled in).
        effective: String,
        /// How rows were mapped to anomaly scores, to express anomaly-score
        /// thresholds in the detector's terms.
        map: ScoreMap,
    },
    /// A results directory written by another tool (or an earlier run).
    Results(String),
}

/// A whole evaluation: what was scored, how long it took, each profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Where the anomaly scores came from.
    pub source: Source,
    /// Files scored.
    pub files: usize,
    /// Rows over all files.
    pub rows: usize,
    /// Labelled windows over all files.
    pub windows: usize,
    /// Wall-clock seconds (load, detect, score).
    pub seconds: f64,
    /// Of which running the detector, when one ran.
    pub detect_seconds: Option<f64>,
    /// One result per profile, in `config/profiles.json` order.
    pub profiles: Vec<ProfileResult>,
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

impl Report {
    /// What a NAB anomaly-score threshold stands for, for reports of a
    /// wasmad detector: whether only rows the detector flagged reach it, and
    /// the `|score|` (or, with likelihood, the probability) a row needs (see
    /// [`ScoreMap::level_at`]).
    pub fn detector_level(&self, anomaly_threshold: f64) -> Option<(bool, f64)> {
        match &self.source {
            Source::Detector { map, .. } => map.level_at(anomaly_threshold),
            Source::Results(_) => None,
        }
    }

    fn probability(&self) -> bool {
        matches!(&self.source, Source::Detector { map, .. } if map.probability)
    }

    /// One JSON object: each profile's normalised score under its name
    /// (`standard`, `reward_low_FP_rate`, `reward_low_FN_rate` for NAB), and
    /// under `profiles` the details (threshold, raw, null and perfect scores,
    /// row counts as NAB reports them, windows detected, weights).
    pub fn to_json(&self) -> Value {
        let mut top = Map::new();
        let mut profiles = Map::new();
        for p in &self.profiles {
            top.insert(p.name.clone(), json!(p.normalised));
            let c = &p.total.counts;
            let mut detail = json!({
                "score": p.normalised,
                "threshold": p.total.threshold,
                "threshold_source": p.threshold_source,
                "raw_score": p.total.score,
                "null_score": p.null,
                "perfect_score": p.perfect,
                "tp": c.tp,
                "tn": c.tn,
                "fp": c.fp,
                "fn": c.fn_,
                "windows_detected": c.windows_detected,
                "windows_scored": c.windows,
                "weights": p.cost,
            });
            if let (Some((flagged_only, level)), Some(obj)) = (
                self.detector_level(p.total.threshold),
                detail.as_object_mut(),
            ) {
                let key = if self.probability() {
                    "threshold_probability"
                } else {
                    "threshold_in_score_units"
                };
                obj.insert(key.into(), json!(level));
                obj.insert("flagged_rows_only".into(), json!(flagged_only));
            }
            profiles.insert(p.name.clone(), detail);
        }
        top.insert("profiles".into(), Value::Object(profiles));
        top.insert("files".into(), json!(self.files));
        top.insert("rows".into(), json!(self.rows));
        top.insert("windows".into(), json!(self.windows));
        top.insert("seconds".into(), json!(round(self.seconds, 3)));
        if let Some(d) = self.detect_seconds {
            top.insert("detect_seconds".into(), json!(round(d, 3)));
        }
        top.insert("nab".into(), json!("v1.1 scoring"));
        match &self.source {
            Source::Detector { effective, .. } => {
                let cfg = serde_json::from_str::<Value>(effective)
                    .unwrap_or_else(|_| Value::String(effective.clone()));
                top.insert("config".into(), cfg);
            }
            Source::Results(dir) => {
                top.insert("results".into(), json!(dir));
            }
        }
        Value::Object(top)
    }

    /// A plain-text summary: one line per profile with the normalised score,
    /// threshold, raw score, NAB's row counts and windows detected.
    pub fn to_table(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "NAB v1.1 scores over {} files ({} rows, {} windows) in {:.1} s",
            self.files, self.rows, self.windows, self.seconds
        ));
        match self.detect_seconds {
            Some(d) => s.push_str(&format!(" (detector {d:.1} s)\n")),
            None => s.push('\n'),
        }
        match &self.source {
            Source::Detector { effective, .. } => {
                s.push_str(&format!("detector: {effective}\n"));
            }
            Source::Results(dir) => s.push_str(&format!("results: {dir}\n")),
        }
        s.push('\n');
        let with_units = matches!(self.source, Source::Detector { .. });
        s.push_str(&format!(
            "{:<20} {:>7} {:>12}{} {:>10} {:>8} {:>8} {:>8} {:>9}\n",
            "profile",
            "score",
            "threshold",
            match (with_units, self.probability()) {
                (false, _) => "",
                (true, false) => "   (|score|)",
                (true, true) => "  (probab.)",
            },
            "raw",
            "TP rows",
            "FP rows",
            "FN rows",
            "windows"
        ));
        let mut any_unflagged = false;
        for p in &self.profiles {
            let c = &p.total.counts;
            let units = if with_units {
                match self.detector_level(p.total.threshold) {
                    Some((flagged_only, u)) => {
                        any_unflagged |= !flagged_only;
                        let mark = if flagged_only { "" } else { "+" };
                        let u = if self.probability() {
                            format!("{u:.6}")
                        } else {
                            format!("{u:.3}")
                        };
                        format!(" {:>11}", format!("({u}{mark})"))
                    }
                    None => format!(" {:>11}", "(-)"),
                }
            } else {
                String::new()
            };
            s.push_str(&format!(
                "{:<20} {:>7} {:>12}{} {:>10.4} {:>8} {:>8} {:>8} {:>9}\n",
                p.name,
                format_normalised(p.normalised),
                short(p.total.threshold),
                units,
                p.total.score,
                c.tp,
                c.fp,
                c.fn_,
                format!("{}/{}", c.windows_detected, p.files_windows()),
            ));
        }
        if any_unflagged {
            s.push_str(
                "\n+ the threshold also takes rows the detector did not flag (rows it flagged rank above all of them)\n",
            );
        }
        s
    }

    /// Write NAB's per-file score tables, `dir/<detector>_<profile>_scores.csv`
    /// (`Detector,Profile,File,Threshold,Score,TP,TN,FP,FN,Total_Count` and a
    /// `Totals` row; `Total_Count` counts scored rows).
    pub fn write_score_tables(&self, dir: &Path, detector: &str, corpus: &Corpus) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        for p in &self.profiles {
            let path = dir.join(format!("{detector}_{}_scores.csv", p.name));
            let file = std::fs::File::create(&path).map_err(|e| Error::io("create", &path, e))?;
            let mut w = std::io::BufWriter::new(file);
            let row = |w: &mut std::io::BufWriter<std::fs::File>,
                       name: &str,
                       s: &Scored|
             -> std::io::Result<()> {
                let c = &s.counts;
                writeln!(
                    w,
                    "{detector},{},{name},{},{},{},{},{},{},{}",
                    p.name,
                    s.threshold,
                    s.score,
                    c.tp,
                    c.tn,
                    c.fp,
                    c.fn_,
                    c.tp + c.tn + c.fp + c.fn_
                )
            };
            let mut write = || -> std::io::Result<()> {
                writeln!(
                    w,
                    "Detector,Profile,File,Threshold,Score,TP,TN,FP,FN,Total_Count"
                )?;
                for (f, s) in corpus.files.iter().zip(&p.files) {
                    row(&mut w, &f.name, s)?;
                }
                row(&mut w, "Totals", &p.total)?;
                w.flush()
            };
            write().map_err(|e| Error::io("write", &path, e))?;
        }
        Ok(())
    }
}

impl ProfileResult {
    fn files_windows(&self) -> u64 {
        self.total.counts.windows
    }
}

/// A normalised score as the table and the HTML report print it: two
/// decimals, or `n/a` when the corpus has no windows to normalise against.
pub(crate) fn format_normalised(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".to_string(), |n| format!("{n:.2}"))
}

/// A threshold in at most 10 significant digits.
fn short(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let s = format!("{x:.10}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}
