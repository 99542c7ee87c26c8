//! `robust`: Confluent's `ML_DETECT_ANOMALIES_ROBUST(ROW(f1, ..., fn), ts,
//! JSON_OBJECT('window' VALUE 60, 'threshold' VALUE 3.0, 'imputeOutliers'
//! VALUE TRUE))`: rolling median / median absolute deviation per column,
//! univariate (`width` 1) or multivariate.
//!
//! # The algorithm, per row `(x_1 .. x_w)` (scored before it is learned)
//! * Each column keeps its own rolling window of its last `window` learned
//!   values ([`crate::mad::RollingWindow`], the structure behind `mad`).
//! * Robust z of column `j`: `z_j = (x_j - median_j) / scale_j` with
//!   `scale_j = 1.4826 * MAD_j`, or when the MAD is 0, `sqrt(pi/2) *` the
//!   mean absolute deviation from the median, floored by
//!   [`crate::engine::scale_floor`]: exactly `mad`'s rules, so a width-1
//!   `robust` scores like `mad` with the same window and warm-up.
//! * The row's score is the signed `z_j` of the most extreme column on the
//!   sides `direction` allows: the largest `|z_j|` (`both`), the largest
//!   `z_j` (`up`) or the smallest (`down`); ties go to the first column.
//!   The row is an anomaly when that score lies beyond `threshold`
//!   (default 3.0) on an allowed side. `forecast`, `lower` and `upper` are
//!   that column's median and `median -/+ threshold * scale`; `up` is
//!   `score >= 0`.
//! * Every column's `z_j` is also written out (`per_column_z`), for
//!   per-feature attribution; NaN for a column that was not scored.
//! * Learning: every finite `x_j` joins its column's window. With
//!   `imputeOutliers` (default false), a column whose own `z_j` lies beyond
//!   `threshold` on an allowed side enters its window as the window's
//!   median instead of `x_j`, so a burst of outliers does not drag the
//!   baseline. We impute the median rather than the band edge because the
//!   median and the MAD only see ranks: a value at the band edge moves them
//!   exactly as much as the raw outlier would. The price (as with any
//!   imputation): a lasting level shift keeps being flagged until the
//!   columns' windows are refilled by in-band values, which for a shift of
//!   more than `threshold` scales never happens; use `imputeOutliers` for
//!   bursts, not for series that move to new levels.
//!
//! # Missing values and warm-up
//! * A NaN or infinite value skips its column for that row (not scored, not
//!   learned, `z_j` NaN); the other columns are scored and learned as
//!   usual. A row whose values are all non-finite is `skipped` and changes
//!   nothing.
//! * Each column is scored once it has learned `minTrainingSize` values
//!   (default `min(30, window)`, at most `window`). A row is `ok` when at
//!   least one of its columns is scored, else `warmup`.
//! * The width is fixed by the first row of a key that has a finite value;
//!   a row of a different width is `skipped` (the host checks widths per batch; this only guards
//!   against misuse).
//!
//! # Cost
//! Per column and row: a binary search and a shift of the sorted window, and
//! an O(`window`) MAD; about 0.5 us per column at `window` 60 (native,
//! release).
//!
//! # API
//! ```
//! use wasmad_core::config::{Reader, parse_object};
//! use wasmad_core::robust::Robust;
//! let obj = parse_object(r#"{"window":20,"minTrainingSize":10,"imputeOutliers":true}"#).unwrap();
//! let reader = Reader::new(Robust::NAME, &obj, Robust::specs()).unwrap();
//! let (_common, params) = Robust::read(&reader).unwrap();
//! let mut model = Robust::new(&params);          // one per key
//! let mut z = [0.0; 2];
//! for i in 0..20 {
//!     model.update(&[(i % 3) as f64, 50.0 + (i % 4) as f64], &params, &mut z);
//! }
//! let step = model.update(&[1.0, 90.0], &params, &mut z);
//! assert!(step.anomaly && z[1] > 3.0 && z[0].abs() < 3.0);
//! ```
//! Keys: [`Robust::specs`] (the common `threshold`, `minTrainingSize`,
//! `direction`, plus `window` and `imputeOutliers`); `Reader::common` works,
//! then [`Robust::params`] (or both at once: [`Robust::read`]). Effective
//! config: [`Robust::params_json`]. State: `Serialize + Deserialize +
//! Clone`; guard restores with [`Robust::is_consistent`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{Common, Direction, ParamSpec, Reader, common_specs};
use crate::engine::scale_floor;
use crate::error::{Error, Result};
use crate::flags::Status;
use crate::mad::RollingWindow;
pub use crate::step::Step;

/// Default `window` (rows).
pub const WINDOW_DEFAULT: u64 = 60;
/// Default `minTrainingSize` (capped at `window`).
pub const MIN_TRAINING_DEFAULT: u64 = 30;

/// Parameters of [`Robust`] (the common keys are copied in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RobustParams {
    /// Rolling window per column, in learned values.
    pub window: u64,
    /// Impute flagged values as the median when learning them.
    pub impute_outliers: bool,
    /// Robust z threshold.
    pub threshold: f64,
    /// Values a column learns before it is scored.
    pub min_training_size: u64,
    /// Which side is flagged.
    pub direction: Direction,
}

/// One column's window and its count of learned values.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
struct Column {
    seen: u64,
    window: RollingWindow,
}

/// One key's state: one rolling window per column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Robust {
    seen: u64,
    columns: Vec<Column>,
}

#[inline(always)]
fn outside(z: f64, t: f64, direction: Direction) -> bool {
    match direction {
        Direction::Both => z.abs() > t,
        Direction::Up => z > t,
        Direction::Down => z < -t,
    }
}

