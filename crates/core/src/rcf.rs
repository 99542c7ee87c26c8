//! `rcf`: Random Cut Forest (Guha, Mishra, Roy, Schrijvers 2016, "Robust
//! Random Cut Forest Based Anomaly Detection on Streams"), scored on the
//! scale of AWS's `randomcutforest` library and of Kinesis Data Analytics'
//! `RANDOM_CUT_FOREST` / `RANDOM_CUT_FOREST_WITH_EXPLANATION`.
//!
//! # API (what a host calls)
//!
//! ```
//! use wasmad_core::config::{Common, Reader};
//! use wasmad_core::flags::Status;
//! use wasmad_core::rcf::{Rcf, RcfParams};
//! # let obj = serde_json::Map::new();
//! let reader = Reader::new("rcf", &obj, RcfParams::specs()).unwrap();
//! let mut common = reader.common().unwrap();
//! let params = RcfParams::params(&reader, &mut common).unwrap(); // may set common.min_training_size
//! let width = 2; // values per row, 1..=30
//! let mut forest = Rcf::new(&params, width).unwrap();
//! let mut attribution = vec![0.0; 2 * width]; // [high_0, low_0, high_1, low_1, ...]
//! for i in 0..300 {
//!     let row = [(i % 7) as f64, 1.0];
//!     let step = if i % 2 == 0 {
//!         forest.update(&row, &params) // score only (fast)
//!     } else {
//!         forest.update_with_attribution(&row, &params, &mut attribution)
//!     };
//!     if step.is_anomaly(common.threshold) { /* status ok and score > threshold */ }
//! }
//! assert_eq!(forest.seen(), 300);
//! ```
//!
//! * [`RcfParams::specs`] / [`RcfParams::params`] / [`RcfParams::params_json`]:
//!   the config keys, like [`crate::model::Model`]'s.
//! * [`Rcf::new`]`(&params, width) -> Result<Rcf>`: `width` (1..=30) values
//!   per row; the forest sees points of `width * shingleSize` dimensions.
//!   Errors name `width`, or the keys, when the forest would need more than
//!   [`MAX_MEMORY`] ([`Rcf::memory_estimate`]).
//! * [`Rcf::update`]`(&mut self, row, &params) -> RcfStep` scores the row
//!   against the forest *before* learning it, then learns it.
//!   [`Rcf::update_with_attribution`] also fills `2 * width` values
//!   `[high_0, low_0, high_1, low_1, ...]` whose sum is the score (all 0
//!   unless the status is ok); it costs about twice as much per row and
//!   gives the same scores and the same state as [`Rcf::update`].
//!   [`explain`] turns one column's pair into the Kinesis
//!   `ATTRIBUTION_SCORE`, `DIRECTION` and `STRENGTH`; [`is_high`] gives the
//!   row's overall direction.
//! * [`RcfStep`]: `score` (>= 0; 0 unless ok) and `status`: `Skipped` when a
//!   value of the row is NaN or infinite, or the row is not `width` long
//!   (nothing learned, the shingle does not advance); `Warmup` until the
//!   forest has learned `minTrainingSize` points (the first
//!   `minTrainingSize + shingleSize - 1` finite rows; by default
//!   `subSampleSize`, so with `shingleSize` 1 the first `subSampleSize` rows
//!   score 0 as in Kinesis); `Ok` after.
//! * [`Rcf::seen`]: finite rows learned; [`Rcf::is_consistent`] checks a
//!   deserialised state (every index bounds-checked) before it is used.
//!   The whole state, PRNG included, is `Serialize + Deserialize + Clone`.
//!
//! Mapping to [`crate::engine::Scores`] (a suggestion): `score` as is (it is
//! not signed: the direction comes from the attribution), no forecast or
//! band (NaN), anomaly when [`RcfStep::is_anomaly`]`(threshold)`, and the
//! `up` flag from [`is_high`] when attribution was computed. The common
//! `direction` key can only filter with attribution on.
//!
//! # The algorithm
//!
//! **Points.** Each finite row of `width` values enters a shingle holding
//! the last `shingleSize` rows, oldest first; once full, the shingle (of
//! dimension `d = width * shingleSize`) is the point scored and learned.
//!
//! **Trees.** `numberOfTrees` random cut trees, each over its own sample of
//! at most `subSampleSize` points. An internal node holds a cut (dimension,
//! value: `x[dim] <= value` goes left), its mass (points below it) and the
//! bounding box of the points below it; a leaf holds a point and its mass
//! (> 1 for duplicates). Nodes live in a flat arena (`Vec` indexed by `u32`,
//! free list), boxes in one `Vec<f64>` (`2d` values per node), so a tree
//! serialises compactly and clones fast. Memory: about
//! `numberOfTrees * 2 * subSampleSize * (2d * 8 + 24)` bytes (100 trees of
//! 256 points: about 2.4 MB univariate, 11 MB at `d` = 12).
//!
//! **Speed.** Scoring is bound by the latency of loading nodes; the trees
//! are descended four at a time in lockstep so their loads overlap (same
//! arithmetic per tree, so the same bits). `examples/rcf_speed.rs` times it
//! against `krcf`.
//!
//! **Insertion** (the robust random cut tree update, top-down form): at a
//! node with box `B`, draw a cut uniformly over the summed side lengths of
//! `B ∪ {x}` (dimension chosen with probability proportional to its
//! length). If the cut separates `x` from `B`, a new internal node with that
//! cut replaces the node, with the new leaf and the old node as children.
//! Otherwise `B` grows to include `x` and the descent follows the node's own
//! cut. A leaf's box is its point, so a distinct point always separates
//! there; an equal point raises the leaf's mass. This is the same
//! distribution as AWS's bottom-up form (which keeps the highest separating
//! level) and Guha et al.'s Algorithm `InsertPoint`.
//!
//! **Deletion**: decrement the leaf's mass; at 0 the leaf and its parent go
//! and the sibling takes the parent's place; the masses of the ancestors
//! drop by one and their boxes are recomputed from their children, stopping
//! at the first box the point did not touch.
//!
//! **Sampling** (AWS's `CompactSampler`, time-decayed weighted reservoir
//! sampling): the `seq`-th point (0-based) gets, in each tree, the key
//! `-lambda * seq + ln(-ln u)` with `u` uniform in (0, 1) and
//! `lambda = 1 / timeDecay`; each tree keeps the `subSampleSize` smallest
//! keys (a max-heap), so a point is accepted while the reservoir is not
//! full, and afterwards when its key is below the largest one, which is
//! then evicted (deleted from the tree before the new point is inserted).
//! `ln(-ln u)` is the log of an exponential variable, so this is
//! Efraimidis-Spirakis sampling with weight `exp(lambda * seq)`: a point
//! `timeDecay` rows old weighs `1/e` of a new one. Most points are rejected
//! once a reservoir is full; a cached lower bound on the rejection
//! threshold in `u`, `exp(-exp(maxKey + lambda * seq'))` for a `seq'` a few
//! rows ahead, rejects them without evaluating a logarithm (it can only
//! reject points the exact test rejects too).
//!
//! **Score** (AWS's `AnomalyScoreVisitor` with the standard functions of
//! `CommonUtils`): follow `x` down to the leaf at depth `D` (root: 0), of
//! mass `m`, in a tree of mass `T`:
//! * leaf equal to `x`: `s = damp(m, T) * scoreSeen(D, m)` with
//!   `damp = 1 - m / (2T)` and `scoreSeen = 1 / (D + log2(m + 1))`, final;
//! * else `s = scoreUnseen(D) = 1 / (D + 1)`, then for each ancestor at
//!   depth `k` from the leaf's parent up, with `p` the probability that a
//!   random cut of its box `B ∪ {x}` separates `x`,
//!   `p = gap(x, B) / (range(B) + gap(x, B))` (sums over dimensions),
//!   `s = (1 - p) s + p / (k + 1)` (we evaluate this unrolled, top-down);
//! * the tree's score is `s * log2(T + 1)` (the normalizer) and the forest's
//!   is the mean over trees. Points like the sample score around 1 or
//!   below; isolated ones up to `log2(subSampleSize + 1)` (8 at 256).
//!
//! **Attribution** (AWS's `AnomalyAttributionVisitor`, "DiVector"): the
//! same recursion split per dimension and side: the probability `p` is the
//! sum of `high_i = max(0, x_i - hi_i) / (range + gap)` and `low_i =
//! max(0, lo_i - x_i) / (range + gap)`, and the vector follows `A = (1 - p)
//! A + pvec / (k + 1)` from `A = s * pvec(leaf)`. When `x` equals the leaf
//! (a duplicate), the boxes used are those of the rest of the tree (the
//! "shadow box": the union of the siblings on the way up) and the score
//! stays the damped seen score. Each tree's vector is rescaled to sum to
//! its score (a vector of zeros spreads the score evenly), the forest
//! averages them, and the shingle's copies of each input column are added
//! up: per column `(high, low)`, `high + low` summed over the columns is the
//! score. `high` says the value is above what the trees have seen.
//!
//! **Defaults.** `numberOfTrees` 100, `subSampleSize` 256, `timeDecay`
//! 100000, `shingleSize` 1 (Kinesis's); `seed` 42; `minTrainingSize`
//! `subSampleSize` (Kinesis scores 0 until then); `threshold` 2.5 (ours:
//! Kinesis returns the score only): on a noisy sine, normal points score
//! 0.8 at the median and 1.3 at the 99th percentile (1.8 at most over 20k
//! rows), a spike of twice the amplitude 4 to 4.5 unshingled and 2.5 to 2.7
//! with `shingleSize` 4 (one dimension of four stands out).
//!
//! Transcendental functions go through `libm` and randomness through a
//! seeded xoshiro256** kept in the state, so WASM and native agree bit for
//! bit and a restored snapshot continues the same stream.

