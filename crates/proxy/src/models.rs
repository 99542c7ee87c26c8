//! One detector holding a model per key, fed one request at a time.

use hashbrown::HashMap;
use wasmad_core::{Detector, Input, Scores, flags};

use crate::error::{Error, Result};

/// The outcome of scoring one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Scored against a trained baseline.
    Scored {
        /// The detector's flag says anomalous.
        anomaly: bool,
        /// The detector's score (z-score-like for zscore, ewma, mad).
        score: f64,
    },
    /// The key's model is still learning (`minTrainingSize` not reached).
    Warmup,
    /// No usable number (missing or non-numeric): neither learned nor scored.
    Skipped,
    /// A new key beyond `maxKeys`: not learned, not scored.
    Overflow,
}

impl Verdict {
    /// The `x-anomaly` header value.
    pub fn anomaly(&self) -> bool {
        matches!(self, Verdict::Scored { anomaly: true, .. })
    }

    /// The `x-anomaly-status` header value.
    pub fn status(&self) -> &'static str {
        match self {
            Verdict::Scored { .. } => "ok",
            Verdict::Warmup => "warmup",
            Verdict::Skipped => "skipped",
            Verdict::Overflow => "overflow",
        }
    }

    /// The `x-anomaly-score` header value (scored requests only).
    pub fn score_text(&self) -> Option<String> {
        match self {
            Verdict::Scored { score, .. } if score.is_finite() => Some(format!("{score:.3}")),
            _ => None,
        }
    }
}

/// A detector with one model per key; keys map to dense ids in arrival order
/// (as the SQL host does), so the detector grows one model per new key.
pub struct Models {
    detector: Detector,
    ids: HashMap<Box<[u8]>, u32>,
    max_keys: usize,
    scores: Scores,
}

impl Models {
    /// A fresh set of models from a detector config (already validated).
    pub fn new(detector_config: &str, max_keys: usize) -> Result<Models> {
        let detector =
            Detector::from_config(detector_config).map_err(|e| Error::Config(e.to_string()))?;
        Ok(Models {
            detector,
            ids: HashMap::new(),
            max_keys,
            scores: Scores::default(),
        })
    }

    /// Keys with a model.
    pub fn key_count(&self) -> usize {
        self.ids.len()
    }

    /// Score then learn `value` for `key` at `timestamp_us` (microseconds
    /// since the epoch). `None` (no usable number) is skipped.
    pub fn score(&mut self, key: &[u8], value: Option<f64>, timestamp_us: i64) -> Result<Verdict> {
        let Some(value) = value.filter(|v| v.is_finite()) else {
            return Ok(Verdict::Skipped);
        };
        let (id, new) = match self.ids.get(key) {
            Some(id) => (*id, false),
            None if self.ids.len() >= self.max_keys => return Ok(Verdict::Overflow),
            None => (self.ids.len() as u32, true),
        };
        let input = Input {
            timestamps: &[timestamp_us],
            values: &[value],
            width: 1,
            keys: &[id],
        };
        self.detector
            .process(&input, &mut self.scores)
            .map_err(|e| Error::Detector(e.to_string()))?;
        // Only now: a key is held once its model exists, so ids stay dense.
        if new {
            self.ids.insert(key.into(), id);
        }
        let f = self.scores.flags[0];
        Ok(match flags::Status::from_flags(f) {
            flags::Status::Ok => Verdict::Scored {
                anomaly: flags::is_anomaly(f),
                score: self.scores.score[0],
            },
            flags::Status::Warmup => Verdict::Warmup,
            flags::Status::Skipped => Verdict::Skipped,
        })
    }
}

/// Parse a header value as a number (surrounding blanks allowed).
pub fn parse_number(text: &[u8]) -> Option<f64> {
    std::str::from_utf8(text).ok()?.trim().parse::<f64>().ok()
}
