//! Adaptive kernel density p-values over a sliding window, shared by
//! [`crate::spikedip`] and [`crate::changepoint`]. This follows ML.NET's
//! `SequentialAnomalyDetectionTransformBase.ComputeKernelPValue` (the engine
//! behind its `IidSpikeDetector` and `IidChangePointDetector`, which Azure
//! Stream Analytics' `AnomalyDetection_SpikeAndDip` and
//! `AnomalyDetection_ChangePoint` are built on):
//!
//! * The window holds the last `historySize` learned values `x_1 .. x_n`
//!   (ML.NET's `RawScoreBuffer`; for the IID detectors the raw score is the
//!   value itself).
//! * Bandwidth `h = sqrt(2) * s` with `s = sqrt(D) / n`, where `D` is the sum
//!   of squared distances over all pairs of the window. Since
//!   `D = n * sum (x_i - mean)^2`, `s` is the population standard deviation
//!   of the window; we compute it that way (two passes over the window)
//!   rather than with ML.NET's running add/subtract of `D`, which gives the
//!   same value in exact arithmetic without the cancellation drift of a
//!   running sum. For `n = 1`, `h = sqrt(2)` (ML.NET's absolute `s = 1`), and
//!   always `h >= 1e-6`.
//! * Right-tail p-value of `x` under the Gaussian kernel density with kernel
//!   standard deviation `s`: `P(X >= x) = 1/2 - sum_i erf((x - x_i) / h) / (2n)`
//!   (`1/2` for an empty window).
//! * With `historyDuration` (both detectors' time limit, ASA's `LIMIT
//!   DURATION`), the window also drops, before each row is scored, the
//!   values learned more than `historyDuration` before the row's event time
//!   (each value is stored with its time; see [`time_cutoff`]).
//! * One-sided and two-sided p-values are clamped to `[1e-8, 1 - 1e-8]`
//!   (ML.NET's `MinPValue`, `MaxPValue`).
//!
//! Differences from ML.NET, all below the p-value clamp in practice: values
//! are kept as `f64` (ML.NET's IID detectors take `float` input and buffer
//! `float`s), `erf` is `libm`'s (correctly rounded to about 1 ulp, ML.NET
//! uses its own approximation), and the bandwidth is computed exactly (see
//! above).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// The smallest p-value reported (ML.NET's `MinPValue`).
pub const MIN_P: f64 = 1e-8;
/// The largest p-value reported (ML.NET's `MaxPValue`).
pub const MAX_P: f64 = 1.0 - MIN_P;
/// The bandwidth floor (ML.NET's `Math.Max(bandWidth, 1e-6)`).
pub const MIN_BANDWIDTH: f64 = 1e-6;

/// Which tail of the kernel density a p-value measures (ML.NET's
/// `AnomalySide`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    /// Right tail `P(X >= x)`: small for spikes (`Positive`).
    Right,
    /// Left tail `P(X <= x) = 1 - P(X >= x)`: small for dips (`Negative`).
    Left,
    /// `min(P(X >= x), P(X <= x))`: small for both (`TwoSided`).
    Both,
}

/// The first event time a window limited to `duration` microseconds keeps
/// at time `now`: values at `t >= now - duration` are kept, i.e. those at
/// most `duration` before the row (`historyDuration`). `None` when
/// `duration` is 0 (no time limit).
pub(crate) fn time_cutoff(now: i64, duration: u64) -> Option<i64> {
    if duration == 0 {
        return None;
    }
    // `duration` <= MAX_DURATION_MICROS (1e15) fits an i64.
    let d = i64::try_from(duration).unwrap_or(i64::MAX);
    Some(now.saturating_sub(d))
}

/// Event times that never decrease, oldest first: `times[i]` is the time of
/// the `i`-th entry of a parallel queue.
pub(crate) fn times_consistent(times: &VecDeque<i64>) -> bool {
    times.iter().zip(times.iter().skip(1)).all(|(a, b)| a <= b)
}

/// The last `capacity` learned values, oldest first, with the event time of
/// each (non-decreasing: a late row is stored at the latest time held, see
/// [`KdeWindow::effective_time`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub(crate) struct KdeWindow {
    values: VecDeque<f64>,
    times: VecDeque<i64>,
}