#![allow(clippy::needless_range_loop)]

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{Common, ParamSpec, Reader, common_specs};
use crate::error::{Error, Result};
use crate::flags::Status;

/// The `algorithm` name in configs.
pub const NAME: &str = "rcf";
/// One line for `describe()`.
pub const DESCRIPTION: &str = "Random Cut Forest (AWS / Kinesis RANDOM_CUT_FOREST): multivariate, shingled, streaming; score on AWS's ANOMALY_SCORE scale (~1 normal, >2.5 anomalous) with per-column attribution and direction.";
/// Largest accepted `width` (values per row), as in Kinesis.
pub const MAX_WIDTH: usize = 30;
/// Default `threshold`.
pub const THRESHOLD_DEFAULT: f64 = 2.5;
/// The most memory one forest may need ([`Rcf::memory_estimate`]): 2 GiB,
/// half of what a 32-bit WASM module can address.
pub const MAX_MEMORY: u64 = 2 << 30;

const NIL: u32 = u32::MAX;
const LEAF: u16 = u16::MAX;

/// Validated parameters of [`Rcf`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RcfParams {
    /// Trees in the forest.
    pub number_of_trees: usize,
    /// Reservoir size (points per tree).
    pub sub_sample_size: usize,
    /// Time-decay horizon in points: `lambda = 1 / time_decay`.
    pub time_decay: u64,
    /// Rows per shingle.
    pub shingle_size: usize,
    /// PRNG seed.
    pub seed: u64,
    /// Points the forest learns before it scores (copied from the common key).
    pub min_training_size: u64,
}

