//! Properties that must hold for every algorithm, on multi-key data with NaN,
//! infinities, repeated values and spikes:
//!
//! (a) splitting the input into batches of any sizes (empty ones included)
//!     never changes a bit of the output, nor the final state;
//! (b) snapshot then restore between any batches never changes the output,
//!     and a restored detector snapshots to the same bytes;
//! (c) truncated, extended, bit-flipped or arbitrary snapshot bytes never
//!     panic: truncated, extended and bad-header ones are `InvalidSnapshot`,
//!     and a flipped one that still restores is a working detector;
//! (d) the `process-bytes` encodings round-trip bit for bit, and decoding
//!     arbitrary bytes never panics.
//!
//! The RNG seed is fixed, so every run checks the same 64 cases per property
//! (see [`config`] to explore more). Single-byte corruption of snapshots is
//! also checked exhaustively, outside proptest.

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use wasmad_core::bytes::{decode_input, decode_scores, encode_input, encode_scores};
use wasmad_core::engine::Extra;
use wasmad_core::{Detector, Error, Input, Scores};

/// Every algorithm, with windows short enough that rows slide out of them
/// (and the zscore window is recomputed) within one case.
/// With the likelihood layer and alert hygiene too: short likelihood
/// windows, low thresholds and short cooldowns (in rows and in time; the
/// test timestamps are row numbers in microseconds), so runs, cooldowns and
/// probabilities all change within one case.
const CONFIGS: &[&str] = &[
    r#"{"algorithm":"zscore","minTrainingSize":3}"#,
    r#"{"algorithm":"zscore","minTrainingSize":3,"window":5}"#,
    r#"{"algorithm":"zscore","minTrainingSize":2,"window":2,"direction":"up","threshold":1}"#,
    r#"{"algorithm":"ewma","minTrainingSize":2,"alpha":0.3}"#,
    r#"{"algorithm":"ewma","minTrainingSize":4,"halfLife":3,"direction":"down"}"#,
    r#"{"algorithm":"mad","minTrainingSize":3,"window":7}"#,
    r#"{"algorithm":"mad","minTrainingSize":4,"window":4,"threshold":2}"#,
    r#"{"algorithm":"zscore","minTrainingSize":3,"likelihood":{"window":20,"shortWindow":3,"minSamples":4,"threshold":0.9}}"#,
    r#"{"algorithm":"ewma","minTrainingSize":2,"alpha":0.3,"likelihood":{"shortWindow":2,"minSamples":2,"threshold":0.8},"cooldown":3,"minConsecutive":2}"#,
    r#"{"algorithm":"mad","minTrainingSize":3,"window":7,"direction":"up","cooldown":"5us","likelihood":{"minSamples":3,"threshold":0.7,"cap":3}}"#,
    r#"{"algorithm":"zscore","minTrainingSize":2,"window":4,"threshold":1,"minConsecutive":3,"cooldown":2,"minDeviation":{"absolute":0.5,"relative":0.01},"severity":{"medium":2,"high":5}}"#,
    r#"{"algorithm":"mad","minTrainingSize":3,"window":5,"direction":"down","minDeviation":{"relative":0.1}}"#,
    r#"{"algorithm":"holtwinters","period":3,"minTrainingSize":4,"alpha":0.3,"beta":0.1,"gamma":0.5}"#,
    r#"{"algorithm":"holtwinters","period":2,"minTrainingSize":2,"alpha":0,"gamma":0,"direction":"up","likelihood":{"shortWindow":2,"minSamples":3,"threshold":0.8},"cooldown":2}"#,
    r#"{"algorithm":"rcf","numberOfTrees":5,"subSampleSize":16,"timeDecay":64,"minTrainingSize":4,"shingleSize":2,"threshold":1.5}"#,
    r#"{"algorithm":"rcf","numberOfTrees":3,"subSampleSize":10,"minTrainingSize":2,"attribution":false,"cooldown":2,"seed":7}"#,
    r#"{"algorithm":"spike_dip","historySize":8,"minTrainingSize":4,"confidence":80}"#,
    r#"{"algorithm":"change_point","historySize":6,"confidence":70,"minTrainingSize":3,"minConsecutive":2}"#,
    r#"{"algorithm":"spike_dip","historySize":50,"historyDuration":"5us","minTrainingSize":3}"#,
    r#"{"algorithm":"change_point","historySize":20,"historyDuration":"4us","confidence":60,"minTrainingSize":2,"cooldown":"3us"}"#,
    r#"{"algorithm":"robust","window":6,"minTrainingSize":3,"imputeOutliers":true,"cooldown":"3us"}"#,
    r#"{"algorithm":"arima","p":1,"d":0,"q":0,"minTrainingSize":16,"maxTrainingSize":40,"updateInterval":8,"horizon":3,"forecastSteps":true}"#,
    r#"{"algorithm":"arima","minTrainingSize":20,"maxTrainingSize":30,"updateInterval":10,"evalWindowSize":5}"#,
    r#"{"algorithm":"rcf","numberOfTrees":3,"subSampleSize":10,"minTrainingSize":2,"likelihood":{"shortWindow":2,"minSamples":3,"threshold":0.8},"cooldown":2}"#,
    r#"{"algorithm":"spike_dip","historySize":8,"minTrainingSize":4,"likelihood":{"shortWindow":3,"minSamples":2,"threshold":0.7}}"#,
    r#"{"algorithm":"iforest","numberOfTrees":4,"subSampleSize":8,"windowSize":12,"refreshInterval":5,"threshold":0.6}"#,
    r#"{"algorithm":"iforest","numberOfTrees":3,"subSampleSize":4,"windowSize":6,"minTrainingSize":3,"refreshInterval":2,"seed":11,"direction":"up","likelihood":{"shortWindow":2,"minSamples":2,"threshold":0.7},"minConsecutive":2}"#,
    r#"{"algorithm":"ensemble","members":[{"algorithm":"zscore","likelihood":{"shortWindow":2,"minSamples":3}},{"algorithm":"mad","window":5,"likelihood":{"minSamples":2}},{"algorithm":"rcf","numberOfTrees":3,"subSampleSize":10,"seed":3}],"minTrainingSize":3,"threshold":0.8,"cooldown":2,"minConsecutive":2}"#,
    r#"{"algorithm":"holtwinters","period":"auto","maxPeriod":4,"minTrainingSize":9,"seasonality":"multiplicative","alpha":0.3,"beta":0.1,"gamma":0.4}"#,
    r#"{"algorithm":"holtwinters","maxPeriod":3,"minTrainingSize":6,"likelihood":{"shortWindow":2,"minSamples":2,"threshold":0.8},"cooldown":2}"#,
    r#"{"algorithm":"hst","numberOfTrees":3,"height":4,"windowSize":10,"minTrainingSize":5,"threshold":0.9}"#,
    r#"{"algorithm":"hst","numberOfTrees":2,"height":3,"windowSize":12,"limits":[[-100,100]],"seed":9,"likelihood":{"shortWindow":2,"minSamples":2,"threshold":0.7},"cooldown":2}"#,
    r#"{"algorithm":"ensemble","members":[{"algorithm":"ewma","alpha":0.3,"minTrainingSize":5},{"algorithm":"change_point","historySize":6,"confidence":70}],"combine":"mean","direction":"down","threshold":0.6,"cooldown":"3us","severity":{"medium":1.2,"high":3}}"#,
];

