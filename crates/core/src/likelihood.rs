//! The anomaly-likelihood layer: a calibrated probability on top of any
//! detector's raw score (the idea behind Numenta HTM's NAB result,
//! `anomaly_likelihood.py`).
//!
//! Per key, every scored row's raw score is turned into a bounded magnitude
//! `m = min(|score|, cap)^2` (see [`LikelihoodParams::magnitude`]); the last
//! `shortWindow` magnitudes are averaged (the recent mean square deviation);
//! the average is compared with the long-run distribution of such averages
//! (an exponentially weighted mean and variance with time constant `window`
//! rows: O(1) memory per key, however long the window), and the layer
//! reports `probability = Phi((average - mean) / max(std, minStd))`, the
//! Gaussian probability that the recent average is not exceeded: close to 1
//! when recent scores are unusually large *for this key*, so one threshold
//! fits quiet and noisy keys alike. Like the detectors, a row is scored
//! against the distribution before it is learned.
//!
//! Until a key's distribution has learned `minSamples` averages the
//! probability is 0.5 (no evidence either way) and nothing is flagged.
//!
//! Squares rather than `|score|` (Numenta averages HTM's raw scores, which
//! are already bounded to [0, 1]): a few large deviations then outweigh many
//! small ones, which on NAB separated incidents from noise better than the
//! mean `|score|`, and better than transforms of the mean square that are
//! closer to Gaussian (its square or cube root), which flag too little.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{ParamSpec, Reader};
use crate::error::Result;
use crate::gauss;

/// Validated `likelihood` settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LikelihoodParams {
    /// Time constant of the long-run distribution, in rows.
    pub window: u64,
    /// Rows averaged into the recent score.
    pub short_window: u64,
    /// Averages a key's distribution learns before probabilities are reported.
    pub min_samples: u64,
    /// Flag when the probability reaches this.
    pub threshold: f64,
    /// Each row's `|score|` is clipped to this before it is squared.
    pub cap: f64,
    /// Smallest standard deviation of the averages (squared score units).
    pub min_std: f64,
    /// `gauss::quantile(threshold)`: the standardised average at which a row
    /// is flagged (severity bands are multiples of it). Derived.
    pub z_threshold: f64,
}

impl LikelihoodParams {
    /// The keys of the `likelihood` object.
    pub fn specs() -> Vec<ParamSpec> {
        vec![
            ParamSpec::integer(
                "window",
                Some(8640),
                "Rows the long-run distribution of averaged scores remembers (exponential forgetting with this time constant).",
            )
            .min(2.0)
            .max(1e9),
            ParamSpec::integer(
                "shortWindow",
                Some(10),
                "Most recent raw scores averaged before comparing with the long-run distribution.",
            )
            .min(1.0)
            .max(1000.0),
            ParamSpec::integer(
                "minSamples",
                Some(100),
                "Averages a key learns before it reports probabilities (0.5 and never flagged until then).",
            )
            .min(1.0)
            .max(1e9),
            ParamSpec::number(
                "threshold",
                Some(0.9999),
                "Flag a row when its anomaly probability is at least this.",
            )
            .above(0.5)
            .below(1.0),
            ParamSpec::number(
                "cap",
                Some(10.0),
                "Each row's |score| is clipped to this, then squared, before averaging: one extreme row cannot dominate.",
            )
            .above(0.0)
            .max(1e100),
            ParamSpec::number(
                "minStd",
                Some(0.01),
                "Floor on the standard deviation of the averages (squared score units).",
            )
            .above(0.0)
            .max(1e100),
        ]
    }

    /// Read the `likelihood` object.
    pub fn read(r: &Reader<'_>) -> Result<LikelihoodParams> {
        let threshold = r.number_or_default("threshold")?;
        Ok(LikelihoodParams {
            window: r.integer_or_default("window")?,
            short_window: r.integer_or_default("shortWindow")?,
            min_samples: r.integer_or_default("minSamples")?,
            threshold,
            cap: r.number_or_default("cap")?,
            min_std: r.number_or_default("minStd")?,
            z_threshold: gauss::quantile(threshold),
        })
    }

