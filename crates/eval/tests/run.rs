//! Running detectors over a corpus through the WASM component, on a mini
//! corpus copied from `../shared/data/NAB` (skipped when it is absent):
//! the per-row anomaly scores equal the native detector's over the whole
//! series in one batch (so 8192-row batches and the component change
//! nothing), results written with `--out` read back identically, and bad
//! configs and corpora are errors that say what is wrong. Also: with the
//! likelihood layer and alert hygiene, WASM and native give bit-identical
//! columns (probability included) and snapshots that cross between them.

#![allow(clippy::unwrap_used)] // test helpers panic on purpose

use std::path::{Path, PathBuf};

use wasmad_core::{Detector, Input, Scores};
use wasmad_eval::{Corpus, Error, ScoreMap, Thresholds, evaluate, run_corpus};
use wasmad_host::Runtime;

const FILES: [&str; 4] = [
    "artificialNoAnomaly/art_daily_no_noise.csv",
    "realAdExchange/exchange-3_cpc_results.csv",
    "realKnownCause/rogue_agent_key_hold.csv",
    "realKnownCause/nyc_taxi.csv", // 10320 rows: crosses a batch boundary
];

fn nab_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/NAB");
    if dir.join("labels/combined_windows.json").is_file() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: the NAB corpus is not at {}", dir.display());
        None
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wasmad-eval-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A corpus of `files` copied from NAB, with labels filtered to them.
fn mini_corpus(nab: &Path, name: &str, files: &[&str]) -> PathBuf {
    let dir = temp_dir(name);
    let labels: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(nab.join("labels/combined_windows.json")).unwrap(),
    )
    .unwrap();
    let mut kept = serde_json::Map::new();
    for f in files {
        let to = dir.join("data").join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(nab.join("data").join(f), &to).unwrap();
        kept.insert(f.to_string(), labels[*f].clone());
    }
    std::fs::create_dir_all(dir.join("labels")).unwrap();
    std::fs::write(
        dir.join("labels/combined_windows.json"),
        serde_json::to_string_pretty(&kept).unwrap(),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("config")).unwrap();
    std::fs::copy(
        nab.join("config/profiles.json"),
        dir.join("config/profiles.json"),
    )
    .unwrap();
    dir
}

fn runtime() -> Runtime {
    Runtime::embedded(Default::default()).unwrap()
}

