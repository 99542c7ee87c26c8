//! `hst`: Half-Space Trees (Tan, Ting and Liu 2011, "Fast Anomaly Detection
//! for Streaming Data"), scored as river's `anomaly.HalfSpaceTrees`.
//!
//! Each of `numberOfTrees` trees is a complete binary tree of `height`
//! levels over the row's columns. A node splits one column (drawn with
//! probability proportional to the width of its remaining range) at a
//! point drawn uniformly from the middle 70% of that range (river's padding
//! 0.15); its children halve the range on that side. Every node keeps two
//! masses: `reference` (rows of the last complete window) and `latest`
//! (rows of the window being filled). Every row:
//!
//! 1. is scored against the reference masses: walking root to leaf, it adds
//!    `reference * 2^depth` at every node, stopping early below a node whose
//!    reference mass is under a tenth of the window; the sum over trees,
//!    divided by its largest possible value, `trees * window *
//!    (2^(height+1) - 1)`, is the mass score, and `score = 1 - mass score`
//!    (in [0, 1], high = anomalous: a row in an emptier region than usual);
//! 2. then adds 1 to the latest mass of every node on its path;
//! 3. every `windowSize` rows the latest masses become the reference and
//!    restart from 0.
//!
//! The ranges: river needs columns scaled into `limits` (default [0, 1]);
//! here `limits` (one `[low, high]` per column) is optional. Without it the
//! first `minTrainingSize` rows of a key (default `windowSize`) are held,
//! each column's min..max is taken from them (a constant column: widened
//! to its size, or 1), each tree gets its own work range per column as in
//! the paper (a point `s` uniform in min..max, then `s -/+ 2 * max(s - min,
//! max - s)`: two to four times the observed span, so that values well
//! outside it land in empty regions), the trees are built, and the held
//! rows become the first reference window. Rows beyond the ranges fall
//! into the edge leaves. With `limits` set, `minTrainingSize =
//! windowSize` and `seed` fixed, each row's score equals river's for the
//! same trees (tests/reference/hst: the trees and scores river gives).
//!
//! Output: `score` as above (NaN unless `ok`); an anomaly when `score >=
//! threshold`; `forecast_value` the reference window's mean for one column
//! (NaN for several); `direction` up when the row lies above the reference
//! mean (several columns: the sum of their deviations scaled by their
//! ranges). `warmup` until the first window is complete; a row with a NaN
//! or infinite value is `skipped` and not learned. For the likelihood layer
//! the deviation is `-ln(1 - score)`, the row's mass fraction in nats.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{Common, ParamSpec, Reader, common_specs};
use crate::error::{Error, Result};
use crate::flags::Status;
use crate::rcf::Rng;
use crate::row::{RowModel, RowStep};

/// The `algorithm` name.
pub const NAME: &str = "hst";
/// One line for `describe()`.
pub const DESCRIPTION: &str = "Half-Space Trees (Tan et al. 2011, river's HalfSpaceTrees): random complete trees over the columns' ranges; score = 1 - the row's reference-window mass profile, normalised to [0, 1].";
/// Default flag level of the score.
pub const THRESHOLD_DEFAULT: f64 = 0.99;
/// Largest `numberOfTrees * 2^(height + 1)`: the node count one key may hold.
pub const MAX_NODES: u64 = 1 << 22;
/// river's split padding: splits fall in the middle `1 - 2 * PADDING` of a range.
const PADDING: f64 = 0.15;

/// Validated `hst` parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HstParams {
    /// Trees in the ensemble.
    pub trees: usize,
    /// Levels below the root (leaves at depth `height`).
    pub height: u32,
    /// Rows per mass window.
    pub window_size: u64,
    /// Rows of the first (reference) window, and warm-up.
    pub min_training_size: u64,
    /// PRNG seed.
    pub seed: u64,
    /// Per-column `[low, high]`, when given.
    pub limits: Option<Vec<(f64, f64)>>,
}