    /// The settings as JSON, every default filled in.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("window".into(), self.window.into());
        m.insert("shortWindow".into(), self.short_window.into());
        m.insert("minSamples".into(), self.min_samples.into());
        m.insert("threshold".into(), self.threshold.into());
        m.insert("cap".into(), self.cap.into());
        m.insert("minStd".into(), self.min_std.into());
        Value::Object(m)
    }

    /// The magnitude a row contributes: its `|score|` (in the allowed
    /// direction) clipped to `cap`, squared. The average of squares is the
    /// recent mean square deviation, so a few large deviations outweigh many
    /// small ones, and no single row can move it by more than `cap^2 /
    /// shortWindow`. NaN (a model whose baseline overflowed) counts as 0.
    #[inline]
    pub fn magnitude(&self, deviation: f64) -> f64 {
        let d = if deviation > self.cap {
            self.cap
        } else if deviation > 0.0 {
            deviation
        } else {
            0.0
        };
        d * d
    }

    /// Whether derived values agree with the settings (a restored snapshot).
    pub fn is_consistent(&self) -> bool {
        self.z_threshold.to_bits() == gauss::quantile(self.threshold).to_bits()
    }
}

/// One key's likelihood state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LikelihoodState {
    /// The last `shortWindow` magnitudes.
    recent: VecDeque<f64>,
    /// Averages learned into the distribution.
    learned: u64,
    /// Sum of the (decayed) weights of the learned averages.
    weight: f64,
    /// Exponentially weighted mean of the averages.
    mean: f64,
    /// Exponentially weighted variance of the averages.
    var: f64,
}

/// What the layer says about one row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Likelihood {
    /// The anomaly probability in [0, 1].
    pub probability: f64,
    /// The standardised recent average (`None` while the key warms up).
    pub z: Option<f64>,
}

impl LikelihoodState {
    /// Score then learn one row's magnitude (from [`LikelihoodParams::magnitude`]).
    #[inline]
    pub fn update(&mut self, m: f64, p: &LikelihoodParams) -> Likelihood {
        if self.recent.len() as u64 >= p.short_window {
            self.recent.pop_front();
        }
        self.recent.push_back(m);
        // Summed afresh each row: no drift, and identical however rows were batched.
        let avg = self.recent.iter().sum::<f64>() / self.recent.len() as f64;
        let out = if self.learned >= p.min_samples {
            let std = self.var.sqrt().max(p.min_std);
            let z = (avg - self.mean) / std;
            Likelihood {
                probability: gauss::cdf(z),
                z: Some(z),
            }
        } else {
            Likelihood {
                probability: 0.5,
                z: None,
            }
        };
        self.learn(avg, p);
        out
    }

    /// Exponentially weighted mean and variance whose weight starts as a
    /// plain running mean (`1 / n`) and settles at `1 / window`.
    fn learn(&mut self, avg: f64, p: &LikelihoodParams) {
        let decay = 1.0 - 1.0 / p.window as f64;
        self.weight = self.weight * decay + 1.0;
        let f = 1.0 / self.weight;
        let d = avg - self.mean;
        self.mean += f * d;
        self.var = (1.0 - f) * (self.var + f * d * d);
        self.learned += 1;
    }

    /// Whether a deserialised state fits its settings.
    pub fn is_consistent(&self, p: &LikelihoodParams) -> bool {
        self.recent.len() as u64 <= p.short_window
            && self
                .recent
                .iter()
                .all(|m| (0.0..=p.cap * p.cap).contains(m))
            && self.mean.is_finite()
            && self.var.is_finite()
            && self.var >= 0.0
            && self.weight.is_finite()
            && self.weight >= 0.0
            && (self.learned == 0) == (self.weight == 0.0)
    }
}
