//! `iforest`: Isolation Forest (Liu, Ting and Zhou 2008) over a sliding
//! window of rows, retrained on a cadence; scored as scikit-learn's
//! `IsolationForest.score_samples` (negated: high = anomalous).
//!
//! Per key, the last `windowSize` finite rows are kept. Once
//! `minTrainingSize` rows are in (default `subSampleSize`), and then every
//! `refreshInterval` rows, the forest is rebuilt from the window: each of
//! `numberOfTrees` trees draws `psi = min(subSampleSize, rows in window)`
//! rows without replacement and splits them recursively as scikit-learn's
//! extra trees do (`max_features = 1`): a column drawn at random among those
//! not constant in the node, a split uniform between the node's min and max
//! of that column (rows `<=` it go left), until a node holds one row, all
//! its columns are constant, or it is `ceil(log2 psi)` deep.
//!
//! A row is scored against the current forest *before* it enters the
//! window: `h(x)` is the depth of the leaf it reaches plus `c(n)` for the
//! `n` training rows in that leaf (`c(1) = 0`, `c(2) = 1`, `c(n) = 2 (ln(n -
//! 1) + 0.5772156649) - 2 (n - 1) / n`, the average path of an unsuccessful
//! search in a binary search tree), and `score = 2^(-mean h(x) / c(psi))`,
//! in (0, 1]: about 0.5 or below for ordinary rows, towards 1 for rows
//! isolated in few splits. With the same trees the score equals
//! scikit-learn's `-score_samples` (`tests/reference/iforest`).
//!
//! Output: no forecast or band; `direction` up when the row lies above the
//! training window's mean (several columns: the sum of their deviations
//! scaled by their ranges); anomaly when `score >= threshold`. `warmup`
//! until the first forest; a row with a NaN or infinite value is `skipped`
//! and not kept. For the likelihood layer the deviation is `-ln(1 -
//! score)`. The state (window, forest and PRNG) is in every snapshot:
//! about `numberOfTrees * 2 * subSampleSize` nodes of 24 bytes, plus the
//! window, per key.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{Common, ParamSpec, Reader, common_specs};
use crate::error::{Error, Result};
use crate::flags::Status;
use crate::rcf::Rng;
use crate::row::{RowModel, RowStep};

/// The `algorithm` name.
pub const NAME: &str = "iforest";
/// One line for `describe()`.
pub const DESCRIPTION: &str = "Isolation Forest (Liu et al. 2008, scikit-learn's IsolationForest) trained on a sliding window of rows and retrained every refreshInterval rows; score = 2^(-mean path length / c(psi)) in (0, 1].";
/// Default flag level of the score.
pub const THRESHOLD_DEFAULT: f64 = 0.65;
/// Marks a leaf in [`Node::feature`].
const LEAF: u8 = u8::MAX;
/// Largest `numberOfTrees * subSampleSize`: bounds the nodes one key holds.
pub const MAX_SAMPLES: u64 = 1 << 20;

/// Validated `iforest` parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IForestParams {
    /// Trees in the forest.
    pub trees: usize,
    /// Rows drawn per tree (at most the rows in the window).
    pub sub_sample_size: usize,
    /// Rows kept for training.
    pub window_size: usize,
    /// Rows between retrainings.
    pub refresh_interval: u64,
    /// Rows before the first forest.
    pub min_training_size: u64,
    /// PRNG seed.
    pub seed: u64,
}

impl IForestParams {
    /// Every key, common ones first.
    pub fn specs() -> Vec<ParamSpec> {
        let mut s = common_specs(THRESHOLD_DEFAULT, 256);
        s[0].description = "Flag a row when its score (in (0, 1]; about 0.5 or below for ordinary rows) is at least this.";
        s[1].description =
            "Rows kept before the first forest is trained: by default subSampleSize.";
        s.push(
            ParamSpec::integer(
                "numberOfTrees",
                Some(100),
                "Isolation trees (scikit-learn: n_estimators).",
            )
            .min(1.0)
            .max(1000.0),
        );
        s.push(
            ParamSpec::integer(
                "subSampleSize",
                Some(256),
                "Rows drawn without replacement for each tree (scikit-learn: max_samples); fewer when the window holds fewer.",
            )
            .min(2.0)
            .max(4096.0),
        );
        s.push(
            ParamSpec::integer(
                "windowSize",
                Some(2048),
                "Most recent rows of a key the forest is trained on.",
            )
            .min(2.0)
            .max(1e6),
        );
        s.push(
            ParamSpec::integer(
                "refreshInterval",
                Some(256),
                "Rows between retrainings on the current window.",
            )
            .min(1.0)
            .max(1e9),
        );
        s.push(ParamSpec::integer(
            "seed",
            Some(42),
            "Seed of the subsamples and splits (same seed, same scores).",
        ));
        s
    }

