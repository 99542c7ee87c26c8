//! `zscore`: Welford running mean and variance, over all rows or a sliding window.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{Common, ParamSpec, Reader, common_specs};
use crate::error::{Error, Result};
use crate::model::{Baseline, Model};

/// Parameters of [`ZScore`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZScoreParams {
    /// Sliding window in rows; `None` = all rows since the start.
    pub window: Option<u64>,
}

/// Running mean and sample variance (Welford). With a window, the oldest value
/// is removed as each new one arrives, and the sums are recomputed exactly from
/// the window every `window` removals so rounding error cannot accumulate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZScore {
    seen: u64,
    n: u64,
    mean: f64,
    m2: f64,
    buf: VecDeque<f64>,
    removals: u64,
}

impl ZScore {
    #[inline(always)]
    fn add(&mut self, x: f64) {
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
    }

    fn remove(&mut self, x: f64) {
        if self.n <= 1 {
            self.n = 0;
            self.mean = 0.0;
            self.m2 = 0.0;
            return;
        }
        self.n -= 1;
        let delta = x - self.mean;
        self.mean -= delta / self.n as f64;
        self.m2 = (self.m2 - delta * (x - self.mean)).max(0.0);
    }

    fn learn_windowed(&mut self, x: f64, w: u64) {
        if self.buf.len() as u64 >= w
            && let Some(old) = self.buf.pop_front()
        {
            self.remove(old);
            self.removals += 1;
        }
        self.buf.push_back(x);
        self.add(x);
        if self.removals >= w {
            self.removals = 0;
            self.recompute();
        }
    }

    fn recompute(&mut self) {
        self.n = 0;
        self.mean = 0.0;
        self.m2 = 0.0;
        let values: Vec<f64> = self.buf.iter().copied().collect();
        for x in values {
            self.add(x);
        }
    }
}

impl Model for ZScore {
    type Params = ZScoreParams;
    const NAME: &'static str = "zscore";
    const DESCRIPTION: &'static str =
        "Running mean and sample standard deviation (Welford); score = (x - mean) / std.";

    fn specs() -> Vec<ParamSpec> {
        let mut s = common_specs(3.0, 30);
        s.push(
            ParamSpec::integer(
                "window",
                None,
                "Sliding window in rows (default: every row since the start).",
            )
            .min(2.0)
            .max(1e8),
        );
        s
    }

    fn params(reader: &Reader<'_>, common: &mut Common) -> Result<ZScoreParams> {
        let window = reader.integer("window")?;
        if let Some(w) = window
            && !reader.is_set("minTrainingSize")
        {
            // The default warm-up never exceeds a window the user chose.
            common.min_training_size = common.min_training_size.min(w);
        }
        if let Some(w) = window
            && common.min_training_size > w
        {
            return Err(Error::InvalidConfig(format!(
                "minTrainingSize ({}) must not exceed window ({w}) for algorithm 'zscore'",
                common.min_training_size
            )));
        }
        Ok(ZScoreParams { window })
    }

    fn params_json(p: &ZScoreParams) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("window".into(), p.window.map_or(Value::Null, Value::from));
        m
    }

    fn new(_: &ZScoreParams) -> Self {
        ZScore {
            seen: 0,
            n: 0,
            mean: 0.0,
            m2: 0.0,
            buf: VecDeque::new(),
            removals: 0,
        }
    }

    fn seen(&self) -> u64 {
        self.seen
    }

    #[inline(always)]
    fn baseline(&self, _: &ZScoreParams) -> Baseline {
        let var = if self.n > 1 {
            self.m2 / (self.n - 1) as f64
        } else {
            0.0
        };
        Baseline {
            center: self.mean,
            scale: var.sqrt(),
        }
    }

    #[inline(always)]
    fn learn(&mut self, x: f64, p: &ZScoreParams) {
        self.seen += 1;
        match p.window {
            None => self.add(x),
            Some(w) => self.learn_windowed(x, w),
        }
    }

    fn is_consistent(&self, p: &ZScoreParams) -> bool {
        match p.window {
            Some(w) => self.buf.len() as u64 <= w && self.n == self.buf.len() as u64,
            None => self.buf.is_empty() && self.n == self.seen,
        }
    }
}
