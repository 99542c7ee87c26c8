//! `holtwinters`: Holt-Winters (level, trend, one seasonal index per phase),
//! additive or multiplicative, the period given or detected per key,
//! updated one row at a time.
//!
//! * Period: `period` rows, or, when `period` is absent (or `"auto"`),
//!   detected per key from its first `minTrainingSize` rows (default
//!   `3 * maxPeriod`): the series minus its least-squares line, the
//!   autocorrelation `r(L)` at every lag `L` in `2..=min(maxPeriod, n / 2)`,
//!   and the smallest lag that is a local maximum of `r` with `r(L) >= 0.9 *
//!   max r` and `max r >= 0.3`. Without such a lag the key has no season
//!   (period 1: Holt's linear trend model). The held rows are then learned
//!   as if they had arrived with the period known.
//! * Initialisation: after the first `period` learned rows, the level is
//!   their mean, the trend 0, and each phase's index the row's deviation
//!   from that mean (additive) or its ratio to it (multiplicative; with a
//!   mean that is not positive the indices start at 1).
//! * Forecast for the next row: `level + trend + s[phase]` (additive) or
//!   `(level + trend) * s[phase]` (multiplicative).
//! * Update with the row `x` (the standard recursions):
//!   additive `level' = alpha (x - s) + (1 - alpha)(level + trend)`,
//!   `s' = gamma (x - level') + (1 - gamma) s`; multiplicative `level' =
//!   alpha (x / s) + (1 - alpha)(level + trend)`, `s' = gamma (x / level') +
//!   (1 - gamma) s` (a division by an index or level within 1e-12 of 0 is
//!   skipped: the level takes `x` as is, the index stays); both `trend' =
//!   beta (level' - level) + (1 - beta) trend`. With period 1 there is no
//!   seasonal index to update.
//! * Scale: the square root of an exponentially weighted mean of the squared
//!   one-step forecast errors `e = x - forecast`, `var += w (e^2 - var)`, with
//!   weight `w = max(gamma, alpha, 1/k)` where `k` counts the errors seen so
//!   far (so the first errors are averaged plainly rather than pulled towards
//!   the initial 0, and `alpha = gamma = 0` gives the plain mean square error).
//! * The seasonal clock counts learned rows: the phase is `learned % period`.
//!   Skipped rows (NaN) are neither learned nor counted, so a gap of missing
//!   rows shifts the phase by the gap's length.
//!
//! Only `+ - * /` and `sqrt` are used, so WASM and native agree bit for bit.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{Common, ParamSpec, Reader, common_specs};
use crate::error::{Error, Result};
use crate::model::{Baseline, Model};

/// The common warm-up default with a given period; the effective default is
/// `max(2 * period, this)`.
const MIN_TRAINING_DEFAULT: u64 = 30;
/// Default longest period `auto` looks for.
pub(crate) const MAX_PERIOD_DEFAULT: u64 = 300;
/// A division by less than this (an index or a level) is skipped.
const TINY: f64 = 1e-12;

/// Additive or multiplicative seasonal indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Seasonality {
    /// `forecast = level + trend + s`.
    Additive,
    /// `forecast = (level + trend) * s`.
    Multiplicative,
}

impl Seasonality {
    fn as_str(self) -> &'static str {
        match self {
            Seasonality::Additive => "additive",
            Seasonality::Multiplicative => "multiplicative",
        }
    }
}

/// Parameters of [`HoltWinters`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoltWintersParams {
    /// Season length in (learned) rows; `None`: detected per key.
    pub period: Option<u64>,
    /// Longest period detection considers.
    pub max_period: u64,
    /// Additive or multiplicative.
    pub seasonality: Seasonality,
    /// Level smoothing in [0, 1].
    pub alpha: f64,
    /// Trend smoothing in [0, 1] (0: the trend stays 0).
    pub beta: f64,
    /// Seasonal smoothing in [0, 1].
    pub gamma: f64,
    /// Rows held to detect the period (`minTrainingSize`; 0 with a given
    /// period). Derived.
    pub detect_rows: u64,
}

