//! `zscore`: Welford running mean and variance, over all rows or a sliding window.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{Common, ParamSpec, Reader, common_specs};
use crate::error::{Error, Result};
use crate::model::{Baseline, Model};

/// `n as f64`, the same value, computed without an integer-to-float
/// conversion instruction below 2^52: the count's bits are placed in the
/// mantissa of 2^52 and 2^52 subtracted. x86's `cvtsi2sd` writes only the
/// low half of its register and so waits for the register's previous value;
/// compiled from WASM (Cranelift does not break that dependency), the two
/// conversions per row chained each row's divisions and square root to the
/// next row's, and z-score ran at under half its speed (BENCHMARKS.md).
#[inline(always)]
fn count_f64(n: u64) -> f64 {
    const TWO_52: f64 = 4_503_599_627_370_496.0;
    if n < 1 << 52 {
        f64::from_bits(TWO_52.to_bits() | n) - TWO_52
    } else {
        n as f64
    }
}

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
        self.mean += delta / count_f64(self.n);
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
            self.m2 / count_f64(self.n - 1)
        } else {
            0.0
        };
        Baseline {
            center: self.mean,
            scale: var.sqrt(),
        }
    }

    /// [`crate::engine::floored_scale_select`]: the default's value, compiled
    /// to compares and selects (see there and BENCHMARKS.md).
    #[inline(always)]
    fn floored_scale(b: &Baseline) -> f64 {
        crate::engine::floored_scale_select(b)
    }

    #[inline(always)]
    fn learn(&mut self, x: f64, p: &ZScoreParams) {
        self.seen += 1;
        match p.window {
            None => self.add(x),
            Some(w) => self.learn_windowed(x, w),
        }
    }

    #[inline(always)]
    fn learns_plain(p: &ZScoreParams) -> bool {
        p.window.is_none()
    }

    #[inline(always)]
    fn learn_plain(&mut self, x: f64, _: &ZScoreParams) {
        self.seen += 1;
        self.add(x);
    }

    fn is_consistent(&self, p: &ZScoreParams) -> bool {
        match p.window {
            Some(w) => self.buf.len() as u64 <= w && self.n == self.buf.len() as u64,
            None => self.buf.is_empty() && self.n == self.seen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The conversion without `cvtsi2sd` is `n as f64` on both sides of
    /// 2^52 and at the ends of the range.
    #[test]
    fn count_f64_is_the_cast() {
        let mut ns = vec![0, 1, 2, 3, 30, 1000, u64::from(u32::MAX), u64::MAX];
        for shift in [51, 52, 53, 63] {
            let p = 1u64 << shift;
            ns.extend([p - 1, p, p + 1]);
        }
        for n in ns {
            assert_eq!(count_f64(n).to_bits(), (n as f64).to_bits(), "n = {n}");
        }
    }

    /// Without a window, `learn_plain` is `learn`, state for state.
    #[test]
    fn learn_plain_is_learn_without_a_window() {
        let p = ZScoreParams { window: None };
        assert!(ZScore::learns_plain(&p));
        assert!(!ZScore::learns_plain(&ZScoreParams { window: Some(10) }));
        let (mut a, mut b) = (ZScore::new(&p), ZScore::new(&p));
        for i in 0..1000 {
            let x = (f64::from(i) * 0.37).sin() * 5.0 + f64::from(i % 7);
            a.learn(x, &p);
            b.learn_plain(x, &p);
            assert_eq!(a, b);
        }
    }
}