impl RcfParams {
    /// Every config key, common ones included.
    pub fn specs() -> Vec<ParamSpec> {
        let mut s = common_specs(THRESHOLD_DEFAULT, 256);
        s.push(
            ParamSpec::integer(
                "numberOfTrees",
                Some(100),
                "Trees in the forest; more trees give steadier scores at proportional cost.",
            )
            .min(1.0)
            .max(1000.0),
        );
        s.push(
            ParamSpec::integer(
                "subSampleSize",
                Some(256),
                "Points sampled per tree (must be below timeDecay); also the default minTrainingSize.",
            )
            .min(10.0)
            .max(1000.0),
        );
        s.push(
            ParamSpec::integer(
                "timeDecay",
                Some(100_000),
                "Time-decay horizon of each tree's sample, in points: a point this many points old weighs 1/e of a new one (lambda = 1/timeDecay).",
            )
            .min(1.0)
            .max(2_147_483_647.0),
        );
        s.push(
            ParamSpec::integer(
                "shingleSize",
                Some(1),
                "Consecutive rows concatenated into one point (catches broken patterns, not only odd values).",
            )
            .min(1.0)
            .max(30.0),
        );
        s.push(ParamSpec::integer(
            "seed",
            Some(42),
            "Seed of the forest's random number generator (same seed, same scores).",
        ));
        s
    }

    /// Read and validate the keys; sets the default `minTrainingSize` to
    /// `subSampleSize` when the user did not set it.
    pub fn params(reader: &Reader<'_>, common: &mut Common) -> Result<RcfParams> {
        let number_of_trees = reader.integer_or_default("numberOfTrees")? as usize;
        let sub_sample_size = reader.integer_or_default("subSampleSize")? as usize;
        let time_decay = reader.integer_or_default("timeDecay")?;
        let shingle_size = reader.integer_or_default("shingleSize")? as usize;
        let seed = reader.integer_or_default("seed")?;
        if sub_sample_size as u64 >= time_decay {
            return Err(Error::InvalidConfig(format!(
                "'subSampleSize' ({sub_sample_size}) must be less than 'timeDecay' ({time_decay}) for algorithm '{NAME}'; accepted: subSampleSize integer >= 10 and <= 1000, timeDecay integer > subSampleSize and <= 2147483647"
            )));
        }
        if !reader.is_set("minTrainingSize") {
            common.min_training_size = sub_sample_size as u64;
        }
        Ok(RcfParams {
            number_of_trees,
            sub_sample_size,
            time_decay,
            shingle_size,
            seed,
            min_training_size: common.min_training_size,
        })
    }

    /// The params as JSON key/values, for the effective config.
    pub fn params_json(p: &RcfParams) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("numberOfTrees".into(), p.number_of_trees.into());
        m.insert("subSampleSize".into(), p.sub_sample_size.into());
        m.insert("timeDecay".into(), p.time_decay.into());
        m.insert("shingleSize".into(), p.shingle_size.into());
        m.insert("seed".into(), p.seed.into());
        m
    }

    fn lambda(&self) -> f64 {
        1.0 / self.time_decay as f64
    }
}

/// The result of one row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RcfStep {
    /// The anomaly score (>= 0); 0 unless `status` is `Ok`.
    pub score: f64,
    /// Ok, Warmup (learned, not scored) or Skipped (NaN/inf: ignored).
    pub status: Status,
}

impl RcfStep {
    /// Whether the row is flagged: scored and above `threshold`.
    pub fn is_anomaly(&self, threshold: f64) -> bool {
        self.status == Status::Ok && self.score > threshold
    }
}

/// One column's explanation, as Kinesis's `ANOMALY_EXPLANATION` reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColumnExplanation {
    /// `high + low`: the column's share of the anomaly score.
    pub attribution: f64,
    /// True (`HIGH`) when `high >= low`: the value is above what the forest
    /// has seen; false (`LOW`) when below.
    pub high: bool,
    /// `|high - low|`: how much of the column's attribution points one way
    /// (in score units; 0 when both sides weigh the same). Kinesis does not
    /// document its definition; this is ours.
    pub strength: f64,
}

/// Explain one column from its `(high, low)` pair of the attribution vector.
pub fn explain(high: f64, low: f64) -> ColumnExplanation {
    ColumnExplanation {
        attribution: high + low,
        high: high >= low,
        strength: (high - low).abs(),
    }
}

/// The row's overall direction from its attribution vector
/// (`[high_0, low_0, ...]`): true (up) when the high sides add up to at
/// least the low sides.
pub fn is_high(attribution: &[f64]) -> bool {
    let (mut high, mut low) = (0.0, 0.0);
    for pair in attribution.chunks_exact(2) {
        high += pair[0];
        low += pair[1];
    }
    high >= low
}

/// xoshiro256** seeded through splitmix64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut s = [0u64; 4];
        for v in &mut s {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            *v = z ^ (z >> 31);
        }
        Rng { s }
    }

    #[inline(always)]
    pub(crate) fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Whether a deserialised state can run (all-zero state is stuck at 0).
    pub(crate) fn is_valid(&self) -> bool {
        self.s != [0; 4]
    }

    /// Uniform in [0, 1).
    #[inline(always)]
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1): never 0 or 1, so `ln(-ln u)` is finite.
    #[inline(always)]
    fn open_unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }
}

/// One arena node. A leaf has `dim == LEAF` and no children.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Node {
    parent: u32,
    left: u32,
    right: u32,
    /// Cut dimension (< 900), or `LEAF`.
    dim: u16,
    /// Points below (at most `subSampleSize` <= 1000).
    mass: u16,
    cut: f64,
}

/// One reservoir entry: the sampling key and the leaf holding the point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Entry {
    key: f64,
    leaf: u32,
}

/// One tree and its sampler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tree {
    nodes: Vec<Node>,
    /// `2 * dim` values per node: the box's lows then its highs.
    boxes: Vec<f64>,
    free: Vec<u32>,
    root: u32,
    /// Max-heap on `key`.
    heap: Vec<Entry>,
    /// Any `u <= reject_below` is certainly rejected while `seq <= valid_until`.
    reject_below: f64,
    valid_until: u64,
}

