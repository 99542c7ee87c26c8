//! `hst` (Half-Space Trees): every row's score against river's
//! HalfSpaceTrees on river's own trees (`tests/reference/hst`, see its
//! script), tree growth (splits inside the padded ranges, columns drawn by
//! range width, seeded determinism), learned ranges, statuses, and config
//! errors as a table.

use std::path::PathBuf;

use serde_json::Value;
use wasmad_core::config::Reader;
use wasmad_core::flags::{self, Status};
use wasmad_core::hst::{Hst, HstParams};
use wasmad_core::{Detector, Error, Input, Scores};

fn params(config: &Value) -> HstParams {
    let obj = config.as_object().expect("object");
    let reader = Reader::new("hst", obj, HstParams::specs()).expect("keys");
    let mut common = reader.common().expect("common");
    HstParams::params(&reader, &mut common).expect("params")
}

#[test]
fn scores_equal_rivers_on_rivers_trees() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/reference/hst/hst_reference.json");
    let text = std::fs::read_to_string(&path).expect("reference file");
    let v: Value = serde_json::from_str(&text).expect("json");
    let cases = v["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 3);
    for c in cases {
        let name = c["name"].as_str().expect("name");
        let p = params(&c["config"]);
        let rows: Vec<Vec<f64>> = serde_json::from_value(c["rows"].clone()).expect("rows");
        let width = rows[0].len();
        let features: Vec<Vec<u8>> =
            serde_json::from_value(c["features"].clone()).expect("features");
        let splits: Vec<Vec<f64>> = serde_json::from_value(c["splits"].clone()).expect("splits");
        let want: Vec<f64> = serde_json::from_value(c["scores"].clone()).expect("scores");
        let mut h = Hst::with_trees(&p, width, &features, &splits).expect("trees");
        let mut compared = 0;
        let mut high = 0;
        for (i, row) in rows.iter().enumerate() {
            let (status, score) = h.update(row, &p);
            if (i as u64) < p.window_size {
                // river scores 0 in its first window; wasmad says warmup.
                assert_eq!(status, Status::Warmup, "{name} row {i}");
                assert_eq!(want[i], 0.0, "{name} row {i}");
                continue;
            }
            assert_eq!(status, Status::Ok, "{name} row {i}");
            assert!(
                (score - want[i]).abs() <= 1e-12,
                "{name} row {i}: {score} vs river {}",
                want[i]
            );
            compared += 1;
            if score > 0.9 {
                high += 1;
            }
        }
        assert!(compared >= 350, "{name}: {compared}");
        assert!(high > 0, "{name}: the outliers score high");
    }
}

/// Recompute each branch's ranges from its ancestors' splits: every split
/// lies in the middle 70% of its node's range on the split column.
#[test]
fn splits_fall_inside_the_padded_ranges() {
    for seed in [1u64, 2, 3, 99] {
        let config = serde_json::json!({"numberOfTrees": 4, "height": 7, "windowSize": 20, "seed": seed, "limits": [[0.0, 1.0], [-50.0, 50.0], [10.0, 12.0]]});
        let p = params(&config);
        let h = Hst::new(&p, 3).expect("model");
        let (features, splits) = h.trees();
        let branches = (1usize << 7) - 1;
        assert_eq!(features.len(), 4 * branches);
        let limits = [(0.0, 1.0), (-50.0, 50.0), (10.0, 12.0)];
        for t in 0..4 {
            let mut ranges = vec![limits.to_vec(); branches];
            for node in 0..branches {
                let f = features[t * branches + node] as usize;
                let at = splits[t * branches + node];
                let (a, b) = ranges[node][f];
                assert!(
                    at >= a + 0.15 * (b - a) - 1e-12 && at <= b - 0.15 * (b - a) + 1e-12,
                    "seed {seed} tree {t} node {node}: {at} outside {a}..{b}"
                );
                for (child, range) in [(2 * node + 1, (a, at)), (2 * node + 2, (at, b))] {
                    if child < branches {
                        ranges[child] = ranges[node].clone();
                        ranges[child][f] = range;
                    }
                }
            }
        }
    }
}

/// The root's column is drawn with probability proportional to its range
/// width (river weights columns the same way).
#[test]
fn columns_are_drawn_by_range_width() {
    let mut wide = 0;
    let trials = 400;
    for seed in 0..trials {
        let config = serde_json::json!({"numberOfTrees": 1, "height": 1, "windowSize": 10, "seed": seed, "limits": [[0.0, 1.0], [0.0, 9.0]]});
        let p = params(&config);
        let h = Hst::new(&p, 2).expect("model");
        wide += usize::from(h.trees().0[0] == 1);
    }
    // Expect 90%: 360 of 400, sd 6.
    assert!((330..=390).contains(&wide), "{wide} of {trials}");
}

fn series(n: usize) -> Vec<f64> {
    let mut s: u64 = 7;
    (0..n)
        .map(|i| {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            match i {
                400 => 80.0,
                500 => -30.0,
                77 => f64::NAN,
                _ => 20.0 + 4.0 * u,
            }
        })
        .collect()
}

