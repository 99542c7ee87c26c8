//! Alert settings as named tables: `minConsecutive`, `cooldown` (rows and
//! durations), `minDeviation`, severity bands, and the likelihood layer
//! (its probability column, flags that follow it, per-key calibration, and
//! its values against an independent re-computation from the score column).

use wasmad_core::flags::{self, Severity, Status};
use wasmad_core::gauss;
use wasmad_core::{Detector, Input, Scores};

/// Seeded noise: splitmix64 and Box-Muller, so the tests need no RNG crate.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.unit(), self.unit());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

fn noise(seed: u64, n: usize, level: f64, sd: f64) -> Vec<f64> {
    let mut rng = Rng(seed);
    (0..n).map(|_| level + sd * rng.normal()).collect()
}

fn run(config: &str, ts: &[i64], vs: &[f64]) -> Scores {
    let mut d = Detector::from_config(config).unwrap_or_else(|e| panic!("{config}: {e}"));
    let mut out = Scores::default();
    d.process(&Input::univariate(ts, vs), &mut out)
        .unwrap_or_else(|e| panic!("{config}: {e}"));
    out
}

fn flagged(out: &Scores, from: usize) -> Vec<usize> {
    (from..out.len())
        .filter(|&i| flags::is_anomaly(out.flags[i]))
        .map(|i| i - from)
        .collect()
}