impl HstParams {
    /// Every key, common ones first.
    pub fn specs() -> Vec<ParamSpec> {
        let mut s = common_specs(THRESHOLD_DEFAULT, 250);
        s[0].description =
            "Flag a row when its score (1 - mass score, in [0, 1]) is at least this.";
        s[1].description = "Rows of the first reference window (warm-up): by default windowSize. Without limits, the columns' ranges are learned from these rows.";
        s.push(
            ParamSpec::integer(
                "numberOfTrees",
                Some(10),
                "Half-space trees (river: n_trees).",
            )
            .min(1.0)
            .max(1000.0),
        );
        s.push(
            ParamSpec::integer("height", Some(8), "Depth of every tree (river: height).")
                .min(1.0)
                .max(20.0),
        );
        s.push(
            ParamSpec::integer(
                "windowSize",
                Some(250),
                "Rows per mass window: the reference masses are those of the last complete window (river: window_size).",
            )
            .min(10.0)
            .max(1e8),
        );
        s.push(ParamSpec::integer(
            "seed",
            Some(42),
            "Seed of the trees' random splits (same seed, same scores).",
        ));
        s.push(ParamSpec::list(
            "limits",
            "One [low, high] range per value column, as river's limits; by default learned from the first minTrainingSize rows.",
        ));
        s
    }

    /// Read and validate the keys; `minTrainingSize` defaults to `windowSize`.
    pub fn params(reader: &Reader<'_>, common: &mut Common) -> Result<HstParams> {
        let trees = reader.integer_or_default("numberOfTrees")?;
        let height = reader.integer_or_default("height")?;
        let nodes = trees.saturating_mul(1u64 << (height + 1));
        if nodes > MAX_NODES {
            return Err(Error::InvalidConfig(format!(
                "'numberOfTrees' ({trees}) x 2^('height' + 1) ({}) is {nodes} nodes per key for algorithm '{NAME}'; accepted: at most {MAX_NODES} (fewer trees or a lower height)",
                1u64 << (height + 1)
            )));
        }
        let window_size = reader.integer_or_default("windowSize")?;
        if !reader.is_set("minTrainingSize") {
            common.min_training_size = window_size;
        }
        let limits = match reader.raw("limits") {
            None => None,
            Some(v) => Some(parse_limits(v)?),
        };
        Ok(HstParams {
            trees: trees as usize,
            height: height as u32,
            window_size,
            min_training_size: common.min_training_size,
            seed: reader.integer_or_default("seed")?,
            limits,
        })
    }

    /// The params as JSON.
    pub fn params_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("numberOfTrees".into(), self.trees.into());
        m.insert("height".into(), self.height.into());
        m.insert("windowSize".into(), self.window_size.into());
        m.insert("seed".into(), self.seed.into());
        m.insert(
            "limits".into(),
            self.limits.as_ref().map_or(Value::Null, |l| {
                l.iter()
                    .map(|(lo, hi)| Value::from(vec![*lo, *hi]))
                    .collect()
            }),
        );
        m
    }

    fn nodes(&self) -> usize {
        (1usize << (self.height + 1)) - 1
    }

    fn branches(&self) -> usize {
        (1usize << self.height) - 1
    }
}

fn parse_limits(v: &Value) -> Result<Vec<(f64, f64)>> {
    let bad = || {
        Error::InvalidConfig(format!(
            "'limits' = {v} is not valid for algorithm '{NAME}'; accepted: one [low, high] pair of finite numbers with low < high per value column, e.g. [[0, 100]] or [[0, 1], [-5, 5]]"
        ))
    };
    let list = v
        .as_array()
        .filter(|a| !a.is_empty() && a.len() <= 30)
        .ok_or_else(bad)?;
    list.iter()
        .map(|pair| {
            let p = pair.as_array().filter(|p| p.len() == 2).ok_or_else(bad)?;
            let (lo, hi) = (
                p[0].as_f64().ok_or_else(bad)?,
                p[1].as_f64().ok_or_else(bad)?,
            );
            if lo.is_finite() && hi.is_finite() && lo < hi {
                Ok((lo, hi))
            } else {
                Err(bad())
            }
        })
        .collect()
}

