//! `arima`: ARIMA(p, d, q) trained continuously per key, with optional STL
//! seasonal adjustment: Confluent Cloud for Apache Flink's
//! `ML_DETECT_ANOMALIES` / `ML_FORECAST` model.
//!
//! # API (for the integration)
//!
//! ```
//! use wasmad_core::arima::{Arima, ArimaParams};
//! let params = ArimaParams::from_json(r#"{"p":1,"d":0,"q":1,"minTrainingSize":32}"#).unwrap();
//! let mut model = Arima::new(&params);
//! let mut out = Vec::new();
//! for i in 0..100 {
//!     let x = 10.0 + ((i * 7919) % 13) as f64 * 0.1;
//!     let step = model.update(x, &params); // scored BEFORE the row is learned
//!     if i >= 32 { assert!(step.forecast.is_some()); }
//! }
//! model.forecast(&params, &mut out); // `horizon` steps ahead of the last row
//! assert_eq!(out.len(), 1);
//! ```
//!
//! * [`ArimaParams::specs`] (every key, with ranges and defaults) and
//!   [`ArimaParams::params`]`(reader, &mut Common)` read a config; the
//!   [`Model`] impl (`NAME = "arima"`) exposes the same through the trait, so
//!   `Keyed<Arima>` works as for the other detectors (the engine's
//!   `threshold` then defaults to the z of `confidencePercentage`).
//! * [`ArimaParams::from_json`]`(&str)` does both for a standalone config
//!   (tests, examples); [`ArimaParams::to_json`] gives the effective keys.
//! * [`Arima::new`]`(&ArimaParams) -> Arima`: a fresh key.
//! * [`Arima::update`]`(&mut self, x, &ArimaParams) -> ArimaStep`: scores `x`
//!   against the current model, then learns it. Fields: `status` (warmup /
//!   ok / skipped), `forecast`, `lower`, `upper` (`Option<f64>`, `None` in
//!   warm-up and for skipped rows), `score = (x - forecast) / sigma`,
//!   `anomaly`, `rmse`, `aic`, `order`. This maps onto Confluent's row
//!   `timestamp, actual_value, forecast_value, lower_bound, upper_bound,
//!   is_anomaly, rmse, aic`. [`Arima::learn`] learns without scoring (warm
//!   start from history).
//! * [`Arima::forecast`]`(&self, &ArimaParams, &mut Vec<ForecastStep>)`:
//!   `horizon` steps `{forecast, lower, upper}` after the last learned row
//!   (`ML_FORECAST`); empty before the first fit.
//! * [`Arima::order`]`() -> Option<(p, d, q)>`, [`Arima::aic`],
//!   [`Arima::rmse`] (the `rmse` and `aic` columns of `ML_FORECAST`),
//!   [`Arima::coefficients`] (introspection), [`Arima::seen`],
//!   [`Arima::is_consistent`]`(&params)` (restore guard).
//!
//! # Config keys (defaults)
//!
//! | key | default | accepted |
//! |---|---|---|
//! | `p`, `q` | chosen by AIC in 0..=3 | integer 0..=5 |
//! | `d` | chosen by KPSS in 0..=2 | integer 0..=2 |
//! | `minTrainingSize` | 128 | integer >= 16, >= p + d + q + 8, >= 2 m with STL |
//! | `maxTrainingSize` | 512 | integer 16..=100000, >= minTrainingSize |
//! | `updateInterval` | 64 | integer 1..=1e9 |
//! | `confidencePercentage` | 99 | number in (0, 100) |
//! | `threshold` | z of confidencePercentage (2.576) | number > 0; overrides it |
//! | `direction` | `both` | `both`, `up`, `down` |
//! | `enableStl` | false | boolean; needs `m` |
//! | `m` | none | integer 2..=10000; only with `enableStl` |
//! | `horizon` | 1 | integer 1..=1000 |
//! | `evalWindowSize` | 64 | integer 1..=100000 |
//!
//! # Model
//!
//! `phi(B) (1 - B)^d y'_t = theta(B) e_t` (plus a mean `mu` of the differenced
//! series when `d = 0`, as statsmodels' `ARIMA(trend="c")`), `e_t ~ N(0,
//! sigma^2)`, where `y'` is the series, or with `enableStl` the series minus
//! its STL seasonal component ([`crate::stl`]).
//!
//! * Training window: the last `maxTrainingSize` learned rows (default 512).
//!   The first fit happens once `minTrainingSize` rows (default 128) are
//!   learned; rows before are `warmup` (and so are later rows in the rare
//!   case that no fit has succeeded yet, e.g. values so large that the
//!   likelihood overflows; a failed refit keeps the previous fit). Then the
//!   model is refitted every `updateInterval` learned rows (default 64) on
//!   the window.
//! * Orders: any of `p`, `d`, `q` not given is chosen at every refit. `d`
//!   (0..=2) by repeated KPSS level-stationarity tests at 5 % (statistic >
//!   0.463, Bartlett long-run variance with `trunc(4 (n/100)^0.25)` lags),
//!   as R's `forecast::ndiffs`, with hysteresis after the first fit (a level
//!   differenced last time needs a statistic below 0.9 x 0.463 to stop
//!   differencing, one not differenced needs above 1.1 x 0.463 to start).
//!   Then `p`, `q` in `0..=min(3, (n - d - 8) / 4)` by the smallest AIC of Hannan-Rissanen fits (a long AR fitted
//!   by Yule-Walker gives residuals; `w_t` is then regressed by least
//!   squares on its own lags and the lagged residuals, all candidates on the
//!   same rows), an approximation of the conditional-sum-of-squares AIC that
//!   costs a few small regressions. The current order is kept unless another
//!   one's AIC is lower by more than 2. Only the chosen order is fitted
//!   exactly.
//! * Fit: exact Gaussian maximum likelihood of the ARMA part of the
//!   differenced series (for `d > 0` this equals statsmodels' likelihood with
//!   its exact diffuse initialisation of the integrated states), computed by
//!   a Kalman filter on Harvey's state-space form (state size `r = max(p, q +
//!   1)`, stationary initial covariance from the Lyapunov equation) with
//!   `sigma^2` concentrated out. It is maximised by Nelder-Mead over
//!   unconstrained parameters: each of the AR and MA polynomials is
//!   parameterised by partial autocorrelations `x / sqrt(1 + x^2)` mapped
//!   through the Durbin-Levinson recursion (Jones 1980, as statsmodels'
//!   `enforce_stationarity` / `enforce_invertibility`), so every candidate is
//!   stationary and invertible; the mean is `mean + sd * x`. Start: the
//!   previous fit when the order is unchanged (one Nelder-Mead pass), else
//!   the Hannan-Rissanen estimates (and a second pass restarted from the
//!   first one's optimum). Nelder-Mead stops when the simplex's values of
//!   `-2 loglik / n` agree within `ftol` and its points within `1e4 ftol`
//!   (or the values within `ftol / 100`: a coefficient drifting towards a
//!   unit root moves the points without changing the likelihood), with
//!   `ftol = 1e-10` for cold starts and `1e-8` for warm ones, or after 300
//!   (+150) evaluations per parameter cold, 100 warm.
//!   `AIC = -2 loglik + 2 (p + q + 1 + [d = 0])`, as statsmodels counts.
//! * Between refits the fitted model is not changed; each learned row runs
//!   one Kalman step (the innovations recursion: `O(r)` once the filter is
//!   steady, `O(r^2)` before), so the next forecast always uses the latest
//!   rows.
//! * Row output (before learning the row): forecast `y^ = sum of the last
//!   differences + mu + a_0 (+ seasonal index)`, variance `sigma^2 F`
//!   (`F` the Kalman innovation variance factor, 1 once steady), interval
//!   `y^ +/- z sigma sqrt F` with `z` the standard normal quantile at `(1 +
//!   confidencePercentage / 100) / 2` (default 99: `z = 2.5758`),
//!   `score = (x - y^) / (sigma sqrt F)`, anomaly when `x` is outside the
//!   interval (two-sided; `direction` keeps only one side), `rmse` the root
//!   mean square of the last `evalWindowSize` (default 64) one-step errors,
//!   this row's included, `aic` of the current fit.
//! * Forecasts `h` steps ahead: the state propagated without updates,
//!   integrated `d` times; variance `sigma^2 (F - 1 + sum_{j<h} psi_j^2)`
//!   with `psi` the weights of `theta(B) / (phi(B) (1 - B)^d)` (the exact
//!   variance once the filter is steady, which it is after a few rows of a
//!   window).
//! * STL (`enableStl`, period `m` required): at each refit the window is
//!   decomposed by STL with a periodic seasonal (R's `s.window =
//!   "periodic"`: each phase's index is the mean of its detrended values over
//!   the window; a local seasonal smoother such as statsmodels' default span
//!   7 absorbs part of the noise into the seasonal component, shrinking the
//!   in-sample residuals and with them the prediction intervals); the ARIMA is fitted to the seasonally adjusted
//!   window, and the seasonal component of the last `m` window rows is kept
//!   per phase (seasonal naive, as R's `stlf`), added back to forecasts and
//!   subtracted from new rows until the next refit. The phase counts learned
//!   rows. Needs `minTrainingSize >= 2 m`. Each seasonal index being a mean
//!   over `k = n / m` seasons of the window, it absorbs `1/k` of the noise in
//!   sample and adds `1/k` out of sample, so the intervals use `sigma^2 (k +
//!   1) / (k - 1)` (the reported `sigma2` and `aic` are the fit's own).
//! * NaN and infinite values are skipped (not learned, not scored).
//! * A flat window (zero variance) gives `sigma = 0`: the interval is the
//!   forecast itself, the score uses the engine's scale floor, `aic` is NaN.
//!
//! Accuracy against statsmodels 0.14 `ARIMA(...).fit()` on three NAB series
//! (`tests/arima.rs`, reference script `tests/reference/arima/
//! make_reference.py`; orders (1,0,1), (2,1,1), (0,1,1) on 500 rows):
//! checked to coefficients within 0.001, the mean within 0.1 % of the series'
//! standard deviation, `sigma^2` within 0.1 %, AIC within 0.01, 12-step
//! forecasts and 95 % bounds within 0.1 % of the series' standard deviation,
//! and so the one-step forecasts and bounds of the next 100 rows streamed
//! through the filter without refit (statsmodels' `append`) (observed:
//! coefficients within 2e-6, forecasts and bounds within 3e-5 sd). STL
//! matches statsmodels' `STL` within 1e-12 ([`crate::stl`]).
//!
//! # Cost
//!
//! Between refits a row costs one Kalman step, `O(p + q)` once the filter is
//! steady: about 25 M rows/s for (1,0,1) natively. A refit costs a few
//! hundred likelihood evaluations over the window (each `O(n r^2)` before
//! the filter is steady, `O(n r)` after), about 0.25 ms for (1,0,1) on 512
//! rows, plus about 1 ms for STL. On 100k rows (`examples/arima_speed.rs`,
//! native release, a shared and loaded 2-core machine, default window and
//! cadence): (1,0,1) 255 k rows/s, (2,1,1) 186 k rows/s, (3,1,3) 13 k
//! rows/s, automatic orders (the default) 32 k rows/s, STL with (1,1,1)
//! 62 k rows/s, STL with automatic orders 20 k rows/s. Raising
//! `updateInterval` divides the refit share accordingly.
//!
//! State per key: the window (`8 maxTrainingSize` bytes), the error ring
//! (`8 evalWindowSize` bytes) and the fit (under 1 KB, plus `8 m` with STL):
//! about 5 KB with the defaults.
//!
//! Transcendental functions come from `libm`; the optimiser and filters use
//! only IEEE arithmetic and `sqrt`, so WASM and native agree bit for bit
//! (`examples/arima_digest.rs` prints a digest of every output for four
//! configs; native debug, native release and wasm32-wasip1 under Node print
//! the same).

