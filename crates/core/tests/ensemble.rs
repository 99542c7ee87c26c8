//! `ensemble` and the likelihood layer on row-scoring detectors: the
//! ensemble's output recomputed from its members run alone, config errors as
//! a table, warm-up and skipped rows, multivariate width checks that leave
//! every member untouched, and the probabilities of `rcf`, `spike_dip` and
//! `change_point` against the layer recomputed from their raw scores.

use wasmad_core::flags::{self, Status};
use wasmad_core::gauss;
use wasmad_core::{Detector, Error, Input, Scores};

/// Seeded noise with spikes, a level shift and a NaN.
fn series(n: usize) -> Vec<f64> {
    let mut s: u64 = 0x1234_5678;
    (0..n)
        .map(|i| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            let base = if i > 300 { 14.0 } else { 10.0 };
            let spike = match i {
                150 => 25.0,
                220 => -20.0,
                _ => 0.0,
            };
            if i == 99 {
                f64::NAN
            } else {
                base + (u - 0.5) * 2.0 + spike
            }
        })
        .collect()
}

fn run(config: &str, values: &[f64]) -> Scores {
    let ts: Vec<i64> = (0..values.len() as i64).collect();
    let mut d = Detector::from_config(config).unwrap_or_else(|e| panic!("{config}: {e}"));
    let mut out = Scores::default();
    d.process(&Input::univariate(&ts, values), &mut out)
        .unwrap_or_else(|e| panic!("{config}: {e}"));
    out
}

const Z: &str =
    r#"{"algorithm":"zscore","minTrainingSize":10,"likelihood":{"shortWindow":3,"minSamples":20}}"#;
const M: &str = r#"{"algorithm":"mad","window":50,"minTrainingSize":20,"likelihood":{"shortWindow":3,"minSamples":20}}"#;
const R: &str = r#"{"algorithm":"rcf","numberOfTrees":10,"subSampleSize":32,"minTrainingSize":40,"likelihood":{"minSamples":20}}"#;

/// The ensemble's probability, status, direction and flags, recomputed from
/// the members' own outputs with the rules of the module docs.
#[test]
fn ensemble_equals_its_members_combined() {
    let values = series(500);
    let members = [run(Z, &values), run(M, &values), run(R, &values)];
    for (combine, threshold, cooldown) in [("max", 0.999, 0), ("mean", 0.99, 0), ("max", 0.99, 25)]
    {
        let config = format!(
            r#"{{"algorithm":"ensemble","members":[{Z},{M},{R}],"combine":"{combine}","threshold":{threshold},"cooldown":{cooldown}}}"#
        );
        let got = run(&config, &values);
        let mut cooling = 0;
        let mut flagged = 0;
        for i in 0..values.len() {
            let ok: Vec<(usize, f64)> = members
                .iter()
                .enumerate()
                .filter(|(_, s)| Status::from_flags(s.flags[i]) == Status::Ok)
                .map(|(j, s)| (j, s.probability[i]))
                .collect();
            let status = Status::from_flags(got.flags[i]);
            if ok.is_empty() {
                let warming = members
                    .iter()
                    .any(|s| Status::from_flags(s.flags[i]) == Status::Warmup);
                let want = if warming {
                    Status::Warmup
                } else {
                    Status::Skipped
                };
                assert_eq!(status, want, "{config} row {i}");
                assert!(got.probability[i].is_nan() && got.score[i].is_nan());
                continue;
            }
            assert_eq!(status, Status::Ok, "{config} row {i}");
            // The first member to reach the largest probability decides the side.
            let (best, pmax) = ok
                .iter()
                .fold((usize::MAX, f64::NEG_INFINITY), |b, &(j, p)| {
                    if p > b.1 { (j, p) } else { b }
                });
            let p = if combine == "max" {
                pmax
            } else {
                ok.iter().map(|(_, p)| p).sum::<f64>() / ok.len() as f64
            };
            assert_eq!(
                got.probability[i].to_bits(),
                p.to_bits(),
                "{config} row {i}"
            );
            assert_eq!(got.score[i].to_bits(), p.to_bits(), "{config} row {i}");
            assert_eq!(
                flags::is_up(got.flags[i]),
                flags::is_up(members[best].flags[i]),
                "{config} row {i}"
            );
            // zscore is the first member with a forecast whenever it scores.
            if Status::from_flags(members[0].flags[i]) == Status::Ok {
                assert_eq!(got.forecast[i].to_bits(), members[0].forecast[i].to_bits());
                assert_eq!(got.upper[i].to_bits(), members[0].upper[i].to_bits());
            }
            let was_cooling = cooling > 0;
            cooling = (cooling - 1).max(0);
            let want = p >= threshold && !was_cooling;
            if want {
                cooling = cooldown;
                flagged += 1;
            }
            assert_eq!(
                flags::is_anomaly(got.flags[i]),
                want,
                "{config} row {i} p {p}"
            );
        }
        assert!(
            flagged > 0,
            "{config}: the spikes and the shift are flagged"
        );
    }
}

