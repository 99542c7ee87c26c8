//! `iforest` (Isolation Forest): scores against scikit-learn's
//! `-score_samples` on scikit-learn's own trees (`tests/reference/iforest`,
//! see its script), tree growth (subsample sizes, depth limit, thresholds
//! inside the node's values, leaves that partition the subsample), the
//! sliding window and refresh cadence, statuses, seeded determinism and
//! config errors.

use std::path::PathBuf;

use serde_json::Value;
use wasmad_core::config::Reader;
use wasmad_core::flags::{self, Status};
use wasmad_core::iforest::{IForest, IForestParams, Node, average_path_length};
use wasmad_core::{Detector, Error, Input, Scores};

fn params(config: &str) -> IForestParams {
    let v: Value = serde_json::from_str(config).expect("json");
    let obj = v.as_object().expect("object");
    let reader = Reader::new("iforest", obj, IForestParams::specs()).expect("keys");
    let mut common = reader.common().expect("common");
    IForestParams::params(&reader, &mut common).expect("params")
}

/// One node as the script writes it: column (-1 for a leaf), threshold,
/// left, right, training rows.
type RawNode = (i64, f64, u32, u32, u32);

#[test]
fn scores_equal_scikit_learns_on_its_trees() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference/iforest/iforest_reference.json");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("reference")).expect("json");
    let cases = v["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 3);
    for c in cases {
        let name = c["name"].as_str().expect("name");
        let rows: Vec<Vec<f64>> = serde_json::from_value(c["rows"].clone()).expect("rows");
        let want: Vec<f64> = serde_json::from_value(c["scores"].clone()).expect("scores");
        let raw: Vec<Vec<RawNode>> = serde_json::from_value(c["trees"].clone()).expect("trees");
        let trees: Vec<Vec<Node>> = raw
            .iter()
            .map(|t| {
                t.iter()
                    .map(|&(feature, threshold, left, right, size)| Node {
                        feature: if feature < 0 { u8::MAX } else { feature as u8 },
                        threshold,
                        left,
                        right,
                        size,
                    })
                    .collect()
            })
            .collect();
        let psi = c["psi"].as_u64().expect("psi") as u32;
        let f = IForest::with_trees(rows[0].len(), psi, trees).expect("trees");
        for (i, row) in rows.iter().enumerate() {
            let got = f.score(row);
            assert!(
                (got - want[i]).abs() <= 1e-12,
                "{name} row {i}: {got} vs scikit-learn {}",
                want[i]
            );
        }
    }
}

#[test]
fn average_path_length_matches_the_definition() {
    assert_eq!(average_path_length(1), 0.0);
    assert_eq!(average_path_length(2), 1.0);
    // 2 H(255) - 2 * 255 / 256 with H(i) ~ ln(i) + Euler's constant.
    let want = 2.0 * ((255.0f64).ln() + 0.577_215_664_901_532_9) - 2.0 * 255.0 / 256.0;
    assert!((average_path_length(256) - want).abs() < 1e-12);
}

