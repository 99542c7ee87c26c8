//! `spikedip` (ASA AnomalyDetection_SpikeAndDip): a hand-computed p-value,
//! warm-up and skipped rows, which tail each mode flags, and config errors.

use wasmad_core::config::{Reader, parse_object};
use wasmad_core::flags::{self, Status};
use wasmad_core::spikedip::{SpikeDip, SpikeDipParams};

fn params(json: &str) -> SpikeDipParams {
    try_params(json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

fn try_params(json: &str) -> Result<SpikeDipParams, String> {
    let obj = parse_object(json).map_err(|e| e.to_string())?;
    let r = Reader::new(SpikeDip::NAME, &obj, SpikeDip::specs()).map_err(|e| e.to_string())?;
    SpikeDip::read(&r)
        .map(|(_, p)| p)
        .map_err(|e| e.to_string())
}

/// A noisy level around 10 (period-7 pattern, spread ~1).
fn base(i: usize) -> f64 {
    10.0 + [0.3, -0.8, 1.1, -0.2, 0.6, -1.0, 0.0][i % 7]
}

#[test]
fn hand_computed_p_value() {
    // Window [1, 2, 3], x = 4. Population sd s = sqrt(2/3), bandwidth
    // h = sqrt(2) s = 1.1547005383792517; (x - x_i) / h = 2.598076, 1.732051,
    // 0.866025; erf of those = 0.9997614365459713, 0.9856941215645704,
    // 0.7793286380801532; p = 1/2 - (sum) / (2 * 3) = 0.03920263396821749.
    let want = 0.039_202_633_968_217_49;
    for (mode, want_score) in [
        ("spikes", want),
        ("spikesanddips", want),
        ("dips", 1.0 - want),
    ] {
        let p = params(&format!(
            r#"{{"historySize":3,"minTrainingSize":3,"mode":"{mode}"}}"#
        ));
        let mut m = SpikeDip::new(&p);
        for x in [1.0, 2.0, 3.0] {
            assert_eq!(m.update(x, &p).status, Status::Warmup);
        }
        let s = m.update(4.0, &p);
        assert_eq!(s.status, Status::Ok);
        assert!((s.score - want_score).abs() < 1e-15, "{mode}: {}", s.score);
        assert!(s.up);
        assert_eq!(s.forecast, 2.0);
        // Flagged at 95% (p <= 0.05) unless the mode looks at the other tail.
        assert_eq!(s.anomaly, mode != "dips", "{mode}");
    }
    // At 99% the same row is not flagged (0.039 > 0.01).
    let p = params(r#"{"historySize":3,"minTrainingSize":3,"confidence":99}"#);
    let mut m = SpikeDip::new(&p);
    for x in [1.0, 2.0, 3.0] {
        m.update(x, &p);
    }
    assert!(!m.update(4.0, &p).anomaly);
}

#[test]
fn warmup_is_history_minus_one_and_skipped_rows_are_not_learned() {
    let p = params(r#"{"historySize":10}"#);
    assert_eq!(p.min_training_size, 9);
    let mut m = SpikeDip::new(&p);
    let mut statuses = Vec::new();
    let xs = [
        1.0,
        f64::NAN,
        2.0,
        f64::INFINITY,
        1.5,
        1.2,
        f64::NEG_INFINITY,
        1.1,
        1.3,
        1.4,
        1.6,
        1.7,
        1.8,
        f64::NAN,
    ];
    for x in xs {
        let s = m.update(x, &p);
        if s.status != Status::Ok {
            assert!(s.score.is_nan() && !s.anomaly);
        }
        statuses.push(s.status);
    }
    use Status::{Ok, Skipped as S, Warmup as W};
    assert_eq!(
        statuses,
        [W, S, W, S, W, W, S, W, W, W, W, W, Ok, S],
        "9 learned rows of warm-up; NaN and inf neither count nor score"
    );
    assert_eq!(m.seen(), 10);
}

#[test]
fn each_mode_flags_only_its_tail() {
    // (mode, x after 40 rows of base, expected anomaly, expected up)
    let cases = [
        ("spikes", 30.0, true, true),
        ("spikes", -10.0, false, false),
        ("dips", 30.0, false, true),
        ("dips", -10.0, true, false),
        ("spikesanddips", 30.0, true, true),
        ("spikesanddips", -10.0, true, false),
        ("spikesanddips", 10.1, false, true),
        ("spikesanddips", 9.9, false, false),
    ];
    for (mode, x, anomaly, up) in cases {
        let p = params(&format!(r#"{{"historySize":40,"mode":"{mode}"}}"#));
        let mut m = SpikeDip::new(&p);
        for i in 0..40 {
            let s = m.update(base(i), &p);
            assert!(!s.anomaly, "{mode} row {i}");
        }
        let s = m.update(x, &p);
        assert_eq!(s.status, Status::Ok);
        assert_eq!((s.anomaly, s.up), (anomaly, up), "{mode} x={x}: {s:?}");
        if anomaly {
            // Far beyond every kernel: the clamped minimum p-value.
            assert_eq!(s.score, 1e-8, "{mode} x={x}");
        }
        let f = s.flags();
        assert_eq!(flags::is_anomaly(f), anomaly);
        assert_eq!(flags::is_up(f), up);
        assert_eq!(Status::from_flags(f), Status::Ok);
    }
}

#[test]
fn confidence_100_never_flags_and_the_window_forgets() {
    let p = params(r#"{"historySize":20,"confidence":100}"#);
    let mut m = SpikeDip::new(&p);
    for i in 0..30 {
        m.update(base(i), &p);
    }
    let s = m.update(1e6, &p);
    assert_eq!(s.score, 1e-8);
    assert!(!s.anomaly);

    // After historySize rows at a new level, the old level is forgotten: the
    // new level is normal, a return to the old one is a dip.
    let p = params(r#"{"historySize":20,"mode":"spikesanddips"}"#);
    let mut m = SpikeDip::new(&p);
    for i in 0..30 {
        m.update(base(i), &p);
    }
    for i in 0..20 {
        m.update(base(i) + 50.0, &p);
    }
    let s = m.update(base(3) + 50.0, &p);
    assert!(!s.anomaly, "{s:?}");
    let s = m.update(10.0, &p);
    assert!(s.anomaly && !s.up, "{s:?}");
}

#[test]
fn config_errors_name_the_key_and_what_is_accepted() {
    let cases = [
        (
            r#"{"confidence":0}"#,
            "'confidence' = 0 is out of range for algorithm 'spike_dip'; accepted: number >= 1 and <= 100",
        ),
        (
            r#"{"confidence":101}"#,
            "'confidence' = 101 is out of range for algorithm 'spike_dip'; accepted: number >= 1 and <= 100",
        ),
        (
            r#"{"mode":"both"}"#,
            "'mode' = \"both\" has the wrong type for algorithm 'spike_dip'; accepted: one of spikes, dips, spikesanddips",
        ),
        (
            r#"{"historySize":1}"#,
            "'historySize' = 1 is out of range for algorithm 'spike_dip'; accepted: integer >= 3 and <= 100000",
        ),
        (
            r#"{"historySize":2.5}"#,
            "'historySize' = 2.5 has the wrong type for algorithm 'spike_dip'; accepted: an integer >= 3 and <= 100000",
        ),
        (
            r#"{"minTrainingSize":1}"#,
            "'minTrainingSize' = 1 is out of range for algorithm 'spike_dip'; accepted: integer >= 2",
        ),
        (
            r#"{"threshold":0.05}"#,
            "unknown key 'threshold' for algorithm 'spike_dip'; accepted keys: algorithm, confidence, historySize, mode, minTrainingSize",
        ),
    ];
    for (json, want) in cases {
        let err = try_params(json).expect_err(json);
        assert!(err.contains(want), "{json}: {err}");
    }
    let p = params(r#"{"algorithm":"spike_dip"}"#);
    assert_eq!(
        (p.confidence, p.history_size, p.mode(), p.min_training_size),
        (95.0, 120, "spikesanddips", 119)
    );
    assert!((p.alpha() - 0.05).abs() < 1e-15);
    let json = serde_json::Value::Object(SpikeDip::params_json(&p)).to_string();
    assert_eq!(
        json,
        r#"{"confidence":95.0,"historySize":120,"minTrainingSize":119,"mode":"spikesanddips"}"#
    );
    // The effective config reads back to the same params.
    assert_eq!(params(&json), p);
}
