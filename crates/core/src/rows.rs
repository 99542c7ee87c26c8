//! [`RowModel`] adapters: how each row-scoring algorithm's own API maps onto
//! the detector's output row (forecast, bounds, score, flags, extras).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::arima::{Arima, ArimaParams, ForecastStep};
use crate::changepoint::{ChangePoint, ChangePointParams};
use crate::config::{Common, ParamSpec, Reader};
use crate::error::Result;
use crate::flags::Status;
use crate::rcf::{self, Rcf, RcfParams};
use crate::robust::{Robust, RobustParams};
use crate::row::{RowModel, RowStep};
use crate::spikedip::{SpikeDip, SpikeDipParams};
use crate::step::Step;

/// A [`Step`] of the KDE and robust detectors as a [`RowStep`]; `ratio`
/// grades severity (1 at the threshold).
fn from_step(s: Step, ratio: f64) -> RowStep {
    RowStep {
        status: s.status,
        forecast: s.forecast,
        lower: s.lower,
        upper: s.upper,
        score: s.score,
        anomaly: s.anomaly,
        up: s.up,
        ratio,
    }
}

impl RowModel for SpikeDip {
    type Params = SpikeDipParams;
    const NAME: &'static str = SpikeDip::NAME;
    const DESCRIPTION: &'static str = SpikeDip::DESCRIPTION;
    const MULTIVARIATE: bool = false;

    fn specs() -> Vec<ParamSpec> {
        SpikeDip::specs()
    }
    fn params(reader: &Reader<'_>, common: &mut Common) -> Result<SpikeDipParams> {
        SpikeDip::params(reader, common)
    }
    fn read(reader: &Reader<'_>) -> Result<(Common, SpikeDipParams)> {
        SpikeDip::read(reader)
    }
    fn params_json(p: &SpikeDipParams) -> Map<String, Value> {
        SpikeDip::params_json(p)
    }
    fn extras(_: &SpikeDipParams, _: usize) -> Vec<(&'static str, usize)> {
        Vec::new()
    }
    fn new(p: &SpikeDipParams, _: &Common, _: usize) -> Result<Self> {
        Ok(SpikeDip::new(p))
    }
    fn width(&self) -> usize {
        1
    }
    fn step(
        &mut self,
        ts: i64,
        row: &[f64],
        p: &SpikeDipParams,
        _: &Common,
        _: &mut [f64],
    ) -> RowStep {
        let s = self.update_at(row[0], ts, p);
        // p-value: the smaller, the more anomalous; 1 at the threshold alpha.
        let ratio = if s.score > 0.0 {
            p.alpha() / s.score
        } else {
            f64::INFINITY
        };
        from_step(s, ratio)
    }
    fn is_consistent(&self, p: &SpikeDipParams) -> bool {
        SpikeDip::is_consistent(self, p)
    }
    /// The p-value as a z-like magnitude, `sqrt(-2 ln(2p))` (0 at p = 1/2,
    /// the Gaussian tail's asymptotic z below; 3.45 at p = 0.00135).
    fn deviation(step: &RowStep, _: &SpikeDipParams) -> f64 {
        p_value_deviation(step.score)
    }
}

/// `-ln(1 - s)` for a score `s` in [0, 1] that grows towards anomalies
/// (`hst`, `iforest`): 0 for NaN or `s <= 0`, infinite at `s >= 1`.
pub(crate) fn unit_score_deviation(s: f64) -> f64 {
    let m = 1.0 - s;
    if s.is_nan() {
        0.0
    } else if m <= 0.0 {
        f64::INFINITY
    } else {
        (-libm::log(m)).max(0.0)
    }
}

/// Whether a multivariate row lies above its columns' means overall: the
/// sum of each column's deviation from its mean over its span is positive
/// (`hst`, `iforest`).
pub(crate) fn above_means(row: &[f64], mean: &[f64], span: &[f64]) -> bool {
    let d: f64 = row
        .iter()
        .zip(mean)
        .zip(span)
        .map(|((x, m), s)| (x - m) / s)
        .sum();
    d > 0.0
}

/// `sqrt(-2 ln(2p))` for a p-value `p`, 0 from `p >= 1/2` (and for NaN),
/// infinite at 0.
pub(crate) fn p_value_deviation(p: f64) -> f64 {
    if p.is_nan() || p >= 0.5 {
        return 0.0;
    }
    libm::sqrt(-2.0 * libm::log(2.0 * p.max(0.0)))
}

impl RowModel for ChangePoint {
    type Params = ChangePointParams;
    const NAME: &'static str = ChangePoint::NAME;
    const DESCRIPTION: &'static str = ChangePoint::DESCRIPTION;
    const MULTIVARIATE: bool = false;

