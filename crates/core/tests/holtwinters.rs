//! `holtwinters`: seasonal series with a spike, a level shift, NaN skipping
//! (the seasonal clock counts learned rows), key isolation, config errors.

#![allow(clippy::needless_range_loop)]

use wasmad_core::flags::{self, Status};
use wasmad_core::{Detector, Error, Input, Scores};

/// Seeded uniform noise in [-1, 1) (splitmix64), so no RNG crate is needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

const PERIOD: usize = 24;

/// A square-ish daily pattern (no libm needed) of amplitude 10 around 100,
/// plus noise of amplitude `noise`.
fn seasonal(n: usize, noise: f64, seed: u64) -> Vec<f64> {
    let shape = |p: usize| -> f64 {
        match p {
            0..=5 => -8.0,
            6..=9 => (p as f64 - 6.0) * 5.0 - 8.0,
            10..=17 => 10.0,
            18..=21 => 10.0 - (p as f64 - 17.0) * 4.5,
            _ => -8.0,
        }
    };
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| 100.0 + shape(i % PERIOD) + noise * rng.next())
        .collect()
}

fn timestamps(n: usize) -> Vec<i64> {
    (0..n as i64)
        .map(|i| 1_700_000_000_000_000 + i * 300_000_000)
        .collect()
}

fn run(config: &str, values: &[f64]) -> Scores {
    let mut d = Detector::from_config(config).unwrap_or_else(|e| panic!("{config}: {e}"));
    let mut out = Scores::default();
    d.process(
        &Input::univariate(&timestamps(values.len()), values),
        &mut out,
    )
    .unwrap_or_else(|e| panic!("{config}: {e}"));
    out
}

fn anomalies(out: &Scores) -> Vec<usize> {
    (0..out.len())
        .filter(|&i| flags::is_anomaly(out.flags[i]))
        .collect()
}

const CONFIG: &str = r#"{"algorithm":"holtwinters","period":24,"threshold":4}"#;