/// 64 cases from a fixed seed, so every run checks the same inputs in about a
/// second. `PROPTEST_CASES=5000 PROPTEST_RNG_SEED=<n>` explores further.
fn config() -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = 64;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        c.rng_seed = RngSeed::Fixed(0x5EED_F00D);
    }
    c.failure_persistence = None; // the seed is printed and fixed: a failure reproduces as is
    c
}

/// Rows of one test case, with key ids dense in order of first appearance
/// (what hosts send), or no keys at all.
#[derive(Debug, Clone)]
struct Data {
    timestamps: Vec<i64>,
    values: Vec<f64>,
    keys: Vec<u32>,
}

impl Data {
    fn input(&self, range: std::ops::Range<usize>) -> Input<'_> {
        Input {
            timestamps: &self.timestamps[range.clone()],
            values: &self.values[range.clone()],
            width: 1,
            keys: if self.keys.is_empty() {
                &[]
            } else {
                &self.keys[range]
            },
        }
    }
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => -100.0..100.0f64,
        // Repeats: flat windows, MAD = 0, the scale floor.
        3 => (-2i32..=2).prop_map(f64::from),
        1 => Just(f64::NAN),
        1 => prop_oneof![Just(f64::INFINITY), Just(f64::NEG_INFINITY)],
        1 => -1e6..1e6f64,
    ]
}