// The filters and regressions index several arrays in lockstep.
#![allow(clippy::needless_range_loop)]

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{Common, Direction, ParamSpec, Reader, common_specs};
use crate::error::Result;
use crate::flags::Status;
use crate::model::{Baseline, Model};
use crate::{engine, gauss, stl};

/// Default `minTrainingSize`.
pub const MIN_TRAINING_DEFAULT: u64 = 128;
/// Default `maxTrainingSize`.
pub const MAX_TRAINING_DEFAULT: u64 = 512;
/// Default `updateInterval`.
pub const UPDATE_INTERVAL_DEFAULT: u64 = 64;
/// Default `evalWindowSize`.
pub const EVAL_WINDOW_DEFAULT: u64 = 64;
/// Default `confidencePercentage`.
pub const CONFIDENCE_DEFAULT: f64 = 99.0;
/// Largest `p` and `q` a config may set.
pub const MAX_PQ: u64 = 5;
/// Largest `d`.
pub const MAX_D: u64 = 2;
/// Largest `p` and `q` tried by automatic order selection.
pub const AUTO_MAX_PQ: usize = 3;
/// State size bound: `max(p, q + 1)`.
const R: usize = MAX_PQ as usize + 1;

/// Validated parameters of [`Arima`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArimaParams {
    /// AR order (`None`: chosen at each refit).
    pub p: Option<u8>,
    /// Differencing order (`None`: chosen at each refit).
    pub d: Option<u8>,
    /// MA order (`None`: chosen at each refit).
    pub q: Option<u8>,
    /// Rows learned before the first fit.
    pub min_training_size: u64,
    /// Rolling training window, in rows.
    pub max_training_size: u64,
    /// Refit every this many learned rows.
    pub update_interval: u64,
    /// Prediction interval level, in percent.
    pub confidence: f64,
    /// Interval half-width in standard deviations (from `confidence`, or the
    /// `threshold` key when set).
    pub z: f64,
    /// Which side is flagged.
    pub direction: Direction,
    /// STL season length (`enableStl`), `None` without STL.
    pub stl_period: Option<u64>,
    /// Steps returned by [`Arima::forecast`].
    pub horizon: u64,
    /// Rows over which `rmse` is computed.
    pub eval_window: u64,
}

