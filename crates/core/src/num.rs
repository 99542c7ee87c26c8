//! Float helpers for hot loops that compile to a compare and a select on
//! every target.
//!
//! `f64::max` and `f64::min` are IEEE `maxNum`/`minNum` (a NaN argument
//! yields the other one). WebAssembly's `f64.max`/`f64.min` propagate NaN
//! instead, so for `wasm32` LLVM lowers the std methods to *calls* to
//! `fmax`/`fmin`, and in wasmtime every call spills all live float
//! registers. In the z-score loop that was two calls a row. These helpers
//! keep the std semantics for NaN and are inlined everywhere. (For `+0.0`
//! against `-0.0` std leaves the choice open; these return the second
//! argument. Native and WASM run this same code, so they always agree.)

/// The larger of `a` and `b`; if one is NaN, the other (as `f64::max`).
#[inline(always)]
pub fn fmax(a: f64, b: f64) -> f64 {
    if a > b || b.is_nan() { a } else { b }
}

/// The smaller of `a` and `b`; if one is NaN, the other (as `f64::min`).
#[inline(always)]
pub fn fmin(a: f64, b: f64) -> f64 {
    if a < b || b.is_nan() { a } else { b }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_as_std_except_signed_zero_ties() {
        let vals = [
            f64::NAN,
            f64::NEG_INFINITY,
            -1e300,
            -2.5,
            -f64::MIN_POSITIVE,
            0.0,
            f64::MIN_POSITIVE,
            1.0,
            2.5,
            1e300,
            f64::INFINITY,
        ];
        for &a in &vals {
            for &b in &vals {
                let (mx, mn) = (fmax(a, b), fmin(a, b));
                assert_eq!(mx.to_bits(), a.max(b).to_bits(), "fmax({a}, {b})");
                assert_eq!(mn.to_bits(), a.min(b).to_bits(), "fmin({a}, {b})");
            }
        }
        assert!(fmax(f64::NAN, f64::NAN).is_nan());
        assert_eq!(fmax(0.0, -0.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(fmin(-0.0, 0.0).to_bits(), 0.0f64.to_bits());
    }
}