#[test]
fn seasonal_spike_is_the_only_anomaly() {
    let mut values = seasonal(24 * 20, 0.5, 1);
    // A spike of +6 at a trough: well inside the daily range (so a plain
    // z-score over all rows could not see it), far outside the seasonal forecast.
    let spike = 24 * 15 + 2;
    values[spike] += 6.0;
    let out = run(CONFIG, &values);
    // Default warm-up: 2 * period.
    for i in 0..48 {
        assert_eq!(Status::from_flags(out.flags[i]), Status::Warmup, "row {i}");
    }
    assert_eq!(Status::from_flags(out.flags[48]), Status::Ok);
    assert_eq!(anomalies(&out), vec![spike]);
    assert!(flags::is_up(out.flags[spike]));
    // The forecast tracks the season: within the noise of the clean value.
    let clean = seasonal(24 * 20, 0.0, 1);
    for i in 24 * 10..24 * 15 {
        assert!((out.forecast[i] - clean[i]).abs() < 1.5, "row {i}");
    }
    // Same config through zscore misses the spike.
    let z = run(r#"{"algorithm":"zscore","threshold":4}"#, &values);
    assert!(!flags::is_anomaly(z.flags[spike]));
}

#[test]
fn level_shift_is_flagged_then_absorbed() {
    let mut values = seasonal(24 * 30, 0.5, 2);
    let shift = 24 * 15 + 7;
    for v in &mut values[shift..] {
        *v += 15.0;
    }
    let out = run(CONFIG, &values);
    let a = anomalies(&out);
    assert!(!a.is_empty() && a[0] == shift, "{a:?}");
    assert!(a.iter().all(|&i| i >= shift), "{a:?}");
    // The level adapts: the last days are quiet again.
    assert!(a.iter().all(|&i| i < 24 * 26), "{a:?}");
}

#[test]
fn nan_rows_are_skipped_and_do_not_advance_the_phase() {
    let values = seasonal(24 * 10, 0.5, 3);
    let mut with_nan = values.clone();
    with_nan.insert(24 * 5, f64::NAN);
    with_nan.insert(24 * 5 + 1, f64::INFINITY);
    let a = run(CONFIG, &values);
    let b = run(CONFIG, &with_nan);
    let j = 24 * 5;
    assert_eq!(Status::from_flags(b.flags[j]), Status::Skipped);
    assert_eq!(Status::from_flags(b.flags[j + 1]), Status::Skipped);
    assert!(b.forecast[j].is_nan());
    // Learned rows are what count: the rows after the gap score exactly as
    // if the gap were not there.
    for i in 0..values.len() {
        let k = if i < j { i } else { i + 2 };
        assert_eq!(a.forecast[i].to_bits(), b.forecast[k].to_bits(), "row {i}");
        assert_eq!(a.score[i].to_bits(), b.score[k].to_bits(), "row {i}");
        assert_eq!(a.flags[i], b.flags[k], "row {i}");
    }
    // NaNs inside the initial cycle do not count towards it either.
    let mut early = values.clone();
    early.insert(3, f64::NAN);
    let c = run(CONFIG, &early);
    assert_eq!(c.forecast[60].to_bits(), a.forecast[59].to_bits());
}

#[test]
fn keys_are_isolated() {
    let a = seasonal(24 * 8, 0.5, 4);
    let b: Vec<f64> = seasonal(24 * 8, 3.0, 5).iter().map(|v| v * -2.0).collect();
    let mut values = Vec::new();
    let mut keys = Vec::new();
    for i in 0..a.len() {
        values.push(a[i]);
        keys.push(0);
        values.push(b[i]);
        keys.push(1);
    }
    let ts = timestamps(values.len());
    let mut d = Detector::from_config(CONFIG).unwrap();
    let mut out = Scores::default();
    d.process(
        &Input {
            timestamps: &ts,
            values: &values,
            width: 1,
            keys: &keys,
        },
        &mut out,
    )
    .unwrap();
    let alone_a = run(CONFIG, &a);
    let alone_b = run(CONFIG, &b);
    for i in 0..a.len() {
        assert_eq!(out.forecast[2 * i].to_bits(), alone_a.forecast[i].to_bits());
        assert_eq!(out.score[2 * i].to_bits(), alone_a.score[i].to_bits());
        assert_eq!(
            out.forecast[2 * i + 1].to_bits(),
            alone_b.forecast[i].to_bits()
        );
        assert_eq!(out.score[2 * i + 1].to_bits(), alone_b.score[i].to_bits());
    }
}

#[test]
fn effective_config_and_defaults() {
    let d = Detector::from_config(r#"{"algorithm":"holtwinters","period":288}"#).unwrap();
    assert_eq!(d.algorithm(), "holtwinters");
    let v: serde_json::Value = serde_json::from_str(&d.config_json()).unwrap();
    assert_eq!(v["period"], 288);
    assert_eq!(v["alpha"], 0.05);
    assert_eq!(v["beta"], 0.0);
    assert_eq!(v["gamma"], 0.1);
    assert_eq!(v["minTrainingSize"], 576);
    assert_eq!(v["threshold"], 3.0);
    // A short period keeps the common default warm-up.
    let d = Detector::from_config(r#"{"algorithm":"holtwinters","period":4}"#).unwrap();
    let v: serde_json::Value = serde_json::from_str(&d.config_json()).unwrap();
    assert_eq!(v["minTrainingSize"], 30);
    // A chosen warm-up of at least one period is kept.
    let d =
        Detector::from_config(r#"{"algorithm":"holtwinters","period":24,"minTrainingSize":24}"#)
            .unwrap();
    let v: serde_json::Value = serde_json::from_str(&d.config_json()).unwrap();
    assert_eq!(v["minTrainingSize"], 24);
    assert!(wasmad_core::describe().contains("\"holtwinters\""));
}

#[test]
fn config_errors() {
    let cases: &[(&str, &str)] = &[
        (r#"{"algorithm":"holtwinters"}"#, "'period' is required"),
        (
            r#"{"algorithm":"holtwinters","period":1}"#,
            "'period' = 1 is out of range",
        ),
        (
            r#"{"algorithm":"holtwinters","period":100001}"#,
            "out of range",
        ),
        (r#"{"algorithm":"holtwinters","period":2.5}"#, "wrong type"),
        (
            r#"{"algorithm":"holtwinters","period":24,"alpha":1.5}"#,
            "'alpha' = 1.5 is out of range",
        ),
        (
            r#"{"algorithm":"holtwinters","period":24,"beta":-0.1}"#,
            "'beta' = -0.1 is out of range",
        ),
        (
            r#"{"algorithm":"holtwinters","period":24,"gamma":2}"#,
            "'gamma' = 2 is out of range",
        ),
        (
            r#"{"algorithm":"holtwinters","period":24,"window":5}"#,
            "unknown key 'window'",
        ),
        (
            r#"{"algorithm":"holtwinters","period":24,"minTrainingSize":10}"#,
            "minTrainingSize (10) must be at least period (24)",
        ),
    ];
    for (config, want) in cases {
        match Detector::from_config(config) {
            Err(Error::InvalidConfig(m)) => assert!(m.contains(want), "{config}: {m}"),
            other => panic!(
                "{config}: expected InvalidConfig, got {:?}",
                other.map(|_| ())
            ),
        }
    }
}

#[test]
fn snapshot_round_trip() {
    let values = seasonal(24 * 6, 0.5, 6);
    let mut d = Detector::from_config(CONFIG).unwrap();
    let mut out = Scores::default();
    let ts = timestamps(values.len());
    d.process(&Input::univariate(&ts[..30], &values[..30]), &mut out)
        .unwrap();
    let bytes = d.snapshot();
    let mut r = Detector::restore(&bytes).unwrap();
    assert_eq!(r.snapshot(), bytes);
    let mut a = Scores::default();
    let mut b = Scores::default();
    d.process(&Input::univariate(&ts[30..], &values[30..]), &mut a)
        .unwrap();
    r.process(&Input::univariate(&ts[30..], &values[30..]), &mut b)
        .unwrap();
    assert_eq!(a.forecast.len(), b.forecast.len());
    for i in 0..a.len() {
        assert_eq!(a.forecast[i].to_bits(), b.forecast[i].to_bits());
        assert_eq!(a.score[i].to_bits(), b.score[i].to_bits());
    }
}