fn column(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            10.0 + 4.0 * ((s >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect()
}

/// Walk a trained forest: every tree partitions psi rows, splits lie
/// strictly inside the values that reach them, depth <= ceil(log2 psi).
#[test]
fn trained_trees_partition_their_subsample() {
    let p = params(
        r#"{"numberOfTrees":7,"subSampleSize":64,"windowSize":200,"refreshInterval":1000000}"#,
    );
    let mut f = IForest::new(&p, 2);
    let (a, b) = (column(200, 1), column(200, 2));
    for i in 0..200 {
        f.update(&[a[i], b[i]], &p);
    }
    assert_eq!(f.trees().len(), 7);
    assert_eq!(f.psi(), 64);
    fn walk(nodes: &[Node], i: usize, depth: u32, leaves: &mut u32, max_depth: &mut u32) {
        let n = nodes[i];
        if n.feature == u8::MAX {
            *leaves += n.size;
            *max_depth = (*max_depth).max(depth);
            return;
        }
        let (l, r) = (nodes[n.left as usize], nodes[n.right as usize]);
        assert_eq!(l.size + r.size, n.size, "children partition their parent");
        assert!(l.size >= 1 && r.size >= 1, "a split separates values");
        walk(nodes, n.left as usize, depth + 1, leaves, max_depth);
        walk(nodes, n.right as usize, depth + 1, leaves, max_depth);
    }
    for t in f.trees() {
        assert_eq!(t[0].size, 64);
        let (mut leaves, mut depth) = (0, 0);
        walk(t, 0, 0, &mut leaves, &mut depth);
        assert_eq!(leaves, 64);
        assert!(depth <= 6, "ceil(log2 64) = 6, got {depth}");
    }
}

fn run(config: &str, values: &[f64]) -> Scores {
    let ts: Vec<i64> = (0..values.len() as i64).collect();
    let mut d = Detector::from_config(config).unwrap_or_else(|e| panic!("{config}: {e}"));
    let mut out = Scores::default();
    d.process(&Input::univariate(&ts, values), &mut out)
        .expect("process");
    out
}

#[test]
fn flags_outliers_after_its_warm_up() {
    let mut values = column(1200, 9);
    values[600] = 30.0;
    values[900] = -5.0;
    values[50] = f64::NAN;
    let out = run(r#"{"algorithm":"iforest","numberOfTrees":50}"#, &values);
    let status = |i: usize| Status::from_flags(out.flags[i]);
    assert_eq!(status(50), Status::Skipped);
    // 256 finite rows train the first forest: rows 0..=256 (one NaN) warm up.
    assert!((0..=256).all(|i| status(i) != Status::Ok));
    assert!((257..1200).all(|i| status(i) == Status::Ok));
    assert!(flags::is_anomaly(out.flags[600]) && flags::is_up(out.flags[600]));
    assert!(flags::is_anomaly(out.flags[900]) && !flags::is_up(out.flags[900]));
    let flagged = out.flags.iter().filter(|f| flags::is_anomaly(**f)).count();
    assert!(flagged <= 15, "{flagged} flags on uniform noise");
    assert!(out.score[257..].iter().all(|s| *s > 0.0 && *s <= 1.0));
}

/// Retraining follows the cadence and sees only the window: after a level
/// shift the new level stops being anomalous once the window holds it.
#[test]
fn the_window_slides_and_the_forest_refreshes() {
    let mut values = column(1500, 3);
    for v in values.iter_mut().skip(700) {
        *v += 50.0;
    }
    let out = run(
        r#"{"algorithm":"iforest","numberOfTrees":30,"windowSize":300,"refreshInterval":50}"#,
        &values,
    );
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let shifted = mean(&out.score[700..705]);
    assert!(shifted > 0.65, "the shift is isolated: {shifted}");
    let late = mean(&out.score[1100..]);
    assert!(late < 0.55, "the window has moved on: {late}");
    // Without refreshes the first forest keeps judging the new level odd.
    let stale = run(
        r#"{"algorithm":"iforest","numberOfTrees":30,"windowSize":300,"refreshInterval":100000}"#,
        &values,
    );
    let stale = mean(&stale.score[1100..]);
    assert!(
        stale > 0.65,
        "the first forest still isolates the new level: {stale}"
    );
}

#[test]
fn seeded_and_deterministic() {
    let values = column(600, 4);
    let a = run(
        r#"{"algorithm":"iforest","numberOfTrees":10,"seed":5}"#,
        &values,
    );
    let b = run(
        r#"{"algorithm":"iforest","numberOfTrees":10,"seed":5}"#,
        &values,
    );
    let c = run(
        r#"{"algorithm":"iforest","numberOfTrees":10,"seed":6}"#,
        &values,
    );
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    assert_ne!(a.score, c.score);
}

#[test]
fn config_errors_say_what_is_accepted() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "too big",
            r#"{"algorithm":"iforest","numberOfTrees":1000,"subSampleSize":4096}"#,
            "at most 1048576",
        ),
        (
            "warm-up beyond the window",
            r#"{"algorithm":"iforest","windowSize":100,"minTrainingSize":200}"#,
            "must be at most 'windowSize'",
        ),
        (
            "psi",
            r#"{"algorithm":"iforest","subSampleSize":1}"#,
            "'subSampleSize' = 1",
        ),
        (
            "refresh",
            r#"{"algorithm":"iforest","refreshInterval":0}"#,
            "'refreshInterval' = 0",
        ),
    ];
    for (name, config, want) in cases {
        match Detector::from_config(config) {
            Err(Error::InvalidConfig(m)) => assert!(m.contains(want), "{name}: {m}"),
            other => panic!("{name}: expected InvalidConfig, got {other:?}"),
        }
    }
    // A small window lowers the default warm-up with it.
    let d = Detector::from_config(r#"{"algorithm":"iforest","windowSize":100}"#).expect("valid");
    assert!(
        d.config_json().contains(r#""minTrainingSize":100"#),
        "{}",
        d.config_json()
    );
}