fn data() -> impl Strategy<Value = Data> {
    (
        1u32..=4,
        any::<bool>(),
        prop::collection::vec((any::<u32>(), value()), 0..200),
    )
        .prop_map(|(key_count, keyed, rows)| {
            let mut dense = Vec::new();
            let keys = rows
                .iter()
                .map(|(raw, _)| {
                    let k = raw % key_count;
                    match dense.iter().position(|d| *d == k) {
                        Some(i) => i as u32,
                        None => {
                            dense.push(k);
                            (dense.len() - 1) as u32
                        }
                    }
                })
                .collect();
            Data {
                timestamps: (0..rows.len() as i64).collect(),
                values: rows.iter().map(|(_, v)| *v).collect(),
                keys: if keyed { keys } else { Vec::new() },
            }
        })
}

/// Batch sizes, empty batches included; whatever they leave is one last batch.
fn batch_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..40, 0..12)
}

fn detector(config: &str) -> Detector {
    Detector::from_config(config).unwrap_or_else(|e| panic!("{config}: {e}"))
}

/// Process `data` in batches of `sizes`; with `restore`, replace the detector
/// by `restore(snapshot())` before every batch. Returns the rows and the
/// final detector.
fn run(config: &str, data: &Data, sizes: &[usize], restore: bool) -> (Scores, Detector) {
    let mut d = detector(config);
    let mut all = Scores::default();
    let mut out = Scores::default();
    let n = data.values.len();
    let mut start = 0;
    let ends = sizes
        .iter()
        .scan(0usize, |end, s| {
            *end = (*end + s).min(n);
            Some(*end)
        })
        .chain(std::iter::once(n));
    for end in ends {
        if restore {
            let bytes = d.snapshot();
            let restored = Detector::restore(&bytes).unwrap_or_else(|e| panic!("{config}: {e}"));
            assert_eq!(restored.snapshot(), bytes, "{config}: re-snapshot differs");
            d = restored;
        }
        d.process(&data.input(start..end), &mut out)
            .unwrap_or_else(|e| panic!("{config}: {e}"));
        assert_eq!(out.len(), end - start);
        all.extend_from(&out);
        start = end;
    }
    (all, d)
}

/// Bit-identical rows (NaN payloads included) and flags.
fn assert_identical(config: &str, want: &Scores, got: &Scores) -> Result<(), TestCaseError> {
    prop_assert_eq!(want.len(), got.len(), "{}", config);
    let cols = [
        ("forecast", &want.forecast, &got.forecast),
        ("lower", &want.lower, &got.lower),
        ("upper", &want.upper, &got.upper),
        ("score", &want.score, &got.score),
        ("probability", &want.probability, &got.probability),
    ];
    for (name, w, g) in cols {
        prop_assert_eq!(w.len(), g.len(), "{} {}", config, name);
        for (i, (a, b)) in w.iter().zip(g.iter()).enumerate() {
            prop_assert_eq!(
                a.to_bits(),
                b.to_bits(),
                "{} {} row {}: {} vs {}",
                config,
                name,
                i,
                a,
                b
            );
        }
    }
    prop_assert_eq!(&want.flags, &got.flags, "{}", config);
    prop_assert_eq!(want.extras.len(), got.extras.len(), "{} extras", config);
    for (w, g) in want.extras.iter().zip(&got.extras) {
        prop_assert_eq!(&w.name, &g.name, "{}", config);
        prop_assert_eq!(w.per_row, g.per_row, "{} {}", config, &w.name);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        prop_assert_eq!(bits(&w.values), bits(&g.values), "{} {}", config, &w.name);
    }
    Ok(())
}

/// A fixed multi-key series with NaN, infinities, repeats and a spike.
fn fixed_data() -> Data {
    let values: Vec<f64> = (0..60)
        .map(|i| match i % 13 {
            5 => f64::NAN,
            9 if i > 30 => f64::INFINITY,
            11 => 2.0,
            _ => ((i * 7919) % 101) as f64 / 10.0 + if i == 47 { 500.0 } else { 0.0 },
        })
        .collect();
    let keys: Vec<u32> = (0..60u32)
        .map(|i| [0, 1, 0, 2, 1][i as usize % 5])
        .collect();
    Data {
        timestamps: (0..60).collect(),
        values,
        keys,
    }
}