impl ArimaParams {
    /// Every config key with its default and range.
    pub fn specs() -> Vec<ParamSpec> {
        // The same quantile `params` computes, so describe's default is exact.
        let mut s = common_specs(gauss::quantile(0.995), MIN_TRAINING_DEFAULT);
        for spec in &mut s {
            match spec.key {
                "threshold" => {
                    spec.description = "Interval half-width in standard deviations; when absent it is the normal quantile of confidencePercentage (2.576 for the default 99), which is the usual way to set it.";
                }
                "minTrainingSize" => {
                    spec.description = "Rows each key learns before the first ARIMA fit (status 'warmup' until then); default 128, at least 16, at least p + d + q + 8 and, with enableStl, 2 m.";
                    spec.min = Some(16.0);
                }
                _ => {}
            }
        }
        s.push(
            ParamSpec::integer(
                "p",
                None,
                "AR order; absent: chosen at each refit by AIC among 0..3.",
            )
            .min(0.0)
            .max(MAX_PQ as f64),
        );
        s.push(
            ParamSpec::integer(
                "d",
                None,
                "Differencing order; absent: chosen at each refit by KPSS tests at 5% (0..2).",
            )
            .min(0.0)
            .max(MAX_D as f64),
        );
        s.push(
            ParamSpec::integer(
                "q",
                None,
                "MA order; absent: chosen at each refit by AIC among 0..3.",
            )
            .min(0.0)
            .max(MAX_PQ as f64),
        );
        s.push(
            ParamSpec::integer(
                "maxTrainingSize",
                Some(MAX_TRAINING_DEFAULT),
                "Rolling training window in rows (default 512); at least minTrainingSize.",
            )
            .min(16.0)
            .max(100_000.0),
        );
        s.push(
            ParamSpec::integer(
                "updateInterval",
                Some(UPDATE_INTERVAL_DEFAULT),
                "Refit every this many learned rows (default 64); between refits each row only updates the filter state.",
            )
            .min(1.0)
            .max(1e9),
        );
        s.push(
            ParamSpec::number(
                "confidencePercentage",
                Some(CONFIDENCE_DEFAULT),
                "Prediction interval level in percent (default 99); rows outside the interval are anomalies.",
            )
            .above(0.0)
            .below(100.0),
        );
        s.push(ParamSpec::boolean(
            "enableStl",
            false,
            "Fit the ARIMA to the STL seasonally adjusted series (needs m).",
        ));
        s.push(
            ParamSpec::integer(
                "m",
                None,
                "Seasonal period in rows for enableStl (required with it, rejected without).",
            )
            .min(2.0)
            .max(10_000.0),
        );
        s.push(
            ParamSpec::integer(
                "horizon",
                Some(1),
                "Forecast steps returned by ML_FORECAST (default 1).",
            )
            .min(1.0)
            .max(1000.0),
        );
        s.push(
            ParamSpec::integer(
                "evalWindowSize",
                Some(EVAL_WINDOW_DEFAULT),
                "Rows over which rmse is computed from one-step forecast errors (default 64).",
            )
            .min(1.0)
            .max(100_000.0),
        );
        s
    }

    /// Read and validate a config (the common keys through `common`, whose
    /// `threshold` is set to `z` unless the user set it).
    pub fn params(reader: &Reader<'_>, common: &mut Common) -> Result<ArimaParams> {
        let small = |key: &str| -> Result<Option<u8>> {
            Ok(reader.integer(key)?.map(|v| v.min(255) as u8))
        };
        let (p, d, q) = (small("p")?, small("d")?, small("q")?);
        let confidence = reader.number_or_default("confidencePercentage")?;
        let z = if reader.is_set("threshold") {
            reader.number_or_default("threshold")?
        } else {
            gauss::quantile(0.5 + confidence / 200.0)
        };
        common.threshold = z;
        let min_training_size = common.min_training_size;
        let max_training_size = reader.integer_or_default("maxTrainingSize")?;
        let fixed = p.unwrap_or(0) as u64 + d.unwrap_or(0) as u64 + q.unwrap_or(0) as u64;
        if min_training_size < fixed + 8 {
            return Err(reader.invalid(&format!(
                "'minTrainingSize' = {min_training_size} is too small for p + d + q = {fixed}; accepted: integer >= {}",
                fixed + 8
            )));
        }
        let stl = reader.boolean("enableStl")?;
        let m = reader.integer("m")?;
        let stl_period = match (stl, m) {
            (true, None) => {
                return Err(reader.invalid(
                    "'m' (seasonal period in rows) is required when 'enableStl' is true; accepted: integer >= 2 and <= 10000",
                ));
            }
            (false, Some(_)) => {
                return Err(reader.invalid(
                    "'m' is only used with 'enableStl': true; set 'enableStl' or remove 'm'",
                ));
            }
            (true, Some(m)) => {
                if min_training_size < 2 * m {
                    return Err(reader.invalid(&format!(
                        "'minTrainingSize' = {min_training_size} must be at least 2 m = {} with enableStl (STL needs two seasons); accepted: integer >= {}",
                        2 * m,
                        2 * m
                    )));
                }
                Some(m)
            }
            (false, None) => None,
        };
        if max_training_size < min_training_size {
            return Err(reader.invalid(&format!(
                "'maxTrainingSize' = {max_training_size} must be at least 'minTrainingSize' = {min_training_size}"
            )));
        }
        Ok(ArimaParams {
            p,
            d,
            q,
            min_training_size,
            max_training_size,
            update_interval: reader.integer_or_default("updateInterval")?,
            confidence,
            z,
            direction: common.direction,
            stl_period,
            horizon: reader.integer_or_default("horizon")?,
            eval_window: reader.integer_or_default("evalWindowSize")?,
        })
    }

    /// Parse a JSON config object (with or without `"algorithm": "arima"`).
    pub fn from_json(config: &str) -> Result<ArimaParams> {
        let obj = crate::config::parse_object(config)?;
        let reader = Reader::new("arima", &obj, ArimaParams::specs())?;
        let mut common = reader.common()?;
        ArimaParams::params(&reader, &mut common)
    }

    /// The effective parameters as JSON key/values.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        let opt = |v: Option<u8>| v.map_or(Value::Null, Value::from);
        m.insert("p".into(), opt(self.p));
        m.insert("d".into(), opt(self.d));
        m.insert("q".into(), opt(self.q));
        m.insert("maxTrainingSize".into(), self.max_training_size.into());
        m.insert("updateInterval".into(), self.update_interval.into());
        m.insert("confidencePercentage".into(), self.confidence.into());
        m.insert("enableStl".into(), self.stl_period.is_some().into());
        if let Some(period) = self.stl_period {
            m.insert("m".into(), period.into());
        }
        m.insert("horizon".into(), self.horizon.into());
        m.insert("evalWindowSize".into(), self.eval_window.into());
        m
    }
}

/// The result of [`Arima::update`] for one row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArimaStep {
    /// `Ok` (scored), `Warmup` (no fit yet; learned) or `Skipped` (NaN/inf).
    pub status: Status,
    /// One-step forecast of this row.
    pub forecast: Option<f64>,
    /// Lower prediction bound.
    pub lower: Option<f64>,
    /// Upper prediction bound.
    pub upper: Option<f64>,
    /// `(x - forecast) / sigma` (0 when not scored).
    pub score: f64,
    /// Outside the interval (on the `direction` side).
    pub anomaly: bool,
    /// RMS of the last `evalWindowSize` one-step errors, this row's included.
    pub rmse: Option<f64>,
    /// AIC of the current fit (NaN for a flat window).
    pub aic: Option<f64>,
    /// `(p, d, q)` of the current fit.
    pub order: Option<(u8, u8, u8)>,
}

impl ArimaStep {
    fn empty(status: Status) -> ArimaStep {
        ArimaStep {
            status,
            forecast: None,
            lower: None,
            upper: None,
            score: 0.0,
            anomaly: false,
            rmse: None,
            aic: None,
            order: None,
        }
    }
}

/// One step of [`Arima::forecast`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForecastStep {
    /// Point forecast.
    pub forecast: f64,
    /// Lower bound at `confidencePercentage`.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
}

