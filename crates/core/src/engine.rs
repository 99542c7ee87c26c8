//! Batch processing: per-key models driven over column slices.

use serde::{Deserialize, Serialize};

use crate::alert::{Alerts, KeyState};
use crate::config::{Common, Direction};
use crate::error::{Error, Result};
use crate::flags;
use crate::model::Model;

/// One batch of input rows, as column slices (see `wit/detector.wit`).
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// Event time of each row, microseconds since the epoch; or empty, which
    /// detectors whose config uses no event time accept (see
    /// [`crate::Detector::needs_timestamps`]): then each `width` values are a row.
    pub timestamps: &'a [i64],
    /// `n * width` values, row-major; NaN = missing.
    pub values: &'a [f64],
    /// Values per row.
    pub width: usize,
    /// Empty (one model) or one dense key id per row.
    pub keys: &'a [u32],
}

impl<'a> Input<'a> {
    /// A single-key univariate batch.
    pub fn univariate(timestamps: &'a [i64], values: &'a [f64]) -> Self {
        Input {
            timestamps,
            values,
            width: 1,
            keys: &[],
        }
    }

    /// Rows in the batch: one per timestamp, or, with no timestamps, one per
    /// `width` values.
    pub fn rows(&self) -> usize {
        if self.timestamps.is_empty() && self.width > 0 {
            self.values.len() / self.width
        } else {
            self.timestamps.len()
        }
    }

    /// For detectors that read event times: an empty timestamps list for a
    /// non-empty batch is an error (never an out-of-bounds read).
    pub fn require_timestamps(&self, algorithm: &str) -> Result<()> {
        if self.timestamps.is_empty() && !self.values.is_empty() {
            return Err(Error::InvalidInput(format!(
                "timestamps is empty, but algorithm '{algorithm}' with this config reads event times; pass one timestamp per row (an empty list is accepted only by zscore, ewma, mad and holtwinters without cooldown, minConsecutive or likelihood)"
            )));
        }
        Ok(())
    }

    /// Check the columns agree with each other.
    pub fn validate(&self, keys_held: usize) -> Result<()> {
        let n = self.rows();
        if self.width == 0 {
            return Err(Error::InvalidInput(
                "width must be at least 1 (values per row)".into(),
            ));
        }
        if self.timestamps.is_empty() && !self.values.len().is_multiple_of(self.width) {
            return Err(Error::InvalidInput(format!(
                "values has {} elements, not a whole number of rows of width {} (timestamps is empty: the rows are the values, width at a time)",
                self.values.len(),
                self.width
            )));
        }
        if self.values.len() != n.saturating_mul(self.width) {
            return Err(Error::InvalidInput(format!(
                "values has {} elements; expected rows ({n}) * width ({}) = {}",
                self.values.len(),
                self.width,
                n.saturating_mul(self.width)
            )));
        }
        if !self.keys.is_empty() {
            if self.keys.len() != n {
                return Err(Error::InvalidInput(format!(
                    "keys has {} elements; expected 0 (one model) or one per row ({n})",
                    self.keys.len()
                )));
            }
            let limit = keys_held + n;
            if let Some(bad) = self.keys.iter().find(|k| **k as usize >= limit) {
                return Err(Error::InvalidInput(format!(
                    "key id {bad} is not dense: with {keys_held} keys held and {n} rows, ids must be below {limit}"
                )));
            }
        }
        Ok(())
    }
}

/// Output buffers for one batch; `process` clears and fills them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scores {
    /// Expected value per row (NaN unless status ok).
    pub forecast: Vec<f64>,
    /// Lower band per row.
    pub lower: Vec<f64>,
    /// Upper band per row.
    pub upper: Vec<f64>,
    /// Signed score per row.
    pub score: Vec<f64>,
    /// Flag byte per row (see [`crate::flags`]).
    pub flags: Vec<u8>,
    /// Calibrated anomaly probability per row, or empty when the detector
    /// does not compute one.
    pub probability: Vec<f64>,
    /// Further per-row outputs some algorithms add (see [`Extra`]); empty
    /// for most.
    pub extras: Vec<Extra>,
}

/// An optional output column: `per_row` f64s for each row, row-major.
///
/// Names in use: `rmse` and `aic` (1 per row, ARIMA), `attribution`
/// (`2 * width` per row: the high and low contribution of each input
/// column, multivariate detectors), `forecast` (`3 * horizon` per row:
/// value, lower and upper bound of each step ahead).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extra {
    /// The column's name.
    pub name: String,
    /// Values per row.
    pub per_row: usize,
    /// `rows * per_row` values.
    pub values: Vec<f64>,
}