/// `haystack` with the first `from` replaced by `to` (same length, so a
/// postcard string keeps its length prefix).
fn replace_bytes(haystack: &[u8], from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let at = haystack
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .unwrap_or_else(|| panic!("{from:?} not in the snapshot"));
    let mut out = haystack.to_vec();
    out[at..at + to.len()].copy_from_slice(to.as_bytes());
    out
}

#[test]
fn snapshot_envelope_errors() {
    let mut d = detector(r#"{"algorithm":"zscore","minTrainingSize":2}"#);
    d.process(
        &Input::univariate(&[0, 1, 2], &[1.0, 2.0, 4.0]),
        &mut Scores::default(),
    )
    .expect("process");
    let good = d.snapshot();
    let with = |tail: &[u8]| [good.as_slice(), tail].concat();
    let version = |v: u16| [b"WMAD".as_slice(), &v.to_le_bytes(), &good[6..]].concat();
    // (name, bytes, expected substring of the InvalidSnapshot message)
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "must start with the bytes 'WMAD'"),
        ("magic only", b"WMAD".to_vec(), "must start with the bytes 'WMAD'"),
        ("other magic", replace_bytes(&good, "WMAD", "WMAE"), "must start with the bytes 'WMAD'"),
        ("header only", good[..6].to_vec(), "truncated or corrupt"),
        ("version 0", version(0), "envelope version 0 is not supported; this module reads versions 1 and 2"),
        ("version 3", version(3), "envelope version 3 is not supported"),
        ("a version 2 body read as version 1", version(1), "snapshot body is"),
        ("one byte short", good[..good.len() - 1].to_vec(), "truncated or corrupt"),
        ("a trailing byte", with(&[0]), "1 unexpected bytes after its end"),
        ("two snapshots back to back", with(&good), "unexpected bytes after its end"),
        ("config names no algorithm", replace_bytes(&good, "zscore", "zscorx"), "snapshot config is corrupt: unknown algorithm 'zscorx'"),
        ("config no longer JSON", replace_bytes(&good, "{", "["), "snapshot config is corrupt"),
        ("config differs from the state", replace_bytes(&good, "\"threshold\":3.0", "\"threshold\":4.0"), "snapshot config does not match its state"),
    ];
    Detector::restore(&good).expect("the undamaged snapshot restores");
    for (name, bytes, want) in cases {
        match Detector::restore(&bytes) {
            Err(Error::InvalidSnapshot(m)) => {
                assert!(m.contains(want), "{name}: {m:?} lacks {want:?}")
            }
            other => panic!(
                "{name}: expected InvalidSnapshot, got {:?}",
                other.map(|_| ())
            ),
        }
    }
}

