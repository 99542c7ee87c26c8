//! STL: Seasonal-Trend decomposition by Loess (Cleveland, Cleveland, McRae
//! and Terpenning, 1990), the non-robust inner loop, written after the
//! reference Fortran (`stl.f`, netlib) that R's `stl` and statsmodels' `STL`
//! both wrap.
//!
//! `y = seasonal + trend + remainder`. Each of the `inner` passes:
//!
//! 1. detrend: `y - trend` (the trend starts at 0);
//! 2. cycle-subseries smoothing: the values of each phase (every `period`-th
//!    row) are smoothed by a degree-1 loess of span `seasonal`, and each
//!    subseries is extrapolated one cycle before and one after, giving a series
//!    `C` of length `n + 2 period`;
//! 3. low-pass filter of `C`: moving averages of lengths `period`, `period`
//!    and 3, then a loess of span `low_pass`, giving `L` (length `n`);
//! 4. seasonal = `C[period..period + n] - L`;
//! 5. deseasonalise `y - seasonal` and smooth it by a loess of span `trend`:
//!    the new trend.
//!
//! [`StlSpans::for_period`] follows statsmodels' `STL(period=m)`:
//! `seasonal = 7`, `trend` = the smallest odd integer `>= 1.5 m / (1 - 1.5 /
//! seasonal)`, `low_pass` = the smallest odd integer `> m`, all loess fits of
//! degree 1, evaluated at every point (no `jump`), 5 inner passes, no
//! robustness passes (statsmodels' non-robust defaults). Checked against
//! statsmodels by `tests/arima.rs` (within 3e-9; observed 1e-12).
//! [`StlSpans::periodic`] is R's `s.window = "periodic"` (what `arima` uses:
//! a seasonal pattern that is fixed over the window, so the in-sample
//! remainder keeps the noise a forecast will meet). Only
//! `+ - * /` and `sqrt` are used, so WASM and native agree bit for bit.

/// Spans of the three loess smoothers (all odd, at least 3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StlSpans {
    /// Seasonal (cycle-subseries) loess span, in cycles.
    pub seasonal: usize,
    /// Degree of the seasonal loess (0 or 1).
    pub seasonal_degree: usize,
    /// Trend loess span, in rows.
    pub trend: usize,
    /// Low-pass loess span, in rows.
    pub low_pass: usize,
    /// Inner passes.
    pub inner: usize,
}

impl StlSpans {
    /// statsmodels' defaults for a season of `period` rows (see the module doc).
    pub fn for_period(period: usize) -> StlSpans {
        StlSpans::with_seasonal(period, 7, 1)
    }

    /// R's `s.window = "periodic"` for a series of `n` rows: the seasonal
    /// loess has degree 0 and span `10 * (n / period) + 1` cycles, so each
    /// phase's seasonal index is (nearly) the mean of its detrended values
    /// and is the same in every cycle. Trend and low-pass from that span as
    /// in [`StlSpans::with_seasonal`].
    pub fn periodic(period: usize, n: usize) -> StlSpans {
        StlSpans::with_seasonal(period, 10 * (n / period.max(1)) + 1, 0)
    }

    /// A seasonal span and degree, with statsmodels' (and R's) derived
    /// defaults: `trend` = the smallest odd integer `>= 1.5 period / (1 - 1.5
    /// / seasonal)`, `low_pass` = the smallest odd integer `> period`, 5
    /// inner passes.
    pub fn with_seasonal(period: usize, seasonal: usize, seasonal_degree: usize) -> StlSpans {
        let t = 1.5 * period as f64 / (1.0 - 1.5 / seasonal.max(3) as f64);
        let mut trend = t.ceil() as usize;
        if trend.is_multiple_of(2) {
            trend += 1;
        }
        let mut low_pass = period + 1;
        if low_pass.is_multiple_of(2) {
            low_pass += 1;
        }
        StlSpans {
            seasonal,
            seasonal_degree,
            trend: trend.max(3),
            low_pass: low_pass.max(3),
            inner: 5,
        }
    }
}

/// The seasonal and trend components of `y` for a season of `period` rows
/// (`period >= 2`). Returns `None` when `y` is shorter than two seasons.
pub fn decompose(y: &[f64], period: usize, spans: StlSpans) -> Option<(Vec<f64>, Vec<f64>)> {
    let n = y.len();
    if period < 2 || n < 2 * period {
        return None;
    }
    let mut trend = vec![0.0; n];
    let mut seasonal = vec![0.0; n];
    let mut work = vec![0.0; n];
    let mut c = vec![0.0; n + 2 * period];
    let mut low = vec![0.0; n];
    for _ in 0..spans.inner {
        for i in 0..n {
            work[i] = y[i] - trend[i];
        }
        cycle_subseries(&work, period, spans.seasonal, spans.seasonal_degree, &mut c);
        low_pass(&c, period, spans.low_pass, &mut low);
        for i in 0..n {
            seasonal[i] = c[period + i] - low[i];
            work[i] = y[i] - seasonal[i];
        }
        smooth(&work, spans.trend, 1, &mut trend);
    }
    Some((seasonal, trend))
}