    /// Read and validate the keys; `minTrainingSize` defaults to
    /// `subSampleSize` and must fit in the window.
    pub fn params(reader: &Reader<'_>, common: &mut Common) -> Result<IForestParams> {
        let trees = reader.integer_or_default("numberOfTrees")?;
        let sub_sample_size = reader.integer_or_default("subSampleSize")?;
        if trees.saturating_mul(sub_sample_size) > MAX_SAMPLES {
            return Err(Error::InvalidConfig(format!(
                "'numberOfTrees' x 'subSampleSize' is {} for algorithm '{NAME}'; accepted: at most {MAX_SAMPLES} (fewer trees or smaller subsamples)",
                trees.saturating_mul(sub_sample_size)
            )));
        }
        let window_size = reader.integer_or_default("windowSize")?;
        if !reader.is_set("minTrainingSize") {
            common.min_training_size = sub_sample_size.min(window_size);
        }
        if common.min_training_size > window_size {
            return Err(Error::InvalidConfig(format!(
                "'minTrainingSize' ({}) must be at most 'windowSize' ({window_size}) for algorithm '{NAME}': the first forest is trained on the window",
                common.min_training_size
            )));
        }
        Ok(IForestParams {
            trees: trees as usize,
            sub_sample_size: sub_sample_size as usize,
            window_size: window_size as usize,
            refresh_interval: reader.integer_or_default("refreshInterval")?,
            min_training_size: common.min_training_size,
            seed: reader.integer_or_default("seed")?,
        })
    }

    /// The params as JSON.
    pub fn params_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("numberOfTrees".into(), self.trees.into());
        m.insert("subSampleSize".into(), self.sub_sample_size.into());
        m.insert("windowSize".into(), self.window_size.into());
        m.insert("refreshInterval".into(), self.refresh_interval.into());
        m.insert("seed".into(), self.seed.into());
        m
    }
}

/// `c(n)`: the average path length of an unsuccessful search in a binary
/// search tree of `n` keys (scikit-learn's `_average_path_length`).
pub fn average_path_length(n: u32) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = f64::from(n);
            2.0 * (libm::log(n - 1.0) + 0.577_215_664_901_532_9) - 2.0 * (n - 1.0) / n
        }
    }
}

/// One node of a tree (trees are stored flat, children by index).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Split column, or 255 for a leaf.
    pub feature: u8,
    /// Rows `<=` this go left.
    pub threshold: f64,
    /// Left child's index within the tree (0 for a leaf).
    pub left: u32,
    /// Right child's index within the tree (0 for a leaf).
    pub right: u32,
    /// Training rows that reached the node.
    pub size: u32,
}

/// One key's Isolation Forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IForest {
    width: usize,
    rng: Rng,
    /// The last `windowSize` rows, row-major.
    window: VecDeque<f64>,
    /// Every tree's nodes, root first.
    trees: Vec<Vec<Node>>,
    /// `psi` of the current forest.
    psi: u32,
    /// Rows since the last training.
    since: u64,
    /// Column means and spans of the training window (direction).
    mean: Vec<f64>,
    span: Vec<f64>,
}

impl IForest {
    /// A fresh model for rows of `width` values.
    pub fn new(p: &IForestParams, width: usize) -> IForest {
        IForest {
            width,
            rng: Rng::new(p.seed),
            window: VecDeque::new(),
            trees: Vec::new(),
            psi: 0,
            since: 0,
            mean: vec![f64::NAN; width],
            span: vec![f64::NAN; width],
        }
    }

    /// A model holding given trees (and their `psi`), for checking scores
    /// against another implementation's (`tests/iforest.rs`, scikit-learn's).
    pub fn with_trees(width: usize, psi: u32, trees: Vec<Vec<Node>>) -> Result<IForest> {
        let p = IForestParams {
            trees: trees.len(),
            sub_sample_size: psi as usize,
            window_size: psi as usize,
            refresh_interval: u64::MAX,
            min_training_size: 2,
            seed: 1,
        };
        let mut f = IForest::new(&p, width);
        f.trees = trees;
        f.psi = psi;
        f.mean = vec![0.0; width];
        f.span = vec![1.0; width];
        if !f.trees_consistent() {
            return Err(Error::InvalidInput(
                "given trees are not valid isolation trees".into(),
            ));
        }
        Ok(f)
    }