/// One key's Half-Space Trees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hst {
    width: usize,
    rng: Rng,
    /// Split column of every branch, `trees * branches` (heap order per tree).
    feature: Vec<u8>,
    /// Split point of every branch; left when `value < split`.
    split: Vec<f64>,
    /// Reference mass of every node, `trees * nodes`.
    reference: Vec<u32>,
    /// Latest-window mass of every node.
    latest: Vec<u32>,
    /// Rows in the reference window (0 before the first is complete).
    reference_rows: u64,
    /// Rows in the latest window.
    latest_rows: u64,
    /// Rows held until the ranges are learned (row-major), then empty.
    held: Vec<f64>,
    /// Per-column sums of the latest window, and means of the reference one.
    latest_sum: Vec<f64>,
    reference_mean: Vec<f64>,
    /// Per-column range widths (for the multi-column direction).
    span: Vec<f64>,
}

impl Hst {
    /// A fresh model for rows of `width` values.
    pub fn new(p: &HstParams, width: usize) -> Result<Hst> {
        if let Some(l) = &p.limits
            && l.len() != width
        {
            return Err(Error::InvalidInput(format!(
                "algorithm '{NAME}' has 'limits' for {} columns, but rows have {width} values; give one [low, high] per value column",
                l.len()
            )));
        }
        let mut h = Hst {
            width,
            rng: Rng::new(p.seed),
            feature: Vec::new(),
            split: Vec::new(),
            reference: Vec::new(),
            latest: Vec::new(),
            reference_rows: 0,
            latest_rows: 0,
            held: Vec::new(),
            latest_sum: vec![0.0; width],
            reference_mean: vec![f64::NAN; width],
            span: Vec::new(),
        };
        if let Some(l) = &p.limits {
            h.build(p, l.clone(), false);
        }
        Ok(h)
    }

    /// A model over given trees (heap order per tree: the split column and
    /// point of every branch), for checking scores against another
    /// implementation's trees (`tests/hst.rs` against river's).
    pub fn with_trees(
        p: &HstParams,
        width: usize,
        features: &[Vec<u8>],
        splits: &[Vec<f64>],
    ) -> Result<Hst> {
        let mut h = Hst::new(p, width)?;
        let limits = p
            .limits
            .clone()
            .ok_or_else(|| Error::InvalidConfig("given trees need 'limits'".into()))?;
        h.build(p, limits, false);
        let b = p.branches();
        if features.len() != p.trees
            || splits.len() != p.trees
            || features.iter().any(|f| f.len() != b)
            || splits.iter().any(|s| s.len() != b)
            || features.iter().flatten().any(|f| *f as usize >= width)
        {
            return Err(Error::InvalidInput(format!(
                "given trees must be {} trees of {b} branches over {width} columns",
                p.trees
            )));
        }
        h.feature = features.concat();
        h.split = splits.concat();
        Ok(h)
    }

    /// The split column and point of every branch, `trees * (2^height - 1)`
    /// each, heap order per tree (empty before the trees are built).
    pub fn trees(&self) -> (&[u8], &[f64]) {
        (&self.feature, &self.split)
    }

    /// Build the trees over `limits` (river's `make_padded_tree`, depth
    /// first), or, with `observed` column min/max instead, over a work
    /// range per tree and column drawn as in Tan et al. 2011: a point `s`
    /// uniform in `[min, max]`, and `s -/+ 2 * max(s - min, max - s)`.
    fn build(&mut self, p: &HstParams, limits: Vec<(f64, f64)>, observed: bool) {
        let (b, n) = (p.branches(), p.nodes());
        self.span = limits.iter().map(|(lo, hi)| hi - lo).collect();
        self.feature = vec![0; p.trees * b];
        self.split = vec![0.0; p.trees * b];
        self.reference = vec![0; p.trees * n];
        self.latest = vec![0; p.trees * n];
        for t in 0..p.trees {
            let mut ranges = if observed {
                limits
                    .iter()
                    .map(|&(lo, hi)| {
                        let s = lo + (hi - lo) * self.rng.unit();
                        let r = 2.0 * (s - lo).max(hi - s);
                        (s - r, s + r)
                    })
                    .collect()
            } else {
                limits.clone()
            };
            self.grow(t * b, 0, p.height, &mut ranges);
        }
    }

