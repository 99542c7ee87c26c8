//! The Gaussian tail `Q(z) = P(Z > z)` and its relatives, in plain IEEE
//! arithmetic.
//!
//! Rust's `std` has no `erf`, and `f64::exp` calls the platform's libm, which
//! may round differently natively and in WASM (the component must give
//! bit-identical results in both). So everything here uses only `+ - * /`,
//! comparisons and exact bit manipulation, which IEEE 754 defines exactly:
//!
//! - [`exp`]: Cody-Waite range reduction `x = k ln 2 + r`, `|r| <= ln 2 / 2`,
//!   a degree-13 Taylor polynomial for `e^r` (truncation below 1e-17), then
//!   `2^k` by building the exponent bits.
//! - [`erfc`]: below 0.5 the Maclaurin series of `erf` (Abramowitz &
//!   Stegun 7.1.5); from 0.5 to 2 the series with positive terms
//!   `erf x = 2/sqrt(pi) e^(-x^2) sum 2^n x^(2n+1) / (1*3*...*(2n+1))`
//!   (A&S 7.1.6), then `1 - erf`; from 2 the continued fraction
//!   `erfc x = e^(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))`
//!   (A&S 7.1.14), evaluated backwards from a depth that depends on `x`.
//!   Loops multiply by tabled reciprocals rather than divide.
//!
//! Accuracy against 50-digit `mpmath` values (`crates/core/tests/reference/
//! make_gauss_reference.py` and its output, checked by `tests/gauss.rs`):
//! `erfc` within 2e-13 relative on [0, 2] (where `1 - erf` cancels) and
//! within a few ulps beyond, up to the rounding of the argument itself
//! (`e^(-x^2)` moves by `2 x^2` ulps per ulp of `x`). Cost: 15 to 70 ns a
//! call for `|z| < 3`, which is what the likelihood layer mostly sees.

/// ln 2 split so that `k * LN2_HI` is exact for `|k| < 2^11` (fdlibm's
/// split: LN2_HI has 32 trailing zero bits, LN2_HI + LN2_LO = ln 2 to 1e-26).
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
const INV_LN2: f64 = std::f64::consts::LOG2_E;
/// 1 / sqrt(pi) (halving is exact).
const FRAC_1_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI / 2.0;

/// `e^x`, deterministic across platforms (see the module docs). 0 below
/// -745.2, infinity above 709.8, NaN for NaN.
pub fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x > 709.782_712_893_384 {
        return f64::INFINITY;
    }
    if x < -745.2 {
        return 0.0;
    }
    let k = round_half_away(x * INV_LN2);
    let r = (x - k * LN2_HI) - k * LN2_LO;
    // e^r = sum r^n / n!, n = 0..=13 (Taylor; the rest is below 1e-17), by Horner.
    let mut sum = INV_FACTORIAL[13];
    for c in INV_FACTORIAL[..13].iter().rev() {
        sum = sum * r + c;
    }
    scale_by_pow2(sum, k as i32)
}

/// `1 / n` for `n < 512`: loops multiply instead of dividing (each entry is
/// the correctly rounded quotient, computed at compile time).
const RECIP: [f64; 512] = {
    let mut t = [0.0; 512];
    let mut n = 1;
    while n < 512 {
        t[n] = 1.0 / n as f64;
        n += 1;
    }
    t
};

/// `1 / n!` for `n <= 13`.
const INV_FACTORIAL: [f64; 14] = {
    let mut t = [1.0; 14];
    let mut f = 1.0;
    let mut n = 1;
    while n < 14 {
        f *= n as f64; // exact: 13! < 2^53
        t[n] = 1.0 / f;
        n += 1;
    }
    t
};

/// Round to the nearest integer, halves away from zero, with plain arithmetic.
fn round_half_away(x: f64) -> f64 {
    // trunc and the subtraction are exact for |x| < 2^52.
    let t = x.trunc();
    let f = x - t;
    if f >= 0.5 {
        t + 1.0
    } else if f <= -0.5 {
        t - 1.0
    } else {
        t
    }
}