/// Snapshots written by the previous release (envelope version 1: no alert
/// settings, no alert state), from `fixed_v1_data()`'s 40 rows, by
/// `Detector::snapshot` of that release.
const V1_SNAPSHOTS: &[(&str, &str)] = &[
    (
        r#"{"algorithm":"zscore","minTrainingSize":3,"window":5}"#,
        concat!(
            "574d41440100587b22616c676f726974686d223a227a73636f7265222c22646972656374696f6e223a22626f7468222c",
            "226d696e547261696e696e6753697a65223a332c227468726573686f6c64223a332e302c2277696e646f77223a357d00",
            "0000000000000840030001050310050ad7a3703d0a1340726891ed7c1f5640056666666666662340cdccccccccccfc3f",
            "0000000000002440cdcccccccccc00409a9999999999c93f0110051f85eb51b81e1d40df4f8d976e1215400533333333",
            "33331f409a999999999917403333333333332040cdcccccccccc1840cdcccccccccc20400108056766666666662b409a",
            "99999999bb9f4005cdcccccccccc08403333333333330b409a99999999990d400000000000004b403333333333331140",
            "03",
        ),
    ),
    (
        r#"{"algorithm":"ewma","minTrainingSize":2,"alpha":0.3}"#,
        concat!(
            "574d41440100577b22616c676f726974686d223a2265776d61222c22616c706861223a302e332c22646972656374696f",
            "6e223a22626f7468222c226d696e547261696e696e6753697a65223a322c227468726573686f6c64223a332e307d0100",
            "000000000008400200333333333333d33f0310bede2306d1ba0c4023a00d1966502f4010264f3bdf6bd01c40acc2deb4",
            "e89af53f087e756e3db7502c40dab0b8c406667a40",
        ),
    ),
    (
        r#"{"algorithm":"mad","minTrainingSize":3,"window":7}"#,
        concat!(
            "574d41440100557b22616c676f726974686d223a226d6164222c22646972656374696f6e223a22626f7468222c226d69",
            "6e547261696e696e6753697a65223a332c227468726573686f6c64223a332e352c2277696e646f77223a377d02000000",
            "0000000c40030007031007cdcccccccccc2240000000000000f83f6666666666662340cdccccccccccfc3f0000000000",
            "002440cdcccccccccc00409a9999999999c93f079a9999999999c93f000000000000f83fcdccccccccccfc3fcdcccccc",
            "cccc0040cdcccccccccc22406666666666662340000000000000244010070000000000001e4066666666666616403333",
            "333333331f409a999999999917403333333333332040cdcccccccccc1840cdcccccccccc20400766666666666616409a",
            "99999999991740cdcccccccccc18400000000000001e403333333333331f403333333333332040cdcccccccccc204008",
            "0700000000000004406666666666660640cdcccccccccc08403333333333330b409a99999999990d400000000000004b",
            "4033333333333311400700000000000004406666666666660640cdcccccccccc08403333333333330b409a9999999999",
            "0d4033333333333311400000000000004b40",
        ),
    ),
];

/// The rows the version 1 snapshots were taken after (the first 40) and
/// the rows that follow.
fn fixed_v1_data(rows: std::ops::Range<usize>) -> Data {
    let values = rows
        .clone()
        .map(|i| ((i * 7919) % 101) as f64 / 10.0 + if i == 33 { 50.0 } else { 0.0 })
        .collect();
    let keys = rows.clone().map(|i| [0, 1, 0, 2, 1][i % 5]).collect();
    Data {
        timestamps: rows.map(|i| i as i64).collect(),
        values,
        keys,
    }
}

#[test]
fn version_1_snapshots_restore_and_continue_as_a_fresh_detector_would() {
    let hex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    };
    let (first, rest) = (fixed_v1_data(0..40), fixed_v1_data(40..60));
    for (config, v1) in V1_SNAPSHOTS {
        let bytes = hex(v1);
        assert_eq!(&bytes[4..6], &[1, 0], "{config}: a version 1 envelope");
        let mut restored = Detector::restore(&bytes).unwrap_or_else(|e| panic!("{config}: {e}"));
        let mut fresh = detector(config);
        fresh
            .process(&first.input(0..40), &mut Scores::default())
            .expect("process");
        assert_eq!(restored.snapshot(), fresh.snapshot(), "{config}");
        let (mut want, mut got) = (Scores::default(), Scores::default());
        fresh
            .process(&rest.input(0..20), &mut want)
            .expect("process");
        restored
            .process(&rest.input(0..20), &mut got)
            .expect("process");
        assert_identical(config, &want, &got).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            got.score.iter().all(|z| z.is_finite()),
            "{config}: every continued row is scored"
        );
    }
}

#[test]
fn every_single_byte_corruption_fails_cleanly() {
    let data = fixed_data();
    let probe = [0.0, 1.0, f64::NAN, 5.0, -3.0, 1e6, 2.0, 2.0];
    let (mut rejected, mut restored) = (0, 0);
    for config in CONFIGS {
        let (_, d) = run(config, &data, &[], false);
        let good = d.snapshot();
        for at in 0..good.len() {
            for mask in [0x01u8, 0x10, 0x80, 0xFF] {
                let mut bad = good.clone();
                bad[at] ^= mask;
                match Detector::restore(&bad) {
                    Err(Error::InvalidSnapshot(_)) => rejected += 1,
                    Err(e) => {
                        panic!("{config}: byte {at} ^ {mask:#x}: {e:?} is not InvalidSnapshot")
                    }
                    Ok(mut d) => {
                        // Without a checksum a flip inside a number can restore;
                        // the result must still be a working, re-snapshotable detector.
                        assert!(
                            at >= 6,
                            "{config}: byte {at} ^ {mask:#x}: a damaged header restored"
                        );
                        restored += 1;
                        let mut out = Scores::default();
                        d.process(&Input::univariate(&[0; 8], &probe), &mut out)
                            .unwrap_or_else(|e| panic!("{config}: byte {at} ^ {mask:#x}: {e}"));
                        Detector::restore(&d.snapshot())
                            .unwrap_or_else(|e| panic!("{config}: byte {at} ^ {mask:#x}: {e}"));
                    }
                }
            }
        }
    }
    assert!(
        rejected > 0 && restored > 0,
        "rejected {rejected}, restored {restored}"
    );
}

