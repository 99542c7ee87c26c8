//! `wasmad_core::gauss` against 50-digit mpmath values
//! (`reference/make_gauss_reference.py` wrote `reference/gauss_values.csv`),
//! plus the identities the likelihood layer relies on.

use wasmad_core::gauss::{cdf, erfc, exp, quantile, tail};

/// Relative error allowed per function and argument: `1 - erf` cancels
/// below 2 (the error bound of `gauss.rs`), and far in the tail the rounding
/// of the argument itself dominates (`e^(-x^2)` moves by `2 x^2` relative
/// ulps when `x` moves by one ulp).
fn tolerance(function: &str, x: f64) -> f64 {
    let x = if function == "tail" {
        x * std::f64::consts::FRAC_1_SQRT_2
    } else {
        x
    };
    match function {
        "exp" => 4e-16,
        _ if (0.5..2.0).contains(&x.abs()) => 2e-13,
        _ => 2e-14_f64.max(x * x * 4e-16),
    }
}

#[test]
fn matches_mpmath_reference_values() {
    let text = include_str!("reference/gauss_values.csv");
    let mut checked = 0;
    let mut worst = Vec::new();
    for line in text.lines().skip(1) {
        let mut parts = line.split(',');
        let (Some(f), Some(x), Some(v)) = (parts.next(), parts.next(), parts.next()) else {
            panic!("bad line {line:?}");
        };
        let x: f64 = x.parse().expect("x");
        let want: f64 = v.parse().expect("value");
        let got = match f {
            "exp" => exp(x),
            "erfc" => erfc(x),
            "tail" => tail(x),
            other => panic!("unknown function {other}"),
        };
        let rel = ((got - want) / want).abs();
        worst.push((rel, f.to_string(), x));
        assert!(
            rel <= tolerance(f, x),
            "{f}({x}) = {got:e}, want {want:e} (relative error {rel:e})"
        );
        checked += 1;
    }
    assert!(checked >= 60, "only {checked} reference values");
    worst.sort_by(|a, b| b.0.total_cmp(&a.0));
    eprintln!("worst relative errors: {:?}", &worst[..5]);
}

#[test]
fn edges_and_identities() {
    // (name, got, want)
    let cases: &[(&str, f64, f64)] = &[
        ("exp(0)", exp(0.0), 1.0),
        ("exp underflows to 0", exp(-800.0), 0.0),
        ("exp overflows to inf", exp(710.0), f64::INFINITY),
        ("erfc(0)", erfc(0.0), 1.0),
        ("erfc far right is 0", erfc(30.0), 0.0),
        ("erfc far left is 2", erfc(-30.0), 2.0),
        ("tail(0) is one half", tail(0.0), 0.5),
        ("cdf(0) is one half", cdf(0.0), 0.5),
        ("cdf saturates at 1", cdf(9.0), 1.0),
        (
            "cdf is exactly 1 - tail where it shortcuts",
            cdf(8.5),
            1.0 - tail(8.5),
        ),
        ("and just below", cdf(8.4999), 1.0 - tail(8.4999)),
        ("cdf far left is 0", cdf(-40.0), 0.0),
    ];
    for (name, got, want) in cases {
        assert_eq!(got, want, "{name}");
    }
    assert!(exp(f64::NAN).is_nan() && erfc(f64::NAN).is_nan() && quantile(f64::NAN).is_nan());
    // cdf is monotone and Q(z) + Phi(z) = 1 on a fine grid.
    let mut prev = -1.0;
    for i in -800..=800 {
        let z = f64::from(i) / 100.0;
        let c = cdf(z);
        assert!(c >= prev, "cdf not monotone at {z}");
        assert!((c + tail(z) - 1.0).abs() < 2e-16, "cdf + tail != 1 at {z}");
        prev = c;
    }
    // quantile inverts cdf.
    for (p, z) in [
        (0.5, 0.0),
        (0.975, 1.959_963_984_540_054),
        (0.9999, 3.719_016_485_455_709),
    ] {
        let q = quantile(p);
        assert!((q - z).abs() < 1e-9, "quantile({p}) = {q}, want {z}");
    }
}
