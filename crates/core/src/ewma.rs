//! `ewma`: exponentially weighted mean and variance.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{Common, ParamSpec, Reader, common_specs};
use crate::error::{Error, Result};
use crate::model::{Baseline, Model};

/// Parameters of [`Ewma`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EwmaParams {
    /// Smoothing factor in (0, 1]: the weight of the newest row.
    pub alpha: f64,
}

/// Exponentially weighted mean and variance (West's incremental form):
/// `d = x - mean; mean += alpha * d; var = (1 - alpha) * (var + alpha * d * d)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ewma {
    seen: u64,
    mean: f64,
    var: f64,
}

impl Model for Ewma {
    type Params = EwmaParams;
    const NAME: &'static str = "ewma";
    const DESCRIPTION: &'static str =
        "Exponentially weighted moving mean and variance; score = (x - mean) / std.";

    fn specs() -> Vec<ParamSpec> {
        let mut s = common_specs(3.0, 30);
        s.push(
            ParamSpec::number(
                "alpha",
                Some(0.1),
                "Weight of the newest row, in (0, 1]. Give alpha or halfLife, not both.",
            )
            .above(0.0)
            .max(1.0),
        );
        s.push(
            ParamSpec::number(
                "halfLife",
                None,
                "Rows after which a value's weight has halved: alpha = 1 - 0.5^(1/halfLife).",
            )
            .above(0.0)
            .max(1e12),
        );
        s
    }

    fn params(reader: &Reader<'_>, _: &mut Common) -> Result<EwmaParams> {
        if reader.is_set("alpha") && reader.is_set("halfLife") {
            return Err(Error::InvalidConfig(
                "give either 'alpha' or 'halfLife' for algorithm 'ewma', not both".into(),
            ));
        }
        let alpha = match reader.number("halfLife")? {
            Some(h) if reader.is_set("halfLife") => 1.0 - 0.5f64.powf(1.0 / h),
            _ => reader.number_or_default("alpha")?,
        };
        Ok(EwmaParams { alpha })
    }

    fn params_json(p: &EwmaParams) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("alpha".into(), p.alpha.into());
        m
    }

    fn new(_: &EwmaParams) -> Self {
        Ewma {
            seen: 0,
            mean: 0.0,
            var: 0.0,
        }
    }

    fn seen(&self) -> u64 {
        self.seen
    }

    #[inline(always)]
    fn baseline(&self, _: &EwmaParams) -> Baseline {
        Baseline {
            center: self.mean,
            scale: self.var.sqrt(),
        }
    }

    /// [`crate::engine::floored_scale_select`]: the default's value, compiled
    /// to compares and selects (see there and BENCHMARKS.md).
    #[inline(always)]
    fn floored_scale(b: &Baseline) -> f64 {
        crate::engine::floored_scale_select(b)
    }

    #[inline(always)]
    fn learn(&mut self, x: f64, p: &EwmaParams) {
        if self.seen == 0 {
            self.mean = x;
            self.var = 0.0;
        } else {
            let d = x - self.mean;
            let incr = p.alpha * d;
            self.mean += incr;
            self.var = (1.0 - p.alpha) * (self.var + d * incr);
        }
        self.seen += 1;
    }

    fn is_consistent(&self, _: &EwmaParams) -> bool {
        self.var >= 0.0 || self.var.is_nan()
    }
}
