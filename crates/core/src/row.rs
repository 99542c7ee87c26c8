//! Detectors that score a whole row themselves: multivariate ones (`rcf`,
//! `robust`), forecasters with extra outputs (`arima`), and detectors whose
//! score is not a z-score (`spike_dip`'s p-value, `change_point`'s
//! martingale). [`RowKeyed`] holds one [`RowModel`] per key and applies the
//! alert settings every algorithm shares: the likelihood layer
//! ([`crate::likelihood`], fed each row's [`RowModel::deviation`], a z-like
//! magnitude of its score), `minConsecutive`, `cooldown`, `minDeviation` and
//! `severity`.

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

use crate::alert::{Alerts, KeyState};
use crate::config::{Common, ParamSpec, Reader};
use crate::engine::{Extra, Input, Scores};
use crate::error::{Error, Result};
use crate::flags::{self, Status};

/// One row's result from a [`RowModel`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowStep {
    /// `Ok`, `Warmup` or `Skipped`.
    pub status: Status,
    /// Expected value (NaN when the model has none).
    pub forecast: f64,
    /// Lower band (NaN when none).
    pub lower: f64,
    /// Upper band (NaN when none).
    pub upper: f64,
    /// The algorithm's score.
    pub score: f64,
    /// The model flags the row (before `minConsecutive` and `cooldown`).
    pub anomaly: bool,
    /// Above the expected value (direction up).
    pub up: bool,
    /// How far past its threshold the row is (1 = at the threshold), for
    /// the `severity` bands.
    pub ratio: f64,
}

impl RowStep {
    /// A row that was not scored.
    pub fn unscored(status: Status) -> Self {
        RowStep {
            status,
            forecast: f64::NAN,
            lower: f64::NAN,
            upper: f64::NAN,
            score: f64::NAN,
            anomaly: false,
            up: false,
            ratio: 0.0,
        }
    }
}

/// One key's state of a row-scoring algorithm.
pub trait RowModel: Clone + Serialize + DeserializeOwned + Send + 'static {
    /// Validated parameters.
    type Params: Clone + core::fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send;

    /// The `algorithm` name in configs.
    const NAME: &'static str;
    /// One line for `describe()`.
    const DESCRIPTION: &'static str;
    /// Whether rows may hold more than one value.
    const MULTIVARIATE: bool;

    /// Every config key, common ones included.
    fn specs() -> Vec<ParamSpec>;
    /// Read and validate the algorithm's keys.
    fn params(reader: &Reader<'_>, common: &mut Common) -> Result<Self::Params>;
    /// The common settings and the params. By default the common keys are
    /// read first; algorithms without them derive [`Common`] themselves.
    fn read(reader: &Reader<'_>) -> Result<(Common, Self::Params)> {
        let mut common = reader.common()?;
        let params = Self::params(reader, &mut common)?;
        Ok((common, params))
    }
    /// The params as JSON, for the effective config.
    fn params_json(params: &Self::Params) -> Map<String, Value>;
    /// The extra outputs (name, values per row) for rows of `width` values.
    fn extras(params: &Self::Params, width: usize) -> Vec<(&'static str, usize)>;
    /// A fresh model for rows of `width` values.
    fn new(params: &Self::Params, common: &Common, width: usize) -> Result<Self>;
    /// The row width this model was made for.
    fn width(&self) -> usize;
    /// Score `row` (its `width` values; any may be NaN), then learn it.
    /// `extras` holds this row's slots of every extra, in [`RowModel::extras`]
    /// order, pre-filled with NaN.
    fn step(
        &mut self,
        ts: i64,
        row: &[f64],
        params: &Self::Params,
        common: &Common,
        extras: &mut [f64],
    ) -> RowStep;
    /// Whether a deserialised model is consistent with `params`.
    fn is_consistent(&self, params: &Self::Params) -> bool;
    /// How anomalous a scored row is, in z-like units (0 = typical, larger
    /// = more anomalous, never negative or NaN): what the likelihood layer
    /// averages. By default `|score|`; algorithms whose score is not a
    /// deviation (a p-value, a martingale) map it.
    fn deviation(step: &RowStep, _params: &Self::Params) -> f64 {
        let d = step.score.abs();
        if d.is_nan() { 0.0 } else { d }
    }
}

/// One [`RowModel`] per key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct RowKeyed<R: RowModel> {
    pub(crate) common: Common,
    pub(crate) params: R::Params,
    pub(crate) alerts: Alerts,
    pub(crate) models: Vec<R>,
    pub(crate) states: Vec<KeyState>,
    /// Row width, fixed by the first batch (0 before it).
    pub(crate) width: usize,
}

impl<R: RowModel> RowKeyed<R> {
    /// Build from a config object.
    pub fn build(reader: &Reader<'_>) -> Result<Self> {
        let (common, params) = R::read(reader)?;
        let alerts = Alerts::read(reader)?;
        Ok(RowKeyed {
            common,
            params,
            alerts,
            models: Vec::new(),
            states: Vec::new(),
            width: 0,
        })
    }

    /// Keys held.
    pub fn key_count(&self) -> usize {
        self.models.len()
    }