    /// The current forest (empty before the first training).
    pub fn trees(&self) -> &[Vec<Node>] {
        &self.trees
    }

    /// `psi` of the current forest.
    pub fn psi(&self) -> u32 {
        self.psi
    }

    fn rows(&self) -> usize {
        self.window.len() / self.width
    }

    fn below(&mut self, n: usize) -> usize {
        // Uniform in 0..n (n >= 1) by rejection-free multiply-shift.
        ((u128::from(self.rng.next_u64()) * n as u128) >> 64) as usize
    }

    /// Rebuild the forest from the window.
    fn train(&mut self, p: &IForestParams) {
        let (w, n) = (self.width, self.rows());
        let window: Vec<f64> = self.window.iter().copied().collect();
        let psi = p.sub_sample_size.min(n);
        let max_depth = (usize::BITS - (psi.max(2) - 1).leading_zeros()) as usize; // ceil(log2 psi)
        let mut trees = Vec::with_capacity(p.trees);
        let mut idx: Vec<usize> = (0..n).collect();
        for _ in 0..p.trees {
            // Partial Fisher-Yates: the first psi of idx are the subsample.
            for i in 0..psi {
                let j = i + self.below(n - i);
                idx.swap(i, j);
            }
            let mut sample: Vec<usize> = idx[..psi].to_vec();
            let mut nodes = Vec::with_capacity(2 * psi);
            self.grow(&window, w, &mut sample, 0, max_depth, &mut nodes);
            trees.push(nodes);
        }
        for c in 0..w {
            let col = window.iter().skip(c).step_by(w);
            let (lo, hi, sum) = col.fold(
                (f64::INFINITY, f64::NEG_INFINITY, 0.0),
                |(lo, hi, s), &x| (lo.min(x), hi.max(x), s + x),
            );
            self.mean[c] = sum / n as f64;
            self.span[c] = if hi > lo { hi - lo } else { 1.0 };
        }
        self.trees = trees;
        self.psi = psi as u32;
        self.since = 0;
    }