/// A fitted ARIMA and its filter state after the last learned row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    /// Orders.
    pub p: u8,
    /// Differencing order.
    pub d: u8,
    /// MA order.
    pub q: u8,
    /// AR coefficients (`phi_1..phi_p`, statsmodels' `ar.L*` signs).
    pub phi: Vec<f64>,
    /// MA coefficients (`theta_1..theta_q`, statsmodels' `ma.L*` signs).
    pub theta: Vec<f64>,
    /// Mean of the differenced series (0 when `d > 0`).
    pub mu: f64,
    /// Innovation variance.
    pub sigma2: f64,
    /// The variance the intervals use: `sigma2`, times `(k + 1) / (k - 1)`
    /// with STL over `k` seasons (see the module doc).
    pub sigma2_forecast: f64,
    /// Log-likelihood of the window.
    pub loglik: f64,
    /// `-2 loglik + 2 k`.
    pub aic: f64,
    /// Rows the fit was made on (after differencing).
    pub nobs: u64,
    /// Predicted state for the next row.
    a: [f64; R],
    /// Its covariance (in units of `sigma^2`).
    pm: [[f64; R]; R],
    /// The filter has converged (`pm` is `R R'`, `F = 1`).
    steady: bool,
    /// `Delta^k y'` at the last learned row, `k = 0..d`.
    last: Vec<f64>,
    /// Seasonal index per phase (`m` entries with STL, else empty).
    season: Vec<f64>,
}

/// One key's ARIMA state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arima {
    seen: u64,
    /// The last `maxTrainingSize` learned values.
    window: VecDeque<f64>,
    /// Rows learned since the last fit.
    since_fit: u64,
    fit: Option<Fit>,
    /// Squared one-step errors, a ring of `evalWindowSize`.
    errors: Vec<f64>,
    /// Next ring slot.
    error_pos: u64,
    /// Running sum of `errors` (recomputed exactly on each wrap).
    error_sum: f64,
}

impl Arima {
    /// A fresh, untrained key.
    pub fn new(_: &ArimaParams) -> Arima {
        Arima {
            seen: 0,
            window: VecDeque::new(),
            since_fit: 0,
            fit: None,
            errors: Vec::new(),
            error_pos: 0,
            error_sum: 0.0,
        }
    }

    /// Values learned.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// `(p, d, q)` of the current fit.
    pub fn order(&self) -> Option<(u8, u8, u8)> {
        self.fit.as_ref().map(|f| (f.p, f.d, f.q))
    }

    /// AIC of the current fit.
    pub fn aic(&self) -> Option<f64> {
        self.fit.as_ref().map(|f| f.aic)
    }

    /// The current fit (coefficients, `sigma^2`, log-likelihood).
    pub fn coefficients(&self) -> Option<&Fit> {
        self.fit.as_ref()
    }

    /// Score `x` against the current model, then learn it.
    pub fn update(&mut self, x: f64, params: &ArimaParams) -> ArimaStep {
        if !x.is_finite() {
            return ArimaStep::empty(Status::Skipped);
        }
        let mut step = ArimaStep::empty(Status::Warmup);
        let scored = self.fit.as_ref().map(|fit| {
            let (center, sd) = fit.one_step(self.seen, params);
            (center, sd, fit.aic, (fit.p, fit.d, fit.q))
        });
        if let Some((center, sd, aic, order)) = scored {
            let half = params.z * sd;
            let e = x - center;
            let scale = sd.max(engine::scale_floor(center));
            let score = e / scale;
            let anomaly = match params.direction {
                Direction::Both => score.abs() > params.z,
                Direction::Up => score > params.z,
                Direction::Down => score < -params.z,
            };
            self.push_error(e * e, params);
            step = ArimaStep {
                status: Status::Ok,
                forecast: Some(center),
                lower: Some(center - half),
                upper: Some(center + half),
                score,
                anomaly,
                rmse: Some(self.rmse_value()),
                aic: Some(aic),
                order: Some(order),
            };
        }
        self.learn(x, params);
        step
    }

    fn push_error(&mut self, e2: f64, params: &ArimaParams) {
        let cap = params.eval_window.max(1) as usize;
        let pos = (self.error_pos % cap as u64) as usize;
        if self.errors.len() < cap {
            self.errors.push(e2);
            self.error_sum += e2;
        } else {
            self.error_sum += e2 - self.errors[pos];
            self.errors[pos] = e2;
        }
        self.error_pos = (pos as u64 + 1) % cap as u64;
        if self.error_pos == 0 {
            // Exact recomputation once per wrap: no drift from the running sum.
            self.error_sum = self.errors.iter().sum();
        }
    }

    fn rmse_value(&self) -> f64 {
        if self.errors.is_empty() {
            return f64::NAN;
        }
        (self.error_sum.max(0.0) / self.errors.len() as f64).sqrt()
    }

    /// RMS of the last `evalWindowSize` one-step errors (for `ML_FORECAST`'s
    /// `rmse` column); `None` before the first scored row.
    pub fn rmse(&self) -> Option<f64> {
        (!self.errors.is_empty()).then(|| self.rmse_value())
    }

    /// Learn one finite value (no scoring).
    pub fn learn(&mut self, x: f64, params: &ArimaParams) {
        if !x.is_finite() {
            return;
        }
        if let Some(fit) = &mut self.fit {
            fit.observe(x, self.seen, params);
        }
        self.seen += 1;
        self.window.push_back(x);
        while self.window.len() as u64 > params.max_training_size.max(1) {
            self.window.pop_front();
        }
        self.since_fit += 1;
        if self.seen >= params.min_training_size
            && (self.fit.is_none() || self.since_fit >= params.update_interval)
        {
            self.refit(params);
        }
    }

    fn refit(&mut self, params: &ArimaParams) {
        self.since_fit = 0;
        let y: Vec<f64> = self.window.iter().copied().collect();
        let start = self.seen - y.len() as u64;
        let previous = self.fit.as_ref();
        if let Some(fit) = fit_window(&y, start, params, previous) {
            self.fit = Some(fit);
        }
    }

    /// `horizon` forecasts after the last learned row (empty before the first fit).
    pub fn forecast(&self, params: &ArimaParams, out: &mut Vec<ForecastStep>) {
        out.clear();
        if let Some(fit) = &self.fit {
            fit.forecast(self.seen, params, out);
        }
    }

    /// Whether a deserialised state is consistent with `params`.
    pub fn is_consistent(&self, params: &ArimaParams) -> bool {
        let window_ok = self.window.len() as u64 == self.seen.min(params.max_training_size.max(1));
        let errors_ok = self.errors.len() as u64 <= params.eval_window.max(1)
            && self.error_pos < params.eval_window.max(1);
        let fit_ok = self.fit.as_ref().is_none_or(|f| {
            let r = (f.p as usize).max(f.q as usize + 1);
            f.phi.len() == f.p as usize
                && f.theta.len() == f.q as usize
                && r <= R
                && f.last.len() == f.d as usize
                && f.season.len() as u64 == params.stl_period.unwrap_or(0)
                && params.p.is_none_or(|p| p == f.p)
                && params.d.is_none_or(|d| d == f.d)
                && params.q.is_none_or(|q| q == f.q)
        });
        window_ok && errors_ok && fit_ok
    }
}

impl Model for Arima {
    type Params = ArimaParams;
    const NAME: &'static str = "arima";
    const DESCRIPTION: &'static str = "ARIMA(p,d,q) refitted on a rolling window (orders by AIC when absent), optional STL; anomaly outside the confidencePercentage prediction interval (Confluent ML_DETECT_ANOMALIES).";

    fn specs() -> Vec<ParamSpec> {
        ArimaParams::specs()
    }

    fn params(reader: &Reader<'_>, common: &mut Common) -> Result<ArimaParams> {
        ArimaParams::params(reader, common)
    }

    fn params_json(params: &ArimaParams) -> Map<String, Value> {
        params.to_json()
    }

    fn new(params: &ArimaParams) -> Self {
        Arima::new(params)
    }

