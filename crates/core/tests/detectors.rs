//! Detector behaviour, as named tables run against every algorithm: warm-up
//! length, skipped rows are not learned, direction filtering and the direction
//! bit, flat series then a jump, per-key isolation, bands agree with scores,
//! and malformed batches are `Error::InvalidInput` that leave the state alone.

use wasmad_core::flags::{self, Status};
use wasmad_core::{Detector, Error, Input, Scores};

/// One config per algorithm (and the zscore window variant), all with a short
/// warm-up so the tables stay small.
const ALGOS: &[(&str, &str)] = &[
    ("zscore", r#""algorithm":"zscore""#),
    ("zscore window", r#""algorithm":"zscore","window":40"#),
    ("ewma", r#""algorithm":"ewma","alpha":0.1"#),
    ("ewma halfLife", r#""algorithm":"ewma","halfLife":20"#),
    ("mad", r#""algorithm":"mad","window":40"#),
];

/// `{<algo>, <extra>}` as a config string.
fn config(algo: &str, extra: &str) -> String {
    if extra.is_empty() {
        format!("{{{algo}}}")
    } else {
        format!("{{{algo},{extra}}}")
    }
}

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
    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.unit(), self.unit());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// `n` values of N(level, sd^2), seeded.
fn noise(seed: u64, n: usize, level: f64, sd: f64) -> Vec<f64> {
    let mut rng = Rng(seed);
    (0..n).map(|_| level + sd * rng.normal()).collect()
}

fn timestamps(n: usize) -> Vec<i64> {
    (0..n as i64)
        .map(|i| 1_700_000_000_000_000 + i * 1_000_000)
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
    assert_eq!(out.len(), values.len());
    out
}

fn run_keyed(config: &str, values: &[f64], keys: &[u32]) -> Scores {
    let mut d = Detector::from_config(config).unwrap_or_else(|e| panic!("{config}: {e}"));
    let mut out = Scores::default();
    let ts = timestamps(values.len());
    let input = Input {
        timestamps: &ts,
        values,
        width: 1,
        keys,
    };
    d.process(&input, &mut out)
        .unwrap_or_else(|e| panic!("{config}: {e}"));
    out
}

fn status(out: &Scores, i: usize) -> Status {
    Status::from_flags(out.flags[i])
}

/// Row `i` of `a` and row `j` of `b` are bit-identical.
fn same_row(a: &Scores, i: usize, b: &Scores, j: usize) -> bool {
    a.forecast[i].to_bits() == b.forecast[j].to_bits()
        && a.lower[i].to_bits() == b.lower[j].to_bits()
        && a.upper[i].to_bits() == b.upper[j].to_bits()
        && a.score[i].to_bits() == b.score[j].to_bits()
        && a.flags[i] == b.flags[j]
}

fn all_nan(out: &Scores, i: usize) -> bool {
    out.forecast[i].is_nan()
        && out.lower[i].is_nan()
        && out.upper[i].is_nan()
        && out.score[i].is_nan()
}

#[test]
fn warmup_covers_exactly_min_training_size_finite_rows() {
    // (name, minTrainingSize, positions of NaN rows in a 60-row series)
    let cases: &[(&str, u64, &[usize])] = &[
        ("shortest warm-up", 2, &[]),
        ("five rows", 5, &[]),
        ("default-sized", 30, &[]),
        ("NaNs inside the warm-up do not count", 5, &[0, 2, 3]),
        ("NaN right after the warm-up", 5, &[5]),
        ("whole warm-up", 40, &[1, 10, 39]),
    ];
    for &(algo_name, algo) in ALGOS {
        for &(name, min, nans) in cases {
            let mut values = noise(7, 60, 10.0, 1.0);
            for &i in nans {
                values[i] = f64::NAN;
            }
            let out = run(
                &config(algo, &format!(r#""minTrainingSize":{min}"#)),
                &values,
            );
            let mut finite_before = 0;
            for (i, x) in values.iter().enumerate() {
                let want = if x.is_nan() {
                    Status::Skipped
                } else if finite_before < min {
                    Status::Warmup
                } else {
                    Status::Ok
                };
                let got = status(&out, i);
                assert_eq!(got, want, "{algo_name} / {name}: row {i}");
                if want == Status::Warmup {
                    assert_eq!(out.flags[i], flags::WARMUP, "{algo_name} / {name}: row {i}");
                    assert!(all_nan(&out, i), "{algo_name} / {name}: row {i}");
                }
                if want == Status::Ok {
                    assert!(out.score[i].is_finite(), "{algo_name} / {name}: row {i}");
                }
                finite_before += u64::from(!x.is_nan());
            }
        }
    }
}

#[test]
fn non_finite_rows_are_skipped_and_not_learned() {
    // (name, positions and values inserted into a clean series)
    #[rustfmt::skip]
    let cases: &[(&str, &[(usize, f64)])] = &[
        ("one NaN",             &[(45, f64::NAN)]),
        ("NaN during warm-up",  &[(3, f64::NAN)]),
        ("inf and -inf",        &[(50, f64::INFINITY), (60, f64::NEG_INFINITY)]),
        ("runs of NaN",         &[(20, f64::NAN), (20, f64::NAN), (20, f64::NAN), (70, f64::NAN), (70, f64::NAN)]),
        ("first and last rows", &[(0, f64::NAN), (120, f64::INFINITY)]),
        ("next to a spike",     &[(80, f64::NAN), (81, f64::INFINITY)]),
    ];
    let mut clean = noise(11, 120, 50.0, 3.0);
    clean[81] += 40.0; // a spike, so some rows are anomalous
    for &(algo_name, algo) in ALGOS {
        let cfg = config(algo, r#""minTrainingSize":10"#);
        let want = run(&cfg, &clean);
        for &(name, inserts) in cases {
            // Insert from the back so positions refer to the clean series.
            let mut dirty = clean.clone();
            let mut finite_at: Vec<Option<usize>> = (0..clean.len()).map(Some).collect();
            for &(at, v) in inserts.iter().rev() {
                dirty.insert(at, v);
                finite_at.insert(at, None);
            }
            let got = run(&cfg, &dirty);
            for (i, clean_i) in finite_at.iter().enumerate() {
                match clean_i {
                    Some(j) => assert!(
                        same_row(&got, i, &want, *j),
                        "{algo_name} / {name}: dirty row {i} differs from clean row {j}"
                    ),
                    None => {
                        assert_eq!(
                            got.flags[i],
                            flags::SKIPPED,
                            "{algo_name} / {name}: row {i}"
                        );
                        assert!(all_nan(&got, i), "{algo_name} / {name}: row {i}");
                    }
                }
            }
        }
    }
}

#[test]
fn spikes_and_dips_are_flagged_by_direction() {
    // (name, direction, offset of the last row from the level in sd units, flagged?, up bit?)
    #[rustfmt::skip]
    let cases: &[(&str, &str, f64, bool, bool)] = &[
        ("spike, both",                        "both", 20.0,  true,  true),
        ("dip, both",                          "both", -20.0, true,  false),
        ("spike, up",                          "up",   20.0,  true,  true),
        ("dip, up: not flagged, still down",   "up",   -20.0, false, false),
        ("spike, down: not flagged, still up", "down", 20.0,  false, true),
        ("dip, down",                          "down", -20.0, true,  false),
        ("small rise, both",                   "both", 0.5,   false, true),
        ("small fall, both",                   "both", -0.5,  false, false),
    ];
    for &(algo_name, algo) in ALGOS {
        for &(name, direction, offset, flagged, up) in cases {
            let mut values = noise(23, 100, 10.0, 1.0);
            // Steady up to the last row, which is level + offset * sd.
            let last = values.len() - 1;
            values[last] = 10.0 + offset;
            let cfg = config(
                algo,
                &format!(r#""direction":"{direction}","minTrainingSize":20"#),
            );
            let out = run(&cfg, &values);
            let f = out.flags[last];
            assert_eq!(status(&out, last), Status::Ok, "{algo_name} / {name}");
            assert_eq!(
                flags::is_anomaly(f),
                flagged,
                "{algo_name} / {name}: score {}",
                out.score[last]
            );
            assert_eq!(flags::is_up(f), up, "{algo_name} / {name}");
            assert_eq!(
                out.score[last] > 0.0,
                up,
                "{algo_name} / {name}: the score's sign is the direction"
            );
            // The noise itself is quiet with threshold 3+ on these seeds.
            let noisy_flags = (20..last)
                .filter(|&i| flags::is_anomaly(out.flags[i]))
                .count();
            assert!(
                noisy_flags <= 2,
                "{algo_name} / {name}: {noisy_flags} flags on noise"
            );
        }
    }
}

#[test]
fn flat_series_then_a_jump_is_flagged_with_a_finite_score() {
    // (name, level of the flat run, jump added to the last row)
    let cases: &[(&str, f64, f64)] = &[
        ("zero then one", 0.0, 1.0),
        ("zero then a hair", 0.0, 1e-9),
        ("level 5 then up", 5.0, 1.0),
        ("level 5 then down", 5.0, -1.0),
        ("negative level", -250.0, 3.0),
        ("large level, jump of 1e-7 relative", 1e9, 100.0),
        ("tiny level, jump above the 1e-12 floor", 1e-20, 1e-10),
    ];
    for &(algo_name, algo) in ALGOS {
        for &(name, level, jump) in cases {
            let mut values = vec![level; 60];
            values.push(level + jump);
            let out = run(&config(algo, r#""minTrainingSize":10"#), &values);
            let last = values.len() - 1;
            for i in 10..last {
                assert_eq!(status(&out, i), Status::Ok, "{algo_name} / {name}: row {i}");
                assert!(
                    !flags::is_anomaly(out.flags[i]),
                    "{algo_name} / {name}: row {i}"
                );
                assert_eq!(
                    out.score[i], 0.0,
                    "{algo_name} / {name}: row {i} equals its forecast"
                );
                assert_eq!(out.forecast[i], level, "{algo_name} / {name}: row {i}");
            }
            let (s, f) = (out.score[last], out.flags[last]);
            assert!(s.is_finite(), "{algo_name} / {name}: score {s}");
            assert!(flags::is_anomaly(f), "{algo_name} / {name}: score {s}");
            assert_eq!(flags::is_up(f), jump > 0.0, "{algo_name} / {name}");
            assert!(
                out.lower[last].is_finite() && out.upper[last].is_finite(),
                "{algo_name} / {name}"
            );
            assert!(
                out.lower[last] <= level && level <= out.upper[last],
                "{algo_name} / {name}"
            );
        }
    }
}

#[test]
fn flat_series_resolution_is_the_scale_floor() {
    // The scale floor is max(1.5e-8 * |center|, 1e-12): on a flat series a
    // change is flagged only when it exceeds threshold times that floor.
    // (name, level, jump, flagged?)
    let cases: &[(&str, f64, f64, bool)] = &[
        ("1e9 + 40 is below 3 * 15", 1e9, 40.0, false),
        ("1e9 + 50 is above 3 * 15", 1e9, 50.0, true),
        ("1e9 - 50 is above 3 * 15", 1e9, -50.0, true),
        ("0 + 2e-12 is below 3 * 1e-12", 0.0, 2e-12, false),
        ("0 + 4e-12 is above 3 * 1e-12", 0.0, 4e-12, true),
    ];
    for &(algo_name, algo) in ALGOS {
        let cfg = config(algo, r#""minTrainingSize":10,"threshold":3"#);
        for &(name, level, jump, flagged) in cases {
            let mut values = vec![level; 30];
            values.push(level + jump);
            let out = run(&cfg, &values);
            let last = values.len() - 1;
            let want_score = jump / wasmad_core::engine::scale_floor(level);
            let got = out.score[last];
            assert!(
                (got - want_score).abs() < 1e-6,
                "{algo_name} / {name}: score {got}, want {want_score}"
            );
            assert_eq!(
                flags::is_anomaly(out.flags[last]),
                flagged,
                "{algo_name} / {name}"
            );
        }
    }
}

#[test]
fn noise_then_flat_then_jump_with_a_sliding_window() {
    // Once a window holds only the flat run, the rounding left behind by the
    // noisy values that slid out must not be flagged; the jump must be.
    #[rustfmt::skip]
    let cases: &[(&str, &str)] = &[
        ("zscore window 20", r#"{"algorithm":"zscore","window":20,"minTrainingSize":10}"#),
        ("zscore window 7",  r#"{"algorithm":"zscore","window":7,"minTrainingSize":5}"#),
        ("mad window 20",    r#"{"algorithm":"mad","window":20,"minTrainingSize":10}"#),
        ("ewma alpha 0.5",   r#"{"algorithm":"ewma","alpha":0.5,"minTrainingSize":10}"#),
    ];
    for &(name, cfg) in cases {
        let mut values = noise(5, 50, 100.0, 30.0);
        values.extend(std::iter::repeat_n(100.0, 200));
        values.push(100.01);
        let out = run(cfg, &values);
        let last = values.len() - 1;
        for i in 50..last {
            assert!(
                !flags::is_anomaly(out.flags[i]),
                "{name}: row {i} score {}",
                out.score[i]
            );
        }
        assert!(
            flags::is_anomaly(out.flags[last]),
            "{name}: score {}",
            out.score[last]
        );
        assert!(
            out.score[last].is_finite() && out.score[last] > 0.0,
            "{name}"
        );
    }
}

#[test]
fn bands_agree_with_scores() {
    // For every scored row: lower < forecast < upper, symmetric, width
    // 2 * threshold * scale, and the anomaly bit is "outside the band".
    let mut values = noise(31, 300, 20.0, 4.0);
    for i in [40, 90, 150, 151, 220] {
        values[i] += if i % 2 == 0 { 35.0 } else { -35.0 };
    }
    for &(algo_name, algo) in ALGOS {
        for threshold in [1.0, 2.5, 4.0] {
            let out = run(
                &config(
                    algo,
                    &format!(r#""threshold":{threshold},"minTrainingSize":10"#),
                ),
                &values,
            );
            let mut flagged = 0;
            for (i, &x) in values.iter().enumerate().skip(10) {
                let (c, lo, hi, z) = (out.forecast[i], out.lower[i], out.upper[i], out.score[i]);
                let scale = (hi - lo) / (2.0 * threshold);
                let ctx = format!(
                    "{algo_name} threshold {threshold} row {i}: x={x} c={c} [{lo}, {hi}] z={z}"
                );
                assert!(lo < c && c < hi, "{ctx}");
                assert!(((c - lo) - (hi - c)).abs() <= 1e-9 * (hi - lo), "{ctx}");
                assert!(
                    (z * scale - (x - c)).abs() <= 1e-9 * (x - c).abs().max(scale),
                    "{ctx}"
                );
                let outside = x < lo || x > hi;
                // Away from the band's edge the bit and the band must agree.
                if (z.abs() - threshold).abs() > 1e-9 {
                    assert_eq!(flags::is_anomaly(out.flags[i]), outside, "{ctx}");
                }
                flagged += usize::from(flags::is_anomaly(out.flags[i]));
            }
            assert!(
                flagged > 0,
                "{algo_name} threshold {threshold}: nothing flagged"
            );
        }
    }
}

#[test]
fn keys_are_isolated() {
    // Three keys with different levels and spreads, interleaved in different
    // patterns; each key's rows must equal that key processed alone.
    let series = [
        noise(101, 80, 10.0, 1.0),
        noise(102, 80, -500.0, 50.0),
        noise(103, 80, 1e6, 1e3),
    ];
    type Pattern = (&'static str, fn(usize) -> u32);
    let patterns: &[Pattern] = &[
        ("round robin", |i| (i % 3) as u32),
        ("blocks of 7", |i| ((i / 7) % 3) as u32),
        ("irregular", |i| [0, 0, 1, 2, 2, 2, 1, 0, 1][i % 9]),
    ];
    for &(algo_name, algo) in ALGOS {
        let cfg = config(algo, r#""minTrainingSize":5"#);
        let alone: Vec<Scores> = series.iter().map(|s| run(&cfg, s)).collect();
        for &(name, pattern) in patterns {
            let mut next = [0usize; 3];
            let (mut values, mut keys, mut origin) = (Vec::new(), Vec::new(), Vec::new());
            for i in 0.. {
                let k = pattern(i) as usize;
                if next.iter().all(|&n| n == 80) {
                    break;
                }
                if next[k] == 80 {
                    continue;
                }
                values.push(series[k][next[k]]);
                keys.push(k as u32);
                origin.push((k, next[k]));
                next[k] += 1;
            }
            // Key ids must be dense in order of first appearance.
            let mut remap = [u32::MAX; 3];
            let mut seen = 0;
            for k in &mut keys {
                if remap[*k as usize] == u32::MAX {
                    remap[*k as usize] = seen;
                    seen += 1;
                }
                *k = remap[*k as usize];
            }
            let out = run_keyed(&cfg, &values, &keys);
            for (i, &(k, j)) in origin.iter().enumerate() {
                assert!(
                    same_row(&out, i, &alone[k], j),
                    "{algo_name} / {name}: row {i} (key {k}, its row {j}) differs from the key alone"
                );
            }
        }
    }
}

#[test]
fn malformed_batches_are_invalid_input_and_change_nothing() {
    let ts3 = [1i64, 2, 3];
    /// (name, timestamps, values, width, keys, expected message substring)
    type Case<'a> = (&'a str, &'a [i64], &'a [f64], usize, &'a [u32], &'a str);
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("more values than rows",  &ts3, &[1.0, 2.0, 3.0, 4.0], 1, &[], "values has 4 elements; expected rows (3) * width (1) = 3"),
        ("fewer values than rows", &ts3, &[1.0, 2.0],           1, &[], "values has 2 elements"),
        ("no values",              &ts3, &[],                   1, &[], "values has 0 elements"),
        ("width 0",                &ts3, &[1.0, 2.0, 3.0],      0, &[], "width must be at least 1"),
        ("width 0, empty batch",   &[],  &[],                   0, &[], "width must be at least 1"),
        ("width 2 for a univariate algorithm", &ts3, &[1.0; 6], 2, &[], "is univariate: width must be 1, got 2"),
        ("width 2 with the wrong length",      &ts3, &[1.0; 3], 2, &[], "expected rows (3) * width (2) = 6"),
        ("fewer keys than rows",   &ts3, &[1.0, 2.0, 3.0], 1, &[0, 0],       "keys has 2 elements; expected 0 (one model) or one per row (3)"),
        ("more keys than rows",    &ts3, &[1.0, 2.0, 3.0], 1, &[0, 0, 0, 0], "keys has 4 elements"),
        ("key id far from dense",  &ts3, &[1.0, 2.0, 3.0], 1, &[0, 1, 7],    "key id 7 is not dense"),
        // One key is held (the warm-up batch), so with 3 rows ids must be below 4.
        ("key id just past dense", &ts3, &[1.0, 2.0, 3.0], 1, &[0, 0, 4],    "ids must be below 4"),
        ("key id u32::MAX",        &ts3, &[1.0, 2.0, 3.0], 1, &[u32::MAX, 0, 0], "is not dense"),
    ];
    for &(algo_name, algo) in ALGOS {
        let cfg = config(algo, r#""minTrainingSize":2"#);
        // A detector that already holds some state.
        let mut d = Detector::from_config(&cfg).expect("valid");
        let mut out = Scores::default();
        let warm = noise(3, 10, 1.0, 0.1);
        d.process(&Input::univariate(&timestamps(10), &warm), &mut out)
            .expect("warm-up batch");
        let before = d.snapshot();
        for &(name, timestamps, values, width, keys, want) in cases {
            let input = Input {
                timestamps,
                values,
                width,
                keys,
            };
            let mut out = Scores::default();
            match d.process(&input, &mut out) {
                Err(Error::InvalidInput(m)) => {
                    assert!(
                        m.contains(want),
                        "{algo_name} / {name}: {m:?} lacks {want:?}"
                    )
                }
                other => panic!("{algo_name} / {name}: expected InvalidInput, got {other:?}"),
            }
            assert_eq!(
                d.snapshot(),
                before,
                "{algo_name} / {name}: a rejected batch changed the state"
            );
        }
    }
}

#[test]
fn edge_batches_that_are_valid() {
    for &(algo_name, algo) in ALGOS {
        let cfg = config(algo, r#""minTrainingSize":2"#);
        let mut d = Detector::from_config(&cfg).expect("valid");
        let mut out = Scores::default();
        // An empty batch, keyed or not.
        d.process(&Input::univariate(&[], &[]), &mut out)
            .expect("empty");
        assert!(out.is_empty(), "{algo_name}");
        let empty_keyed = Input {
            timestamps: &[],
            values: &[],
            width: 1,
            keys: &[],
        };
        d.process(&empty_keyed, &mut out).expect("empty keyed");
        // Key ids up to keys held + rows - 1 are accepted (ids need not be
        // contiguous within a batch, only bounded).
        let mut d = Detector::from_config(&cfg).expect("valid");
        let input = Input {
            timestamps: &[1, 2, 3],
            values: &[1.0, 2.0, 3.0],
            width: 1,
            keys: &[2, 0, 2],
        };
        d.process(&input, &mut out).expect("ids below rows");
        assert_eq!(d.key_count(), 3, "{algo_name}");
        let input = Input {
            timestamps: &[4],
            values: &[4.0],
            width: 1,
            keys: &[3],
        };
        d.process(&input, &mut out).expect("next id");
        assert_eq!(d.key_count(), 4, "{algo_name}");
        // Output buffers are cleared, not appended to.
        let input = Input::univariate(&[1, 2], &[1.0, 2.0]);
        d.process(&input, &mut out).expect("two rows");
        assert_eq!(out.len(), 2, "{algo_name}");
        assert_eq!(out.forecast.len(), 2, "{algo_name}");
    }
}

/// `reset_keys` gives a key a fresh model (hosts reuse evicted keys' ids),
/// leaves the other keys alone, and refuses ids the detector does not hold.
#[test]
fn reset_keys_gives_fresh_models() {
    for config in [
        r#"{"algorithm":"zscore","minTrainingSize":3}"#,
        r#"{"algorithm":"rcf","numberOfTrees":3,"subSampleSize":10,"minTrainingSize":3}"#,
    ] {
        let ts: Vec<i64> = (0..40).collect();
        let values: Vec<f64> = (0..40).map(|i| (i % 5) as f64).collect();
        let keys: Vec<u32> = (0..40).map(|i| (i % 2) as u32).collect();
        let mut d = wasmad_core::Detector::from_config(config).unwrap();
        let mut out = wasmad_core::Scores::default();
        let input = wasmad_core::Input {
            timestamps: &ts,
            values: &values,
            width: 1,
            keys: &keys,
        };
        d.process(&input, &mut out).unwrap();
        d.reset_keys(&[1]).unwrap();
        // Key 1 warms up again; key 0 carries on.
        let one = wasmad_core::Input {
            timestamps: &ts[..2],
            values: &values[..2],
            width: 1,
            keys: &[0, 1],
        };
        d.process(&one, &mut out).unwrap();
        assert_eq!(
            wasmad_core::flags::Status::from_flags(out.flags[0]),
            wasmad_core::flags::Status::Ok,
            "{config}"
        );
        assert_eq!(
            wasmad_core::flags::Status::from_flags(out.flags[1]),
            wasmad_core::flags::Status::Warmup,
            "{config}"
        );
        let err = d.reset_keys(&[2]).unwrap_err();
        assert!(
            err.to_string()
                .contains("cannot reset key id 2: the detector holds 2 keys"),
            "{err}"
        );
    }
}

/// A detector that reads no event time gives the same output with the
/// timestamps left out (hosts then skip copying them), keyed or not; one
/// that reads them refuses an empty list, as does a batch whose values are
/// not whole rows.
#[test]
fn timestamps_may_be_left_out_only_where_no_event_time_is_read() {
    let values = noise(7, 500, 10.0, 1.0);
    let ts = timestamps(values.len());
    let keys: Vec<u32> = (0..values.len() as u32).map(|i| i % 3).collect();
    let mut configs: Vec<String> = ALGOS.iter().map(|(_, a)| config(a, "")).collect();
    configs.push(r#"{"algorithm":"holtwinters","period":12}"#.into());
    for cfg in &configs {
        for keyed in [false, true] {
            let keys: &[u32] = if keyed { &keys } else { &[] };
            let mut with = Detector::from_config(cfg).expect("valid");
            let mut without = Detector::from_config(cfg).expect("valid");
            assert!(!without.needs_timestamps(), "{cfg}");
            for lo in (0..values.len()).step_by(128) {
                let hi = (lo + 128).min(values.len());
                let (mut a, mut b) = (Scores::default(), Scores::default());
                let k = if keyed { &keys[lo..hi] } else { keys };
                with.process(
                    &Input {
                        timestamps: &ts[lo..hi],
                        values: &values[lo..hi],
                        width: 1,
                        keys: k,
                    },
                    &mut a,
                )
                .expect("with timestamps");
                without
                    .process(
                        &Input {
                            timestamps: &[],
                            values: &values[lo..hi],
                            width: 1,
                            keys: k,
                        },
                        &mut b,
                    )
                    .expect("without timestamps");
                assert_eq!(a.len(), hi - lo);
                for i in 0..a.len() {
                    assert!(same_row(&a, i, &b, i), "{cfg} keyed={keyed} row {}", lo + i);
                }
            }
            assert_eq!(with.snapshot(), without.snapshot(), "{cfg}");
        }
    }
    for cfg in [
        r#"{"algorithm":"zscore","cooldown":10}"#,
        r#"{"algorithm":"ewma","likelihood":true}"#,
        r#"{"algorithm":"rcf"}"#,
        r#"{"algorithm":"spike_dip"}"#,
    ] {
        let mut d = Detector::from_config(cfg).expect("valid");
        assert!(d.needs_timestamps(), "{cfg}");
        let e = d
            .process(&Input::univariate(&[], &[1.0, 2.0]), &mut Scores::default())
            .expect_err("needs timestamps");
        assert!(
            matches!(&e, Error::InvalidInput(m) if m.contains("timestamps is empty") && m.contains("pass one timestamp per row")),
            "{cfg}: {e}"
        );
    }
    let mut d = Detector::from_config(r#"{"algorithm":"zscore"}"#).expect("valid");
    let e = d
        .process(
            &Input {
                timestamps: &[],
                values: &[1.0, 2.0, 3.0],
                width: 2,
                keys: &[],
            },
            &mut Scores::default(),
        )
        .expect_err("not whole rows");
    assert!(
        matches!(&e, Error::InvalidInput(m) if m.contains("not a whole number of rows of width 2")),
        "{e}"
    );
}

/// The variants' own `process` (public, under the dispatcher) refuse an
/// empty timestamps list where they read times: an error, never a panic.
#[test]
fn variants_that_read_times_refuse_empty_timestamps_themselves() {
    for cfg in [
        r#"{"algorithm":"zscore","cooldown":10}"#,
        r#"{"algorithm":"rcf"}"#,
        r#"{"algorithm":"ensemble","members":[{"algorithm":"zscore"}]}"#,
    ] {
        let mut d = Detector::from_config(cfg).expect("valid");
        let input = Input::univariate(&[], &[1.0, 2.0]);
        let mut out = Scores::default();
        let e = match &mut d {
            Detector::ZScore(k) => k.process(&input, &mut out),
            Detector::Rcf(k) => k.process(&input, &mut out),
            Detector::Ensemble(k) => k.process(&input, &mut out),
            _ => unreachable!("{cfg}"),
        }
        .expect_err("reads times");
        assert!(
            matches!(&e, Error::InvalidInput(m) if m.contains("timestamps is empty")),
            "{cfg}: {e}"
        );
        assert_eq!(
            d.key_count(),
            0,
            "{cfg}: a refused batch leaves no model behind"
        );
    }
}