/// Severity grades the combined probability's Gaussian z against the
/// threshold's.
#[test]
fn ensemble_severity_uses_the_probability_z() {
    let values = series(500);
    let config = format!(
        r#"{{"algorithm":"ensemble","members":[{Z},{M}],"threshold":0.99,"severity":{{"medium":1.3,"high":1.8}}}}"#
    );
    let got = run(&config, &values);
    let zt = gauss::quantile(0.99);
    let mut graded = 0;
    for i in 0..values.len() {
        if flags::is_anomaly(got.flags[i]) {
            let ratio = gauss::quantile(got.probability[i]) / zt;
            let want = if ratio >= 1.8 {
                flags::Severity::High
            } else if ratio >= 1.3 {
                flags::Severity::Medium
            } else {
                flags::Severity::Low
            };
            assert_eq!(flags::Severity::from_flags(got.flags[i]), want, "row {i}");
            graded += 1;
        }
    }
    assert!(graded > 0);
}

#[test]
fn ensemble_config_errors_say_what_is_accepted() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "no members",
            r#"{"algorithm":"ensemble"}"#,
            "needs 'members'",
        ),
        (
            "empty",
            r#"{"algorithm":"ensemble","members":[]}"#,
            "accepted: 1 to 8",
        ),
        (
            "nine",
            r#"{"algorithm":"ensemble","members":[{},{},{},{},{},{},{},{},{}]}"#,
            "holds 9 detectors",
        ),
        (
            "not a list",
            r#"{"algorithm":"ensemble","members":{"algorithm":"zscore"}}"#,
            "must be a list",
        ),
        (
            "not an object",
            r#"{"algorithm":"ensemble","members":["zscore"]}"#,
            "ensemble member 0 must be a detector config object",
        ),
        (
            "nested",
            r#"{"algorithm":"ensemble","members":[{"algorithm":"ensemble","members":[{}]}]}"#,
            "cannot be a member of an ensemble",
        ),
        (
            "likelihood off",
            r#"{"algorithm":"ensemble","members":[{"algorithm":"rcf","likelihood":false}]}"#,
            "ensemble member 0 (rcf): 'likelihood' cannot be false",
        ),
        (
            "member cooldown",
            r#"{"algorithm":"ensemble","members":[{},{"algorithm":"mad","cooldown":5}]}"#,
            "ensemble member 1 (mad): 'cooldown' acts on the ensemble's alerts",
        ),
        (
            "member partitionBy",
            r#"{"algorithm":"ensemble","members":[{"partitionBy":"host"}]}"#,
            "'partitionBy' belongs on the ensemble",
        ),
        (
            "member's own error",
            r#"{"algorithm":"ensemble","members":[{"algorithm":"ewma","alpha":2}]}"#,
            "ensemble member 0 (ewma): 'alpha' = 2",
        ),
        (
            "unknown member algorithm",
            r#"{"algorithm":"ensemble","members":[{"algorithm":"htm"}]}"#,
            "unknown algorithm 'htm'",
        ),
        (
            "threshold is a probability",
            r#"{"algorithm":"ensemble","members":[{}],"threshold":3}"#,
            "'threshold' = 3",
        ),
        (
            "likelihood is the members'",
            r#"{"algorithm":"ensemble","members":[{}],"likelihood":true}"#,
            "unknown key 'likelihood'",
        ),
        (
            "combine",
            r#"{"algorithm":"ensemble","members":[{}],"combine":"vote"}"#,
            "one of max, mean",
        ),
    ];
    for (name, config, want) in cases {
        match Detector::from_config(config) {
            Err(Error::InvalidConfig(m)) => assert!(m.contains(want), "{name}: {m}"),
            other => panic!("{name}: expected InvalidConfig, got {other:?}"),
        }
    }
}