    fn seen(&self) -> u64 {
        self.seen
    }

    fn baseline(&self, params: &ArimaParams) -> Baseline {
        match &self.fit {
            Some(fit) => {
                let (center, scale) = fit.one_step(self.seen, params);
                Baseline { center, scale }
            }
            None => Baseline {
                center: self.window.back().copied().unwrap_or(0.0),
                scale: 0.0,
            },
        }
    }

    fn learn(&mut self, x: f64, params: &ArimaParams) {
        Arima::learn(self, x, params);
    }

    fn is_consistent(&self, params: &ArimaParams) -> bool {
        Arima::is_consistent(self, params)
    }
}

impl Fit {
    fn r(&self) -> usize {
        (self.p as usize).max(self.q as usize + 1)
    }

    fn arma(&self) -> Arma {
        Arma::new(&self.phi, &self.theta)
    }

    fn season_at(&self, row: u64) -> f64 {
        if self.season.is_empty() {
            0.0
        } else {
            self.season[(row % self.season.len() as u64) as usize]
        }
    }

    /// Forecast and standard deviation of learned row number `row`.
    fn one_step(&self, row: u64, _params: &ArimaParams) -> (f64, f64) {
        let f = if self.steady { 1.0 } else { self.pm[0][0] };
        let level: f64 = self.last.iter().sum();
        let center = level + self.mu + self.a[0] + self.season_at(row);
        (center, (self.sigma2_forecast * f).max(0.0).sqrt())
    }

    /// One Kalman step with the value of learned row number `row`.
    fn observe(&mut self, x: f64, row: u64, _params: &ArimaParams) {
        let adjusted = x - self.season_at(row);
        let level: f64 = self.last.iter().sum();
        let w = adjusted - level;
        let arma = self.arma();
        arma.step(&mut self.a, &mut self.pm, &mut self.steady, w - self.mu);
        // Integrate: Delta^{d-1} += w, then each lower order adds the one above.
        let d = self.last.len();
        let mut above = w;
        for k in (0..d).rev() {
            self.last[k] += above;
            above = self.last[k];
        }
    }

    fn forecast(&self, seen: u64, params: &ArimaParams, out: &mut Vec<ForecastStep>) {
        let h = params.horizon as usize;
        let arma = self.arma();
        let r = self.r();
        let mut a = self.a;
        let mut last = self.last.clone();
        let f1 = if self.steady { 1.0 } else { self.pm[0][0] };
        // psi weights of theta(B) / (phi(B) (1 - B)^d).
        let mut ar = self.phi.clone();
        for _ in 0..self.d {
            let mut next = vec![0.0; ar.len() + 1];
            // (1 - sum ar_i B^i)(1 - B) = 1 - sum next_i B^i
            for i in 0..next.len() {
                let cur = if i < ar.len() { ar[i] } else { 0.0 };
                let prev = if i == 0 {
                    -1.0
                } else {
                    ar.get(i - 1).copied().unwrap_or(0.0)
                };
                next[i] = cur - prev;
            }
            ar = next;
        }
        let mut psi = Vec::with_capacity(h);
        let mut cum = 0.0;
        for step in 0..h {
            let w = self.mu + a[0];
            let d = last.len();
            let mut above = w;
            for k in (0..d).rev() {
                last[k] += above;
                above = last[k];
            }
            let level = if d == 0 { w } else { last[0] };
            // psi_step
            let mut v = if step == 0 {
                1.0
            } else {
                self.theta.get(step - 1).copied().unwrap_or(0.0)
            };
            for i in 1..=step.min(ar.len()) {
                v += ar[i - 1] * psi[step - i];
            }
            psi.push(v);
            cum += v * v;
            let var = self.sigma2_forecast * (f1 - 1.0 + cum);
            let sd = var.max(0.0).sqrt();
            let center = level + self.season_at(seen + step as u64);
            out.push(ForecastStep {
                forecast: center,
                lower: center - params.z * sd,
                upper: center + params.z * sd,
            });
            a = arma.propagate(&a, r);
        }
    }
}

/// Harvey's state-space form of a zero-mean ARMA: `a_{t+1} = T a_t + R e`,
/// `w_t = a_t[0]`, `T` with `phi` in its first column and ones above the
/// diagonal, `R = (1, theta_1, ..., theta_{r-1})`.
struct Arma {
    r: usize,
    phi: [f64; R],
    rv: [f64; R],
}

impl Arma {
    fn new(phi: &[f64], theta: &[f64]) -> Arma {
        let r = phi.len().max(theta.len() + 1).min(R);
        let mut ph = [0.0; R];
        let mut rv = [0.0; R];
        ph[..phi.len().min(R)].copy_from_slice(&phi[..phi.len().min(R)]);
        rv[0] = 1.0;
        for (i, t) in theta.iter().enumerate().take(R - 1) {
            rv[i + 1] = *t;
        }
        Arma { r, phi: ph, rv }
    }

    /// `T a`.
    #[inline(always)]
    fn propagate(&self, a: &[f64; R], r: usize) -> [f64; R] {
        let mut out = [0.0; R];
        for i in 0..r {
            out[i] = self.phi[i] * a[0] + if i + 1 < r { a[i + 1] } else { 0.0 };
        }
        out
    }

    /// One filter step with the innovation-free observation `w` (mean
    /// removed). Returns `(v, F)`.
    #[inline(always)]
    fn step(
        &self,
        a: &mut [f64; R],
        pm: &mut [[f64; R]; R],
        steady: &mut bool,
        w: f64,
    ) -> (f64, f64) {
        let r = self.r;
        let v = w - a[0];
        if *steady {
            // P = R R', F = 1, gain = R: a <- T (a + R v).
            let mut upd = *a;
            for i in 0..r {
                upd[i] += self.rv[i] * v;
            }
            *a = self.propagate(&upd, r);
            return (v, 1.0);
        }
        let f = pm[0][0];
        if !(f.is_finite() && f > 0.0) {
            return (v, f);
        }
        let mut upd = *a;
        let mut col = [0.0; R];
        for i in 0..r {
            col[i] = pm[i][0];
            upd[i] += col[i] * v / f;
        }
        for i in 0..r {
            for j in 0..r {
                pm[i][j] -= col[i] * col[j] / f;
            }
        }
        *a = self.propagate(&upd, r);
        // P <- T Pu T' + R R'.
        let mut m = [[0.0; R]; R];
        for i in 0..r {
            for j in 0..r {
                m[i][j] = self.phi[i] * pm[0][j] + if i + 1 < r { pm[i + 1][j] } else { 0.0 };
            }
        }
        for i in 0..r {
            for j in 0..r {
                pm[i][j] = m[i][0] * self.phi[j]
                    + if j + 1 < r { m[i][j + 1] } else { 0.0 }
                    + self.rv[i] * self.rv[j];
            }
        }
        if f - 1.0 < 1e-9 {
            *steady = true;
        }
        (v, f)
    }