/// `x * 2^k` for `-1100 < k < 1100`, through exact powers of two.
fn scale_by_pow2(x: f64, k: i32) -> f64 {
    let pow2 = |e: i32| f64::from_bits(((e + 1023) as u64) << 52);
    if k > 1023 {
        x * pow2(1023) * pow2(k - 1023)
    } else if k < -1022 {
        // Two steps, so the intermediate stays normal.
        x * pow2(-1000) * pow2(k + 1000)
    } else {
        x * pow2(k)
    }
}

/// The complementary error function `erfc(x) = 1 - erf(x)`.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 0.5 {
        // erf x = 2/sqrt(pi) sum (-1)^n x^(2n+1) / (n! (2n+1)).
        let x2 = x * x;
        let mut power = x; // (-1)^n x^(2n+1) / n!
        let mut sum = x;
        for n in 1..40 {
            power = -power * x2 * RECIP[n];
            let term = power * RECIP[2 * n + 1];
            sum += term;
            if term.abs() < 1e-17 * sum.abs() {
                break;
            }
        }
        return 1.0 - 2.0 * FRAC_1_SQRT_PI * sum;
    }
    if x < SERIES_END {
        let x2 = x * x;
        let mut term = x;
        let mut sum = x;
        for n in 0..200 {
            term = term * 2.0 * x2 * RECIP[2 * n + 3];
            sum += term;
            if term < 1e-17 * sum {
                break;
            }
        }
        return 1.0 - 2.0 * FRAC_1_SQRT_PI * exp(-x2) * sum;
    }
    if x > 27.3 {
        return 0.0; // below the smallest subnormal
    }
    // f = x + (1/2)/(x + (2/2)/(x + (3/2)/(x + ...))), evaluated backwards
    // from a fixed depth (one division a term; see DEPTH).
    let depth = if x < 3.0 {
        DEPTH
    } else if x < 4.0 {
        32
    } else {
        20
    };
    let mut f = x;
    for half_n in HALF_N[1..=depth].iter().rev() {
        f = x + half_n / f;
    }
    exp(-x * x) * FRAC_1_SQRT_PI / f
}

/// Where the positive series hands over to the continued fraction.
const SERIES_END: f64 = 2.0;
/// Depth of the continued fraction from `SERIES_END` to 3 (32 to 4, then
/// 20): each converged to a relative 1e-15 (checked against mpmath by
/// `tests/gauss.rs`).
const DEPTH: usize = 60;
/// `n / 2`.
const HALF_N: [f64; DEPTH + 1] = {
    let mut t = [0.0; DEPTH + 1];
    let mut n = 0;
    while n <= DEPTH {
        t[n] = n as f64 * 0.5;
        n += 1;
    }
    t
};

/// The Gaussian tail `Q(z) = P(Z > z) = erfc(z / sqrt 2) / 2`.
pub fn tail(z: f64) -> f64 {
    0.5 * erfc(z * std::f64::consts::FRAC_1_SQRT_2)
}

/// The Gaussian distribution function `Phi(z) = P(Z <= z) = 1 - Q(z)`,
/// computed as `Q(-z)` below 0 so small values keep their precision.
pub fn cdf(z: f64) -> f64 {
    if z < 0.0 {
        tail(-z)
    } else if z >= 8.5 {
        // Q(8.5) < 1e-17, below half an ulp of 1: 1 - Q rounds to 1.
        1.0
    } else {
        1.0 - tail(z)
    }
}

/// The `z` with `cdf(z) = p`, for `p` in `(0, 1)`, by bisection (for config
/// time, not per row). `±40` at the ends.
pub fn quantile(p: f64) -> f64 {
    if p.is_nan() {
        return p;
    }
    let (mut lo, mut hi) = (-40.0f64, 40.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}