/// Buffers reused across rows (not part of the state).
#[derive(Debug, Clone, Default)]
struct Scratch {
    path: Vec<u32>,
    forest: Vec<f64>,
    tree: Vec<f64>,
    pvec: Vec<f64>,
    shadow: Vec<f64>,
}

/// The forest's state (one per key).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rcf {
    width: usize,
    dim: usize,
    /// The last `shingle_size` finite rows, oldest first (`dim` values).
    shingle: Vec<f64>,
    /// Rows in the shingle (up to `shingle_size`).
    filled: usize,
    /// Finite rows learned.
    seen: u64,
    /// Points (full shingles) given to the forest: the sampler's clock.
    points: u64,
    rng: Rng,
    trees: Vec<Tree>,
    #[serde(skip)]
    scratch: Scratch,
}

#[inline(always)]
fn log2(x: f64) -> f64 {
    libm::log2(x)
}

impl Tree {
    fn new(capacity: usize, dim: usize) -> Tree {
        Tree {
            nodes: Vec::with_capacity(2 * capacity),
            boxes: Vec::with_capacity(2 * capacity * 2 * dim),
            free: Vec::new(),
            root: NIL,
            heap: Vec::with_capacity(capacity),
            reject_below: 0.0,
            valid_until: 0,
        }
    }

    fn mass(&self) -> u32 {
        if self.root == NIL {
            0
        } else {
            self.nodes[self.root as usize].mass as u32
        }
    }

    fn alloc(&mut self, node: Node, dim: usize) -> u32 {
        if let Some(i) = self.free.pop() {
            self.nodes[i as usize] = node;
            i
        } else {
            self.nodes.push(node);
            self.boxes.resize(self.boxes.len() + 2 * dim, 0.0);
            (self.nodes.len() - 1) as u32
        }
    }

    /// Gap of `x` outside the box of node `n` and the box's range, summed
    /// over dimensions.
    #[inline(always)]
    fn gap_range(&self, n: u32, x: &[f64]) -> (f64, f64) {
        let d = x.len();
        let b = &self.boxes[n as usize * 2 * d..(n as usize + 1) * 2 * d];
        let (lo, hi) = b.split_at(d);
        let mut gap = 0.0;
        let mut range = 0.0;
        for i in 0..d {
            let (l, h, v) = (lo[i], hi[i], x[i]);
            range += h - l;
            gap += (l - v).max(0.0) + (v - h).max(0.0);
        }
        (gap, range)
    }

    /// Insert `x`; returns the leaf that holds it.
    fn insert(&mut self, x: &[f64], rng: &mut Rng) -> u32 {
        let d = x.len();
        let new_leaf = Node {
            parent: NIL,
            left: NIL,
            right: NIL,
            dim: LEAF,
            mass: 1,
            cut: 0.0,
        };
        if self.root == NIL {
            let l = self.alloc(new_leaf, d);
            self.set_point_box(l, x);
            self.root = l;
            return l;
        }
        let mut node = self.root;
        loop {
            let n = node as usize;
            let (gap, range) = self.gap_range(node, x);
            let is_leaf = self.nodes[n].dim == LEAF;
            if gap > 0.0 || (is_leaf && gap.is_nan()) {
                if let Some((dim, cut)) = self.draw_cut(node, x, gap + range, is_leaf, rng) {
                    return self.split(node, x, dim, cut);
                }
            } else if is_leaf {
                // A duplicate: the leaf's mass counts it.
                self.nodes[n].mass = self.nodes[n].mass.saturating_add(1);
                return node;
            }
            let nd = self.nodes[n];
            if nd.dim == LEAF {
                // Unreachable for finite values (a distinct point always
                // separates from a leaf); keep the tree valid regardless.
                return self.split_fallback(node, x);
            }
            // No separation here: grow the box, count the point, descend.
            let base = n * 2 * d;
            for i in 0..d {
                let lo = &mut self.boxes[base + i];
                *lo = lo.min(x[i]);
                let hi = &mut self.boxes[base + d + i];
                *hi = hi.max(x[i]);
            }
            self.nodes[n].mass = nd.mass.saturating_add(1);
            node = if x[nd.dim as usize] <= nd.cut {
                nd.left
            } else {
                nd.right
            };
        }
    }

    /// Draw a random cut of `box(node) ∪ {x}`; `Some` when it separates `x`.
    fn draw_cut(
        &self,
        node: u32,
        x: &[f64],
        total: f64,
        is_leaf: bool,
        rng: &mut Rng,
    ) -> Option<(usize, f64)> {
        let d = x.len();
        let base = node as usize * 2 * d;
        let b = &self.boxes[base..base + 2 * d];
        let (lo, hi) = b.split_at(d);
        let mut target = rng.unit() * total;
        let mut chosen = None;
        for i in 0..d {
            let mn = lo[i].min(x[i]);
            let mx = hi[i].max(x[i]);
            let span = mx - mn;
            if span > 0.0 {
                if target < span {
                    let mut c = mn + target;
                    if c >= mx || c < mn {
                        c = mn;
                    }
                    chosen = Some((i, c));
                    break;
                }
                target -= span;
            }
        }
        if let Some((i, c)) = chosen {
            let separates = (x[i] <= c && c < lo[i]) || (hi[i] <= c && c < x[i]);
            if separates {
                return Some((i, c));
            }
            if !is_leaf {
                return None;
            }
        }
        // Rounding ran past the last dimension, or a leaf did not separate:
        // cut at the lower of the two values in the first differing dimension
        // (this always separates a point from a distinct leaf).
        if is_leaf {
            for i in 0..d {
                if x[i] != lo[i] {
                    return Some((i, x[i].min(lo[i])));
                }
            }
        }
        None
    }

    fn set_point_box(&mut self, n: u32, x: &[f64]) {
        let d = x.len();
        let base = n as usize * 2 * d;
        self.boxes[base..base + d].copy_from_slice(x);
        self.boxes[base + d..base + 2 * d].copy_from_slice(x);
    }