    /// The stationary state covariance (units of `sigma^2`): the solution of
    /// `P = T P T' + R R'`, by Gaussian elimination on `(I - T (x) T) vec P =
    /// vec R R'`. `None` when singular (a unit root).
    fn stationary_cov(&self) -> Option<[[f64; R]; R]> {
        let r = self.r;
        let n = r * r;
        let mut a = vec![0.0; n * n];
        let mut b = vec![0.0; n];
        // T_{ik}: phi_i when k == 0, plus 1 when k == i + 1.
        let t = |i: usize, k: usize| -> f64 {
            let mut v = if k == 0 { self.phi[i] } else { 0.0 };
            if k == i + 1 {
                v += 1.0;
            }
            v
        };
        for i in 0..r {
            for j in 0..r {
                let row = i * r + j;
                b[row] = self.rv[i] * self.rv[j];
                a[row * n + row] += 1.0;
                for k in 0..r {
                    let tik = t(i, k);
                    if tik == 0.0 {
                        continue;
                    }
                    for l in 0..r {
                        let tjl = t(j, l);
                        if tjl != 0.0 {
                            a[row * n + k * r + l] -= tik * tjl;
                        }
                    }
                }
            }
        }
        if !solve(&mut a, &mut b, n) {
            return None;
        }
        let mut p = [[0.0; R]; R];
        for i in 0..r {
            for j in 0..r {
                p[i][j] = 0.5 * (b[i * r + j] + b[j * r + i]);
            }
        }
        Some(p)
    }

    /// Run the exact filter over `w` (mean removed): `(sum v^2 / F, sum ln
    /// F, final a, final P, steady)`; `None` when it breaks down.
    #[allow(clippy::type_complexity)]
    fn filter(&self, w: &[f64]) -> Option<(f64, f64, [f64; R], [[f64; R]; R], bool)> {
        let mut pm = self.stationary_cov()?;
        let mut a = [0.0; R];
        let mut steady = false;
        let mut ssq = 0.0;
        let mut logf = 0.0;
        let mut prod = 1.0f64;
        for &x in w {
            let (v, f) = self.step(&mut a, &mut pm, &mut steady, x);
            if !(f.is_finite() && f > 0.0) {
                return None;
            }
            ssq += v * v / f;
            // sum ln F as ln of a running product (F >= 1), one log per
            // ~700 rows instead of one per row.
            prod *= f;
            if prod > 1e300 {
                logf += libm::log(prod);
                prod = 1.0;
            }
        }
        logf += libm::log(prod);
        Some((ssq, logf, a, pm, steady))
    }
}

/// Solve `A x = b` (`A` n x n, row-major) in place by Gaussian elimination
/// with partial pivoting; `b` becomes `x`. `false` when singular.
fn solve(a: &mut [f64], b: &mut [f64], n: usize) -> bool {
    for c in 0..n {
        let mut piv = c;
        let mut best = a[c * n + c].abs();
        for r in c + 1..n {
            let v = a[r * n + c].abs();
            if v > best {
                best = v;
                piv = r;
            }
        }
        if best.is_nan() || best <= 1e-12 {
            return false;
        }
        if piv != c {
            for k in 0..n {
                a.swap(c * n + k, piv * n + k);
            }
            b.swap(c, piv);
        }
        let d = a[c * n + c];
        for r in c + 1..n {
            let f = a[r * n + c] / d;
            if f == 0.0 {
                continue;
            }
            for k in c..n {
                a[r * n + k] -= f * a[c * n + k];
            }
            b[r] -= f * b[c];
        }
    }
    for c in (0..n).rev() {
        let mut s = b[c];
        for k in c + 1..n {
            s -= a[c * n + k] * b[k];
        }
        b[c] = s / a[c * n + c];
    }
    b.iter().all(|v| v.is_finite())
}

/// Partial autocorrelations to AR coefficients (Durbin-Levinson).
fn pacf_to_ar(r: &[f64]) -> Vec<f64> {
    let mut phi: Vec<f64> = Vec::with_capacity(r.len());
    for (k, &rk) in r.iter().enumerate() {
        let prev = phi.clone();
        for j in 0..k {
            phi[j] = prev[j] - rk * prev[k - 1 - j];
        }
        phi.push(rk);
    }
    phi
}

/// AR coefficients to partial autocorrelations; `None` when not stationary.
fn ar_to_pacf(phi: &[f64]) -> Option<Vec<f64>> {
    let p = phi.len();
    let mut cur = phi.to_vec();
    let mut r = vec![0.0; p];
    for k in (0..p).rev() {
        let rk = cur[k];
        if rk.is_nan() || rk.abs() >= 1.0 {
            return None;
        }
        r[k] = rk;
        let den = 1.0 - rk * rk;
        let prev = cur.clone();
        for j in 0..k {
            cur[j] = (prev[j] + rk * prev[k - 1 - j]) / den;
        }
        cur.truncate(k);
    }
    Some(r)
}

/// The unconstrained parameters of a stationary `phi` (shrunk towards 0
/// until it is, when it is not).
fn unconstrain(phi: &[f64]) -> Vec<f64> {
    let mut c = phi.to_vec();
    for _ in 0..50 {
        if let Some(r) = ar_to_pacf(&c) {
            return r.iter().map(|&x| x / (1.0 - x * x).sqrt()).collect();
        }
        for v in &mut c {
            *v *= 0.9;
        }
    }
    vec![0.0; phi.len()]
}

fn constrain(x: &[f64]) -> Vec<f64> {
    let r: Vec<f64> = x.iter().map(|&v| v / (1.0 + v * v).sqrt()).collect();
    pacf_to_ar(&r)
}

/// `Delta^d y`, and `Delta^k y` at the last row for `k < d`.
fn difference(y: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut w = y.to_vec();
    let mut last = Vec::with_capacity(d);
    for _ in 0..d {
        last.push(w.last().copied().unwrap_or(0.0));
        w = w.windows(2).map(|p| p[1] - p[0]).collect();
    }
    (w, last)
}