/// The effective config lists every member's effective config (likelihood
/// turned on) and the ensemble's own keys; `minTrainingSize` reaches the
/// members that do not set theirs.
#[test]
fn ensemble_effective_config() {
    let d = Detector::from_config(
        r#"{"algorithm":"ensemble","members":[{"algorithm":"zscore"},{"algorithm":"mad","minTrainingSize":7}],"minTrainingSize":12,"cooldown":"1h"}"#,
    )
    .expect("valid");
    let v: serde_json::Value = serde_json::from_str(&d.config_json()).expect("json");
    assert_eq!(v["algorithm"], "ensemble");
    assert_eq!(v["combine"], "max");
    assert_eq!(v["threshold"], 0.9999);
    assert_eq!(v["cooldown"], "1h");
    assert_eq!(v["minTrainingSize"], 12);
    assert!(v.get("likelihood").is_none());
    assert_eq!(v["members"][0]["minTrainingSize"], 12);
    assert_eq!(v["members"][1]["minTrainingSize"], 7);
    assert!(v["members"][0]["likelihood"].is_object());
    assert_eq!(v["members"][1]["cooldown"], 0);
    // The effective config builds the same detector.
    let again = Detector::from_config(&d.config_json()).expect("effective config is valid");
    assert_eq!(again.config_json(), d.config_json());
}