fn run(config: &str, values: &[f64]) -> Scores {
    let ts: Vec<i64> = (0..values.len() as i64).collect();
    let mut d = Detector::from_config(config).unwrap_or_else(|e| panic!("{config}: {e}"));
    let mut out = Scores::default();
    d.process(&Input::univariate(&ts, values), &mut out)
        .expect("process");
    out
}

/// Without limits: warm-up for the first window (ranges learned from it),
/// NaN skipped and not learned, the spike and the dip flagged with the
/// right direction, forecast = the reference window's mean.
#[test]
fn learns_its_ranges_and_flags_outliers() {
    let values = series(700);
    let out = run(r#"{"algorithm":"hst","windowSize":100}"#, &values);
    let statuses: Vec<Status> = out.flags.iter().map(|f| Status::from_flags(*f)).collect();
    // 100 finite rows (one NaN among the first 101) fill the first window.
    assert!(statuses[..101].iter().all(|s| *s != Status::Ok));
    assert_eq!(statuses[77], Status::Skipped);
    assert!(statuses[101..].iter().all(|s| *s == Status::Ok));
    assert!(flags::is_anomaly(out.flags[400]) && flags::is_up(out.flags[400]));
    assert!(flags::is_anomaly(out.flags[500]) && !flags::is_up(out.flags[500]));
    let flagged = out.flags.iter().filter(|f| flags::is_anomaly(**f)).count();
    assert!(
        flagged <= 12,
        "{flagged} flags on 600 scored rows of uniform noise"
    );
    assert!(
        (out.forecast[300] - 22.0).abs() < 0.5,
        "{}",
        out.forecast[300]
    );
    assert!(out.score[101..].iter().all(|s| (0.0..=1.0).contains(s)));
}

#[test]
fn seeded_and_deterministic() {
    let values = series(500);
    let a = run(r#"{"algorithm":"hst","windowSize":50,"seed":5}"#, &values);
    let b = run(r#"{"algorithm":"hst","windowSize":50,"seed":5}"#, &values);
    let c = run(r#"{"algorithm":"hst","windowSize":50,"seed":6}"#, &values);
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    assert_ne!(a.score, c.score);
}

/// Two columns: the joint outlier scores highest.
#[test]
fn multivariate_rows() {
    let n = 600;
    let mut ts = Vec::new();
    let mut vs = Vec::new();
    for i in 0..n {
        let x = (i % 17) as f64;
        let y = 2.0 * x + ((i * 7) % 5) as f64;
        let (x, y) = if i == 450 { (16.0, 0.0) } else { (x, y) };
        ts.push(i as i64);
        vs.extend([x, y]);
    }
    let mut d = Detector::from_config(
        r#"{"algorithm":"hst","windowSize":100,"numberOfTrees":25,"height":10}"#,
    )
    .expect("valid");
    let mut out = Scores::default();
    d.process(
        &Input {
            timestamps: &ts,
            values: &vs,
            width: 2,
            keys: &[],
        },
        &mut out,
    )
    .expect("process");
    let best = (100..n)
        .max_by(|a, b| out.score[*a].total_cmp(&out.score[*b]))
        .expect("rows");
    assert_eq!(best, 450, "score {}", out.score[best]);
}

#[test]
fn config_errors_say_what_is_accepted() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "limits not a list",
            r#"{"algorithm":"hst","limits":5}"#,
            "one [low, high] pair",
        ),
        (
            "low >= high",
            r#"{"algorithm":"hst","limits":[[1,1]]}"#,
            "low < high",
        ),
        (
            "pair of three",
            r#"{"algorithm":"hst","limits":[[0,1,2]]}"#,
            "one [low, high] pair",
        ),
        (
            "too many nodes",
            r#"{"algorithm":"hst","numberOfTrees":1000,"height":20}"#,
            "nodes per key",
        ),
        (
            "height",
            r#"{"algorithm":"hst","height":0}"#,
            "'height' = 0",
        ),
        (
            "window",
            r#"{"algorithm":"hst","windowSize":5}"#,
            "'windowSize' = 5",
        ),
    ];
    for (name, config, want) in cases {
        match Detector::from_config(config) {
            Err(Error::InvalidConfig(m)) => assert!(m.contains(want), "{name}: {m}"),
            other => panic!("{name}: expected InvalidConfig, got {other:?}"),
        }
    }
    // Limits for one column, rows of two: a clear input error.
    let mut d = Detector::from_config(r#"{"algorithm":"hst","limits":[[0,1]]}"#).expect("valid");
    let mut out = Scores::default();
    match d.process(
        &Input {
            timestamps: &[0],
            values: &[0.5, 0.5],
            width: 2,
            keys: &[],
        },
        &mut out,
    ) {
        Err(Error::InvalidInput(m)) => assert!(m.contains("'limits' for 1 columns"), "{m}"),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}