fn mean_sd(w: &[f64]) -> (f64, f64) {
    let n = w.len().max(1) as f64;
    let mean = w.iter().sum::<f64>() / n;
    let var = w.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// KPSS level-stationarity statistic.
fn kpss(w: &[f64]) -> f64 {
    let n = w.len();
    let (mean, _) = mean_sd(w);
    let e: Vec<f64> = w.iter().map(|v| v - mean).collect();
    let lags = (4.0 * libm::pow(n as f64 / 100.0, 0.25)) as usize;
    let mut lrv: f64 = e.iter().map(|v| v * v).sum();
    for l in 1..=lags.min(n.saturating_sub(1)) {
        let mut s = 0.0;
        for t in l..n {
            s += e[t] * e[t - l];
        }
        lrv += 2.0 * (1.0 - l as f64 / (lags as f64 + 1.0)) * s;
    }
    lrv /= n as f64;
    let mut cum = 0.0;
    let mut ss = 0.0;
    for v in &e {
        cum += v;
        ss += cum * cum;
    }
    if lrv.is_nan() || lrv <= 0.0 {
        return 0.0;
    }
    ss / (n as f64 * n as f64 * lrv)
}

/// `d` by repeated KPSS tests at 5 % (critical value 0.463).
/// With hysteresis around the previous choice `prev`: a level that was
/// differenced stays differenced unless the statistic falls below 0.9 x the
/// critical value, one that was not needs 1.1 x.
fn choose_d(y: &[f64], prev: Option<usize>) -> usize {
    let mut w = y.to_vec();
    let mut d = 0;
    while d < MAX_D as usize && w.len() > 20 {
        let (_, sd) = mean_sd(&w);
        let critical = 0.463
            * match prev {
                Some(p) if p > d => 0.9,
                Some(_) => 1.1,
                None => 1.0,
            };
        if sd.is_nan() || sd <= 0.0 || kpss(&w) <= critical {
            break;
        }
        w = w.windows(2).map(|p| p[1] - p[0]).collect();
        d += 1;
    }
    d
}

/// Yule-Walker AR(k) of the zero-mean `z` (Durbin-Levinson on the sample
/// autocovariances; always stationary).
fn yule_walker(z: &[f64], k: usize) -> Vec<f64> {
    let n = z.len();
    let mut acov = vec![0.0; k + 1];
    for (l, c) in acov.iter_mut().enumerate() {
        let mut s = 0.0;
        for t in l..n {
            s += z[t] * z[t - l];
        }
        *c = s / n as f64;
    }
    if acov[0].is_nan() || acov[0] <= 0.0 {
        return vec![0.0; k];
    }
    let mut phi: Vec<f64> = Vec::new();
    let mut v = acov[0];
    for m in 1..=k {
        let mut num = acov[m];
        for j in 0..m - 1 {
            num -= phi[j] * acov[m - 1 - j];
        }
        let rk = num / v;
        let prev = phi.clone();
        for j in 0..m - 1 {
            phi[j] = prev[j] - rk * prev[m - 2 - j];
        }
        phi.push(rk);
        v *= 1.0 - rk * rk;
        if v.is_nan() || v <= 0.0 {
            phi.resize(k, 0.0);
            break;
        }
    }
    phi
}

/// Hannan-Rissanen fits on the zero-mean `z` with residuals `e` of a long AR
/// fitted before: coefficients and residual variance, regressing on rows
/// `start..`.
fn hannan_rissanen(
    z: &[f64],
    e: &[f64],
    p: usize,
    q: usize,
    start: usize,
) -> Option<(Vec<f64>, Vec<f64>, f64)> {
    let k = p + q;
    let n = z.len();
    if n <= start + k + 1 {
        return None;
    }
    if k == 0 {
        let s: f64 = z[start..].iter().map(|v| v * v).sum();
        return Some((Vec::new(), Vec::new(), s / (n - start) as f64));
    }
    let mut xtx = vec![0.0; k * k];
    let mut xty = vec![0.0; k];
    let mut row = vec![0.0; k];
    for t in start..n {
        for i in 0..p {
            row[i] = z[t - 1 - i];
        }
        for j in 0..q {
            row[p + j] = e[t - 1 - j];
        }
        for i in 0..k {
            xty[i] += row[i] * z[t];
            for j in 0..k {
                xtx[i * k + j] += row[i] * row[j];
            }
        }
    }
    let mut beta = xty.clone();
    let mut a = xtx.clone();
    if !solve(&mut a, &mut beta, k) {
        return None;
    }
    let mut rss = 0.0;
    for t in start..n {
        let mut fit = 0.0;
        for i in 0..p {
            fit += beta[i] * z[t - 1 - i];
        }
        for j in 0..q {
            fit += beta[p + j] * e[t - 1 - j];
        }
        rss += (z[t] - fit) * (z[t] - fit);
    }
    Some((
        beta[..p].to_vec(),
        beta[p..].to_vec(),
        rss / (n - start) as f64,
    ))
}

/// Everything the likelihood needs about one window.
struct Problem<'a> {
    w: &'a [f64],
    p: usize,
    q: usize,
    with_mean: bool,
    mean: f64,
    sd: f64,
}

impl Problem<'_> {
    fn dim(&self) -> usize {
        self.p + self.q + usize::from(self.with_mean)
    }

    fn unpack(&self, x: &[f64]) -> (Vec<f64>, Vec<f64>, f64) {
        let phi = constrain(&x[..self.p]);
        let theta: Vec<f64> = constrain(&x[self.p..self.p + self.q])
            .iter()
            .map(|v| -v)
            .collect();
        let mu = if self.with_mean {
            self.mean + self.sd * x[self.p + self.q]
        } else {
            0.0
        };
        (phi, theta, mu)
    }

    fn pack(&self, phi: &[f64], theta: &[f64], mu: f64) -> Vec<f64> {
        let mut x = unconstrain(phi);
        let neg: Vec<f64> = theta.iter().map(|v| -v).collect();
        x.extend(unconstrain(&neg));
        if self.with_mean {
            x.push(if self.sd > 0.0 {
                (mu - self.mean) / self.sd
            } else {
                0.0
            });
        }
        x
    }

    /// `ln(sigma^2 hat) + sum ln F / n` (-2 loglik / n up to constants).
    fn objective(&self, x: &[f64]) -> f64 {
        let (phi, theta, mu) = self.unpack(x);
        let arma = Arma::new(&phi, &theta);
        let n = self.w.len() as f64;
        let z: Vec<f64> = self.w.iter().map(|v| v - mu).collect();
        match arma.filter(&z) {
            Some((ssq, logf, ..)) if ssq > 0.0 => libm::log(ssq / n) + logf / n,
            _ => f64::INFINITY,
        }
    }
}

/// Nelder-Mead minimisation from `x0` (initial steps `step`), at most
/// `max_evals` evaluations; returns the best point and value.
fn nelder_mead(
    f: &dyn Fn(&[f64]) -> f64,
    x0: &[f64],
    step: f64,
    max_evals: usize,
    ftol: f64,
) -> (Vec<f64>, f64) {
    let n = x0.len();
    if n == 0 {
        return (Vec::new(), f(x0));
    }
    let mut pts: Vec<Vec<f64>> = Vec::with_capacity(n + 1);
    pts.push(x0.to_vec());
    for i in 0..n {
        let mut x = x0.to_vec();
        x[i] += step;
        pts.push(x);
    }
    let clean = |v: f64| if v.is_nan() { f64::INFINITY } else { v };
    let mut vals: Vec<f64> = pts.iter().map(|x| clean(f(x))).collect();
    let mut evals = n + 1;
    let mut order: Vec<usize> = (0..=n).collect();
    while evals < max_evals {
        order.sort_by(|&a, &b| vals[a].total_cmp(&vals[b]).then(a.cmp(&b)));
        let best = order[0];
        let worst = order[n];
        let second = order[n - 1];
        let fspread = vals[worst] - vals[best];
        let mut xspread: f64 = 0.0;
        for &i in &order[1..] {
            for k in 0..n {
                xspread = xspread.max((pts[i][k] - pts[best][k]).abs());
            }
        }
        // Converged: values within ftol and points within 1e4 ftol, or values
        // alone within ftol / 100 (a parameter drifting towards a unit root moves the
        // points without changing the likelihood).
        if fspread <= 1e-2 * ftol || (fspread <= ftol && xspread <= 1e4 * ftol) {
            break;
        }
        let mut centroid = vec![0.0; n];
        for &i in &order[..n] {
            for k in 0..n {
                centroid[k] += pts[i][k];
            }
        }
        for c in &mut centroid {
            *c /= n as f64;
        }
        let along = |t: f64| -> Vec<f64> {
            (0..n)
                .map(|k| centroid[k] + t * (pts[worst][k] - centroid[k]))
                .collect()
        };
        let xr = along(-1.0);
        let fr = clean(f(&xr));
        evals += 1;
        if fr < vals[best] {
            let xe = along(-2.0);
            let fe = clean(f(&xe));
            evals += 1;
            if fe < fr {
                pts[worst] = xe;
                vals[worst] = fe;
            } else {
                pts[worst] = xr;
                vals[worst] = fr;
            }
        } else if fr < vals[second] {
            pts[worst] = xr;
            vals[worst] = fr;
        } else {
            let (xc, fc) = if fr < vals[worst] {
                let xc = along(-0.5);
                let fc = clean(f(&xc));
                (xc, fc)
            } else {
                let xc = along(0.5);
                let fc = clean(f(&xc));
                (xc, fc)
            };
            evals += 1;
            if fc < vals[worst].min(fr) {
                pts[worst] = xc;
                vals[worst] = fc;
            } else {
                // Shrink towards the best point.
                for &i in &order[1..] {
                    for k in 0..n {
                        pts[i][k] = pts[best][k] + 0.5 * (pts[i][k] - pts[best][k]);
                    }
                    vals[i] = clean(f(&pts[i]));
                    evals += 1;
                }
            }
        }
    }
    let mut best = 0;
    for i in 1..=n {
        if vals[i] < vals[best] {
            best = i;
        }
    }
    (pts[best].clone(), vals[best])
}

