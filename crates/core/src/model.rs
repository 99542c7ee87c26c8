//! The per-key model trait every univariate detector implements.

use serde::{Serialize, de::DeserializeOwned};

use crate::config::{Common, ParamSpec, Reader};
use crate::error::Result;

/// The baseline a row is scored against: where the series is expected to be
/// and how far it usually strays, in the same units as the values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baseline {
    /// The expected value (the forecast).
    pub center: f64,
    /// The typical deviation; the score is `(x - center) / scale`.
    pub scale: f64,
}

/// One key's state of one univariate algorithm.
///
/// `Keyed<M>` (in [`crate::engine`]) owns one `M` per key and drives it: every
/// finite value is first scored against [`Model::baseline`] (once the key has
/// learned `minTrainingSize` rows) and then [`Model::learn`]ed.
pub trait Model: Clone + Serialize + DeserializeOwned + Send + 'static {
    /// Validated algorithm parameters (without the common keys).
    type Params: Clone + core::fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send;

    /// The `algorithm` name in configs.
    const NAME: &'static str;
    /// One line for `describe()`.
    const DESCRIPTION: &'static str;

    /// Every config key, common ones included, with this algorithm's defaults.
    fn specs() -> Vec<ParamSpec>;
    /// Read and validate the algorithm's own keys; may adjust defaults of the
    /// common keys that depend on them (never values the user set).
    fn params(reader: &Reader<'_>, common: &mut Common) -> Result<Self::Params>;
    /// The params as JSON key/values, for the effective config.
    fn params_json(params: &Self::Params) -> serde_json::Map<String, serde_json::Value>;

    /// A fresh, untrained model.
    fn new(params: &Self::Params) -> Self;
    /// How many values this model has learned.
    fn seen(&self) -> u64;
    /// The baseline for the next value. Called only once `seen() >= minTrainingSize`.
    fn baseline(&self, params: &Self::Params) -> Baseline;
    /// Learn one finite value.
    fn learn(&mut self, x: f64, params: &Self::Params);
    /// Whether a deserialised model is consistent with `params` (guards restore
    /// against corrupt snapshots).
    fn is_consistent(&self, params: &Self::Params) -> bool;
    /// The baseline's scale, floored by [`crate::engine::scale_floor`] of its
    /// center: what the engine divides by. Models override it only to
    /// change how the floor compiles, never its value (see [`crate::ewma`]).
    #[inline(always)]
    fn floored_scale(b: &Baseline) -> f64 {
        b.scale.max(crate::engine::scale_floor(b.center))
    }
    /// Whether [`Model::learn`] with `params` does no more than
    /// [`Model::learn_plain`]. The engine then runs a batch in a loop with
    /// `learn_plain` alone, in which nothing is called out of line, so the
    /// compiler keeps the loop tight (a rarely taken call, such as a sliding
    /// window's buffer growing, in the loop body keeps the model's fields in
    /// memory and costs registers; BENCHMARKS.md).
    #[inline(always)]
    fn learns_plain(_params: &Self::Params) -> bool {
        false
    }
    /// [`Model::learn`] for params where [`Model::learns_plain`] holds; the
    /// same state change, bit for bit.
    #[inline(always)]
    fn learn_plain(&mut self, x: f64, params: &Self::Params) {
        self.learn(x, params);
    }
}