    /// Put a new internal node with cut `(dim, cut)` in `node`'s place, with
    /// children `node` and a new leaf for `x`.
    fn split(&mut self, node: u32, x: &[f64], dim: usize, cut: f64) -> u32 {
        let d = x.len();
        let parent = self.nodes[node as usize].parent;
        let mass = self.nodes[node as usize].mass;
        let leaf = self.alloc(
            Node {
                parent: NIL,
                left: NIL,
                right: NIL,
                dim: LEAF,
                mass: 1,
                cut: 0.0,
            },
            d,
        );
        self.set_point_box(leaf, x);
        let (left, right) = if x[dim] <= cut {
            (leaf, node)
        } else {
            (node, leaf)
        };
        let inner = self.alloc(
            Node {
                parent,
                left,
                right,
                dim: dim as u16,
                mass: mass.saturating_add(1),
                cut,
            },
            d,
        );
        let (nb, ib) = (node as usize * 2 * d, inner as usize * 2 * d);
        for i in 0..d {
            self.boxes[ib + i] = self.boxes[nb + i].min(x[i]);
            self.boxes[ib + d + i] = self.boxes[nb + d + i].max(x[i]);
        }
        self.nodes[node as usize].parent = inner;
        self.nodes[leaf as usize].parent = inner;
        if parent == NIL {
            self.root = inner;
        } else {
            let p = &mut self.nodes[parent as usize];
            if p.left == node {
                p.left = inner;
            } else {
                p.right = inner;
            }
        }
        leaf
    }

    fn split_fallback(&mut self, node: u32, x: &[f64]) -> u32 {
        // Only reached with non-finite box values; cut dimension 0 at the
        // point itself keeps the structure valid.
        self.split(node, x, 0, x.first().copied().unwrap_or(0.0))
    }

    /// Remove one copy of the point held by `leaf`.
    fn delete(&mut self, leaf: u32, d: usize) {
        let l = leaf as usize;
        self.nodes[l].mass -= 1;
        if self.nodes[l].mass > 0 {
            let mut a = self.nodes[l].parent;
            while a != NIL {
                self.nodes[a as usize].mass -= 1;
                a = self.nodes[a as usize].parent;
            }
            return;
        }
        let parent = self.nodes[l].parent;
        if parent == NIL {
            self.root = NIL;
            self.free.push(leaf);
            return;
        }
        let p = self.nodes[parent as usize];
        let sibling = if p.left == leaf { p.right } else { p.left };
        let grand = p.parent;
        self.nodes[sibling as usize].parent = grand;
        if grand == NIL {
            self.root = sibling;
        } else {
            let g = &mut self.nodes[grand as usize];
            if g.left == parent {
                g.left = sibling;
            } else {
                g.right = sibling;
            }
        }
        self.free.push(leaf);
        self.free.push(parent);
        let mut a = grand;
        let mut shrink = true;
        while a != NIL {
            let n = self.nodes[a as usize];
            self.nodes[a as usize].mass -= 1;
            if shrink {
                let (ab, lb, rb) = (
                    a as usize * 2 * d,
                    n.left as usize * 2 * d,
                    n.right as usize * 2 * d,
                );
                let mut changed = false;
                for i in 0..d {
                    let lo = self.boxes[lb + i].min(self.boxes[rb + i]);
                    let hi = self.boxes[lb + d + i].max(self.boxes[rb + d + i]);
                    changed |= lo != self.boxes[ab + i] || hi != self.boxes[ab + d + i];
                    self.boxes[ab + i] = lo;
                    self.boxes[ab + d + i] = hi;
                }
                shrink = changed;
            }
            a = n.parent;
        }
    }

    /// One level of the descent that scores `x` (AWS's standard score,
    /// evaluated top-down): fold node `c.node`'s term into `c`; `false` when
    /// `c.node` is the leaf.
    /// `s_0 = sum_k P_k p_k / (k + 1) + P_leaf s_leaf`, `P_k = prod_{j<k} (1 - p_j)`.
    #[inline(always)]
    fn descend(&self, c: &mut Cursor, x: &[f64]) -> bool {
        let n = self.nodes[c.node as usize];
        if n.dim == LEAF {
            return false;
        }
        let (gap, range) = self.gap_range(c.node, x);
        if gap > 0.0 {
            let mut p = gap / (range + gap);
            if p.is_nan() {
                p = 1.0;
            }
            c.acc += c.keep * p / (c.depth as f64 + 1.0);
            c.keep *= 1.0 - p;
        }
        c.node = if x[n.dim as usize] <= n.cut {
            n.left
        } else {
            n.right
        };
        c.depth += 1;
        true
    }

    /// The score once the descent `c` has reached its leaf.
    #[inline(always)]
    fn finish(&self, c: &Cursor, x: &[f64], memo: &mut Log2Memo) -> f64 {
        let tree_mass = self.mass() as f64;
        let m = self.nodes[c.node as usize].mass as f64;
        let depth = c.depth as f64;
        let (gap, _) = self.gap_range(c.node, x);
        let s = if gap == 0.0 {
            // Equal to the leaf: x lies in every box above, acc is 0.
            (1.0 - m / (2.0 * tree_mass)) / (depth + log2(m + 1.0))
        } else {
            c.acc + c.keep / (depth + 1.0)
        };
        s * memo.log2_plus_one(self.mass())
    }