/// An order candidate: (AIC, p, q, phi, theta).
type Candidate = (f64, usize, usize, Vec<f64>, Vec<f64>);

/// The Hannan-Rissanen order search and start values on the differenced,
/// demeaned window `z`. Fixed orders are honoured; free ones range over
/// `0..=bound`.
fn select_order(
    z: &[f64],
    p: Option<usize>,
    q: Option<usize>,
    keep: Option<(usize, usize)>,
) -> (usize, usize, Vec<f64>, Vec<f64>) {
    let n = z.len();
    let bound = AUTO_MAX_PQ.min(n.saturating_sub(8) / 4);
    let ps: Vec<usize> = p.map_or((0..=bound).collect(), |v| vec![v]);
    let qs: Vec<usize> = q.map_or((0..=bound).collect(), |v| vec![v]);
    let pmax = *ps.iter().max().unwrap_or(&0);
    let qmax = *qs.iter().max().unwrap_or(&0);
    let long = (pmax + qmax + 4).max(8).min(n / 4).max(1);
    let ar = yule_walker(z, long);
    let mut e = vec![0.0; n];
    for t in long..n {
        let mut s = z[t];
        for j in 0..long {
            s -= ar[j] * z[t - 1 - j];
        }
        e[t] = s;
    }
    let start = long + pmax.max(qmax);
    let mut best: Option<Candidate> = None;
    let mut kept: Option<Candidate> = None;
    for &pp in &ps {
        for &qq in &qs {
            let fit = if qq == 0 {
                hannan_rissanen(z, &e, pp, 0, start.max(pp))
            } else {
                hannan_rissanen(z, &e, pp, qq, start)
            };
            let Some((phi, theta, s2)) = fit else {
                continue;
            };
            let m = (n - start) as f64;
            let aic = m * libm::log(s2.max(1e-300)) + 2.0 * (pp + qq) as f64;
            if keep == Some((pp, qq)) {
                kept = Some((aic, pp, qq, phi.clone(), theta.clone()));
            }
            if best.as_ref().is_none_or(|b| aic < b.0) {
                best = Some((aic, pp, qq, phi, theta));
            }
        }
    }
    // Hysteresis: keep the current order unless another is better by more
    // than 2 AIC units (orders do not flip on noise, and refits stay warm).
    if matches!((&kept, &best), (Some(k), Some(b)) if k.0 <= b.0 + 2.0) {
        best = kept;
    }
    match best {
        Some((_, pp, qq, phi, theta)) => (pp, qq, phi, theta),
        None => {
            let pp = p.unwrap_or(0);
            let qq = q.unwrap_or(0);
            (pp, qq, vec![0.0; pp], vec![0.0; qq])
        }
    }
}

/// Fit the window `y` whose first row is learned row number `start`.
fn fit_window(y: &[f64], start: u64, params: &ArimaParams, previous: Option<&Fit>) -> Option<Fit> {
    let mut adjusted = y.to_vec();
    let mut season = Vec::new();
    if let Some(m) = params.stl_period {
        let m = m as usize;
        let (s, _) = stl::decompose(y, m, stl::StlSpans::periodic(m, y.len()))?;
        season = vec![0.0; m];
        let n = y.len();
        for i in n.saturating_sub(m)..n {
            season[((start + i as u64) % m as u64) as usize] = s[i];
        }
        for i in 0..n {
            adjusted[i] -= s[i];
        }
    }
    let d = params.d.map_or_else(
        || choose_d(&adjusted, previous.map(|f| f.d as usize)),
        usize::from,
    );
    let (w, last) = difference(&adjusted, d);
    let n = w.len();
    if n < 4 {
        return None;
    }
    let with_mean = d == 0;
    let (mean, sd) = mean_sd(&w);
    let z: Vec<f64> = w.iter().map(|v| v - mean).collect();
    // Orders and start values: the previous fit when the order is the same
    // as last time (warm start, one Nelder-Mead pass), else Hannan-Rissanen
    // (cold start, two passes).
    let fixed = params.p.is_some() && params.q.is_some();
    let (p, q, phi0, theta0, mu0, warm) = match previous {
        Some(f) if fixed && f.d as usize == d => (
            f.p as usize,
            f.q as usize,
            f.phi.clone(),
            f.theta.clone(),
            f.mu,
            true,
        ),
        _ => {
            let keep = previous
                .filter(|f| f.d as usize == d)
                .map(|f| (f.p as usize, f.q as usize));
            let (p, q, phi, theta) = select_order(
                &z,
                params.p.map(usize::from),
                params.q.map(usize::from),
                keep,
            );
            match previous {
                Some(f) if (f.p as usize, f.d as usize, f.q as usize) == (p, d, q) => {
                    (p, q, f.phi.clone(), f.theta.clone(), f.mu, true)
                }
                _ => (p, q, phi, theta, mean, false),
            }
        }
    };
    let problem = Problem {
        w: &w,
        p,
        q,
        with_mean,
        mean,
        sd,
    };
    let x0 = problem.pack(&phi0, &theta0, mu0);
    let dim = problem.dim();
    let objective = |x: &[f64]| problem.objective(x);
    let flat = sd.is_nan() || sd <= 0.0;
    let xbest = if flat {
        vec![0.0; dim]
    } else if !warm {
        let (x1, _) = nelder_mead(&objective, &x0, 0.3, 300 * dim.max(1), 1e-10);
        let (x2, _) = nelder_mead(&objective, &x1, 0.05, 150 * dim.max(1), 1e-10);
        x2
    } else {
        let (x1, _) = nelder_mead(&objective, &x0, 0.1, 100 * dim.max(1), 1e-8);
        x1
    };
    let (phi, theta, mu) = if flat {
        (
            vec![0.0; p],
            vec![0.0; q],
            if with_mean { mean } else { 0.0 },
        )
    } else {
        problem.unpack(&xbest)
    };
    let arma = Arma::new(&phi, &theta);
    let zc: Vec<f64> = w.iter().map(|v| v - mu).collect();
    let (ssq, logf, a, pm, steady) = arma.filter(&zc)?;
    let nf = n as f64;
    let sigma2 = ssq / nf;
    let k = (p + q + 1 + usize::from(with_mean)) as f64;
    let (loglik, aic) = if sigma2 > 0.0 {
        let ll = -0.5 * nf * (libm::log(2.0 * std::f64::consts::PI * sigma2) + 1.0) - 0.5 * logf;
        (ll, -2.0 * ll + 2.0 * k)
    } else {
        (f64::NAN, f64::NAN)
    };
    // With STL each seasonal index is a mean over k = n / m seasons: in the
    // window it absorbs 1/k of the noise (residual variance sigma^2 (1 -
    // 1/k)), while a new row meets its error too (sigma^2 (1 + 1/k)).
    let sigma2_forecast = match params.stl_period {
        Some(m) => {
            let k = (y.len() as f64 / m as f64).max(2.0);
            sigma2 * (k + 1.0) / (k - 1.0)
        }
        None => sigma2,
    };
    Some(Fit {
        p: p as u8,
        sigma2_forecast,
        d: d as u8,
        q: q as u8,
        phi,
        theta,
        mu,
        sigma2,
        loglik,
        aic,
        nobs: n as u64,
        a,
        pm,
        steady,
        last,
        season,
    })
}