impl KdeWindow {
    /// Values held.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// The time a row at `ts` counts as: `ts`, or the latest time held when
    /// `ts` is earlier (a late row neither moves the window back in time nor
    /// breaks the order of the times).
    pub(crate) fn effective_time(&self, ts: i64) -> i64 {
        self.times.back().map_or(ts, |t| ts.max(*t))
    }

    /// Drop the values older than `cutoff` (see [`time_cutoff`]).
    pub(crate) fn evict_before(&mut self, cutoff: i64) {
        while self.times.front().is_some_and(|t| *t < cutoff) {
            self.times.pop_front();
            self.values.pop_front();
        }
    }

    /// Append `x` learned at time `ts` (an [`KdeWindow::effective_time`]),
    /// dropping the oldest value once `capacity` are held.
    pub(crate) fn push(&mut self, x: f64, ts: i64, capacity: u64) {
        while self.values.len() as u64 >= capacity.max(1) {
            self.values.pop_front();
            self.times.pop_front();
        }
        self.values.push_back(x);
        self.times.push_back(ts);
    }

    /// The window's mean (the kernel density's mean), NaN when empty.
    pub(crate) fn mean(&self) -> f64 {
        let mut sum = 0.0;
        for v in &self.values {
            sum += *v;
        }
        sum / self.values.len() as f64
    }

    /// The kernel bandwidth `h` (see the module doc), for a non-empty window
    /// whose mean is `mean`.
    pub(crate) fn bandwidth(&self, mean: f64) -> f64 {
        let n = self.values.len();
        let s = if n <= 1 {
            1.0
        } else {
            let mut ss = 0.0;
            for v in &self.values {
                let d = *v - mean;
                ss += d * d;
            }
            (ss / n as f64).sqrt()
        };
        (core::f64::consts::SQRT_2 * s).max(MIN_BANDWIDTH)
    }

    /// The right-tail p-value `P(X >= x)` under the window's kernel density,
    /// unclamped, and the window mean (NaN when empty).
    pub(crate) fn right_p(&self, x: f64) -> (f64, f64) {
        let n = self.values.len();
        if n == 0 {
            return (0.5, f64::NAN);
        }
        let mean = self.mean();
        let h = self.bandwidth(mean);
        let mut sum = 0.0;
        for v in &self.values {
            sum += libm::erf((x - *v) / h);
        }
        (0.5 - sum / (2.0 * n as f64), mean)
    }

    /// Every value finite, no more than `capacity` of them, one time per
    /// value and the times non-decreasing.
    pub(crate) fn is_consistent(&self, capacity: u64) -> bool {
        self.values.len() as u64 <= capacity
            && self.values.iter().all(|v| v.is_finite())
            && self.times.len() == self.values.len()
            && times_consistent(&self.times)
    }
}

/// The p-value of `side` from the right-tail one, clamped to
/// `[MIN_P, MAX_P]`. A NaN (only from non-finite arithmetic) reads as 1/2.
pub(crate) fn tail_p(right: f64, side: Side) -> f64 {
    let p = match side {
        Side::Right => right,
        Side::Left => 1.0 - right,
        Side::Both => right.min(1.0 - right),
    };
    if p.is_nan() {
        0.5
    } else {
        p.clamp(MIN_P, MAX_P)
    }
}

/// ML.NET's `LogPowerMartigaleBettingFunc`: `ln(eps) + (eps - 1) ln(p)`.
pub(crate) fn log_power_bet(p: f64, epsilon: f64) -> f64 {
    libm::log(epsilon) + (epsilon - 1.0) * libm::log(p)
}

/// ML.NET's `LogMixtureMartigaleBettingFunc` (the power martingale
/// integrated over `eps` in (0, 1)):
/// `ln(p ln p + 1 - p) - 2 ln(-ln p) - ln p`. Accurate for `p <= 1/2`, the
/// range of two-sided p-values.
pub(crate) fn log_mixture_bet(p: f64) -> f64 {
    let lp = libm::log(p);
    libm::log(p * lp + 1.0 - p) - 2.0 * libm::log(-lp) - lp
}