    fn grow(&mut self, base: usize, node: usize, levels: u32, ranges: &mut [(f64, f64)]) {
        if levels == 0 {
            return;
        }
        let total: f64 = ranges.iter().map(|(lo, hi)| hi - lo).sum();
        let mut target = self.rng.unit() * total;
        let mut on = ranges.len() - 1;
        for (c, (lo, hi)) in ranges.iter().enumerate() {
            target -= hi - lo;
            if target < 0.0 {
                on = c;
                break;
            }
        }
        let (a, b) = ranges[on];
        let (from, to) = (a + PADDING * (b - a), b - PADDING * (b - a));
        let at = from + (to - from) * self.rng.unit();
        self.feature[base + node] = on as u8;
        self.split[base + node] = at;
        ranges[on] = (a, at);
        self.grow(base, 2 * node + 1, levels - 1, ranges);
        ranges[on] = (at, b);
        self.grow(base, 2 * node + 2, levels - 1, ranges);
        ranges[on] = (a, b);
    }

    /// The mass score sum of `row` over every tree (before normalising).
    fn mass(&self, row: &[f64], p: &HstParams) -> f64 {
        let (b, n) = (p.branches(), p.nodes());
        let size_limit = 0.1 * self.reference_rows as f64;
        let mut score = 0.0;
        for t in 0..p.trees {
            let (fb, nb) = (t * b, t * n);
            let mut node = 0;
            let mut pow = 1.0;
            let mut stopped = false;
            for _ in 0..p.height {
                let r = f64::from(self.reference[nb + node]);
                score += r * pow;
                if r < size_limit {
                    stopped = true;
                    break;
                }
                let f = self.feature[fb + node] as usize;
                node = if row[f] < self.split[fb + node] {
                    2 * node + 1
                } else {
                    2 * node + 2
                };
                pow *= 2.0;
            }
            if !stopped {
                score += f64::from(self.reference[nb + node]) * pow;
            }
        }
        score
    }

    /// Add `row` to the latest masses, and pivot at the end of a window.
    fn learn(&mut self, row: &[f64], p: &HstParams) {
        let (b, n) = (p.branches(), p.nodes());
        for t in 0..p.trees {
            let (fb, nb) = (t * b, t * n);
            let mut node = 0;
            for _ in 0..p.height {
                self.latest[nb + node] += 1;
                let f = self.feature[fb + node] as usize;
                node = if row[f] < self.split[fb + node] {
                    2 * node + 1
                } else {
                    2 * node + 2
                };
            }
            self.latest[nb + node] += 1;
        }
        for (s, x) in self.latest_sum.iter_mut().zip(row) {
            *s += x;
        }
        self.latest_rows += 1;
        let window = if self.reference_rows == 0 {
            p.min_training_size
        } else {
            p.window_size
        };
        if self.latest_rows >= window {
            std::mem::swap(&mut self.reference, &mut self.latest);
            self.latest.fill(0);
            self.reference_rows = self.latest_rows;
            for (m, s) in self.reference_mean.iter_mut().zip(&mut self.latest_sum) {
                *m = *s / self.latest_rows as f64;
                *s = 0.0;
            }
            self.latest_rows = 0;
        }
    }