impl Extra {
    /// The values of row `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        self.values
            .get(i * self.per_row..(i + 1) * self.per_row)
            .unwrap_or(&[])
    }
}

impl Scores {
    /// Empty the buffers and make room for `n` rows.
    pub fn reset(&mut self, n: usize) {
        for v in [
            &mut self.forecast,
            &mut self.lower,
            &mut self.upper,
            &mut self.score,
        ] {
            v.clear();
            v.reserve(n);
        }
        self.flags.clear();
        self.flags.reserve(n);
        self.probability.clear();
        self.extras.clear();
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.flags.len()
    }

    /// True when no rows are held.
    pub fn is_empty(&self) -> bool {
        self.flags.is_empty()
    }

    /// Make every buffer exactly `n` rows long (contents unspecified until written).
    pub fn resize(&mut self, n: usize) {
        for v in [
            &mut self.forecast,
            &mut self.lower,
            &mut self.upper,
            &mut self.score,
        ] {
            v.resize(n, 0.0);
        }
        self.flags.resize(n, 0);
        self.probability.clear();
        self.extras.clear();
    }

    /// The extra column `name`, if the detector wrote one.
    pub fn extra(&self, name: &str) -> Option<&Extra> {
        self.extras.iter().find(|e| e.name == name)
    }

    /// Append the rows of `other`.
    pub fn extend_from(&mut self, other: &Scores) {
        self.forecast.extend_from_slice(&other.forecast);
        self.lower.extend_from_slice(&other.lower);
        self.upper.extend_from_slice(&other.upper);
        self.score.extend_from_slice(&other.score);
        self.flags.extend_from_slice(&other.flags);
        self.probability.extend_from_slice(&other.probability);
        for e in &other.extras {
            match self.extras.iter_mut().find(|x| x.name == e.name) {
                Some(x) => x.values.extend_from_slice(&e.values),
                None => self.extras.push(e.clone()),
            }
        }
    }
}

/// The smallest scale a baseline may have: a perfectly flat history still
/// gives finite scores, and any departure from it scores very high.
#[inline(always)]
pub fn scale_floor(center: f64) -> f64 {
    (center.abs() * SCALE_FLOOR_RELATIVE).max(SCALE_FLOOR_ABSOLUTE)
}

/// The scale floor's share of `|center|` (see [`scale_floor`]).
const SCALE_FLOOR_RELATIVE: f64 = 1.5e-8;
/// The scale floor's absolute minimum (see [`scale_floor`]).
const SCALE_FLOOR_ABSOLUTE: f64 = 1e-12;

/// `b.scale.max(scale_floor(b.center))` (the default
/// [`crate::model::Model::floored_scale`]) with the same value, written as
/// compares and selects: `var.sqrt()` of a learned model is never NaN, nor
/// is the floor, and where `f64::max` would pick between them this does
/// too. For wasm32, LLVM lowers `f64::max` to a call to `fmax`
/// (WebAssembly's `f64.max` propagates NaN, IEEE maxNum does not), and in
/// wasmtime each call spills the live float registers: the two calls per
/// row were most of the WASM overhead of the z-score and EWMA loops. Opted
/// into per model (measured in BENCHMARKS.md), because moving LLVM's
/// inlining of a loop can cost more than the calls.
#[inline(always)]
pub fn floored_scale_select(b: &crate::model::Baseline) -> f64 {
    let a = b.center.abs() * SCALE_FLOOR_RELATIVE;
    let floor = if a > SCALE_FLOOR_ABSOLUTE {
        a
    } else {
        SCALE_FLOOR_ABSOLUTE
    };
    if b.scale > floor || floor.is_nan() {
        b.scale
    } else {
        floor
    }
}

/// One model per key, all with the same parameters, and (when the alert
/// settings need it) one [`KeyState`] per key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Keyed<M: Model> {
    pub(crate) common: Common,
    pub(crate) params: M::Params,
    pub(crate) alerts: Alerts,
    pub(crate) models: Vec<M>,
    /// Empty unless `alerts.stateful()`; then one per model.
    pub(crate) states: Vec<KeyState>,
}

impl<M: Model> Keyed<M> {
    /// No keys yet.
    pub fn new(common: Common, params: M::Params, alerts: Alerts) -> Self {
        Keyed {
            common,
            params,
            alerts,
            models: Vec::new(),
            states: Vec::new(),
        }
    }

    /// Keys held.
    pub fn key_count(&self) -> usize {
        self.models.len()
    }