    /// Per-side probabilities of a cut of `box ∪ {x}` separating `x`, into
    /// `pvec` (`[high_0, low_0, ...]`); returns their sum.
    #[inline]
    fn prob_vec(lo: &[f64], hi: &[f64], x: &[f64], pvec: &mut [f64]) -> f64 {
        let mut gap = 0.0;
        let mut range = 0.0;
        for i in 0..x.len() {
            let h = (x[i] - hi[i]).max(0.0);
            let l = (lo[i] - x[i]).max(0.0);
            pvec[2 * i] = h;
            pvec[2 * i + 1] = l;
            gap += h + l;
            range += hi[i] - lo[i];
        }
        if gap == 0.0 {
            return 0.0;
        }
        let mut f = 1.0 / (range + gap);
        if !f.is_finite() {
            f = 0.0;
        }
        let mut total = 0.0;
        for v in pvec.iter_mut() {
            *v *= f;
            total += *v;
        }
        total
    }

    /// Attribution of `x` (AWS's `AnomalyAttributionVisitor`), bottom-up,
    /// added to `out` (`[high_0, low_0, ...]`, rescaled to sum to this
    /// tree's score `score`).
    fn attribution(&self, x: &[f64], score: f64, s: &mut Scratch, out: &mut [f64]) {
        if self.root == NIL {
            return;
        }
        let d = x.len();
        s.path.clear();
        let mut node = self.root;
        loop {
            s.path.push(node);
            let n = self.nodes[node as usize];
            if n.dim == LEAF {
                break;
            }
            node = if x[n.dim as usize] <= n.cut {
                n.left
            } else {
                n.right
            };
        }
        let leaf = node as usize;
        let a = &mut s.tree;
        a.clear();
        a.resize(2 * d, 0.0);
        let pvec = &mut s.pvec;
        pvec.clear();
        pvec.resize(2 * d, 0.0);
        let lb = &self.boxes[leaf * 2 * d..(leaf + 1) * 2 * d];
        let total = Tree::prob_vec(&lb[..d], &lb[d..], x, pvec);
        let duplicate = total == 0.0;
        if !duplicate {
            let unseen = 1.0 / (s.path.len() as f64);
            for (v, p) in a.iter_mut().zip(pvec.iter()) {
                *v = p * unseen;
            }
        }
        let shadow = &mut s.shadow;
        shadow.clear();
        for k in (0..s.path.len() - 1).rev() {
            let n = self.nodes[s.path[k] as usize];
            let p = if duplicate {
                let child = s.path[k + 1];
                let sib = (if n.left == child { n.right } else { n.left }) as usize;
                let sb = &self.boxes[sib * 2 * d..(sib + 1) * 2 * d];
                if shadow.is_empty() {
                    shadow.extend_from_slice(sb);
                } else {
                    for i in 0..d {
                        shadow[i] = shadow[i].min(sb[i]);
                        shadow[d + i] = shadow[d + i].max(sb[d + i]);
                    }
                }
                Tree::prob_vec(&shadow[..d], &shadow[d..], x, pvec)
            } else {
                let b = s.path[k] as usize;
                let nb = &self.boxes[b * 2 * d..(b + 1) * 2 * d];
                Tree::prob_vec(&nb[..d], &nb[d..], x, pvec)
            };
            if p == 0.0 {
                break;
            }
            let unseen = 1.0 / (k as f64 + 1.0);
            for (v, q) in a.iter_mut().zip(pvec.iter()) {
                *v = (1.0 - p) * *v + q * unseen;
            }
        }
        let sum: f64 = a.iter().sum();
        if sum > 0.0 && sum.is_finite() {
            let f = score / sum;
            for (o, v) in out.iter_mut().zip(a.iter()) {
                *o += v * f;
            }
        } else {
            let v = score / (2 * d) as f64;
            for o in out.iter_mut() {
                *o += v;
            }
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let l = 2 * i + 1;
            if l >= n {
                break;
            }
            let r = l + 1;
            let c = if r < n && self.heap[r].key > self.heap[l].key {
                r
            } else {
                l
            };
            if self.heap[c].key > self.heap[i].key {
                self.heap.swap(c, i);
                i = c;
            } else {
                break;
            }
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let p = (i - 1) / 2;
            if self.heap[i].key > self.heap[p].key {
                self.heap.swap(i, p);
                i = p;
            } else {
                break;
            }
        }
    }

    /// Offer point number `seq` to the sampler; insert it when accepted.
    #[inline]
    fn offer(&mut self, x: &[f64], seq: u64, lambda: f64, capacity: usize, rng: &mut Rng) {
        let u = rng.open_unit();
        if self.heap.len() >= capacity {
            if seq <= self.valid_until && u <= self.reject_below {
                return;
            }
            let Some(top) = self.heap.first().copied() else {
                return;
            };
            if seq > self.valid_until {
                // A lower bound of the rejection threshold in u for the next
                // `horizon` points: exp(-exp(maxKey + lambda * seq')) falls
                // as seq' grows; shaved so it never rejects what the exact
                // test accepts.
                let horizon = (0.01 / lambda).clamp(1.0, 1024.0) as u64;
                let ahead = seq.saturating_add(horizon);
                let t = libm::exp(-libm::exp(top.key + lambda * ahead as f64));
                self.reject_below = t * (1.0 - 1e-9);
                self.valid_until = ahead;
                if u <= self.reject_below {
                    return;
                }
            }
            let key = -lambda * seq as f64 + libm::log(-libm::log(u));
            if key >= top.key {
                return;
            }
            self.delete(top.leaf, x.len());
            let leaf = self.insert(x, rng);
            self.heap[0] = Entry { key, leaf };
            self.sift_down(0);
        } else {
            let key = -lambda * seq as f64 + libm::log(-libm::log(u));
            let leaf = self.insert(x, rng);
            self.heap.push(Entry { key, leaf });
            let last = self.heap.len() - 1;
            self.sift_up(last);
        }
    }

