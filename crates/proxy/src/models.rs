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
    /// No usable row: a missing or non-numeric header (never reaches the
    /// detector), or a NaN or infinite value (the detector's own `skipped`):
    /// neither learned nor scored.
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
    width: usize,
    scores: Scores,
    /// The last [`Models::score`] reached the detector, so `scores` holds its row.
    scored_last: bool,
}

impl Models {
    /// A fresh set of models from a detector config (already validated).
    pub fn new(detector_config: &str, width: usize, max_keys: usize) -> Result<Models> {
        let detector =
            Detector::from_config(detector_config).map_err(|e| Error::Config(e.to_string()))?;
        Ok(Models {
            detector,
            ids: HashMap::new(),
            max_keys,
            width: width.max(1),
            scores: Scores::default(),
            scored_last: false,
        })
    }

    /// Keys with a model.
    pub fn key_count(&self) -> usize {
        self.ids.len()
    }

    /// The detector's effective config (every default filled in), as JSON.
    pub fn effective_config(&self) -> String {
        self.detector.config_json()
    }

    /// Score then learn one row of `width` values for `key` at `timestamp_us`
    /// (microseconds since the epoch). `None` (no usable row: a missing or
    /// non-numeric header) is skipped without reaching the detector; NaN and
    /// infinite values go to the detector, which reports them `skipped`.
    pub fn score(
        &mut self,
        key: &[u8],
        values: Option<&[f64]>,
        timestamp_us: i64,
    ) -> Result<Verdict> {
        self.scored_last = false;
        let Some(values) = values else {
            return Ok(Verdict::Skipped);
        };
        if values.len() != self.width {
            return Err(Error::Detector(format!(
                "a row of {} values; this filter's width is {}",
                values.len(),
                self.width
            )));
        }
        let (id, new) = match self.ids.get(key) {
            Some(id) => (*id, false),
            None if self.ids.len() >= self.max_keys => return Ok(Verdict::Overflow),
            None => (self.ids.len() as u32, true),
        };
        let input = Input {
            timestamps: &[timestamp_us],
            values,
            width: self.width,
            keys: &[id],
        };
        self.detector
            .process(&input, &mut self.scores)
            .map_err(|e| Error::Detector(e.to_string()))?;
        self.scored_last = true;
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

impl Models {
    /// The exact outputs of the last [`Models::score`] as headers (name,
    /// value), when it reached the detector: every f64 as its IEEE-754 bit
    /// pattern in 16 lower-case hex digits, the flag byte in decimal, the
    /// detector's key count, and each extra output (names listed in order in
    /// `x-anomaly-extras`). Otherwise only the key count.
    pub fn exact_headers(&self) -> Vec<(String, String)> {
        let mut h = Vec::with_capacity(12);
        let key_count = self.detector.key_count().to_string();
        if !self.scored_last {
            h.push(("x-anomaly-key-count".into(), key_count));
            return h;
        }
        let s = &self.scores;
        let first = |v: &[f64]| v.first().map_or_else(String::new, |x| bits(*x));
        h.push(("x-anomaly-forecast-bits".into(), first(&s.forecast)));
        h.push(("x-anomaly-lower-bits".into(), first(&s.lower)));
        h.push(("x-anomaly-upper-bits".into(), first(&s.upper)));
        h.push(("x-anomaly-score-bits".into(), first(&s.score)));
        if let Some(p) = s.probability.first() {
            h.push(("x-anomaly-probability-bits".into(), bits(*p)));
        }
        h.push((
            "x-anomaly-flags".into(),
            s.flags.first().copied().unwrap_or_default().to_string(),
        ));
        h.push(("x-anomaly-key-count".into(), key_count));
        if !s.extras.is_empty() {
            let names: Vec<&str> = s.extras.iter().map(|e| e.name.as_str()).collect();
            h.push(("x-anomaly-extras".into(), names.join(",")));
            for e in &s.extras {
                let values: Vec<String> = e.row(0).iter().map(|x| bits(*x)).collect();
                h.push((
                    format!("x-anomaly-extra-{}-bits", e.name.to_ascii_lowercase()),
                    values.join(","),
                ));
            }
        }
        h
    }
}

/// An f64's IEEE-754 bit pattern as 16 lower-case hex digits.
pub fn bits(x: f64) -> String {
    format!("{:016x}", x.to_bits())
}

/// Parse a header value as a number (surrounding blanks allowed): Rust's
/// `f64` syntax, so `nan`, `inf`, `-inf` and `infinity` (any case) are numbers
/// too, and a shortest round-trip decimal gives back the exact f64.
pub fn parse_number(text: &[u8]) -> Option<f64> {
    std::str::from_utf8(text).ok()?.trim().parse::<f64>().ok()
}

/// Parse a header value as a row of exactly `width` comma-separated numbers
/// (each as [`parse_number`]); `None` if any is not a number or the count differs.
pub fn parse_row(text: &[u8], width: usize) -> Option<Vec<f64>> {
    let text = std::str::from_utf8(text).ok()?;
    let mut row = Vec::with_capacity(width);
    for part in text.split(',') {
        if row.len() == width {
            return None;
        }
        row.push(part.trim().parse::<f64>().ok()?);
    }
    (row.len() == width).then_some(row)
}