    fn specs() -> Vec<ParamSpec> {
        ChangePoint::specs()
    }
    fn params(reader: &Reader<'_>, common: &mut Common) -> Result<ChangePointParams> {
        ChangePoint::params(reader, common)
    }
    fn read(reader: &Reader<'_>) -> Result<(Common, ChangePointParams)> {
        ChangePoint::read(reader)
    }
    fn params_json(p: &ChangePointParams) -> Map<String, Value> {
        ChangePoint::params_json(p)
    }
    fn extras(_: &ChangePointParams, _: usize) -> Vec<(&'static str, usize)> {
        Vec::new()
    }
    fn new(p: &ChangePointParams, _: &Common, _: usize) -> Result<Self> {
        Ok(ChangePoint::new(p))
    }
    fn width(&self) -> usize {
        1
    }
    fn step(
        &mut self,
        ts: i64,
        row: &[f64],
        p: &ChangePointParams,
        _: &Common,
        _: &mut [f64],
    ) -> RowStep {
        let s = self.update_at(row[0], ts, p);
        let t = p.threshold();
        let ratio = if t > 0.0 { s.score / t } else { 0.0 };
        from_step(s, ratio)
    }
    fn is_consistent(&self, p: &ChangePointParams) -> bool {
        ChangePoint::is_consistent(self, p)
    }
    /// The log of the martingale (its evidence of a change, in nats), 0
    /// while the martingale is at most 1.
    fn deviation(step: &RowStep, _: &ChangePointParams) -> f64 {
        if step.score > 1.0 {
            libm::log(step.score)
        } else {
            0.0
        }
    }
}

impl RowModel for Robust {
    type Params = RobustParams;
    const NAME: &'static str = Robust::NAME;
    const DESCRIPTION: &'static str = Robust::DESCRIPTION;
    const MULTIVARIATE: bool = true;

    fn specs() -> Vec<ParamSpec> {
        Robust::specs()
    }
    fn params(reader: &Reader<'_>, common: &mut Common) -> Result<RobustParams> {
        Robust::params(reader, common)
    }
    fn params_json(p: &RobustParams) -> Map<String, Value> {
        Robust::params_json(p)
    }
    /// `attribution`: each column's |robust z| as (high, low): high when
    /// above its median, low when below. The row's score is the largest.
    fn extras(_: &RobustParams, width: usize) -> Vec<(&'static str, usize)> {
        vec![("attribution", 2 * width)]
    }
    fn new(p: &RobustParams, _: &Common, _: usize) -> Result<Self> {
        Ok(Robust::new(p))
    }
    fn width(&self) -> usize {
        Robust::width(self)
    }
    fn step(
        &mut self,
        _: i64,
        row: &[f64],
        p: &RobustParams,
        common: &Common,
        extras: &mut [f64],
    ) -> RowStep {
        let width = row.len();
        let mut z = [0.0f64; 30];
        let s = self.update(row, p, &mut z[..width]);
        if s.status == Status::Ok {
            for (j, zj) in z[..width].iter().enumerate() {
                let (high, low) = if zj.is_nan() {
                    (f64::NAN, f64::NAN)
                } else if *zj >= 0.0 {
                    (*zj, 0.0)
                } else {
                    (0.0, -zj)
                };
                extras[2 * j] = high;
                extras[2 * j + 1] = low;
            }
        }
        from_step(s, s.score.abs() / common.threshold)
    }
    fn is_consistent(&self, p: &RobustParams) -> bool {
        Robust::is_consistent(self, p)
    }
}

/// `rcf` params plus whether to compute attribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RcfConfig {
    /// The forest's parameters.
    pub forest: RcfParams,
    /// Compute per-column attribution (and so direction).
    pub attribution: bool,
}

impl RowModel for Rcf {
    type Params = RcfConfig;
    const NAME: &'static str = rcf::NAME;
    const DESCRIPTION: &'static str = rcf::DESCRIPTION;
    const MULTIVARIATE: bool = true;

    fn specs() -> Vec<ParamSpec> {
        let mut s = RcfParams::specs();
        s.push(ParamSpec::boolean(
            "attribution",
            true,
            "Compute each column's (high, low) share of the score: the attribution output and the anomaly's direction (the net high side). Off: about a third faster, no direction.",
        ));
        s
    }

    fn params(reader: &Reader<'_>, common: &mut Common) -> Result<RcfConfig> {
        Ok(RcfConfig {
            forest: RcfParams::params(reader, common)?,
            attribution: reader.boolean("attribution")?,
        })
    }

    fn params_json(p: &RcfConfig) -> Map<String, Value> {
        let mut m = RcfParams::params_json(&p.forest);
        m.insert("attribution".into(), p.attribution.into());
        m
    }

    fn extras(p: &RcfConfig, width: usize) -> Vec<(&'static str, usize)> {
        if p.attribution {
            vec![("attribution", 2 * width)]
        } else {
            Vec::new()
        }
    }

    fn new(p: &RcfConfig, _common: &Common, width: usize) -> Result<Self> {
        Rcf::new(&p.forest, width)
    }