    /// Structural checks of a deserialised tree: every index in bounds, the
    /// links agree, the masses add up, the heap's leaves are the tree's.
    fn is_consistent(&self, capacity: usize, d: usize) -> bool {
        let len = self.nodes.len();
        if len > 2 * capacity
            || self.boxes.len() != len * 2 * d
            || self.heap.len() > capacity
            || !(0.0..=1.0).contains(&self.reject_below)
            || self.boxes.iter().any(|v| !v.is_finite())
        {
            return false;
        }
        // Walk the tree from the root.
        let mut state = vec![0u8; len]; // 0 unseen, 1 in tree, 2 free
        let mut leaf_count = vec![0u32; len];
        for e in &self.heap {
            if (e.leaf as usize) >= len || !e.key.is_finite() {
                return false;
            }
            leaf_count[e.leaf as usize] += 1;
        }
        for (i, e) in self.heap.iter().enumerate() {
            if i > 0 && e.key > self.heap[(i - 1) / 2].key {
                return false;
            }
        }
        let mut points = 0u64;
        if self.root != NIL {
            let r = self.root as usize;
            if r >= len || self.nodes[r].parent != NIL {
                return false;
            }
            let mut stack = vec![self.root];
            while let Some(n) = stack.pop() {
                let i = n as usize;
                if state[i] != 0 {
                    return false;
                }
                state[i] = 1;
                let node = self.nodes[i];
                if node.dim == LEAF {
                    if node.mass == 0 || node.mass as u32 != leaf_count[i] {
                        return false;
                    }
                    points += node.mass as u64;
                    continue;
                }
                if node.dim as usize >= d || !node.cut.is_finite() {
                    return false;
                }
                let (l, r) = (node.left as usize, node.right as usize);
                if l >= len || r >= len || l == r {
                    return false;
                }
                let (ln, rn) = (self.nodes[l], self.nodes[r]);
                if ln.parent != n
                    || rn.parent != n
                    || (ln.mass as u64 + rn.mass as u64) != node.mass as u64
                {
                    return false;
                }
                stack.push(node.left);
                stack.push(node.right);
            }
        }
        if points != self.heap.len() as u64 || self.mass() as u64 != points {
            return false;
        }
        for e in &self.heap {
            if state[e.leaf as usize] != 1 || self.nodes[e.leaf as usize].dim != LEAF {
                return false;
            }
        }
        for &f in &self.free {
            let i = f as usize;
            if i >= len || state[i] != 0 {
                return false;
            }
            state[i] = 2;
        }
        state.iter().all(|s| *s != 0)
    }
}

/// The state of one tree's score descent.
#[derive(Clone, Copy)]
struct Cursor {
    node: u32,
    depth: usize,
    acc: f64,
    keep: f64,
}

/// Trees scored in lockstep: their descents are independent chains of
/// memory loads, so interleaving them lets the loads overlap (the score
/// is cache-miss bound). Same arithmetic per tree as one at a time.
const LANES: usize = 4;

/// `log2(mass + 1)` for the last tree mass asked: every tree has the same
/// mass once its reservoir is full, so the normalizer costs one `log2` per
/// row instead of one per tree.
#[derive(Clone, Copy)]
struct Log2Memo {
    mass: u32,
    value: f64,
}

impl Default for Log2Memo {
    fn default() -> Self {
        Log2Memo {
            mass: 0,
            value: 0.0, // log2(0 + 1)
        }
    }
}

impl Log2Memo {
    #[inline(always)]
    fn log2_plus_one(&mut self, mass: u32) -> f64 {
        if mass != self.mass {
            self.mass = mass;
            self.value = log2(mass as f64 + 1.0);
        }
        self.value
    }
}

/// Score `x` in each of `trees` (at most [`LANES`]) into `out`.
#[inline]
fn score_group(trees: &[Tree], x: &[f64], out: &mut [f64], memo: &mut Log2Memo) {
    let start = Cursor {
        node: NIL,
        depth: 0,
        acc: 0.0,
        keep: 1.0,
    };
    let mut cursors = [start; LANES];
    let mut active = [false; LANES];
    for (k, t) in trees.iter().enumerate().take(LANES) {
        out[k] = 0.0;
        if t.root != NIL {
            cursors[k].node = t.root;
            active[k] = true;
        }
    }
    loop {
        let mut any = false;
        for (k, t) in trees.iter().enumerate().take(LANES) {
            if active[k] {
                if t.descend(&mut cursors[k], x) {
                    any = true;
                } else {
                    active[k] = false;
                    out[k] = t.finish(&cursors[k], x, memo);
                }
            }
        }
        if !any {
            break;
        }
    }
}

impl Rcf {
    /// A fresh forest for rows of `width` values (1..=30).
    pub fn new(params: &RcfParams, width: usize) -> Result<Rcf> {
        if !(1..=MAX_WIDTH).contains(&width) {
            return Err(Error::InvalidConfig(format!(
                "'width' (values per row) = {width} is out of range for algorithm '{NAME}'; accepted: integer >= 1 and <= {MAX_WIDTH}"
            )));
        }
        let dim = width * params.shingle_size;
        let bytes = Rcf::memory_estimate(params, width);
        if bytes > MAX_MEMORY {
            return Err(Error::InvalidConfig(format!(
                "algorithm '{NAME}' with numberOfTrees {}, subSampleSize {} and points of width {width} * shingleSize {} = {dim} values would hold about {} MiB of trees; accepted: at most {} MiB (lower numberOfTrees, subSampleSize or shingleSize)",
                params.number_of_trees,
                params.sub_sample_size,
                params.shingle_size,
                bytes >> 20,
                MAX_MEMORY >> 20
            )));
        }
        Ok(Rcf {
            width,
            dim,
            shingle: vec![0.0; dim],
            filled: 0,
            seen: 0,
            points: 0,
            rng: Rng::new(params.seed),
            trees: (0..params.number_of_trees)
                .map(|_| Tree::new(params.sub_sample_size, dim))
                .collect(),
            scratch: Scratch::default(),
        })
    }

