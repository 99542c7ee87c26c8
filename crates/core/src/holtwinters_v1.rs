//! The `holtwinters` state of snapshots written before 2026-12-04 (additive,
//! fixed period). Only read: [`crate::detector::Detector::restore`] upgrades
//! it to [`crate::holtwinters::HoltWinters`] ([`upgrade`]), which configs
//! build. Kept byte-compatible with those snapshots: do not change.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{Common, ParamSpec, Reader};
use crate::engine::Keyed;
use crate::error::{Error, Result};
use crate::holtwinters::{HoltWinters, HoltWintersParams, Seasonality};
use crate::model::{Baseline, Model};

/// Parameters of [`LegacyHoltWinters`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegacyHoltWintersParams {
    /// Season length in (learned) rows.
    pub period: u64,
    /// Level smoothing in [0, 1].
    pub alpha: f64,
    /// Trend smoothing in [0, 1] (0: the trend stays 0).
    pub beta: f64,
    /// Seasonal smoothing in [0, 1].
    pub gamma: f64,
}

/// One key's additive Holt-Winters state, as snapshots before 2026-12-04
/// hold it (fixed period, additive only). Read from those snapshots and
/// upgraded to [`HoltWinters`] on restore ([`upgrade`]); configs build
/// [`HoltWinters`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegacyHoltWinters {
    seen: u64,
    level: f64,
    trend: f64,
    /// While `seen < period`: the raw rows learned so far. After: one seasonal
    /// index per phase (`period` entries).
    seasonal: Vec<f64>,
    /// Exponentially weighted mean of squared one-step errors.
    var: f64,
}

impl LegacyHoltWinters {
    fn initialise(&mut self) {
        let n = self.seasonal.len() as f64;
        let mut sum = 0.0;
        for v in &self.seasonal {
            sum += *v;
        }
        let mean = sum / n;
        for v in &mut self.seasonal {
            *v -= mean;
        }
        self.level = mean;
        self.trend = 0.0;
        self.var = 0.0;
    }
}

impl Model for LegacyHoltWinters {
    type Params = LegacyHoltWintersParams;
    const NAME: &'static str = "holtwinters";
    const DESCRIPTION: &'static str = "Additive Holt-Winters (level, trend, seasonal index per phase); score = (x - forecast) / RMS of recent one-step errors.";

    // Never built from a config (configs build `HoltWinters`): these only
    // complete the `Model` a `Keyed` holds.
    fn specs() -> Vec<ParamSpec> {
        HoltWinters::specs()
    }

    fn params(_: &Reader<'_>, _: &mut Common) -> Result<LegacyHoltWintersParams> {
        Err(Error::InvalidConfig(
            "the holtwinters state of snapshots written before 2026-12-04 is only restored, never configured"
                .into(),
        ))
    }

    fn params_json(p: &LegacyHoltWintersParams) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("period".into(), p.period.into());
        m.insert("alpha".into(), p.alpha.into());
        m.insert("beta".into(), p.beta.into());
        m.insert("gamma".into(), p.gamma.into());
        m
    }

    fn new(_: &LegacyHoltWintersParams) -> Self {
        LegacyHoltWinters {
            seen: 0,
            level: 0.0,
            trend: 0.0,
            seasonal: Vec::new(),
            var: 0.0,
        }
    }

    fn seen(&self) -> u64 {
        self.seen
    }

    #[inline(always)]
    fn baseline(&self, p: &LegacyHoltWintersParams) -> Baseline {
        if self.seen < p.period {
            // Unreachable through the engine (minTrainingSize >= period).
            return Baseline {
                center: self.seasonal.last().copied().unwrap_or(0.0),
                scale: 0.0,
            };
        }
        let phase = (self.seen % p.period) as usize;
        Baseline {
            center: self.level + self.trend + self.seasonal[phase],
            scale: self.var.sqrt(),
        }
    }

    #[inline(always)]
    fn learn(&mut self, x: f64, p: &LegacyHoltWintersParams) {
        if self.seen < p.period {
            self.seasonal.push(x);
            self.seen += 1;
            if self.seen == p.period {
                self.initialise();
            }
            return;
        }
        let phase = (self.seen % p.period) as usize;
        let s = self.seasonal[phase];
        let e = x - (self.level + self.trend + s);
        let k = (self.seen - p.period + 1) as f64;
        let w = p.gamma.max(p.alpha).max(1.0 / k);
        self.var += w * (e * e - self.var);

        let prev = self.level;
        self.level = p.alpha * (x - s) + (1.0 - p.alpha) * (prev + self.trend);
        self.trend = p.beta * (self.level - prev) + (1.0 - p.beta) * self.trend;
        self.seasonal[phase] = p.gamma * (x - self.level) + (1.0 - p.gamma) * s;
        self.seen += 1;
    }

    fn is_consistent(&self, p: &LegacyHoltWintersParams) -> bool {
        // Structural checks only (plus the sign of the variance): finite
        // inputs near f64::MAX can overflow the state to inf/NaN, and a
        // snapshot the detector itself wrote must always restore.
        self.seasonal.len() as u64 == self.seen.min(p.period)
            && (self.var >= 0.0 || self.var.is_nan())
    }
}

/// The same detector as a [`HoltWinters`]: additive, the period fixed, every
/// key's state carried over (a key still buffering its first season keeps
/// its rows).
pub fn upgrade(k: Keyed<LegacyHoltWinters>) -> Keyed<HoltWinters> {
    let p = &k.params;
    let params = HoltWintersParams {
        period: Some(p.period),
        max_period: crate::holtwinters::MAX_PERIOD_DEFAULT,
        seasonality: Seasonality::Additive,
        alpha: p.alpha,
        beta: p.beta,
        gamma: p.gamma,
        detect_rows: 0,
    };
    let models = k
        .models
        .into_iter()
        .map(|m| HoltWinters::from_parts(m.seen, p.period, m.level, m.trend, m.seasonal, m.var))
        .collect();
    let mut out = Keyed::new(k.common, params, k.alerts);
    out.models = models;
    out.states = k.states;
    out
}