/// Step 2: smooth each phase's subseries (loess of degree `degree`), extrapolated one value each side;
/// `out` has length `n + 2 period`.
fn cycle_subseries(y: &[f64], period: usize, span: usize, degree: usize, out: &mut [f64]) {
    let mut scratch = Vec::new();
    let n = y.len();
    let mut sub = Vec::with_capacity(n / period + 1);
    let mut fit = Vec::with_capacity(n / period + 3);
    for j in 0..period {
        sub.clear();
        let mut i = j;
        while i < n {
            sub.push(y[i]);
            i += period;
        }
        let k = sub.len();
        fit.clear();
        fit.resize(k + 2, 0.0);
        smooth(&sub, span, degree, &mut fit[1..k + 1]);
        // One cycle before (position 0) and one after (position k + 1), in
        // 1-based subseries positions as in stl.f.
        let right = span.min(k);
        fit[0] = loess(&mut scratch, &sub, span, degree, 0.0, 1, right).unwrap_or(fit[1]);
        let left = if k > span { k - span + 1 } else { 1 };
        fit[k + 1] =
            loess(&mut scratch, &sub, span, degree, (k + 1) as f64, left, k).unwrap_or(fit[k]);
        for (m, v) in fit.iter().enumerate() {
            let idx = j + m * period;
            if idx < out.len() {
                out[idx] = *v;
            }
        }
    }
}

/// Step 3: moving averages (period, period, 3), then loess.
fn low_pass(c: &[f64], period: usize, span: usize, out: &mut [f64]) {
    let a = moving_average(c, period);
    let b = moving_average(&a, period);
    let d = moving_average(&b, 3);
    smooth(&d, span, 1, out);
}

/// Means of every `len` consecutive values (`x.len() - len + 1` of them).
fn moving_average(x: &[f64], len: usize) -> Vec<f64> {
    if x.len() < len || len == 0 {
        return Vec::new();
    }
    let inv = 1.0 / len as f64;
    let mut out = Vec::with_capacity(x.len() - len + 1);
    let mut sum: f64 = x[..len].iter().sum();
    out.push(sum * inv);
    for i in len..x.len() {
        sum += x[i] - x[i - len];
        out.push(sum * inv);
    }
    out
}

/// A loess of degree 0 or 1 and span `span` evaluated at every position 1..=n
/// (stl.f's `ess` with `jump = 1`); `out.len() == y.len()`.
fn smooth(y: &[f64], span: usize, degree: usize, out: &mut [f64]) {
    let mut scratch = Vec::with_capacity(span.min(y.len()));
    let n = y.len();
    if n == 0 {
        return;
    }
    if n < 2 {
        out[0] = y[0];
        return;
    }
    let (mut left, mut right) = if span >= n { (1, n) } else { (1, span) };
    let half = span.div_ceil(2);
    // Where the window is centred on the point (all but the ends), the
    // weights are the same at every point up to rounding: computed once,
    // then reused (the fits move by a few ulps, not more).
    let mut kernel: Vec<f64> = Vec::new();
    for i in 1..=n {
        if span < n && i > half && right != n {
            left += 1;
            right += 1;
        }
        let centred = span < n && i - left == right - i;
        if centred && !kernel.is_empty() {
            let mut ys = 0.0;
            for (k, w) in kernel.iter().enumerate() {
                ys += w * y[left - 1 + k];
            }
            out[i - 1] = ys;
            continue;
        }
        out[i - 1] = match loess(&mut scratch, y, span, degree, i as f64, left, right) {
            Some(v) => {
                if centred {
                    kernel.clone_from(&scratch);
                }
                v
            }
            None => y[i - 1],
        };
    }
}

/// stl.f's `est`: the tricube-weighted local constant (degree 0) or linear
/// (degree 1) fit at `xs`
/// (1-based) over the rows `left..=right` (1-based); `None` when every
/// weight is 0.
fn loess(
    w: &mut Vec<f64>,
    y: &[f64],
    span: usize,
    degree: usize,
    xs: f64,
    left: usize,
    right: usize,
) -> Option<f64> {
    let n = y.len();
    let range = n as f64 - 1.0;
    let mut h = (xs - left as f64).max(right as f64 - xs);
    if span > n {
        h += ((span - n) / 2) as f64;
    }
    let h9 = 0.999 * h;
    let h1 = 0.001 * h;
    w.clear();
    w.resize(right + 1 - left, 0.0);
    let mut total = 0.0;
    for j in left..=right {
        let r = (j as f64 - xs).abs();
        let wj = if r <= h9 {
            if r <= h1 {
                1.0
            } else {
                let u = r / h;
                let t = 1.0 - u * u * u;
                t * t * t
            }
        } else {
            0.0
        };
        w[j - left] = wj;
        total += wj;
    }
    if total <= 0.0 {
        return None;
    }
    for v in w.iter_mut() {
        *v /= total;
    }
    if h > 0.0 && degree > 0 {
        let mut a = 0.0;
        for j in left..=right {
            a += w[j - left] * j as f64;
        }
        let mut c = 0.0;
        for j in left..=right {
            let dj = j as f64 - a;
            c += w[j - left] * dj * dj;
        }
        if c.sqrt() > 0.001 * range {
            let b = (xs - a) / c;
            for j in left..=right {
                w[j - left] *= b * (j as f64 - a) + 1.0;
            }
        }
    }
    let mut ys = 0.0;
    for j in left..=right {
        ys += w[j - left] * y[j - 1];
    }
    Some(ys)
}
