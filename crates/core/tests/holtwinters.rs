//! `holtwinters`: seasonal series with a spike, a level shift, NaN skipping
//! (the seasonal clock counts learned rows), key isolation, config errors.

#![allow(clippy::needless_range_loop)]

use wasmad_core::alert::Alerts;
use wasmad_core::config::{Common, Direction};
use wasmad_core::engine::Keyed;
use wasmad_core::flags::{self, Status};
use wasmad_core::holtwinters::detect_period;
use wasmad_core::holtwinters_v1::{LegacyHoltWinters, LegacyHoltWintersParams};
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
        (
            r#"{"algorithm":"holtwinters","period":"daily"}"#,
            r#"accepted: an integer >= 2 and <= 100000, or "auto""#,
        ),
        (
            r#"{"algorithm":"holtwinters","maxPeriod":100,"minTrainingSize":150}"#,
            "minTrainingSize (150) must be at least 2 * maxPeriod (200)",
        ),
        (
            r#"{"algorithm":"holtwinters","period":24,"seasonality":"exponential"}"#,
            "one of additive, multiplicative",
        ),
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

/// Detection finds the period of a seasonal series with a trend and noise,
/// prefers the period to its multiples, and finds none in noise or a line.
#[test]
fn detects_the_period() {
    let with_trend: Vec<f64> = seasonal(24 * 10, 1.0, 11)
        .iter()
        .enumerate()
        .map(|(i, v)| v + 0.05 * i as f64)
        .collect();
    assert_eq!(detect_period(&with_trend, 100), 24);
    // A weekly pattern of 7 rows, amplitude growing with the level.
    let weekly: Vec<f64> = (0..350)
        .map(|i| {
            let level = 50.0 + 0.2 * i as f64;
            let factor = [1.0, 1.1, 1.2, 1.1, 1.0, 0.6, 0.5][i % 7];
            level * factor
        })
        .collect();
    assert_eq!(detect_period(&weekly, 60), 7);
    let mut rng = Rng(3);
    let noise: Vec<f64> = (0..500).map(|_| rng.next()).collect();
    assert_eq!(detect_period(&noise, 100), 1);
    let line: Vec<f64> = (0..300).map(|i| 2.0 * i as f64).collect();
    assert_eq!(detect_period(&line, 100), 1);
    assert_eq!(detect_period(&[1.0, 2.0], 10), 1);
}