    fn width(&self) -> usize {
        Rcf::width(self)
    }

    fn step(
        &mut self,
        _ts: i64,
        row: &[f64],
        p: &RcfConfig,
        common: &Common,
        extras: &mut [f64],
    ) -> RowStep {
        let s = if p.attribution {
            self.update_with_attribution(row, &p.forest, extras)
        } else {
            self.update(row, &p.forest)
        };
        if s.status != Status::Ok {
            extras.fill(f64::NAN);
            return RowStep::unscored(s.status);
        }
        let (high, low) = extras
            .chunks_exact(2)
            .fold((0.0, 0.0), |(h, l), c| (h + c[0], l + c[1]));
        let up = p.attribution && high >= low;
        let t = common.threshold;
        let side_ok = match common.direction {
            crate::config::Direction::Both => true,
            crate::config::Direction::Up => up,
            crate::config::Direction::Down => p.attribution && !up,
        };
        RowStep {
            status: Status::Ok,
            forecast: f64::NAN,
            lower: f64::NAN,
            upper: f64::NAN,
            score: s.score,
            anomaly: s.is_anomaly(t) && side_ok,
            up,
            ratio: s.score / t,
        }
    }

    fn is_consistent(&self, p: &RcfConfig) -> bool {
        Rcf::is_consistent(self, &p.forest)
    }
}

/// `arima` params plus whether every row also returns its forecast path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArimaConfig {
    /// The model's parameters.
    pub arima: ArimaParams,
    /// Return the `horizon`-step forecast of every row (`forecast` extra).
    pub forecast_steps: bool,
}

impl RowModel for Arima {
    type Params = ArimaConfig;
    const NAME: &'static str = "arima";
    const DESCRIPTION: &'static str = "ARIMA(p,d,q) refitted on a rolling window (orders by AIC when absent), optional STL; anomaly outside the confidencePercentage prediction interval (Confluent ML_DETECT_ANOMALIES, ML_FORECAST).";
    const MULTIVARIATE: bool = false;

    fn specs() -> Vec<ParamSpec> {
        let mut s = ArimaParams::specs();
        s.push(ParamSpec::boolean(
            "forecastSteps",
            false,
            "Also return every row's forecast for the next `horizon` rows (value, lower, upper per step): ML_FORECAST sets it.",
        ));
        s
    }

    fn params(reader: &Reader<'_>, common: &mut Common) -> Result<ArimaConfig> {
        Ok(ArimaConfig {
            arima: ArimaParams::params(reader, common)?,
            forecast_steps: reader.boolean("forecastSteps")?,
        })
    }

    fn params_json(p: &ArimaConfig) -> Map<String, Value> {
        let mut m = p.arima.to_json();
        m.insert("forecastSteps".into(), p.forecast_steps.into());
        m
    }

    /// `rmse` and `aic` always; `forecast` (3 per step) with `forecastSteps`.
    fn extras(p: &ArimaConfig, _: usize) -> Vec<(&'static str, usize)> {
        let mut v = vec![("rmse", 1), ("aic", 1)];
        if p.forecast_steps {
            v.push(("forecast", 3 * p.arima.horizon as usize));
        }
        v
    }

    fn new(p: &ArimaConfig, _: &Common, _: usize) -> Result<Self> {
        Ok(Arima::new(&p.arima))
    }

    fn width(&self) -> usize {
        1
    }

    fn step(
        &mut self,
        _ts: i64,
        row: &[f64],
        p: &ArimaConfig,
        common: &Common,
        extras: &mut [f64],
    ) -> RowStep {
        let s = self.update(row[0], &p.arima);
        if s.status != Status::Ok {
            return RowStep::unscored(s.status);
        }
        extras[0] = s.rmse.unwrap_or(f64::NAN);
        extras[1] = s.aic.unwrap_or(f64::NAN);
        if p.forecast_steps {
            // The path from here on: this row is learned, so step 1 is the next row.
            let mut path: Vec<ForecastStep> = Vec::new();
            self.forecast(&p.arima, &mut path);
            for (j, f) in path.iter().enumerate().take(p.arima.horizon as usize) {
                extras[2 + 3 * j] = f.forecast;
                extras[3 + 3 * j] = f.lower;
                extras[4 + 3 * j] = f.upper;
            }
        }
        RowStep {
            status: Status::Ok,
            forecast: s.forecast.unwrap_or(f64::NAN),
            lower: s.lower.unwrap_or(f64::NAN),
            upper: s.upper.unwrap_or(f64::NAN),
            score: s.score,
            anomaly: s.anomaly,
            up: s.score >= 0.0,
            ratio: s.score.abs() / common.threshold,
        }
    }

    fn is_consistent(&self, p: &ArimaConfig) -> bool {
        Arima::is_consistent(self, &p.arima)
    }
}