    /// Give the keys `ids` fresh models (and alert state), as if never seen.
    pub fn reset_keys(&mut self, ids: &[u32]) -> Result<()> {
        check_reset(ids, self.models.len())?;
        for &k in ids {
            self.models[k as usize] = M::new(&self.params);
            if let Some(s) = self.states.get_mut(k as usize) {
                *s = KeyState::default();
            }
        }
        Ok(())
    }

    /// The effective config with every default filled in.
    pub fn config_value(&self) -> serde_json::Value {
        effective_config(
            M::NAME,
            &self.common,
            M::params_json(&self.params),
            &self.alerts,
            |_| true,
        )
    }

    /// Score then learn every row of `input`, writing one result per row.
    pub fn process(&mut self, input: &Input<'_>, out: &mut Scores) -> Result<()> {
        input.validate(self.models.len())?;
        if self.alerts.stateful() {
            input.require_timestamps(M::NAME)?;
        }
        check_univariate(M::NAME, input.width)?;
        let n = input.rows();
        out.resize(n);
        // Validated above: every id is below keys held + rows. (As ever, a
        // call with no rows still makes the first key's model.)
        let keys = input.keys.iter().copied().max().unwrap_or(0) as usize + 1;
        if keys > self.models.len() {
            let params = &self.params;
            self.models.resize_with(keys, || M::new(params));
        }
        if self.alerts.stateful() {
            self.states
                .resize_with(self.models.len(), KeyState::default);
            self.process_stateful(input, out);
        } else {
            self.process_plain(input, out);
        }
        Ok(())
    }

    /// No per-key alert state: the hot path, unswitched on
    /// [`Model::learns_plain`] so that when the params allow it the loop
    /// calls nothing out of line.
    fn process_plain(&mut self, input: &Input<'_>, out: &mut Scores) {
        if M::learns_plain(&self.params) {
            self.process_plain_as::<true>(input, out);
        } else {
            self.process_plain_as::<false>(input, out);
        }
    }

    /// [`Keyed::process_plain`] for one `PLAIN` (learn with
    /// [`Model::learn_plain`]): each loop in a function of its own, so
    /// that nothing else competes for its registers.
    #[inline(always)]
    fn process_plain_as<const PLAIN: bool>(&mut self, input: &Input<'_>, out: &mut Scores) {
        let Scores {
            forecast,
            lower,
            upper,
            score,
            flags,
            probability: _,
            extras: _,
        } = out;
        let out = OutColumns {
            forecast,
            lower,
            upper,
            score,
            flags,
        };
        let (common, params, alerts) = (&self.common, &self.params, &self.alerts);
        if input.keys.is_empty() {
            if let Some(model) = self.models.first_mut() {
                run_one::<M, PLAIN>(model, input.values, out, common, params, alerts);
            }
        } else {
            run_keyed::<M, PLAIN>(
                &mut self.models,
                input.keys,
                input.values,
                out,
                common,
                params,
                alerts,
            );
        }
    }

    /// Likelihood, runs or cooldowns: every key also carries a [`KeyState`].
    fn process_stateful(&mut self, input: &Input<'_>, out: &mut Scores) {
        let n = input.rows();
        if self.alerts.likelihood.is_some() {
            out.probability.resize(n, f64::NAN);
        }
        let (common, params, alerts) = (self.common, &self.params, &self.alerts);
        for i in 0..n {
            let k = input.keys.get(i).map_or(0, |k| *k as usize);
            step_stateful(
                &mut self.models[k],
                &mut self.states[k],
                input.values[i],
                input.timestamps[i],
                (&common, params, alerts),
                out,
                i,
            );
        }
    }

    /// Check a deserialised state against its params.
    pub fn is_consistent(&self) -> bool {
        let states_ok = if self.alerts.stateful() {
            self.states.len() == self.models.len()
                && self.states.iter().all(|s| s.is_consistent(&self.alerts))
        } else {
            self.states.is_empty()
        };
        self.alerts.is_consistent()
            && states_ok
            && self.models.iter().all(|m| m.is_consistent(&self.params))
    }
}

/// A detector's effective config: `algorithm`, then those of the common
/// keys, the algorithm's params and the alert keys that `takes` accepts.
pub(crate) fn effective_config(
    name: &str,
    common: &Common,
    params: serde_json::Map<String, serde_json::Value>,
    alerts: &Alerts,
    takes: impl Fn(&str) -> bool,
) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert("algorithm".into(), name.into());
    let common_keys: [(&str, serde_json::Value); 3] = [
        ("threshold", common.threshold.into()),
        ("minTrainingSize", common.min_training_size.into()),
        ("direction", common.direction.as_str().into()),
    ];
    for (k, v) in common_keys {
        if takes(k) {
            m.insert(k.into(), v);
        }
    }
    m.extend(params);
    m.extend(alerts.to_json().into_iter().filter(|(k, _)| takes(k)));
    serde_json::Value::Object(m)
}

