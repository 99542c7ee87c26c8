//! The Rust detectors agree with an independent numpy implementation written
//! from the definitions (`tests/reference/make_zscore_reference.py`, which also
//! says how to regenerate the files): forecast, lower and upper within 1e-9
//! relative tolerance, score within 1e-9 relative tolerance or the rounding of
//! `x - center` (see [`close_score`]), is_anomaly, direction and status exactly,
//! on every row of one series with NaN/inf rows, spikes, dips and a flat run.

use std::path::PathBuf;

use wasmad_core::flags::{self, Status};
use wasmad_core::{Detector, Input, Scores};

/// Every `*_expected.csv` the script writes; the detector config is on line 1.
const EXPECTED: &[&str] = &[
    "zscore_all_expected.csv",
    "zscore_window50_expected.csv",
    "zscore_window30_up_expected.csv",
    "mad_window50_expected.csv",
    "mad_window20_down_expected.csv",
];

/// |a - b| <= 1e-9 * max(|a|, |b|), with an absolute 1e-9 floor for values near
/// zero (a score of 1e-12 vs 3e-12 is the same score); NaN matches only NaN.
fn close(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// The score `(x - center) / scale` loses the digits `x` and `center` share: a
/// center a few ulps away from numpy's (Welford vs two-pass mean) moves the
/// score by about `ulps * |x| / scale`. That is far below 1e-9 for ordinary
/// rows, but where the scale is floored (a flat window: scale = 1.5e-8 *
/// |center|) one ulp of the center is ~1e-8 of score. So a score also matches
/// when it is within 16 ulps of `x`, divided by the scale.
fn close_score(got: f64, want: f64, x: f64, scale: f64) -> bool {
    close(got, want) || (got - want).abs() <= 16.0 * f64::EPSILON * x.abs() / scale
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/reference")
}

fn read(name: &str) -> String {
    let path = dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run tests/reference/make_zscore_reference.py",
            path.display()
        )
    })
}

fn float(s: &str) -> f64 {
    s.parse()
        .unwrap_or_else(|e| panic!("{s:?} is not a float: {e}"))
}

fn input() -> (Vec<i64>, Vec<f64>) {
    let text = read("zscore_input.csv");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("ts,value"));
    lines
        .map(|l| {
            let (t, v) = l.split_once(',').expect("two columns");
            (t.parse::<i64>().expect("ts"), float(v))
        })
        .unzip()
}

struct Row {
    ts: i64,
    value: f64,
    forecast: f64,
    lower: f64,
    upper: f64,
    score: f64,
    is_anomaly: bool,
    direction: String,
    status: String,
}

fn expected(name: &str) -> (String, Vec<Row>) {
    let text = read(name);
    let mut lines = text.lines();
    let config = lines
        .next()
        .and_then(|l| l.strip_prefix("# config: "))
        .expect("line 1 is '# config: {...}'")
        .to_string();
    assert_eq!(
        lines.next(),
        Some("ts,value,forecast,lower,upper,score,is_anomaly,direction,status")
    );
    let rows = lines
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            assert_eq!(c.len(), 9, "{name}: {l}");
            Row {
                ts: c[0].parse().expect("ts"),
                value: float(c[1]),
                forecast: float(c[2]),
                lower: float(c[3]),
                upper: float(c[4]),
                score: float(c[5]),
                is_anomaly: c[6] == "1",
                direction: c[7].to_string(),
                status: c[8].to_string(),
            }
        })
        .collect();
    (config, rows)
}

#[test]
fn detectors_match_the_numpy_reference() {
    let (ts, values) = input();
    assert!(values.len() >= 300, "the input series is too short");
    for &name in EXPECTED {
        let (config, rows) = expected(name);
        assert_eq!(rows.len(), values.len(), "{name}");
        let threshold = serde_json::from_str::<serde_json::Value>(&config).expect("config is JSON")
            ["threshold"]
            .as_f64()
            .expect("the reference configs set a threshold");
        let mut d = Detector::from_config(&config).expect("reference config is valid");
        let mut out = Scores::default();
        d.process(&Input::univariate(&ts, &values), &mut out)
            .expect("process");

        let mut mismatches = Vec::new();
        let mut counts = [0usize; 3];
        let mut anomalies = 0;
        for (i, want) in rows.iter().enumerate() {
            assert_eq!(
                want.ts, ts[i],
                "{name} row {i}: input and expected files disagree"
            );
            assert_eq!(
                want.value.to_bits(),
                values[i].to_bits(),
                "{name} row {i}: input and expected files disagree"
            );
            let f = out.flags[i];
            let status = Status::from_flags(f);
            counts[status as usize] += 1;
            anomalies += usize::from(want.is_anomaly);
            let scale = (want.upper - want.lower) / (2.0 * threshold);
            let score_ok = close_score(out.score[i], want.score, want.value, scale);
            // A reference score of exactly 0 (x equals a flat window's center)
            // has no direction to compare when the Rust score is within noise of it.
            let tie = want.score == 0.0 && score_ok;
            let got_direction = match status {
                Status::Ok if tie => "up",
                Status::Ok if flags::is_up(f) => "up",
                Status::Ok => "down",
                _ => "",
            };
            let checks = [
                ("status", status.as_str() == want.status),
                ("is_anomaly", flags::is_anomaly(f) == want.is_anomaly),
                ("direction", got_direction == want.direction),
                ("forecast", close(out.forecast[i], want.forecast)),
                ("lower", close(out.lower[i], want.lower)),
                ("upper", close(out.upper[i], want.upper)),
                ("score", score_ok),
            ];
            for (what, ok) in checks {
                if !ok {
                    mismatches.push(format!(
                        "row {i} {what}: got forecast={} lower={} upper={} score={} flags={f:#010b}; \
                         want forecast={} lower={} upper={} score={} anomaly={} direction={} status={}",
                        out.forecast[i],
                        out.lower[i],
                        out.upper[i],
                        out.score[i],
                        want.forecast,
                        want.lower,
                        want.upper,
                        want.score,
                        want.is_anomaly,
                        want.direction,
                        want.status
                    ));
                }
            }
        }
        assert!(
            mismatches.is_empty(),
            "{name} ({config}): {} mismatches\n{}",
            mismatches.len(),
            mismatches.join("\n")
        );
        // The comparison covered every status and some anomalies.
        assert!(
            counts.iter().all(|c| *c > 0) && anomalies > 0,
            "{name}: status counts {counts:?}, anomalies {anomalies}"
        );
    }
}

#[test]
fn every_expected_file_is_checked() {
    let mut on_disk: Vec<String> = std::fs::read_dir(dir())
        .expect("tests/reference exists")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with("_expected.csv"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = EXPECTED.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "EXPECTED must list every *_expected.csv");
}
