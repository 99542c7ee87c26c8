//! `robust` (Confluent ML_DETECT_ANOMALIES_ROBUST): width 1 scores exactly
//! like `mad`; a multivariate spike in one column is flagged and attributed
//! to it; `imputeOutliers` keeps the median still during a burst; NaN
//! columns, all-NaN rows, warm-up, direction, width changes and config
//! errors.

use wasmad_core::config::{Direction, Reader, parse_object};
use wasmad_core::flags::{self, Status};
use wasmad_core::robust::{Robust, RobustParams};
use wasmad_core::{Detector, Input, Scores};

fn params(json: &str) -> RobustParams {
    try_params(json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

fn try_params(json: &str) -> Result<RobustParams, String> {
    let obj = parse_object(json).map_err(|e| e.to_string())?;
    let r = Reader::new(Robust::NAME, &obj, Robust::specs()).map_err(|e| e.to_string())?;
    Robust::read(&r).map(|(_, p)| p).map_err(|e| e.to_string())
}

/// A repeating noisy pattern whose median is exactly 10 over any multiple of
/// 4 rows: 9, 11, 10.5, 9.5.
fn base(i: usize) -> f64 {
    [9.0, 11.0, 10.5, 9.5][i % 4]
}

#[test]
fn width_one_scores_exactly_like_mad() {
    let xs: Vec<f64> = (0..300)
        .map(|i| match i {
            50 => 40.0,
            90 => f64::NAN,
            120..=135 => 7.0, // a flat run: MAD 0, mean-AD fallback
            200 => -30.0,
            _ => 10.0 + ((i * 37) % 11) as f64 * 0.3,
        })
        .collect();
    for extra in ["", r#","direction":"up""#, r#","direction":"down""#] {
        let cfg = format!(r#""window":25,"minTrainingSize":10,"threshold":3{extra}"#);
        let mut d = Detector::from_config(&format!(r#"{{"algorithm":"mad",{cfg}}}"#)).unwrap();
        let ts: Vec<i64> = (0..xs.len() as i64).collect();
        let mut out = Scores::default();
        d.process(&Input::univariate(&ts, &xs), &mut out).unwrap();

        let p = params(&format!("{{{cfg}}}"));
        let mut m = Robust::new(&p);
        let mut z = [0.0];
        let mut flagged = 0;
        for (i, x) in xs.iter().enumerate() {
            let s = m.update(&[*x], &p, &mut z);
            // Same flags but severity (graded by the engine's alert layer).
            assert_eq!(
                s.flags(),
                out.flags[i] & !flags::SEVERITY_MASK,
                "{cfg} row {i}: {s:?}"
            );
            for (a, b) in [
                (s.score, out.score[i]),
                (s.forecast, out.forecast[i]),
                (s.lower, out.lower[i]),
                (s.upper, out.upper[i]),
                (z[0], out.score[i]),
            ] {
                assert_eq!(a.to_bits(), b.to_bits(), "{cfg} row {i}: {a} vs {b}");
            }
            flagged += usize::from(s.anomaly);
        }
        assert!(flagged > 0, "{cfg}");
    }
}

#[test]
fn a_spike_in_one_column_is_flagged_and_attributed() {
    let p = params(r#"{"window":40,"minTrainingSize":20}"#);
    let mut m = Robust::new(&p);
    let mut z = [0.0; 3];
    for i in 0..40 {
        let s = m.update(&[base(i), 100.0 + base(i + 1), -base(i + 2)], &p, &mut z);
        assert!(!s.anomaly, "row {i}");
        assert_eq!(s.status, if i < 20 { Status::Warmup } else { Status::Ok });
    }
    // Column 1 (median 110, MAD 0.75, scale 1.11195) dips to 80: z = -27.
    let s = m.update(&[10.0, 80.0, -10.0], &p, &mut z);
    assert_eq!(s.status, Status::Ok);
    assert!(s.anomaly && !s.up, "{s:?}");
    assert_eq!(s.score.to_bits(), z[1].to_bits());
    assert!((z[1] - -30.0 / 1.1119).abs() < 0.01, "{z:?}");
    assert!(z[0].abs() < 1.0 && z[2].abs() < 1.0, "{z:?}");
    assert_eq!(s.forecast, 110.0);
    assert!((s.lower - (110.0 - 3.0 * 1.111_95)).abs() < 1e-9, "{s:?}");
    assert!((s.upper - (110.0 + 3.0 * 1.111_95)).abs() < 1e-9, "{s:?}");
    let f = s.flags();
    assert!(flags::is_anomaly(f) && !flags::is_up(f));

    // The most extreme column wins, sign kept: +12 in column 0 beats -11 in 2.
    let s = m.update(
        &[10.0 + 12.0 * 1.1119, 110.0, -10.0 - 11.0 * 1.1119],
        &p,
        &mut z,
    );
    assert!(
        s.anomaly && s.up && s.score > 11.0 && z[2] < -10.0,
        "{s:?} {z:?}"
    );
}

#[test]
fn direction_picks_and_flags_only_allowed_sides() {
    // (direction, row after the warm-up, anomaly, score's column)
    let cases = [
        (Direction::Both, [10.0, 60.0], true, 1),
        (Direction::Up, [10.0, 60.0], false, 0),
        (Direction::Down, [10.0, 60.0], true, 1),
        (Direction::Up, [30.0, 60.0], true, 0),
        (Direction::Down, [30.0, 110.0], false, 1),
    ];
    for (direction, row, anomaly, col) in cases {
        let p = params(&format!(
            r#"{{"window":20,"direction":"{}"}}"#,
            direction.as_str()
        ));
        let mut m = Robust::new(&p);
        let mut z = [0.0; 2];
        for i in 0..20 {
            m.update(&[base(i), 100.0 + base(i)], &p, &mut z); // medians 10, 110
        }
        let s = m.update(&row, &p, &mut z);
        assert_eq!(s.anomaly, anomaly, "{direction:?} {row:?}: {s:?}");
        assert_eq!(s.score.to_bits(), z[col].to_bits(), "{direction:?} {row:?}");
    }
}

/// Feeds 40 normal rows then a burst of `n` outliers (+90) in column 0 while
/// column 1 carries on; returns the state and how many burst rows were
/// flagged.
fn after_burst(impute: bool, n: usize) -> (Robust, RobustParams, usize) {
    let p = params(&format!(
        r#"{{"window":20,"minTrainingSize":20,"imputeOutliers":{impute}}}"#
    ));
    let mut m = Robust::new(&p);
    let mut z = [0.0; 2];
    for i in 0..40 {
        m.update(&[base(i), base(i + 1)], &p, &mut z);
    }
    assert_eq!(m.median(0), 10.0);
    let mut flagged = 0;
    for i in 40..40 + n {
        let s = m.update(&[100.0, base(i + 1)], &p, &mut z);
        flagged += usize::from(s.anomaly);
        assert!(z[1].abs() < 3.0, "column 1 is normal");
    }
    (m, p, flagged)
}

#[test]
fn impute_outliers_keeps_the_median_still_during_a_burst() {
    // A burst of 8 (two periods of the pattern). With imputation each
    // outlier enters as the current median while a pattern value expires;
    // the expiries are briefly unbalanced (the median goes 10 -> 10.25 ->
    // ...) but it ends within 0.1 of 10, and every burst row is flagged.
    // Without it, 8 of the 20 values are 100 and the median moves to 11.
    let (imputed, p, flagged) = after_burst(true, 8);
    assert!(
        (imputed.median(0) - 10.0).abs() < 0.1,
        "{}",
        imputed.median(0)
    );
    assert_eq!(flagged, 8);
    let (raw, _, flagged_raw) = after_burst(false, 8);
    assert_eq!(raw.median(0), 11.0);
    assert!(flagged_raw >= 1);
    // Column 1 learned its raw values in both runs.
    assert_eq!(imputed.median(1), raw.median(1));
    // After the burst, a normal row is normal with imputation (its |z| is
    // larger than before the burst, 1.85 for a 9: the imputed values sit at
    // the median, so the MAD shrinks a little).
    let mut imputed = imputed;
    let mut z = [0.0; 2];
    let s = imputed.update(&[base(0), base(1)], &p, &mut z);
    assert!(!s.anomaly && z[0].abs() < 2.0, "{z:?}");

    // A burst longer than half the window: without imputation the outliers
    // become the baseline (later burst rows are no longer flagged); with it
    // every one is flagged.
    let (imputed, _, flagged) = after_burst(true, 15);
    assert!(
        (imputed.median(0) - 10.0).abs() < 0.1,
        "{}",
        imputed.median(0)
    );
    assert_eq!(flagged, 15);
    let (raw, _, flagged_raw) = after_burst(false, 15);
    assert_eq!(raw.median(0), 100.0);
    assert!(flagged_raw < 15, "{flagged_raw}");
}

#[test]
fn nan_columns_are_skipped_and_all_nan_rows_change_nothing() {
    let p = params(r#"{"window":10,"minTrainingSize":5}"#);
    let mut m = Robust::new(&p);
    let mut z = [0.0; 2];
    // An all-NaN first row does not even fix the width.
    let s = m.update(&[f64::NAN; 3], &p, &mut z);
    assert_eq!((s.status, m.width(), m.seen()), (Status::Skipped, 0, 0));
    assert_eq!(m, Robust::new(&p));
    // Column 1 is NaN on even rows, so it learns half as fast.
    let mut statuses = Vec::new();
    for i in 0..12 {
        let b = if i % 2 == 0 { f64::NAN } else { base(i) };
        let s = m.update(&[base(i), b], &p, &mut z);
        statuses.push(s.status);
        if i % 2 == 0 || i < 9 {
            assert!(z[1].is_nan(), "row {i}: {z:?}");
        }
        if i >= 5 {
            assert!(z[0].is_finite(), "row {i}");
        }
    }
    use Status::{Ok, Warmup as W};
    assert_eq!(statuses, [W, W, W, W, W, Ok, Ok, Ok, Ok, Ok, Ok, Ok]);
    assert!(z[1].is_finite(), "column 1 has 5 values after 10 rows");

    let before = postcard::to_allocvec(&m).unwrap();
    for row in [
        [f64::NAN, f64::NAN],
        [f64::INFINITY, f64::NEG_INFINITY],
        [f64::NAN, f64::INFINITY],
    ] {
        let s = m.update(&row, &p, &mut z);
        assert_eq!(s.status, Status::Skipped);
        assert_eq!(Status::from_flags(s.flags()), Status::Skipped);
        assert!(s.score.is_nan() && !s.anomaly && z.iter().all(|v| v.is_nan()));
    }
    // A row of the wrong width is skipped too.
    assert_eq!(m.update(&[1.0], &p, &mut z).status, Status::Skipped);
    assert_eq!(
        m.update(&[1.0, 2.0, 3.0], &p, &mut z).status,
        Status::Skipped
    );
    assert_eq!(postcard::to_allocvec(&m).unwrap(), before);
    assert_eq!((m.seen(), m.width()), (12, 2));

    // A NaN column does not stop the others: 50 in column 1 is flagged.
    let s = m.update(&[f64::NAN, 50.0], &p, &mut z);
    assert!(s.anomaly && s.up && z[0].is_nan() && z[1] > 3.0, "{s:?}");
    // An output buffer of another length is filled as far as it goes.
    let mut short = [0.0; 1];
    let s = m.update(&[10.0, 50.0], &p, &mut short);
    assert!(s.anomaly && short[0].abs() < 3.0);
}

#[test]
fn config_defaults_and_errors() {
    let p = params("{}");
    assert_eq!(
        (
            p.window,
            p.threshold,
            p.min_training_size,
            p.impute_outliers
        ),
        (60, 3.0, 30, false)
    );
    assert_eq!(p.direction, Direction::Both);
    assert_eq!(params(r#"{"window":10}"#).min_training_size, 10);
    let p = params(r#"{"window":50,"threshold":2.5,"imputeOutliers":true}"#);
    let json = serde_json::Value::Object(Robust::params_json(&p)).to_string();
    assert_eq!(json, r#"{"imputeOutliers":true,"window":50}"#);
    let cases = [
        (
            r#"{"window":2}"#,
            "'window' = 2 is out of range for algorithm 'robust'; accepted: integer >= 3 and <= 1000000",
        ),
        (
            r#"{"threshold":0}"#,
            "'threshold' = 0 is out of range for algorithm 'robust'; accepted: number > 0",
        ),
        (
            r#"{"imputeOutliers":"yes"}"#,
            "'imputeOutliers' = \"yes\" has the wrong type for algorithm 'robust'; accepted: true or false",
        ),
        (
            r#"{"window":10,"minTrainingSize":11}"#,
            "minTrainingSize (11) must not exceed window (10) for algorithm 'robust'",
        ),
        (
            r#"{"impute":true}"#,
            "unknown key 'impute' for algorithm 'robust'; accepted keys: algorithm, threshold, minTrainingSize, direction, window, imputeOutliers",
        ),
    ];
    for (json, want) in cases {
        let err = try_params(json).expect_err(json);
        assert!(err.contains(want), "{json}: {err}");
    }
}