#[test]
fn wasm_in_batches_equals_native_in_one_batch_and_results_read_back() {
    let Some(nab) = nab_dir() else { return };
    let data = mini_corpus(&nab, "roundtrip", &FILES);
    let out = data.join("out");
    let rt = runtime();
    for config in [
        r#"{"algorithm":"zscore","window":500}"#,
        r#"{"algorithm":"ewma","alpha":0.05,"direction":"up"}"#,
        r#"{"algorithm":"mad","window":50}"#,
        r#"{"algorithm":"zscore","likelihood":true,"cooldown":100}"#,
        r#"{"algorithm":"ewma","halfLife":50,"likelihood":{"shortWindow":3},"minConsecutive":2,"cooldown":"1h"}"#,
    ] {
        let mut calls = Vec::new();
        let run = run_corpus(&data, config, &rt, Some(&out), |d, t| calls.push((d, t))).unwrap();
        assert_eq!(calls, (1..=4).map(|d| (d, 4)).collect::<Vec<_>>());
        assert_eq!(run.corpus.files.len(), 4);
        let map = ScoreMap::from_config(&run.effective_config).unwrap();

        for (f, got) in run.corpus.files.iter().zip(&run.anomaly) {
            let mut det = Detector::from_config(config).unwrap();
            let mut s = Scores::default();
            det.process(&Input::univariate(&f.timestamps, &f.values), &mut s)
                .unwrap();
            let want: Vec<f64> = s
                .score
                .iter()
                .zip(&s.flags)
                .enumerate()
                .map(|(i, (z, fl))| map.anomaly_score(*z, *fl, s.probability.get(i).copied()))
                .collect();
            assert_eq!(got, &want, "{config} {}", f.name);
            assert!(got.iter().all(|a| (0.0..=1.0).contains(a)));
            assert!(got.iter().any(|a| *a > 0.0), "{config} {}", f.name);
        }

        // --out wrote NAB's layout; reading it back gives the same numbers.
        let path = out.join("realKnownCause/wasmad_nyc_taxi.csv");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("timestamp,value,anomaly_score,label"));
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("2014-07-01 00:00:00,10844,0,0")
        );
        let labelled = text.lines().filter(|l| l.ends_with(",1")).count();
        let nyc = run
            .corpus
            .files
            .iter()
            .find(|f| f.name == FILES[3])
            .unwrap();
        let windows = &nyc.windows;
        assert_eq!(
            labelled,
            windows.iter().map(|w| w.end - w.start + 1).sum::<usize>()
        );
        let back = run.corpus.read_results(&out, |_, _| {}).unwrap();
        assert_eq!(back, run.anomaly, "{config}");

        let swept = evaluate(&run.corpus, &run.anomaly, &Thresholds::Sweep).unwrap();
        let names: Vec<&str> = swept.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["standard", "reward_low_FP_rate", "reward_low_FN_rate"]
        );
        for p in &swept {
            let n = p.normalised.unwrap();
            assert!(n.is_finite() && n <= 100.0, "{config} {}: {n}", p.name);
            assert_eq!(
                p.total.counts.windows as usize,
                run.corpus.windows(),
                "windows scored"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&data);
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn assert_bits_eq(config: &str, want: &Scores, got: &Scores) {
    assert_eq!(want.flags, got.flags, "{config}");
    for (name, w, g) in [
        ("forecast", &want.forecast, &got.forecast),
        ("lower", &want.lower, &got.lower),
        ("upper", &want.upper, &got.upper),
        ("score", &want.score, &got.score),
        ("probability", &want.probability, &got.probability),
    ] {
        assert_eq!(bits(w), bits(g), "{config}: {name}");
    }
}

/// Keyed rows of NAB series (no corpus needed beyond one file): the
/// likelihood layer's arithmetic (its own exp and erfc), runs and cooldowns
/// give the same bits natively and in the component, and a snapshot taken in
/// one restores in the other.
#[test]
fn likelihood_and_hygiene_are_bit_identical_in_wasm_and_native() {
    let Some(nab) = nab_dir() else { return };
    let corpus = Corpus::load(&mini_corpus(&nab, "parity", &FILES)).unwrap();
    let (mut ts, mut vs, mut keys) = (Vec::new(), Vec::new(), Vec::new());
    for (k, f) in corpus.files.iter().enumerate() {
        let n = f.rows().min(3000);
        ts.extend_from_slice(&f.timestamps[..n]);
        vs.extend_from_slice(&f.values[..n]);
        keys.extend(std::iter::repeat_n(k as u32, n));
    }
    // Interleave the keys so every batch holds all of them.
    let mut order: Vec<usize> = (0..ts.len()).collect();
    order.sort_by_key(|&i| (i % 3000, keys[i]));
    let ts: Vec<i64> = order.iter().map(|&i| ts[i]).collect();
    let vs: Vec<f64> = order.iter().map(|&i| vs[i]).collect();
    let keys: Vec<u32> = order.iter().map(|&i| keys[i]).collect();
    let rt = runtime();
    for config in [
        r#"{"algorithm":"zscore","likelihood":true,"cooldown":50}"#,
        r#"{"algorithm":"zscore","window":300,"likelihood":{"shortWindow":1,"threshold":0.99,"minSamples":10},"minConsecutive":2,"severity":{"medium":1.1,"high":1.3}}"#,
        r#"{"algorithm":"ewma","halfLife":20,"likelihood":{"window":200,"cap":4},"cooldown":"6h","direction":"down"}"#,
        r#"{"algorithm":"mad","window":60,"minDeviation":{"relative":0.05},"cooldown":5,"minConsecutive":3}"#,
    ] {
        let input = Input {
            timestamps: &ts,
            values: &vs,
            width: 1,
            keys: &keys,
        };
        let mut native = Detector::from_config(config).unwrap();
        let mut want = Scores::default();
        native.process(&input, &mut want).unwrap();
        assert!(
            want.flags.iter().any(|f| f & 1 == 1),
            "{config}: nothing flagged"
        );

        let mut wasm = rt.create(config).unwrap();
        let mut got = Scores::default();
        wasm.process(&input, &mut got).unwrap();
        assert_bits_eq(config, &want, &got);

        // Snapshot natively after 5000 rows, restore in the component.
        let split = 5000;
        let part = |r: std::ops::Range<usize>| Input {
            timestamps: &ts[r.clone()],
            values: &vs[r.clone()],
            width: 1,
            keys: &keys[r],
        };
        let mut first = Detector::from_config(config).unwrap();
        let mut out = Scores::default();
        first.process(&part(0..split), &mut out).unwrap();
        let mut restored = rt.restore(&first.snapshot()).unwrap();
        let mut rest = Scores::default();
        restored.process(&part(split..ts.len()), &mut rest).unwrap();
        out.extend_from(&rest);
        assert_bits_eq(config, &want, &out);
        assert_eq!(restored.snapshot().unwrap(), native.snapshot(), "{config}");
    }
}

#[test]
fn a_bad_config_is_one_error_naming_the_key() {
    let Some(nab) = nab_dir() else { return };
    let data = mini_corpus(&nab, "badconfig", &FILES[..1]);
    let err = run_corpus(
        &data,
        r#"{"algorithm":"mad","alpha":0.1}"#,
        &runtime(),
        None,
        |_, _| {},
    )
    .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("unknown key 'alpha' for algorithm 'mad'"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn corpus_errors_say_what_is_wrong() {
    let Some(nab) = nab_dir() else { return };
    let check = |dir: &Path, want: &[&str]| {
        let err = Corpus::load(dir).unwrap_err().to_string();
        for w in want {
            assert!(err.contains(w), "{err}\n  should contain: {w}");
        }
    };
    let empty = temp_dir("empty");
    check(
        &empty,
        &[
            "is not a NAB corpus",
            "missing data/, labels/combined_windows.json, config/profiles.json",
        ],
    );
    check(
        &empty.join("absent"),
        &["does not exist or is not a directory"],
    );

    let data = mini_corpus(&nab, "missingfile", &FILES[..2]);
    std::fs::remove_file(data.join("data").join(FILES[1])).unwrap();
    check(&data, &["missing 1 data file(s)", FILES[1]]);

    let data = mini_corpus(&nab, "badwindow", &FILES[1..2]);
    std::fs::write(
        data.join("labels/combined_windows.json"),
        format!(
            r#"{{"{}": [["2014-01-01 00:00:00.000000", "2014-01-02 00:00:00.000000"]]}}"#,
            FILES[1]
        ),
    )
    .unwrap();
    check(
        &data,
        &[
            "is not a row of data/",
            "windows must start and end on timestamps",
        ],
    );

    std::fs::write(
        data.join("data").join(FILES[1]),
        "timestamp,value\n2014-01-01 00:00:00,x\n",
    )
    .unwrap();
    check(
        &data,
        &["exchange-3_cpc_results.csv:2", "value 'x' is not a number"],
    );

    // Results that do not line up with the data are refused.
    let data = mini_corpus(&nab, "badresults", &FILES[..1]);
    let corpus = Corpus::load(&data).unwrap();
    let results = data.join("results/artificialNoAnomaly");
    std::fs::create_dir_all(&results).unwrap();
    std::fs::write(
        results.join("other_art_daily_no_noise.csv"),
        "timestamp,value,anomaly_score\n2014-04-01 00:00:00,20,0.5\n",
    )
    .unwrap();
    let err = corpus
        .read_results(&data.join("results"), |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("1 rows, but data/artificialNoAnomaly/art_daily_no_noise.csv has 4032"),
        "{err}"
    );
    let err = corpus
        .read_results(&data.join("nowhere"), |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not exist"), "{err}");
    for d in [empty, data] {
        let _ = std::fs::remove_dir_all(d);
    }
}