/// With the period detected the detector holds its warm-up, then learns it
/// as if the period had been given: from the first scored row on, every
/// output equals that of the same config with `period` set.
#[test]
fn auto_period_equals_the_given_period_after_warm_up() {
    let mut values = seasonal(24 * 12, 0.5, 5);
    values[200] += 40.0;
    values[100] = f64::NAN;
    let auto = run(
        r#"{"algorithm":"holtwinters","period":"auto","maxPeriod":40,"minTrainingSize":96}"#,
        &values,
    );
    let given = run(
        r#"{"algorithm":"holtwinters","period":24,"minTrainingSize":96}"#,
        &values,
    );
    assert_eq!(format!("{auto:?}"), format!("{given:?}"));
    // (The NaN shifts the phase by one row: the two rows after it are
    // flagged, as documented.)
    assert!(anomalies(&auto).contains(&200));
    // The default: period auto, maxPeriod 300, warm-up 900 rows.
    let d = Detector::from_config(r#"{"algorithm":"holtwinters"}"#).unwrap();
    let v: serde_json::Value = serde_json::from_str(&d.config_json()).unwrap();
    assert_eq!(v["period"], "auto");
    assert_eq!(v["maxPeriod"], 300);
    assert_eq!(v["minTrainingSize"], 900);
    assert_eq!(v["seasonality"], "additive");
}

/// Keys detect their own periods.
#[test]
fn keys_detect_their_own_periods() {
    let a = seasonal(24 * 8, 0.3, 1);
    let b: Vec<f64> = (0..24 * 8)
        .map(|i| [0.0, 10.0, 0.0, -10.0, 5.0][i % 5] + 100.0)
        .collect();
    let mut ts = Vec::new();
    let mut vs = Vec::new();
    let mut keys = Vec::new();
    for i in 0..a.len() {
        ts.extend([i as i64, i as i64]);
        vs.extend([a[i], b[i]]);
        keys.extend([0u32, 1]);
    }
    let mut d =
        Detector::from_config(r#"{"algorithm":"holtwinters","maxPeriod":40,"minTrainingSize":96}"#)
            .unwrap();
    let mut out = Scores::default();
    d.process(
        &Input {
            timestamps: &ts,
            values: &vs,
            width: 1,
            keys: &keys,
        },
        &mut out,
    )
    .unwrap();
    // Key 1 repeats exactly every 5 rows: once warm, its forecast is exact.
    for i in 100..a.len() {
        assert!((out.forecast[2 * i + 1] - b[i]).abs() < 1e-9, "row {i}");
    }
    // Key 0's daily pattern is tracked too: no flags on clean rows.
    assert!(anomalies(&out).is_empty(), "{:?}", anomalies(&out));
}

/// Seasonal swings that grow with the level: multiplicative indices follow
/// them, additive ones lag behind (larger errors, false flags).
#[test]
fn multiplicative_seasonality() {
    let mut rng = Rng(9);
    let mut values: Vec<f64> = (0..24 * 20)
        .map(|i| {
            let level = 20.0 + 0.5 * i as f64;
            let factor = 1.0 + ((i % 24) as f64 / 23.0 - 0.5);
            level * factor * (1.0 + 0.005 * rng.next())
        })
        .collect();
    values[400] *= 1.6;
    let config = |s: &str| {
        format!(
            r#"{{"algorithm":"holtwinters","period":24,"seasonality":"{s}","alpha":0.2,"beta":0.1,"gamma":0.3}}"#
        )
    };
    let mult = run(&config("multiplicative"), &values);
    let add = run(&config("additive"), &values);
    let rms = |out: &Scores| {
        let e: Vec<f64> = (100..values.len())
            .filter(|i| *i != 400)
            .map(|i| values[i] - out.forecast[i])
            .collect();
        (e.iter().map(|x| x * x).sum::<f64>() / e.len() as f64).sqrt()
    };
    assert!(
        rms(&mult) < 0.6 * rms(&add),
        "multiplicative {} vs additive {}",
        rms(&mult),
        rms(&add)
    );
    assert!(anomalies(&mult).contains(&400), "{:?}", anomalies(&mult));
    // A non-positive first season: indices start at 1 and nothing breaks.
    let around_zero: Vec<f64> = (0..200).map(|i| ((i % 24) as f64 - 11.5) * 0.1).collect();
    let out = run(&config("multiplicative"), &around_zero);
    assert!(out.forecast[100..].iter().all(|f| f.is_finite()));
}

/// A snapshot of the detector as written before 2026-12-04 (the legacy
/// state: additive, fixed period) restores as the current detector, which
/// then continues exactly as the legacy one would have.
#[test]
fn legacy_snapshots_restore_and_continue_identically() {
    let values = seasonal(24 * 8, 0.5, 12);
    let (head, tail) = values.split_at(100);
    let params = LegacyHoltWintersParams {
        period: 24,
        alpha: 0.05,
        beta: 0.0,
        gamma: 0.1,
    };
    let common = Common {
        threshold: 3.0,
        min_training_size: 48,
        direction: Direction::Both,
    };
    let mut legacy = Detector::HoltWintersV1(Keyed::<LegacyHoltWinters>::new(
        common,
        params,
        Alerts::default(),
    ));
    let mut out = Scores::default();
    let ts: Vec<i64> = (0..values.len() as i64).collect();
    legacy
        .process(&Input::univariate(&ts[..100], head), &mut out)
        .unwrap();
    let bytes = legacy.snapshot();
    let mut restored = Detector::restore(&bytes).expect("a legacy snapshot restores");
    assert!(
        restored
            .config_json()
            .contains(r#""seasonality":"additive""#)
    );
    let (mut a, mut b) = (Scores::default(), Scores::default());
    legacy
        .process(&Input::univariate(&ts[100..], tail), &mut a)
        .unwrap();
    restored
        .process(&Input::univariate(&ts[100..], tail), &mut b)
        .unwrap();
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    // And the current detector from the same config gives the same rows.
    let fresh = run(
        r#"{"algorithm":"holtwinters","period":24,"minTrainingSize":48}"#,
        &values,
    );
    assert_eq!(
        format!("{:?}", &fresh.score[100..]),
        format!("{:?}", b.score)
    );
}