    /// Learn the ranges from the held rows, build the trees and learn the rows.
    fn build_from_held(&mut self, p: &HstParams) {
        let w = self.width;
        let limits: Vec<(f64, f64)> = (0..w)
            .map(|c| {
                let col = self.held.iter().skip(c).step_by(w);
                let (lo, hi) = col.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                    (lo.min(x), hi.max(x))
                });
                if hi > lo {
                    (lo, hi)
                } else {
                    // A constant column: a span of its size (or 1) around it.
                    let pad = 0.5 * lo.abs().max(1.0);
                    (lo - pad, hi + pad)
                }
            })
            .collect();
        self.build(p, limits, true);
        let held = std::mem::take(&mut self.held);
        for row in held.chunks_exact(w) {
            self.learn(row, p);
        }
    }

    /// Score `row`, then learn it.
    pub fn update(&mut self, row: &[f64], p: &HstParams) -> (Status, f64) {
        if row.len() != self.width || row.iter().any(|x| !x.is_finite()) {
            return (Status::Skipped, f64::NAN);
        }
        if self.feature.is_empty() {
            self.held.extend_from_slice(row);
            if (self.held.len() / self.width) as u64 >= p.min_training_size {
                self.build_from_held(p);
            }
            return (Status::Warmup, f64::NAN);
        }
        if self.reference_rows == 0 {
            self.learn(row, p);
            return (Status::Warmup, f64::NAN);
        }
        let max = p.trees as f64 * self.reference_rows as f64 * p.nodes() as f64;
        let score = 1.0 - self.mass(row, p) / max;
        self.learn(row, p);
        (Status::Ok, score)
    }

    /// Whether a deserialised state fits `p`.
    pub fn is_consistent(&self, p: &HstParams) -> bool {
        let built = !self.feature.is_empty();
        let sizes = if built {
            self.feature.len() == p.trees * p.branches()
                && self.split.len() == self.feature.len()
                && self.reference.len() == p.trees * p.nodes()
                && self.latest.len() == self.reference.len()
                && self.span.len() == self.width
                && self.held.is_empty()
        } else {
            self.split.is_empty()
                && self.reference.is_empty()
                && self.latest.is_empty()
                && self.held.len().is_multiple_of(self.width.max(1))
                && ((self.held.len() / self.width.max(1)) as u64) < p.min_training_size
        };
        let window = p.window_size.max(p.min_training_size);
        let roots = !built
            || (0..p.trees).all(|t| {
                u64::from(self.reference[t * p.nodes()]) == self.reference_rows
                    && u64::from(self.latest[t * p.nodes()]) == self.latest_rows
            });
        sizes
            && roots
            && self.reference_rows <= window
            && self.latest_rows < window
            && self.width >= 1
            && self.width <= 30
            && self.feature.iter().all(|f| (*f as usize) < self.width)
            && self.latest_sum.len() == self.width
            && self.reference_mean.len() == self.width
            && self.rng.is_valid()
            && p.limits.as_ref().is_none_or(|l| l.len() == self.width)
    }
}

impl RowModel for Hst {
    type Params = HstParams;
    const NAME: &'static str = NAME;
    const DESCRIPTION: &'static str = DESCRIPTION;
    const MULTIVARIATE: bool = true;

    fn specs() -> Vec<ParamSpec> {
        HstParams::specs()
    }
    fn params(reader: &Reader<'_>, common: &mut Common) -> Result<HstParams> {
        HstParams::params(reader, common)
    }
    fn params_json(p: &HstParams) -> Map<String, Value> {
        p.params_json()
    }
    fn extras(_: &HstParams, _: usize) -> Vec<(&'static str, usize)> {
        Vec::new()
    }
    fn new(p: &HstParams, _: &Common, width: usize) -> Result<Self> {
        Hst::new(p, width)
    }
    fn width(&self) -> usize {
        self.width
    }
    fn step(
        &mut self,
        _ts: i64,
        row: &[f64],
        p: &HstParams,
        common: &Common,
        _: &mut [f64],
    ) -> RowStep {
        let (status, score) = self.update(row, p);
        if status != Status::Ok {
            return RowStep::unscored(status);
        }
        let (forecast, up) = if self.width == 1 {
            (self.reference_mean[0], row[0] > self.reference_mean[0])
        } else {
            (
                f64::NAN,
                crate::rows::above_means(row, &self.reference_mean, &self.span),
            )
        };
        let side = common.direction.allows(up);
        RowStep {
            status,
            forecast,
            lower: f64::NAN,
            upper: f64::NAN,
            score,
            anomaly: side && score >= common.threshold,
            up,
            ratio: score / common.threshold,
        }
    }
    fn is_consistent(&self, p: &HstParams) -> bool {
        Hst::is_consistent(self, p)
    }
    /// `-ln(1 - score)`: the row's mass fraction, in nats (0 in the densest
    /// region, growing as the region empties; infinite at an empty one).
    fn deviation(step: &RowStep, _: &HstParams) -> f64 {
        crate::rows::unit_score_deviation(step.score)
    }
}