    /// Give the keys `ids` fresh models (and alert state), as if never seen.
    pub fn reset_keys(&mut self, ids: &[u32]) -> Result<()> {
        crate::engine::check_reset(ids, self.models.len())?;
        for &k in ids {
            self.models[k as usize] = R::new(&self.params, &self.common, self.width.max(1))?;
            self.states[k as usize] = KeyState::default();
        }
        Ok(())
    }

    /// The effective config.
    pub fn config_value(&self) -> Value {
        // Only the keys the algorithm takes: some derive the common ones.
        let specs = crate::detector::row_specs::<R>();
        crate::engine::effective_config(
            R::NAME,
            &self.common,
            R::params_json(&self.params),
            &self.alerts,
            |k| specs.iter().any(|s| s.key == k),
        )
    }

    /// Whether rows of `width` values are accepted.
    pub fn check_width(&self, width: usize) -> Result<()> {
        if !R::MULTIVARIATE && width != 1 {
            return Err(Error::InvalidInput(format!(
                "algorithm '{}' is univariate: width must be 1, got {width}; use one value column",
                R::NAME
            )));
        }
        if width > 30 {
            return Err(Error::InvalidInput(format!(
                "algorithm '{}' takes at most 30 values per row, got {width}",
                R::NAME
            )));
        }
        if self.width != 0 && self.width != width && !self.models.is_empty() {
            return Err(Error::InvalidInput(format!(
                "this detector scores rows of {} values; a batch of width {width} cannot be mixed in",
                self.width
            )));
        }
        Ok(())
    }

    /// Score then learn every row of `input`.
    pub fn process(&mut self, input: &Input<'_>, out: &mut Scores) -> Result<()> {
        input.validate(self.models.len())?;
        input.require_timestamps(R::NAME)?;
        let width = input.width;
        self.check_width(width)?;
        self.width = width;
        let n = input.rows();
        out.resize(n);
        let specs = R::extras(&self.params, width);
        let per_row: usize = specs.iter().map(|(_, k)| k).sum();
        let mut extra_vals = vec![f64::NAN; n * per_row];
        let keys = input.keys.iter().copied().max().unwrap_or(0) as usize + 1;
        while self.models.len() < keys {
            self.models.push(R::new(&self.params, &self.common, width)?);
            self.states.push(KeyState::default());
        }
        let stateful = self.alerts.stateful();
        if self.alerts.likelihood.is_some() {
            out.probability.resize(n, f64::NAN);
        }
        let mut row_extras = vec![f64::NAN; per_row];
        for i in 0..n {
            let k = input.keys.get(i).map_or(0, |k| *k as usize);
            let row = &input.values[i * width..(i + 1) * width];
            row_extras.fill(f64::NAN);
            let s = self.models[k].step(
                input.timestamps[i],
                row,
                &self.params,
                &self.common,
                &mut row_extras,
            );
            out.forecast[i] = s.forecast;
            out.lower[i] = s.lower;
            out.upper[i] = s.upper;
            out.score[i] = s.score;
            let mut f = (s.status as u8) << flags::STATUS_SHIFT;
            if s.status == Status::Ok {
                if s.up {
                    f |= flags::UP;
                }
                let (anomaly, ratio) = match &self.alerts.likelihood {
                    None => (s.anomaly, s.ratio),
                    Some(lp) => {
                        let side = self.common.direction.allows(s.up);
                        let d = if side {
                            R::deviation(&s, &self.params)
                        } else {
                            0.0
                        };
                        let l = self.states[k].likelihood.update(lp.magnitude(d), lp);
                        out.probability[i] = l.probability;
                        (
                            side && l.probability >= lp.threshold,
                            l.z.map_or(0.0, |lz| lz / lp.z_threshold),
                        )
                    }
                };
                let deviates = s.forecast.is_nan()
                    || row.len() != 1
                    || self.alerts.deviates(row[0], s.forecast);
                let candidate = anomaly && deviates;
                let flagged = if stateful {
                    self.states[k].admit(candidate, input.timestamps[i], &self.alerts)
                } else {
                    candidate
                };
                if flagged {
                    f |= flags::ANOMALY | self.alerts.grade(ratio).bits();
                }
            }
            out.flags[i] = f;
            extra_vals[i * per_row..(i + 1) * per_row].copy_from_slice(&row_extras);
        }
        // Split the row-major extras into one column each.
        let mut offset = 0;
        for (name, k) in specs {
            let mut values = Vec::with_capacity(n * k);
            for i in 0..n {
                let base = i * per_row + offset;
                values.extend_from_slice(&extra_vals[base..base + k]);
            }
            out.extras.push(Extra {
                name: name.to_string(),
                per_row: k,
                values,
            });
            offset += k;
        }
        Ok(())
    }

    /// Check a deserialised state against its params.
    pub fn is_consistent(&self) -> bool {
        self.alerts.is_consistent()
            && self.states.len() == self.models.len()
            && self.states.iter().all(|s| s.is_consistent(&self.alerts))
            && self.width <= 30
            && self
                .models
                .iter()
                // A model may fix its width on its first row (0 before).
                .all(|m| {
                    (m.width() == self.width || m.width() == 0) && m.is_consistent(&self.params)
                })
    }
}