/// Whether `z` is more extreme than `best` on the sides `direction` allows.
#[inline(always)]
fn more_extreme(z: f64, best: f64, direction: Direction) -> bool {
    match direction {
        Direction::Both => z.abs() > best.abs(),
        Direction::Up => z > best,
        Direction::Down => z < best,
    }
}

impl Robust {
    /// The `algorithm` name in configs.
    pub const NAME: &'static str = "robust";
    /// One line for `describe()`.
    pub const DESCRIPTION: &'static str = "Confluent ML_DETECT_ANOMALIES_ROBUST: rolling median and MAD per column; score = the most extreme column's robust z, optional imputation of outliers.";

    /// Every config key, common ones included, with its default.
    pub fn specs() -> Vec<ParamSpec> {
        let mut s = common_specs(3.0, MIN_TRAINING_DEFAULT);
        s.push(
            ParamSpec::integer(
                "window",
                Some(WINDOW_DEFAULT),
                "Rolling window per column, in rows. Default minTrainingSize: min(30, window).",
            )
            .min(3.0)
            .max(1e6),
        );
        s.push(ParamSpec::boolean(
            "imputeOutliers",
            false,
            "Learn a flagged column value as its window's median instead of the value, so bursts of outliers do not move the baseline.",
        ));
        s
    }

    /// Read `window` and `imputeOutliers`, default `common.min_training_size`
    /// to `min(30, window)` (when not set) and copy the common keys in.
    pub fn params(reader: &Reader<'_>, common: &mut Common) -> Result<RobustParams> {
        let window = reader.integer_or_default("window")?;
        if !reader.is_set("minTrainingSize") {
            common.min_training_size = common.min_training_size.min(window);
        }
        if common.min_training_size > window {
            return Err(Error::InvalidConfig(format!(
                "minTrainingSize ({}) must not exceed window ({window}) for algorithm 'robust'",
                common.min_training_size
            )));
        }
        Ok(RobustParams {
            window,
            impute_outliers: reader.boolean("imputeOutliers")?,
            threshold: common.threshold,
            min_training_size: common.min_training_size,
            direction: common.direction,
        })
    }

    /// `Reader::common` then [`Robust::params`].
    pub fn read(reader: &Reader<'_>) -> Result<(Common, RobustParams)> {
        let mut common = reader.common()?;
        let p = Robust::params(reader, &mut common)?;
        Ok((common, p))
    }

    /// The algorithm's own effective keys (`window`, `imputeOutliers`; the
    /// common ones come from [`Common`]).
    pub fn params_json(p: &RobustParams) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("window".into(), p.window.into());
        m.insert("imputeOutliers".into(), p.impute_outliers.into());
        m
    }

    /// A fresh key; its width is fixed by its first row with a finite value.
    pub fn new(_: &RobustParams) -> Self {
        Robust {
            seen: 0,
            columns: Vec::new(),
        }
    }

    /// Rows learned (rows with at least one finite value).
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Columns (0 before the first row).
    pub fn width(&self) -> usize {
        self.columns.len()
    }

    /// The median of column `j`'s window (NaN when empty or out of range).
    pub fn median(&self, j: usize) -> f64 {
        self.columns.get(j).map_or(f64::NAN, |c| c.window.median())
    }

    /// Score then learn one row; writes each column's robust z into
    /// `per_column_z` (as many as both lengths allow; NaN when not scored).
    pub fn update(&mut self, row: &[f64], p: &RobustParams, per_column_z: &mut [f64]) -> Step {
        for z in per_column_z.iter_mut() {
            *z = f64::NAN;
        }
        if !row.iter().any(|v| v.is_finite()) {
            return Step::missing(Status::Skipped);
        }
        if self.columns.is_empty() {
            self.columns.resize_with(row.len(), Column::default);
        }
        if row.len() != self.columns.len() {
            return Step::missing(Status::Skipped);
        }
        let t = p.threshold;
        // The most extreme scored column: (index, z, center, scale).
        let mut best: Option<(usize, f64, f64, f64)> = None;
        for (j, (col, &x)) in self.columns.iter_mut().zip(row).enumerate() {
            if !x.is_finite() {
                continue;
            }
            let mut learned = x;
            if col.seen >= p.min_training_size {
                let b = col.window.baseline();
                let scale = b.scale.max(scale_floor(b.center));
                let z = (x - b.center) / scale;
                if let Some(slot) = per_column_z.get_mut(j) {
                    *slot = z;
                }
                if best.is_none_or(|(_, bz, _, _)| more_extreme(z, bz, p.direction)) {
                    best = Some((j, z, b.center, scale));
                }
                // (A median of huge values can overflow; then learn x.)
                if p.impute_outliers && outside(z, t, p.direction) && b.center.is_finite() {
                    learned = b.center;
                }
            }
            col.window.push(learned, p.window);
            col.seen = col.seen.saturating_add(1);
        }
        self.seen = self.seen.saturating_add(1);
        match best {
            None => Step::missing(Status::Warmup),
            Some((_, z, center, scale)) => Step {
                status: Status::Ok,
                score: z,
                anomaly: outside(z, t, p.direction),
                up: z >= 0.0,
                forecast: center,
                lower: center - t * scale,
                upper: center + t * scale,
            },
        }
    }

    /// Whether a deserialised state fits `params`.
    pub fn is_consistent(&self, p: &RobustParams) -> bool {
        self.columns.iter().all(|c| {
            c.window.is_consistent(p.window)
                && c.window.len() as u64 == c.seen.min(p.window)
                && c.seen <= self.seen
        })
    }
}