/// A univariate algorithm takes one value per row.
pub(crate) fn check_univariate(algorithm: &str, width: usize) -> Result<()> {
    if width == 1 {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "algorithm '{algorithm}' is univariate: width must be 1, got {width}; use one value column"
        )))
    }
}

/// Key ids to reset must be keys the detector holds.
pub(crate) fn check_reset(ids: &[u32], held: usize) -> Result<()> {
    match ids.iter().find(|k| **k as usize >= held) {
        Some(bad) => Err(Error::InvalidInput(format!(
            "cannot reset key id {bad}: the detector holds {held} keys (ids 0..{held})"
        ))),
        None => Ok(()),
    }
}

/// The output columns of a batch, for the plain loops.
struct OutColumns<'a> {
    forecast: &'a mut [f64],
    lower: &'a mut [f64],
    upper: &'a mut [f64],
    score: &'a mut [f64],
    flags: &'a mut [u8],
}

impl<'a> OutColumns<'a> {
    /// One [`RowOut`] per row. Written through slices, not pushes: no
    /// per-row length or capacity bookkeeping (which in WASM is a load and
    /// store through linear memory).
    #[inline(always)]
    fn rows(self) -> impl Iterator<Item = RowOut<'a>> {
        self.forecast
            .iter_mut()
            .zip(self.lower.iter_mut())
            .zip(self.upper.iter_mut())
            .zip(self.score.iter_mut())
            .zip(self.flags.iter_mut())
            .map(|((((forecast, lower), upper), score), flags)| RowOut {
                forecast,
                lower,
                upper,
                score,
                flags,
            })
    }

    /// `f(row, input)` for each row and its input, in order, while both
    /// last. The loop's body is unrolled `ROWS_PER_TURN` times: compiled
    /// from WASM, each turn of a loop checks the epoch (the host's call
    /// timeout), and the rarely taken call in that check makes Cranelift
    /// keep the loop's constants on the stack, reloaded each turn.
    #[inline(always)]
    fn each_row<I: Iterator>(self, inputs: I, mut f: impl FnMut(RowOut<'a>, I::Item)) {
        const ROWS_PER_TURN: usize = 4;
        let mut rows = self.rows().zip(inputs);
        loop {
            for _ in 0..ROWS_PER_TURN {
                match rows.next() {
                    Some((row, input)) => f(row, input),
                    None => return,
                }
            }
        }
    }
}

/// The plain loop over one model (no key column).
#[inline(never)]
fn run_one<M: Model, const PLAIN: bool>(
    model: &mut M,
    values: &[f64],
    out: OutColumns<'_>,
    common: &Common,
    params: &M::Params,
    alerts: &Alerts,
) {
    out.each_row(values.iter(), |row, &x| {
        step::<M, PLAIN>(model, x, common, params, alerts, row);
    });
}

/// The plain loop over a key column.
#[inline(never)]
fn run_keyed<M: Model, const PLAIN: bool>(
    models: &mut [M],
    keys: &[u32],
    values: &[f64],
    out: OutColumns<'_>,
    common: &Common,
    params: &M::Params,
    alerts: &Alerts,
) {
    out.each_row(keys.iter().zip(values), |row, (&k, &x)| {
        step::<M, PLAIN>(&mut models[k as usize], x, common, params, alerts, row);
    });
}

/// One row's output slots.
struct RowOut<'a> {
    forecast: &'a mut f64,
    lower: &'a mut f64,
    upper: &'a mut f64,
    score: &'a mut f64,
    flags: &'a mut u8,
}

impl RowOut<'_> {
    #[inline(always)]
    fn missing(self, flag: u8) {
        *self.forecast = f64::NAN;
        *self.lower = f64::NAN;
        *self.upper = f64::NAN;
        *self.score = f64::NAN;
        *self.flags = flag;
    }
}

/// Whether `z` lies outside `±t` on a side `direction` allows.
#[inline(always)]
fn outside(z: f64, t: f64, direction: Direction) -> bool {
    match direction {
        Direction::Both => z.abs() > t,
        Direction::Up => z > t,
        Direction::Down => z < -t,
    }
}