/// MAD (threshold 8) over 200 rows of N(10, 1) noise, then `pattern`: `1` a spike to 110
/// (a candidate however many spikes came before: the median and MAD barely
/// move), `0` a value of 10, `n` a NaN. Returns the flagged pattern indices.
fn hygiene(extra: &str, pattern: &str, ts: Option<&[i64]>) -> Vec<usize> {
    const WARM: usize = 200;
    let mut vs = noise(7, WARM, 10.0, 1.0);
    vs.extend(pattern.chars().map(|c| match c {
        '1' => 110.0,
        '0' => 10.0,
        _ => f64::NAN,
    }));
    let default_ts: Vec<i64> = (0..vs.len() as i64).collect();
    let ts = ts.map_or(default_ts, |t| {
        let mut all: Vec<i64> = (0..WARM as i64).collect();
        all.extend(t.iter().map(|x| x + WARM as i64));
        all
    });
    let config =
        format!(r#"{{"algorithm":"mad","window":200,"minTrainingSize":50,"threshold":8{extra}}}"#);
    let out = run(&config, &ts, &vs);
    assert!(
        flagged(&out, 0).iter().all(|&i| i >= WARM),
        "{config}: flags in the noise"
    );
    flagged(&out, WARM)
}

#[test]
fn min_consecutive_and_cooldown_in_rows() {
    // (name, extra config, pattern, flagged pattern indices)
    #[rustfmt::skip]
    let cases: &[(&str, &str, &str, &[usize])] = &[
        ("no hygiene flags every candidate", "", "0110111010", &[1, 2, 4, 5, 6, 8]),
        ("minConsecutive 1 is the default", r#","minConsecutive":1"#, "0110111010", &[1, 2, 4, 5, 6, 8]),
        ("minConsecutive 2 skips the first of each run", r#","minConsecutive":2"#, "0110111010", &[2, 5, 6]),
        ("minConsecutive 3 needs three in a row", r#","minConsecutive":3"#, "0110111010", &[6]),
        ("minConsecutive 3 then a long run", r#","minConsecutive":3"#, "1101111111", &[5, 6, 7, 8, 9]),
        ("a normal row breaks a run", r#","minConsecutive":2"#, "1010101", &[]),
        ("a skipped row neither extends nor breaks a run", r#","minConsecutive":2"#, "1n1n0n1", &[2]),
        ("cooldown 2 rows", r#","cooldown":2"#, "1111111", &[0, 3, 6]),
        ("cooldown counts quiet rows too", r#","cooldown":2"#, "1001001", &[0, 3, 6]),
        ("cooldown 3 rows after a flag", r#","cooldown":3"#, "1011011", &[0, 5]),
        ("skipped rows do not count for a row cooldown", r#","cooldown":2"#, "1nn1n11", &[0, 6]),
        ("cooldown 0 is none", r#","cooldown":0"#, "111", &[0, 1, 2]),
        ("runs keep counting while cooling down", r#","minConsecutive":2,"cooldown":3"#, "11111111111", &[1, 5, 9]),
        ("a run that starts while cooling down", r#","minConsecutive":2,"cooldown":2"#, "110011", &[1, 5]),
    ];
    let mut failures = Vec::new();
    for (name, extra, pattern, want) in cases {
        let got = hygiene(extra, pattern, None);
        if got != *want {
            failures.push(format!(
                "{name}: pattern {pattern}: flagged {got:?}, want {want:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn cooldown_as_a_duration_uses_timestamps() {
    const S: i64 = 1_000_000; // one second in microseconds
    /// (name, cooldown, pattern, timestamps from the first pattern row, flagged)
    type Case<'a> = (&'a str, &'a str, &'a str, Vec<i64>, &'a [usize]);
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("every 3 s, 10 s cooldown", "10s", "11111111", (0..8).map(|i| i * 3 * S).collect(), &[0, 4]),
        ("exactly at the end of the cooldown flags", "9s", "1111", (0..4).map(|i| i * 3 * S).collect(), &[0, 3]),
        ("one microsecond short does not", "9000001us", "1111", (0..4).map(|i| i * 3 * S).collect(), &[0]),
        ("irregular times", "1m", "11111", vec![0, 30 * S, 59 * S, 60 * S, 61 * S], &[0, 3]),
        ("a gap ends the cooldown", "1h", "111", vec![0, 10 * S, 7200 * S], &[0, 2]),
        ("skipped rows in between change nothing", "10s", "1nn1", (0..4).map(|i| i * 5 * S).collect(), &[0, 3]),
    ];
    let mut failures = Vec::new();
    for (name, cooldown, pattern, ts, want) in cases {
        // Warm-up rows are 1 us apart, long before the pattern starts.
        let shifted: Vec<i64> = ts.iter().map(|t| t + 1000 * S).collect();
        let got = hygiene(
            &format!(r#","cooldown":"{cooldown}""#),
            pattern,
            Some(&shifted),
        );
        if got != *want {
            failures.push(format!("{name}: flagged {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn min_deviation_floors() {
    // 100 rows around 1000 with sd 0.01, then 1000.5: a huge z-score but an
    // absolute deviation of about 0.5 and a relative one of about 0.0005.
    let mut vs = noise(11, 100, 1000.0, 0.01);
    vs.push(1000.5);
    let ts: Vec<i64> = (0..vs.len() as i64).collect();
    // (name, extra config, flagged)
    #[rustfmt::skip]
    let cases: &[(&str, &str, bool)] = &[
        ("no floor", "", true),
        ("absolute floor below the deviation", r#","minDeviation":{"absolute":0.4}"#, true),
        ("absolute floor above it", r#","minDeviation":{"absolute":0.6}"#, false),
        ("relative floor below it", r#","minDeviation":{"relative":0.0004}"#, true),
        ("relative floor above it", r#","minDeviation":{"relative":0.0006}"#, false),
        ("both floors must be cleared", r#","minDeviation":{"absolute":0.1,"relative":0.0006}"#, false),
        ("both cleared", r#","minDeviation":{"absolute":0.1,"relative":0.0004}"#, true),
        ("with likelihood too", r#","minDeviation":{"absolute":0.6},"likelihood":{"minSamples":10}"#, false),
        ("likelihood without the floor", r#","likelihood":{"minSamples":10}"#, true),
    ];
    for (name, extra, want) in cases {
        let config =
            format!(r#"{{"algorithm":"zscore","minTrainingSize":20,"threshold":5{extra}}}"#);
        let out = run(&config, &ts, &vs);
        let last = vs.len() - 1;
        assert!(out.score[last] > 20.0, "{name}: score {}", out.score[last]);
        assert_eq!(flags::is_anomaly(out.flags[last]), *want, "{name}");
        assert_eq!(
            flagged(&out, 0).len(),
            usize::from(*want),
            "{name}: only the last row"
        );
    }
}

#[test]
fn severity_bands() {
    // 100 rows alternating 9 and 11: mean 10, sample std 1.005. Each probe is
    // scored alone against that history.
    let history: Vec<f64> = (0..100)
        .map(|i| if i % 2 == 0 { 9.0 } else { 11.0 })
        .collect();
    // (name, extra config, probe value, severity)
    #[rustfmt::skip]
    let cases: &[(&str, &str, f64, Severity)] = &[
        ("inside the band has none", "", 12.0, Severity::None),
        ("just outside is low (z 3.98, 1.33x)", "", 14.0, Severity::Low),
        ("1.5x the threshold is medium (z 4.98, 1.66x)", "", 15.0, Severity::Medium),
        ("2x the threshold is high (z 6.47, 2.16x)", "", 16.5, Severity::High),
        ("below the forecast too", "", 3.5, Severity::High),
        ("custom bands: medium from 1.2x", r#","severity":{"medium":1.2,"high":1.4}"#, 14.0, Severity::Medium),
        ("custom bands: high from 1.4x", r#","severity":{"medium":1.2,"high":1.4}"#, 15.0, Severity::High),
        ("equal bands skip medium", r#","severity":{"medium":2,"high":2}"#, 16.5, Severity::High),
        ("a higher threshold moves the bands", r#","threshold":5"#, 16.5, Severity::Low),
        ("a row the direction excludes has none", r#","direction":"up""#, 3.5, Severity::None),
    ];
    for (name, extra, probe, want) in cases {
        let config = format!(r#"{{"algorithm":"zscore","minTrainingSize":10{extra}}}"#);
        let mut vs = history.clone();
        vs.push(*probe);
        let ts: Vec<i64> = (0..vs.len() as i64).collect();
        let out = run(&config, &ts, &vs);
        let f = out.flags[vs.len() - 1];
        assert_eq!(
            Severity::from_flags(f),
            *want,
            "{name}: score {}",
            out.score[vs.len() - 1]
        );
        assert_eq!(flags::is_anomaly(f), *want != Severity::None, "{name}");
        // Every row of the history is unflagged and has no severity.
        assert!(
            out.flags[..vs.len() - 1]
                .iter()
                .all(|f| f & flags::SEVERITY_MASK == 0),
            "{name}"
        );
    }
}

/// An independent re-computation of the likelihood layer from a detector's
/// own score column (direction `both`), two-pass: the long-run distribution
/// is the weighted mean and weighted population variance of every average so
/// far, an average `a` rows old weighing `(1 - 1/window)^a`. Returns, per
/// row, the probability and the standardised average (0 while warming up).
fn reference_likelihood(
    out: &Scores,
    (window, short, min_samples): (f64, usize, usize),
    cap: f64,
    min_std: f64,
) -> Vec<Option<(f64, f64)>> {
    let mut recent: Vec<f64> = Vec::new();
    let mut averages: Vec<f64> = Vec::new();
    let mut result = Vec::new();
    for i in 0..out.len() {
        if Status::from_flags(out.flags[i]) != Status::Ok {
            result.push(None);
            continue;
        }
        let m = out.score[i].abs().min(cap).powi(2);
        recent.push(m);
        if recent.len() > short {
            recent.remove(0);
        }
        let avg = recent.iter().sum::<f64>() / recent.len() as f64;
        let z = if averages.len() >= min_samples {
            let decay = 1.0 - 1.0 / window;
            let n = averages.len();
            let w: Vec<f64> = (0..n).map(|j| decay.powi((n - 1 - j) as i32)).collect();
            let total: f64 = w.iter().sum();
            let mean = averages.iter().zip(&w).map(|(a, w)| a * w).sum::<f64>() / total;
            let var = averages
                .iter()
                .zip(&w)
                .map(|(a, w)| w * (a - mean).powi(2))
                .sum::<f64>()
                / total;
            Some((avg - mean) / var.sqrt().max(min_std))
        } else {
            None
        };
        result.push(Some(z.map_or((0.5, 0.0), |z| (gauss::cdf(z), z))));
        averages.push(avg);
    }
    result
}

#[test]
fn likelihood_matches_an_independent_recomputation() {
    // Noise with a level shift and a few spikes.
    let mut vs = noise(3, 600, 50.0, 2.0);
    for (i, v) in vs.iter_mut().enumerate() {
        if (400..420).contains(&i) {
            *v += 12.0;
        }
        if i % 97 == 0 {
            *v += 15.0;
        }
    }
    vs[250] = f64::NAN;
    let ts: Vec<i64> = (0..vs.len() as i64).collect();
    // (name, window, shortWindow, minSamples, cap, minStd, threshold)
    let cases: &[(&str, u64, usize, usize, f64, f64, f64)] = &[
        ("defaults", 8640, 10, 100, 10.0, 0.01, 0.9999),
        ("a short memory", 50, 10, 100, 10.0, 0.01, 0.9999),
        ("one row, a low threshold", 300, 1, 20, 10.0, 0.01, 0.99),
        ("a small cap", 1000, 5, 50, 2.0, 0.01, 0.999),
        ("a large std floor", 1000, 5, 50, 10.0, 5.0, 0.9),
    ];
    let z_threshold = |p: f64| gauss::quantile(p);
    for &(name, window, short, min_samples, cap, min_std, threshold) in cases {
        let config = format!(
            r#"{{"algorithm":"zscore","likelihood":{{"window":{window},"shortWindow":{short},"minSamples":{min_samples},"cap":{cap},"minStd":{min_std},"threshold":{threshold}}}}}"#
        );
        let out = run(&config, &ts, &vs);
        assert_eq!(out.probability.len(), vs.len(), "{name}");
        let want = reference_likelihood(&out, (window as f64, short, min_samples), cap, min_std);
        let mut flags_seen = 0;
        for (i, w) in want.iter().enumerate() {
            let p = out.probability[i];
            match w {
                None => assert!(p.is_nan(), "{name} row {i}: {p} for a row that is not ok"),
                Some((wp, wz)) => {
                    assert!((p - wp).abs() <= 1e-9, "{name} row {i}: {p} vs {wp}");
                    assert!((0.0..=1.0).contains(&p), "{name} row {i}");
                    // No hygiene: flags follow the probability exactly.
                    let flag = flags::is_anomaly(out.flags[i]);
                    assert_eq!(flag, p >= threshold, "{name} row {i}: p {p}");
                    if flag {
                        flags_seen += 1;
                        let ratio = wz / z_threshold(threshold);
                        let sev = Severity::from_flags(out.flags[i]);
                        let want_sev = if ratio >= 2.0 {
                            Severity::High
                        } else if ratio >= 1.5 {
                            Severity::Medium
                        } else {
                            Severity::Low
                        };
                        // Away from a band edge the severity must agree.
                        if (ratio - 1.5).abs() > 1e-6 && (ratio - 2.0).abs() > 1e-6 {
                            assert_eq!(sev, want_sev, "{name} row {i}: ratio {ratio}");
                        }
                    }
                }
            }
        }
        assert!(flags_seen > 0, "{name}: nothing flagged");
    }
}

#[test]
fn probability_column_and_warm_up() {
    let mut vs = noise(5, 80, 10.0, 1.0);
    vs[40] = f64::NAN;
    vs[41] = f64::INFINITY;
    let ts: Vec<i64> = (0..vs.len() as i64).collect();
    let plain = run(r#"{"minTrainingSize":10}"#, &ts, &vs);
    assert!(plain.probability.is_empty(), "no likelihood: no column");
    let hygiene_only = run(r#"{"minTrainingSize":10,"cooldown":5}"#, &ts, &vs);
    assert!(
        hygiene_only.probability.is_empty(),
        "hygiene alone: no column"
    );

    let out = run(
        r#"{"minTrainingSize":10,"likelihood":{"minSamples":20}}"#,
        &ts,
        &vs,
    );
    assert_eq!(out.probability.len(), vs.len());
    for i in 0..vs.len() {
        let (status, p) = (Status::from_flags(out.flags[i]), out.probability[i]);
        match status {
            Status::Warmup | Status::Skipped => assert!(p.is_nan(), "row {i}: {status:?} {p}"),
            // The 10 warm-up rows, then 20 ok rows (the NaN and infinity are
            // skipped, later) before the distribution reports.
            Status::Ok if i < 30 => assert_eq!(p, 0.5, "row {i}"),
            Status::Ok => assert!((0.0..=1.0).contains(&p) && p != 0.5, "row {i}: {p}"),
        }
        if i < 30 {
            assert!(
                !flags::is_anomaly(out.flags[i]),
                "row {i}: flagged while warming up"
            );
        }
    }
}

#[test]
fn likelihood_is_calibrated_per_key() {
    // Two keys of the same shape on scales 1000x apart, both with a burst of
    // five 8-sigma rows; raw z-scores would need one threshold per key, the
    // probability flags both bursts and neither key's noise.
    let n = 3000;
    let quiet = noise(21, n, 0.0, 0.001);
    let loud = noise(22, n, 0.0, 1.0);
    let (mut ts, mut vs, mut keys) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        for (k, series, sd) in [(0u32, &quiet, 0.001), (1, &loud, 1.0)] {
            let burst = (2000..2005).contains(&i);
            ts.push(i as i64);
            vs.push(series[i] + if burst { 8.0 * sd } else { 0.0 });
            keys.push(k);
        }
    }
    let mut d = Detector::from_config(r#"{"algorithm":"zscore","likelihood":true,"cooldown":50}"#)
        .expect("config");
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
    for k in 0..2u32 {
        let rows: Vec<usize> = (0..out.len())
            .filter(|&r| keys[r] == k && flags::is_anomaly(out.flags[r]))
            .map(|r| ts[r] as usize)
            .collect();
        assert!(
            rows.iter().any(|r| (2000..2005).contains(r)),
            "key {k}: burst not flagged ({rows:?})"
        );
        assert!(rows.len() <= 3, "key {k}: {} flags: {rows:?}", rows.len());
    }
}

#[test]
fn likelihood_direction_up_ignores_drops() {
    // Two series: five rows 10 sigma down, or five rows 10 sigma up.
    let shifted = |by: f64| {
        let mut vs = noise(9, 400, 100.0, 1.0);
        for v in &mut vs[300..305] {
            *v += by;
        }
        vs
    };
    let ts: Vec<i64> = (0..400).collect();
    let burst = |o: &Scores| {
        flagged(o, 0)
            .into_iter()
            .filter(|i| (300..305).contains(i))
            .count()
    };
    // (name, config, shift, flags in the burst, flags elsewhere)
    #[rustfmt::skip]
    let cases: &[(&str, &str, f64, usize)] = &[
        ("both sees a drop", r#"{"likelihood":true,"cooldown":20}"#, -10.0, 1),
        ("both sees a rise", r#"{"likelihood":true,"cooldown":20}"#, 10.0, 1),
        ("up ignores a drop", r#"{"likelihood":true,"cooldown":20,"direction":"up"}"#, -10.0, 0),
        ("up sees a rise", r#"{"likelihood":true,"cooldown":20,"direction":"up"}"#, 10.0, 1),
        ("down sees a drop", r#"{"likelihood":true,"cooldown":20,"direction":"down"}"#, -10.0, 1),
        ("down ignores a rise", r#"{"likelihood":true,"cooldown":20,"direction":"down"}"#, 10.0, 0),
    ];
    for (name, config, by, want) in cases {
        let out = run(config, &ts, &shifted(*by));
        assert_eq!(burst(&out), *want, "{name}");
        assert_eq!(
            flagged(&out, 0).len(),
            *want,
            "{name}: flags outside the burst"
        );
        if *want == 0 {
            // The excluded side leaves the probability low.
            assert!(
                out.probability[300..305].iter().all(|p| *p < 0.9),
                "{name}: {:?}",
                &out.probability[300..305]
            );
        }
        for i in flagged(&out, 0) {
            assert_eq!(flags::is_up(out.flags[i]), *by > 0.0, "{name}: row {i}");
        }
    }
}
