//! `spikedip` (ASA AnomalyDetection_SpikeAndDip): a hand-computed p-value,
//! warm-up and skipped rows, which tail each mode flags, `historyDuration`
//! (ASA's LIMIT DURATION: values leave the window by time; a gap empties
//! it; the detector passes row times), and config errors.

use wasmad_core::Detector;
use wasmad_core::config::{Reader, parse_object};
use wasmad_core::engine::{Input, Scores};
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
            "unknown key 'threshold' for algorithm 'spike_dip'; accepted keys: algorithm, confidence, historySize, historyDuration, mode, minTrainingSize",
        ),
        (
            r#"{"historyDuration":50}"#,
            "'historyDuration' = 50 is not a duration for algorithm 'spike_dip'; accepted: a duration string such as \"120s\"",
        ),
        (
            r#"{"historyDuration":"2 fortnights"}"#,
            "'historyDuration' = \"2 fortnights\" is not a duration for algorithm 'spike_dip'; accepted: a duration string",
        ),
        (
            r#"{"historyDuration":"-5s"}"#,
            "'historyDuration' = \"-5s\" is not a duration for algorithm 'spike_dip'",
        ),
        (
            r#"{"historyDuration":true}"#,
            "'historyDuration' = true is not a duration for algorithm 'spike_dip'",
        ),
        (
            r#"{"historyDuration":-1}"#,
            "'historyDuration' = -1 is not a duration for algorithm 'spike_dip'",
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
        r#"{"confidence":95.0,"historyDuration":0,"historySize":120,"minTrainingSize":119,"mode":"spikesanddips"}"#
    );
    // The effective config reads back to the same params.
    assert_eq!(params(&json), p);
    assert_eq!(p.history_duration, 0);
    // Durations: microseconds, spelled back in the largest exact unit; 0
    // (a number) is no time limit.
    for (given, us, spelled) in [
        (r#""120s""#, 120_000_000u64, r#""2m""#),
        (r#""20m""#, 1_200_000_000, r#""20m""#),
        (r#""1.5h""#, 5_400_000_000, r#""90m""#),
        (r#""5us""#, 5, r#""5us""#),
        ("0", 0, "0"),
    ] {
        let p = params(&format!(r#"{{"historyDuration":{given}}}"#));
        assert_eq!(p.history_duration, us, "{given}");
        let json = serde_json::Value::Object(SpikeDip::params_json(&p));
        assert_eq!(json["historyDuration"].to_string(), spelled, "{given}");
        assert_eq!(params(&json.to_string()), p, "{given}");
    }
}

const SEC: i64 = 1_000_000;

/// 40 rows around 20, then 40 around 10 (one per second), then x at 80 s:
/// without a time limit (historySize 100 holds all 80 rows) x = 15 lies
/// between the two levels and is not flagged; with `historyDuration` 30 s
/// only rows 50..=79 (inclusive bound: 80 - 30 = 50) are left, all near
/// 10, and 15 is a spike. The reverse: x = 20 is an old level, normal
/// with all the history and a spike against the recent window alone.
#[test]
fn history_duration_drops_old_values_before_scoring() {
    let level = |i: usize| if i < 40 { base(i) + 10.0 } else { base(i) };
    for (x, flagged_without, flagged_with) in [(15.0, false, true), (20.0, false, true)] {
        let mut seen = Vec::new();
        for config in [
            r#"{"historySize":100,"minTrainingSize":10}"#,
            r#"{"historySize":100,"minTrainingSize":10,"historyDuration":"30s"}"#,
        ] {
            let p = params(config);
            let mut m = SpikeDip::new(&p);
            for i in 0..80 {
                m.update_at(level(i), i as i64 * SEC, &p);
            }
            let s = m.update_at(x, 80 * SEC, &p);
            assert_eq!(s.status, Status::Ok);
            // The forecast is the window's mean, summed oldest first.
            let from = if p.history_duration == 0 { 0 } else { 50 };
            let want: f64 = (from..80).map(level).sum::<f64>() / (80 - from) as f64;
            assert_eq!(s.forecast.to_bits(), want.to_bits(), "{config} x={x}");
            seen.push(s.anomaly);
        }
        assert_eq!(seen, [flagged_without, flagged_with], "x={x}");
    }
    // The count limit still applies with a time limit: historySize 10 and
    // 30 s keep the last 10 rows only.
    let p = params(r#"{"historySize":10,"minTrainingSize":5,"historyDuration":"30s"}"#);
    let mut m = SpikeDip::new(&p);
    for i in 0..80 {
        m.update_at(level(i), i as i64 * SEC, &p);
    }
    let s = m.update_at(15.0, 80 * SEC, &p);
    let want: f64 = (70..80).map(level).sum::<f64>() / 10.0;
    assert_eq!(s.forecast.to_bits(), want.to_bits());
}

/// A gap longer than `historyDuration` empties the window: the next row is
/// learned with status warmup (a huge value, not flagged), and the rows
/// after it are scored against the new window only. Late rows count as at
/// the latest time.
#[test]
fn a_gap_empties_the_window_and_the_next_row_is_warmup() {
    let p = params(r#"{"historySize":50,"minTrainingSize":5,"historyDuration":"10s"}"#);
    let mut m = SpikeDip::new(&p);
    for i in 0..20 {
        m.update_at(base(i), i as i64 * SEC, &p);
    }
    // 19 s -> 100 s: nothing within 10 s.
    let s = m.update_at(1e6, 100 * SEC, &p);
    assert_eq!(s.status, Status::Warmup, "{s:?}");
    assert!(s.score.is_nan() && !s.anomaly);
    // Scored against the one value 1e6 (bandwidth sqrt 2): the mean is it.
    let s = m.update_at(1e6 + 0.5, 101 * SEC, &p);
    assert_eq!(s.status, Status::Ok);
    assert_eq!(s.forecast, 1e6);
    // Without the time limit the same rows score against the old level.
    let q = params(r#"{"historySize":50,"minTrainingSize":5}"#);
    let mut n = SpikeDip::new(&q);
    for i in 0..20 {
        n.update_at(base(i), i as i64 * SEC, &q);
    }
    let s = n.update_at(1e6, 100 * SEC, &q);
    assert!(s.status == Status::Ok && s.anomaly, "{s:?}");
    // A late row (time 0) counts as at 101 s: it evicts nothing and is
    // stored at 101 s. At 110 s the value learned at 100 s is exactly 10 s
    // old and stays (inclusive bound): the window is [1e6, 1e6 + 0.5, 7].
    assert_eq!(m.update_at(7.0, 0, &p).status, Status::Ok);
    let s = m.update_at(8.0, 110 * SEC, &p);
    let want: f64 = (1e6 + (1e6 + 0.5) + 7.0) / 3.0;
    assert_eq!(s.forecast.to_bits(), want.to_bits());
    // 111 s: it is 11 s old and leaves.
    let s = m.update_at(9.0, 111 * SEC, &p);
    let want: f64 = ((1e6 + 0.5) + 7.0 + 8.0) / 3.0;
    assert_eq!(s.forecast.to_bits(), want.to_bits());
    assert!(m.is_consistent(&p));
    // `update` is `update_at` at time 0: no time limit ever applies.
    let mut a = SpikeDip::new(&p);
    let mut b = SpikeDip::new(&p);
    for i in 0..30 {
        let (sa, sb) = (a.update(base(i), &p), b.update_at(base(i), 0, &p));
        assert_eq!(sa.score.to_bits(), sb.score.to_bits());
    }
    assert_eq!(a, b);
}

/// The detector passes each row's timestamp to the model: the same rows
/// through `Detector` with and without a gap in time.
#[test]
fn the_detector_passes_row_times() {
    let config =
        r#"{"algorithm":"spike_dip","historySize":50,"minTrainingSize":5,"historyDuration":"10s"}"#;
    let values: Vec<f64> = (0..30).map(base).chain([1e6]).collect();
    let run = |ts: &[i64]| {
        let mut d = Detector::from_config(config).expect("config");
        let mut out = Scores::default();
        d.process(&Input::univariate(ts, &values), &mut out)
            .expect("process");
        out
    };
    let steady: Vec<i64> = (0..31).map(|i| i * SEC).collect();
    let gap: Vec<i64> = (0..30).map(|i| i * SEC).chain([1000 * SEC]).collect();
    let (a, b) = (run(&steady), run(&gap));
    assert!(flags::is_anomaly(a.flags[30]), "{:?}", a.flags[30]);
    assert_eq!(Status::from_flags(b.flags[30]), Status::Warmup);
    assert!(!flags::is_anomaly(b.flags[30]));
    for i in 0..30 {
        assert_eq!(a.score[i].to_bits(), b.score[i].to_bits(), "row {i}");
    }
}