/// One key's Holt-Winters state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoltWinters {
    seen: u64,
    /// The key's period (0 until detected).
    period: u64,
    level: f64,
    trend: f64,
    /// Until the model is initialised: the raw rows learned so far. After:
    /// one seasonal index per phase (`period` entries).
    seasonal: Vec<f64>,
    /// Exponentially weighted mean of squared one-step errors.
    var: f64,
}

/// The period of `xs` by autocorrelation (see the module docs): 1 when no
/// lag stands out.
pub fn detect_period(xs: &[f64], max_period: u64) -> u64 {
    let n = xs.len();
    if n < 6 {
        return 1;
    }
    // Least-squares line over t = 0..n.
    let nf = n as f64;
    let t_mean = (nf - 1.0) / 2.0;
    let mut x_mean = 0.0;
    for x in xs {
        x_mean += *x;
    }
    x_mean /= nf;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (t, x) in xs.iter().enumerate() {
        let dt = t as f64 - t_mean;
        sxy += dt * (x - x_mean);
        sxx += dt * dt;
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let r: Vec<f64> = xs
        .iter()
        .enumerate()
        .map(|(t, x)| x - x_mean - slope * (t as f64 - t_mean))
        .collect();
    let mut denom = 0.0;
    for v in &r {
        denom += v * v;
    }
    if denom <= 0.0 || denom.is_nan() || denom.is_infinite() {
        return 1;
    }
    let max_lag = (max_period as usize).min(n / 2);
    if max_lag < 3 {
        return 1;
    }
    // acf[l] for l in 0..=max_lag + 1 (one past the end for the local-max test).
    let top = (max_lag + 1).min(n - 1);
    let mut acf = vec![0.0; top + 1];
    for (l, a) in acf.iter_mut().enumerate().skip(1) {
        let mut s = 0.0;
        for t in 0..n - l {
            s += r[t] * r[t + l];
        }
        *a = s / denom;
    }
    let is_peak = |l: usize| acf[l] >= acf[l - 1] && (l + 1 > top || acf[l] >= acf[l + 1]);
    let best = (2..=max_lag)
        .filter(|&l| is_peak(l))
        .map(|l| acf[l])
        .fold(0.0f64, f64::max);
    if best < 0.3 {
        return 1;
    }
    (2..=max_lag)
        .find(|&l| is_peak(l) && acf[l] >= 0.9 * best)
        .map_or(1, |l| l as u64)
}

impl HoltWinters {
    /// A model from its parts (the upgrade of an older snapshot's state).
    pub(crate) fn from_parts(
        seen: u64,
        period: u64,
        level: f64,
        trend: f64,
        seasonal: Vec<f64>,
        var: f64,
    ) -> Self {
        HoltWinters {
            seen,
            period,
            level,
            trend,
            seasonal,
            var,
        }
    }

    /// The key's period: 0 while it is being detected, 1 when it has none.
    pub fn period(&self) -> u64 {
        self.period
    }

    fn initialised(&self) -> bool {
        self.period > 0 && self.seen >= self.period
    }

    /// Level, trend and indices from the first `period` held rows.
    fn initialise(&mut self, p: &HoltWintersParams) {
        let n = self.period as usize;
        let mut sum = 0.0;
        for v in &self.seasonal[..n] {
            sum += *v;
        }
        let mean = sum / n as f64;
        for v in &mut self.seasonal[..n] {
            *v = match p.seasonality {
                Seasonality::Additive => *v - mean,
                Seasonality::Multiplicative if mean > TINY => *v / mean,
                Seasonality::Multiplicative => 1.0,
            };
        }
        if n == 1 {
            // No season: the single index is neutral.
            self.seasonal[0] = match p.seasonality {
                Seasonality::Additive => 0.0,
                Seasonality::Multiplicative => 1.0,
            };
        }
        self.level = mean;
        self.trend = 0.0;
        self.var = 0.0;
    }

    /// One update with the period known and the model initialised.
    #[inline(always)]
    fn update(&mut self, x: f64, p: &HoltWintersParams) {
        let period = self.period;
        let phase = (self.seen % period) as usize;
        let s = self.seasonal[phase];
        let base = self.level + self.trend;
        let forecast = match p.seasonality {
            Seasonality::Additive => base + s,
            Seasonality::Multiplicative => base * s,
        };
        let e = x - forecast;
        let k = (self.seen - period + 1) as f64;
        let w = p.gamma.max(p.alpha).max(1.0 / k);
        self.var += w * (e * e - self.var);

        let prev = self.level;
        let deseasoned = match p.seasonality {
            Seasonality::Additive => x - s,
            Seasonality::Multiplicative if s.abs() > TINY => x / s,
            Seasonality::Multiplicative => x,
        };
        self.level = p.alpha * deseasoned + (1.0 - p.alpha) * base;
        self.trend = p.beta * (self.level - prev) + (1.0 - p.beta) * self.trend;
        if period > 1 {
            self.seasonal[phase] = match p.seasonality {
                Seasonality::Additive => p.gamma * (x - self.level) + (1.0 - p.gamma) * s,
                Seasonality::Multiplicative if self.level.abs() > TINY => {
                    p.gamma * (x / self.level) + (1.0 - p.gamma) * s
                }
                Seasonality::Multiplicative => s,
            };
        }
        self.seen += 1;
    }

    /// Rows held for detection (or the first season) until the model can start.
    fn hold(&mut self, x: f64, p: &HoltWintersParams) {
        self.seasonal.push(x);
        self.seen += 1;
        if self.period == 0 {
            // Detecting: hold the whole warm-up, then replay it.
            if self.seen < p.detect_rows.max(6) {
                return;
            }
            self.period = detect_period(&self.seasonal, p.max_period);
        }
        if self.seen < self.period {
            return;
        }
        let held = std::mem::take(&mut self.seasonal);
        let n = self.period as usize;
        self.seasonal = held[..n].to_vec();
        self.seen = self.period;
        self.initialise(p);
        for &x in &held[n..] {
            self.update(x, p);
        }
    }
}

impl Model for HoltWinters {
    type Params = HoltWintersParams;
    const NAME: &'static str = "holtwinters";
    const DESCRIPTION: &'static str = "Holt-Winters (level, trend, seasonal index per phase), additive or multiplicative, period given or detected per key; score = (x - forecast) / RMS of recent one-step errors.";

    fn specs() -> Vec<ParamSpec> {
        let mut s = common_specs(3.0, MIN_TRAINING_DEFAULT);
        s[1].description = "Rows each key learns before it is scored: by default max(2 * period, 30), or 3 * maxPeriod when the period is detected (the rows it is detected from).";
        s.push(
            ParamSpec::integer(
                "period",
                None,
                "Season length in rows (e.g. 288 for daily 5-minute data), or \"auto\" (the default) to detect it per key from its first minTrainingSize rows. The phase counts learned rows, so skipped rows shift it.",
            )
            .min(2.0)
            .max(100_000.0),
        );
        s.push(
            ParamSpec::integer(
                "maxPeriod",
                Some(MAX_PERIOD_DEFAULT),
                "Longest season the detection considers (with period auto).",
            )
            .min(3.0)
            .max(100_000.0),
        );
        s.push(ParamSpec::choice(
            "seasonality",
            "additive",
            &["additive", "multiplicative"],
            "Seasonal indices added to the level, or multiplying it (seasonal swings that grow with the level; positive series).",
        ));
        s.push(
            ParamSpec::number("alpha", Some(0.05), "Level smoothing, in [0, 1].")
                .min(0.0)
                .max(1.0),
        );
        s.push(
            ParamSpec::number(
                "beta",
                Some(0.0),
                "Trend smoothing, in [0, 1] (0: no trend).",
            )
            .min(0.0)
            .max(1.0),
        );
        s.push(
            ParamSpec::number(
                "gamma",
                Some(0.1),
                "Seasonal smoothing, in [0, 1]; max(gamma, alpha) also weighs the error variance.",
            )
            .min(0.0)
            .max(1.0),
        );
        s
    }

    fn params(reader: &Reader<'_>, common: &mut Common) -> Result<HoltWintersParams> {
        let period = reader.integer_or_auto("period")?;
        let max_period = reader.integer_or_default("maxPeriod")?;
        match period {
            Some(period) => {
                if !reader.is_set("minTrainingSize") {
                    common.min_training_size = common.min_training_size.max(2 * period);
                }
                if common.min_training_size < period {
                    return Err(Error::InvalidConfig(format!(
                        "minTrainingSize ({}) must be at least period ({period}) for algorithm 'holtwinters'",
                        common.min_training_size
                    )));
                }
            }
            None => {
                if !reader.is_set("minTrainingSize") {
                    common.min_training_size = 3 * max_period;
                }
                if common.min_training_size < 2 * max_period {
                    return Err(Error::InvalidConfig(format!(
                        "minTrainingSize ({}) must be at least 2 * maxPeriod ({}) for algorithm 'holtwinters' with the period detected: a season shows only after two; give 'period', a smaller 'maxPeriod' or a larger 'minTrainingSize'",
                        common.min_training_size,
                        2 * max_period
                    )));
                }
            }
        }
        let seasonality = match reader.choice("seasonality")? {
            "multiplicative" => Seasonality::Multiplicative,
            _ => Seasonality::Additive,
        };
        Ok(HoltWintersParams {
            detect_rows: if period.is_some() {
                0
            } else {
                common.min_training_size
            },
            period,
            max_period,
            seasonality,
            alpha: reader.number_or_default("alpha")?,
            beta: reader.number_or_default("beta")?,
            gamma: reader.number_or_default("gamma")?,
        })
    }

    fn params_json(p: &HoltWintersParams) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "period".into(),
            p.period.map_or(Value::from("auto"), Value::from),
        );
        m.insert("maxPeriod".into(), p.max_period.into());
        m.insert("seasonality".into(), p.seasonality.as_str().into());
        m.insert("alpha".into(), p.alpha.into());
        m.insert("beta".into(), p.beta.into());
        m.insert("gamma".into(), p.gamma.into());
        m
    }

    fn new(p: &HoltWintersParams) -> Self {
        HoltWinters {
            seen: 0,
            period: p.period.unwrap_or(0),
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
    fn baseline(&self, p: &HoltWintersParams) -> Baseline {
        if !self.initialised() {
            // Unreachable through the engine (the warm-up covers detection
            // and the first season).
            return Baseline {
                center: self.seasonal.last().copied().unwrap_or(0.0),
                scale: 0.0,
            };
        }
        let phase = (self.seen % self.period) as usize;
        let s = self.seasonal[phase];
        let base = self.level + self.trend;
        Baseline {
            center: match p.seasonality {
                Seasonality::Additive => base + s,
                Seasonality::Multiplicative => base * s,
            },
            scale: self.var.sqrt(),
        }
    }

    #[inline(always)]
    fn learn(&mut self, x: f64, p: &HoltWintersParams) {
        if self.initialised() {
            self.update(x, p);
        } else {
            self.hold(x, p);
        }
    }

    fn is_consistent(&self, p: &HoltWintersParams) -> bool {
        // Structural checks only (plus the sign of the variance): finite
        // inputs near f64::MAX can overflow the state to inf/NaN, and a
        // snapshot the detector itself wrote must always restore.
        let period_ok = match p.period {
            Some(fixed) => self.period == fixed && p.detect_rows == 0,
            None => self.period <= p.max_period && p.detect_rows >= 2 * p.max_period,
        };
        let held_ok = if self.initialised() {
            self.seasonal.len() as u64 == self.period
        } else {
            self.seasonal.len() as u64 == self.seen
                && self.seen < p.detect_rows.max(6).max(self.period)
        };
        period_ok && held_ok && (self.var >= 0.0 || self.var.is_nan())
    }
}