    /// Grow the subtree of `rows` (indexes into `data`) at `depth`; returns
    /// its root's index in `nodes`.
    fn grow(
        &mut self,
        data: &[f64],
        w: usize,
        rows: &mut [usize],
        depth: usize,
        max_depth: usize,
        nodes: &mut Vec<Node>,
    ) -> u32 {
        let at = nodes.len() as u32;
        nodes.push(Node {
            feature: LEAF,
            threshold: 0.0,
            left: 0,
            right: 0,
            size: rows.len() as u32,
        });
        if rows.len() < 2 || depth >= max_depth {
            return at;
        }
        // Columns in random order; the first that is not constant here splits.
        let mut cols: Vec<usize> = (0..w).collect();
        let mut split = None;
        for k in 0..w {
            let j = k + self.below(w - k);
            cols.swap(k, j);
            let c = cols[k];
            let (lo, hi) = rows
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &r| {
                    let x = data[r * w + c];
                    (lo.min(x), hi.max(x))
                });
            if hi > lo {
                let mut t = lo + (hi - lo) * self.rng.unit();
                if t >= hi {
                    t = lo;
                }
                split = Some((c, t));
                break;
            }
        }
        let Some((c, t)) = split else {
            return at;
        };
        // Partition: rows <= t first.
        let mut k = 0;
        for i in 0..rows.len() {
            if data[rows[i] * w + c] <= t {
                rows.swap(i, k);
                k += 1;
            }
        }
        let (left_rows, right_rows) = rows.split_at_mut(k);
        let left = self.grow(data, w, left_rows, depth + 1, max_depth, nodes);
        let right = self.grow(data, w, right_rows, depth + 1, max_depth, nodes);
        nodes[at as usize] = Node {
            feature: c as u8,
            threshold: t,
            left,
            right,
            size: (left_rows.len() + right_rows.len()) as u32,
        };
        at
    }

    /// `2^(-mean h(x) / c(psi))` against the current forest.
    pub fn score(&self, row: &[f64]) -> f64 {
        let mut total = 0.0;
        for nodes in &self.trees {
            let mut i = 0usize;
            let mut depth = 0u32;
            loop {
                let node = &nodes[i];
                if node.feature == LEAF {
                    total += f64::from(depth) + average_path_length(node.size);
                    break;
                }
                i = if row[node.feature as usize] <= node.threshold {
                    node.left as usize
                } else {
                    node.right as usize
                };
                depth += 1;
            }
        }
        let denominator = self.trees.len() as f64 * average_path_length(self.psi);
        libm::exp2(-total / denominator)
    }

    /// Score `row` against the current forest, then keep it (and retrain
    /// when due).
    pub fn update(&mut self, row: &[f64], p: &IForestParams) -> (Status, f64) {
        if row.len() != self.width || row.iter().any(|x| !x.is_finite()) {
            return (Status::Skipped, f64::NAN);
        }
        let scored = !self.trees.is_empty();
        let score = if scored { self.score(row) } else { f64::NAN };
        self.window.extend(row.iter().copied());
        if self.rows() > p.window_size {
            self.window.drain(..self.width);
        }
        self.since += 1;
        let due = if scored {
            self.since >= p.refresh_interval
        } else {
            self.rows() as u64 >= p.min_training_size
        };
        if due {
            self.train(p);
        }
        if scored {
            (Status::Ok, score)
        } else {
            (Status::Warmup, f64::NAN)
        }
    }

    /// The training window's mean of each column.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    fn trees_consistent(&self) -> bool {
        self.trees.iter().all(|nodes| {
            !nodes.is_empty()
                && nodes.iter().enumerate().all(|(i, n)| {
                    if n.feature == LEAF {
                        true
                    } else {
                        // Children come after their parent: no cycles.
                        (n.feature as usize) < self.width
                            && (n.left as usize) > i
                            && (n.right as usize) > i
                            && (n.left as usize) < nodes.len()
                            && (n.right as usize) < nodes.len()
                            && n.threshold.is_finite()
                    }
                })
        })
    }

    /// Whether a deserialised state fits `p`.
    pub fn is_consistent(&self, p: &IForestParams) -> bool {
        self.width >= 1
            && self.width <= 30
            && self.window.len().is_multiple_of(self.width)
            && self.rows() <= p.window_size
            && self.window.iter().all(|x| x.is_finite())
            && (self.trees.is_empty() || self.trees.len() == p.trees)
            && self.trees.iter().all(|t| t.len() < 2 * p.sub_sample_size)
            && (self.psi as usize) <= p.sub_sample_size
            && (self.trees.is_empty() == (self.psi == 0))
            && self.psi != 1
            && self.trees_consistent()
            && self.mean.len() == self.width
            && self.span.len() == self.width
            && self.rng.is_valid()
    }
}

impl RowModel for IForest {
    type Params = IForestParams;
    const NAME: &'static str = NAME;
    const DESCRIPTION: &'static str = DESCRIPTION;
    const MULTIVARIATE: bool = true;

    fn specs() -> Vec<ParamSpec> {
        IForestParams::specs()
    }
    fn params(reader: &Reader<'_>, common: &mut Common) -> Result<IForestParams> {
        IForestParams::params(reader, common)
    }
    fn params_json(p: &IForestParams) -> Map<String, Value> {
        p.params_json()
    }
    fn extras(_: &IForestParams, _: usize) -> Vec<(&'static str, usize)> {
        Vec::new()
    }
    fn new(p: &IForestParams, _: &Common, width: usize) -> Result<Self> {
        Ok(IForest::new(p, width))
    }
    fn width(&self) -> usize {
        self.width
    }
    fn step(
        &mut self,
        _ts: i64,
        row: &[f64],
        p: &IForestParams,
        common: &Common,
        _: &mut [f64],
    ) -> RowStep {
        // Direction against the forest the row is scored on.
        let up = crate::rows::above_means(row, &self.mean, &self.span);
        let (status, score) = self.update(row, p);
        if status != Status::Ok {
            return RowStep::unscored(status);
        }
        let side = common.direction.allows(up);
        RowStep {
            status,
            forecast: f64::NAN,
            lower: f64::NAN,
            upper: f64::NAN,
            score,
            anomaly: side && score >= common.threshold,
            up,
            ratio: score / common.threshold,
        }
    }
    fn is_consistent(&self, p: &IForestParams) -> bool {
        IForest::is_consistent(self, p)
    }
    /// `-ln(1 - score)` (0.69 at the 0.5 of ordinary rows, growing towards
    /// isolated ones).
    fn deviation(step: &RowStep, _: &IForestParams) -> f64 {
        crate::rows::unit_score_deviation(step.score)
    }
}