proptest! {
    #![proptest_config(config())]

    /// (a) Batch boundaries are invisible.
    #[test]
    fn batch_sizes_do_not_change_output(data in data(), sizes in batch_sizes()) {
        for config in CONFIGS {
            let (whole, d_whole) = run(config, &data, &[], false);
            let (split, d_split) = run(config, &data, &sizes, false);
            assert_identical(config, &whole, &split)?;
            prop_assert_eq!(d_whole.snapshot(), d_split.snapshot(), "{}: final state", config);
        }
    }

    /// (b) Snapshot/restore between any batches is invisible.
    #[test]
    fn snapshot_restore_does_not_change_output(data in data(), sizes in batch_sizes()) {
        for config in CONFIGS {
            let (whole, d_whole) = run(config, &data, &[], false);
            let (restored, d_restored) = run(config, &data, &sizes, true);
            assert_identical(config, &whole, &restored)?;
            prop_assert_eq!(d_whole.snapshot(), d_restored.snapshot(), "{}: final state", config);
        }
    }

    /// (c) Truncated or extended snapshots are rejected; flipped bytes never panic.
    #[test]
    fn damaged_snapshots_fail_cleanly(
        data in data(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
        tail in prop::collection::vec(any::<u8>(), 1..8),
    ) {
        for config in CONFIGS {
            let (_, d) = run(config, &data, &[], false);
            let good = d.snapshot();
            for cut in 0..good.len() {
                match Detector::restore(&good[..cut]) {
                    Err(Error::InvalidSnapshot(_)) => {}
                    other => prop_assert!(false, "{} cut at {}/{}: {:?}", config, cut, good.len(), other.map(|_| ())),
                }
            }
            let mut longer = good.clone();
            longer.extend_from_slice(&tail);
            prop_assert!(
                matches!(Detector::restore(&longer), Err(Error::InvalidSnapshot(_))),
                "{}: {} trailing bytes accepted", config, tail.len()
            );

            let mut flipped = good.clone();
            for (at, mask) in &flips {
                flipped[at.index(good.len())] ^= mask;
            }
            let header_hit = flips.iter().any(|(at, _)| at.index(good.len()) < 6);
            match Detector::restore(&flipped) {
                Ok(mut d) => {
                    // No checksum: a flip inside a number can restore. It must
                    // still be a detector that works.
                    prop_assert!(!header_hit, "{}: a damaged header restored", config);
                    let probe = Data { timestamps: vec![0; 8], values: vec![0.0, 1.0, f64::NAN, 5.0, -3.0, 1e6, 2.0, 2.0], keys: Vec::new() };
                    let mut out = Scores::default();
                    d.process(&probe.input(0..8), &mut out).map_err(|e| TestCaseError::fail(format!("{config}: {e}")))?;
                    prop_assert_eq!(out.len(), 8);
                    Detector::restore(&d.snapshot()).map_err(|e| TestCaseError::fail(format!("{config}: {e}")))?;
                }
                Err(Error::InvalidSnapshot(_)) => {}
                Err(e) => prop_assert!(false, "{}: a damaged snapshot gave {:?}", config, e),
            }
        }
    }

    /// (c) Arbitrary bytes, with or without a valid header, never panic.
    #[test]
    fn arbitrary_snapshot_bytes_fail_cleanly(
        header in any::<bool>(),
        body in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut bytes = if header { b"WMAD\x01\x00".to_vec() } else { Vec::new() };
        bytes.extend_from_slice(&body);
        if let Ok(mut d) = Detector::restore(&bytes) {
            let mut out = Scores::default();
            d.process(&Input::univariate(&[0, 1], &[1.0, 2.0]), &mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
    }

    /// (d) process-bytes input encoding round-trips bit for bit.
    #[test]
    fn input_bytes_round_trip(
        rows in 0usize..40,
        width in 1usize..4,
        keyed in any::<bool>(),
        timed in any::<bool>(),
        seed in prop::collection::vec(any::<u64>(), 120 * 2),
    ) {
        // Without timestamps (a detector that reads no event time) too.
        let timestamps: Vec<i64> = if timed { seed[..rows].iter().map(|s| *s as i64).collect() } else { Vec::new() };
        let values: Vec<f64> = seed[..rows * width].iter().map(|s| f64::from_bits(s.rotate_left(7))).collect();
        let keys: Vec<u32> = if keyed { seed[..rows].iter().map(|s| (*s >> 32) as u32).collect() } else { Vec::new() };
        let input = Input { timestamps: &timestamps, values: &values, width, keys: &keys };
        let bytes = encode_input(&input);
        let back = decode_input(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back.timestamps, &timestamps);
        prop_assert_eq!(back.width, width);
        prop_assert_eq!(back.as_input().rows(), rows);
        prop_assert_eq!(&back.keys, &keys);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        prop_assert_eq!(bits(&back.values), bits(&values));
        // One byte short or long is an error, never a panic.
        prop_assert!(matches!(decode_input(&bytes[..bytes.len() - 1]), Err(Error::InvalidInput(_))));
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(matches!(decode_input(&longer), Err(Error::InvalidInput(_))));
    }

    /// (d) process-bytes score encoding round-trips bit for bit.
    #[test]
    fn score_bytes_round_trip(rows in 0usize..40, with_probability in any::<bool>(), extras in 0usize..3, seed in prop::collection::vec(any::<u64>(), 40 * 6)) {
        let col = |c: usize| seed[c * 40..c * 40 + rows].iter().map(|s| f64::from_bits(*s)).collect::<Vec<_>>();
        let scores = Scores {
            forecast: col(0),
            lower: col(1),
            upper: col(2),
            score: col(3),
            flags: seed[160..160 + rows].iter().map(|s| *s as u8).collect(),
            probability: if with_probability { col(5) } else { Vec::new() },
            extras: (0..extras)
                .map(|e| Extra {
                    name: ["rmse", "attribution"][e].to_string(),
                    per_row: e * 2 + 1,
                    values: (0..rows * (e * 2 + 1)).map(|i| f64::from_bits(seed[(i * 7 + e) % seed.len()])).collect(),
                })
                .collect(),
        };
        let bytes = encode_scores(&scores);
        let back = decode_scores(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        assert_identical("scores", &scores, &back)?;
        prop_assert!(matches!(decode_scores(&bytes[..bytes.len() - 1]), Err(Error::InvalidInput(_))));
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(matches!(decode_scores(&longer), Err(Error::InvalidInput(_))));
    }

    /// (d) Decoding arbitrary bytes never panics, also behind a plausible header.
    #[test]
    fn decoding_arbitrary_bytes_never_panics(
        n in prop_oneof![0u32..8, any::<u32>()],
        width in prop_oneof![0u32..4, any::<u32>()],
        has_keys in 0u32..5,
        body in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let _ = decode_input(&body);
        let _ = decode_scores(&body);
        let mut framed = Vec::new();
        for h in [n, width, has_keys] {
            framed.extend_from_slice(&h.to_le_bytes());
        }
        framed.extend_from_slice(&body);
        if let Ok(input) = decode_input(&framed) {
            let rows = if input.timestamps.is_empty() { input.values.len() / input.width.max(1) } else { input.timestamps.len() };
            prop_assert_eq!(input.values.len(), rows * input.width);
            let mut d = Detector::from_config(r#"{"minTrainingSize":2}"#).map_err(|e| TestCaseError::fail(e.to_string()))?;
            // A decoded batch may still be invalid (width, key ids): an error, not a panic.
            let _ = d.process(&input.as_input(), &mut Scores::default());
        }
        let mut framed = n.to_le_bytes().to_vec();
        framed.extend_from_slice(&body);
        if let Ok(s) = decode_scores(&framed) {
            prop_assert_eq!(s.len(), n as usize);
        }
    }
}