/// A width one member cannot take is refused before any member learns.
#[test]
fn ensemble_refuses_a_width_before_any_member_learns() {
    let config = r#"{"algorithm":"ensemble","members":[{"algorithm":"rcf","numberOfTrees":3,"minTrainingSize":4},{"algorithm":"zscore"}]}"#;
    let mut d = Detector::from_config(config).expect("valid");
    let before = d.snapshot();
    let ts = [0i64, 1];
    let values = [1.0, 2.0, 3.0, 4.0];
    let input = Input {
        timestamps: &ts,
        values: &values,
        width: 2,
        keys: &[],
    };
    let mut out = Scores::default();
    match d.process(&input, &mut out) {
        Err(Error::InvalidInput(m)) => assert!(m.contains("'zscore' is univariate"), "{m}"),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    assert_eq!(d.snapshot(), before, "no member learned the refused batch");
    // Every member multivariate: two columns are fine.
    let mut d = Detector::from_config(
        r#"{"algorithm":"ensemble","members":[{"algorithm":"rcf","numberOfTrees":3,"minTrainingSize":4},{"algorithm":"robust","window":5,"minTrainingSize":3}]}"#,
    )
    .expect("valid");
    d.process(&input, &mut out).expect("two columns");
    assert_eq!(out.len(), 2);
}

/// Keys: one calibration and one cooldown per key in every member.
#[test]
fn ensemble_keys_are_independent() {
    let values = series(400);
    let config =
        format!(r#"{{"algorithm":"ensemble","members":[{Z},{M}],"threshold":0.99,"cooldown":5}}"#);
    let alone = run(&config, &values);
    // Interleave the series with a constant second key: key 0 must see
    // exactly what it saw alone.
    let (mut ts, mut vs, mut keys) = (Vec::new(), Vec::new(), Vec::new());
    for (i, v) in values.iter().enumerate() {
        ts.extend([i as i64, i as i64]);
        vs.extend([*v, 5.0]);
        keys.extend([0u32, 1]);
    }
    let mut d = Detector::from_config(&config).expect("valid");
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
    .expect("process");
    assert_eq!(d.key_count(), 2);
    for i in 0..values.len() {
        assert_eq!(out.flags[2 * i], alone.flags[i], "row {i}");
        assert_eq!(
            out.probability[2 * i].to_bits(),
            alone.probability[i].to_bits()
        );
    }
    d.reset_keys(&[0]).expect("reset");
    assert!(d.reset_keys(&[2]).is_err());
}

/// The likelihood layer on row-scoring detectors: the probability column
/// recomputed from the raw scores (likelihood off) with the layer's rules
/// and the detector's deviation mapping.
#[test]
fn row_detectors_take_the_likelihood_layer() {
    fn p_value_z(p: f64) -> f64 {
        if p.is_nan() || p >= 0.5 {
            0.0
        } else {
            (-2.0 * (2.0 * p.max(0.0)).ln()).sqrt()
        }
    }
    let values = series(400);
    type Case = (&'static str, &'static str, fn(f64) -> f64);
    let cases: &[Case] = &[
        (
            "rcf",
            r#""algorithm":"rcf","numberOfTrees":10,"subSampleSize":32,"minTrainingSize":40"#,
            |s| s.abs(),
        ),
        (
            "spike_dip",
            r#""algorithm":"spike_dip","historySize":60,"minTrainingSize":30"#,
            p_value_z,
        ),
        (
            "change_point",
            r#""algorithm":"change_point","historySize":60,"minTrainingSize":30"#,
            |m| if m > 1.0 { m.ln() } else { 0.0 },
        ),
        (
            "robust",
            r#""algorithm":"robust","window":40,"minTrainingSize":30"#,
            |s| s.abs(),
        ),
    ];
    let (short, window, min_samples, cap, min_std) = (4usize, 200.0, 10u64, 6.0, 0.01);
    for (name, keys, deviation) in cases {
        let raw = run(&format!("{{{keys}}}"), &values);
        let with = run(
            &format!(
                r#"{{{keys},"likelihood":{{"shortWindow":{short},"window":{window},"minSamples":{min_samples},"cap":{cap},"threshold":0.999}}}}"#
            ),
            &values,
        );
        assert_eq!(with.probability.len(), values.len(), "{name}");
        let (mut recent, mut learned, mut weight, mut mean, mut var) = (
            std::collections::VecDeque::new(),
            0u64,
            0.0f64,
            0.0f64,
            0.0f64,
        );
        let mut reported = 0;
        for i in 0..values.len() {
            assert_eq!(
                raw.score[i].to_bits(),
                with.score[i].to_bits(),
                "{name} row {i}: same raw score"
            );
            if Status::from_flags(raw.flags[i]) != Status::Ok {
                assert!(with.probability[i].is_nan(), "{name} row {i}");
                continue;
            }
            let d = deviation(raw.score[i]).min(cap);
            if recent.len() == short {
                recent.pop_front();
            }
            recent.push_back(d * d);
            let avg = recent.iter().sum::<f64>() / recent.len() as f64;
            let want = if learned >= min_samples {
                reported += 1;
                gauss::cdf((avg - mean) / var.sqrt().max(min_std))
            } else {
                0.5
            };
            let got = with.probability[i];
            assert!(
                (got - want).abs() <= 1e-9,
                "{name} row {i}: {got} vs {want}"
            );
            assert_eq!(
                flags::is_anomaly(with.flags[i]),
                got >= 0.999,
                "{name} row {i}"
            );
            weight = weight * (1.0 - 1.0 / window) + 1.0;
            let f = 1.0 / weight;
            let delta = avg - mean;
            mean += f * delta;
            var = (1.0 - f) * (var + f * delta * delta);
            learned += 1;
        }
        assert!(reported > 100, "{name}: {reported} probabilities checked");
    }
}