    /// Bytes a forest of these params and `width` holds once its trees are
    /// full: per tree, up to `2 * subSampleSize` nodes of 24 bytes and a box
    /// of `2d` values each, and `subSampleSize` reservoir entries.
    pub fn memory_estimate(params: &RcfParams, width: usize) -> u64 {
        let d = (width * params.shingle_size) as u64;
        let cap = params.sub_sample_size as u64;
        params.number_of_trees as u64 * (2 * cap * (24 + 16 * d) + 16 * cap)
    }

    /// Finite rows learned.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Values per row.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Score `row` (`width` values), then learn it.
    pub fn update(&mut self, row: &[f64], params: &RcfParams) -> RcfStep {
        self.step(row, params, None)
    }

    /// As [`Rcf::update`], and fill `attribution` (`2 * width` values,
    /// `[high_0, low_0, high_1, low_1, ...]`, summing to the score; zeros
    /// unless the status is ok). A shorter buffer gets a prefix.
    pub fn update_with_attribution(
        &mut self,
        row: &[f64],
        params: &RcfParams,
        attribution: &mut [f64],
    ) -> RcfStep {
        attribution.iter_mut().for_each(|v| *v = 0.0);
        self.step(row, params, Some(attribution))
    }

    fn step(
        &mut self,
        row: &[f64],
        params: &RcfParams,
        attribution: Option<&mut [f64]>,
    ) -> RcfStep {
        if row.len() != self.width || row.iter().any(|v| !v.is_finite()) {
            return RcfStep {
                score: 0.0,
                status: Status::Skipped,
            };
        }
        let w = self.width;
        let shingle_size = self.dim / w;
        if self.filled < shingle_size {
            self.shingle[self.filled * w..(self.filled + 1) * w].copy_from_slice(row);
            self.filled += 1;
        } else {
            self.shingle.copy_within(w.., 0);
            self.shingle[self.dim - w..].copy_from_slice(row);
        }
        self.seen += 1;
        if self.filled < shingle_size {
            return RcfStep {
                score: 0.0,
                status: Status::Warmup,
            };
        }
        let x = &self.shingle;
        let mut step = RcfStep {
            score: 0.0,
            status: Status::Warmup,
        };
        if self.points >= params.min_training_size {
            let n = self.trees.len() as f64;
            let mut sum = 0.0;
            match attribution {
                None => {
                    let mut scores = [0.0; LANES];
                    let mut memo = Log2Memo::default();
                    for group in self.trees.chunks(LANES) {
                        score_group(group, x, &mut scores, &mut memo);
                        for s in &scores[..group.len()] {
                            sum += s;
                        }
                    }
                }
                Some(out) => {
                    let s = &mut self.scratch;
                    let mut forest = std::mem::take(&mut s.forest);
                    forest.clear();
                    forest.resize(2 * self.dim, 0.0);
                    let mut scores = [0.0; LANES];
                    let mut memo = Log2Memo::default();
                    for group in self.trees.chunks(LANES) {
                        score_group(group, x, &mut scores, &mut memo);
                        for (t, ts) in group.iter().zip(scores) {
                            sum += ts;
                            t.attribution(x, ts, s, &mut forest);
                        }
                    }
                    // Average over trees, then add up the shingle's copies
                    // of each column (dimension pos * width + col).
                    for (k, v) in forest.iter().enumerate() {
                        let col = (k / 2) % w;
                        if let Some(o) = out.get_mut(2 * col + (k & 1)) {
                            *o += v / n;
                        }
                    }
                    s.forest = forest;
                }
            }
            step = RcfStep {
                score: sum / n,
                status: Status::Ok,
            };
        }
        let lambda = params.lambda();
        let seq = self.points;
        let cap = params.sub_sample_size;
        for t in &mut self.trees {
            t.offer(x, seq, lambda, cap, &mut self.rng);
        }
        self.points += 1;
        step
    }

    /// Whether a deserialised forest is consistent with `params` and safe
    /// to use: shapes, every node and heap index, links and masses.
    pub fn is_consistent(&self, params: &RcfParams) -> bool {
        let w = self.width;
        (1..=MAX_WIDTH).contains(&w)
            && self.dim == w * params.shingle_size
            && self.shingle.len() == self.dim
            && self.filled <= params.shingle_size
            && self.points <= self.seen
            && self.rng.s != [0; 4]
            && self.trees.len() == params.number_of_trees
            && self
                .trees
                .iter()
                .all(|t| t.is_consistent(params.sub_sample_size, self.dim))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cached lower bound on the rejection threshold only ever rejects
    /// points that the exact key comparison rejects too.
    #[test]
    fn the_rejection_shortcut_never_changes_a_sampling_decision() {
        for (decay, capacity) in [(100u64, 16usize), (1000, 32), (100_000, 10), (20, 10)] {
            let lambda = 1.0 / decay as f64;
            let mut tree = Tree::new(capacity, 1);
            let mut rng = Rng::new(decay);
            let (mut accepted, mut total) = (0, 0);
            for seq in 0..20_000u64 {
                let x = [(seq % 97) as f64];
                let u = rng.clone().open_unit();
                let key = -lambda * seq as f64 + libm::log(-libm::log(u));
                let exact = tree.heap.len() < capacity || key < tree.heap[0].key;
                let before = tree.heap.clone();
                tree.offer(&x, seq, lambda, capacity, &mut rng);
                assert_eq!(tree.heap != before, exact, "decay {decay}, seq {seq}");
                assert!(tree.is_consistent(capacity, 1), "decay {decay}, seq {seq}");
                if seq >= 10_000 {
                    total += 1;
                    accepted += usize::from(exact);
                }
            }
            // In steady state a point is accepted with probability about
            // capacity * lambda (the sample spans ~1/lambda points), or
            // capacity / seq when that horizon exceeds the stream.
            let rate = accepted as f64 / total as f64;
            let expected = (capacity as f64 * lambda).max(capacity as f64 / 15_000.0);
            assert!(
                rate > 0.5 * expected && rate < 2.0 * expected.min(1.0),
                "decay {decay}: rate {rate}, expected ~{expected}"
            );
        }
    }
}