#[inline(always)]
fn step<M: Model, const PLAIN: bool>(
    model: &mut M,
    x: f64,
    common: &Common,
    params: &M::Params,
    alerts: &Alerts,
    out: RowOut<'_>,
) {
    let learn = |model: &mut M| {
        if PLAIN {
            model.learn_plain(x, params);
        } else {
            model.learn(x, params);
        }
    };
    if !x.is_finite() {
        out.missing(flags::SKIPPED);
        return;
    }
    if model.seen() < common.min_training_size {
        learn(model);
        out.missing(flags::WARMUP);
        return;
    }
    let b = model.baseline(params);
    let scale = M::floored_scale(&b);
    let z = (x - b.center) / scale;
    let t = common.threshold;
    let band = t * scale;
    *out.forecast = b.center;
    *out.lower = b.center - band;
    *out.upper = b.center + band;
    *out.score = z;
    let mut f = if z >= 0.0 { flags::UP } else { 0 };
    if outside(z, t, common.direction) && alerts.deviates(x, b.center) {
        f |= flags::ANOMALY | alerts.grade(z.abs() / t).bits();
    }
    *out.flags = f;
    learn(model);
}

/// [`step`] with a key's alert state: the likelihood layer, runs and
/// cooldowns (see [`crate::alert`]). Writes row `i` of `out`.
#[inline]
fn step_stateful<M: Model>(
    model: &mut M,
    state: &mut KeyState,
    x: f64,
    ts: i64,
    (common, params, alerts): (&Common, &M::Params, &Alerts),
    out: &mut Scores,
    i: usize,
) {
    let missing = |out: &mut Scores, flag: u8| {
        out.forecast[i] = f64::NAN;
        out.lower[i] = f64::NAN;
        out.upper[i] = f64::NAN;
        out.score[i] = f64::NAN;
        out.flags[i] = flag;
        if let Some(p) = out.probability.get_mut(i) {
            *p = f64::NAN;
        }
    };
    if !x.is_finite() {
        missing(out, flags::SKIPPED);
        return;
    }
    if model.seen() < common.min_training_size {
        model.learn(x, params);
        missing(out, flags::WARMUP);
        return;
    }
    let b = model.baseline(params);
    let scale = M::floored_scale(&b);
    let z = (x - b.center) / scale;
    let t = common.threshold;
    let band = t * scale;
    out.forecast[i] = b.center;
    out.lower[i] = b.center - band;
    out.upper[i] = b.center + band;
    out.score[i] = z;
    let (candidate, ratio) = match &alerts.likelihood {
        None => (outside(z, t, common.direction), z.abs() / t),
        Some(lp) => {
            // The deviation in the allowed direction(s).
            let d = match common.direction {
                Direction::Both => z.abs(),
                Direction::Up => z,
                Direction::Down => -z,
            };
            let l = state.likelihood.update(lp.magnitude(d), lp);
            if let Some(p) = out.probability.get_mut(i) {
                *p = l.probability;
            }
            let side = match common.direction {
                Direction::Both => true,
                Direction::Up => z > 0.0,
                Direction::Down => z < 0.0,
            };
            (
                side && l.probability >= lp.threshold,
                l.z.map_or(0.0, |lz| lz / lp.z_threshold),
            )
        }
    };
    let candidate = candidate && alerts.deviates(x, b.center);
    let flagged = state.admit(candidate, ts, alerts);
    let mut f = if z >= 0.0 { flags::UP } else { 0 };
    if flagged {
        f |= flags::ANOMALY | alerts.grade(ratio).bits();
    }
    out.flags[i] = f;
    model.learn(x, params);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Baseline;

    /// The compare-and-select floor is the default floor, bit for bit, on
    /// every pair of a grid that covers signs, zeros, subnormals, the floor's
    /// corner (|center| * 1.5e-8 = 1e-12), huge values, infinities and NaN.
    #[test]
    fn floored_scale_select_is_the_default_floor() {
        let values = [
            f64::NAN,
            f64::NEG_INFINITY,
            -1e300,
            -1.0,
            -1e-12 / 1.5e-8,
            -0.0,
            0.0,
            f64::MIN_POSITIVE,
            5e-324,
            1e-13,
            1e-12,
            2e-12,
            1e-12 / 1.5e-8,
            1.0,
            1e300,
            f64::INFINITY,
        ];
        for &center in &values {
            for &scale in &values {
                let b = Baseline { center, scale };
                let want = b.scale.max(scale_floor(b.center));
                assert_eq!(
                    floored_scale_select(&b).to_bits(),
                    want.to_bits(),
                    "center {center}, scale {scale}"
                );
            }
        }
    }
}
