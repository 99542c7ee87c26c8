//! [`RowModel`] adapters: how each row-scoring algorithm's own API maps onto
//! the detector's output row (forecast, bounds, score, flags, extras).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{Common, ParamSpec, Reader};
use crate::error::Result;
use crate::flags::Status;
use crate::rcf::{self, Rcf, RcfParams};
use crate::row::{RowModel, RowStep};

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
