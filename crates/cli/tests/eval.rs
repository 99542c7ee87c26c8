//! `wasmad eval nab`: `--score-only` on NAB's own numenta results gives
//! NAB's score; the default config runs over a mini corpus copied from
//! `../shared/data/NAB` and prints one JSON object; its `--out` results
//! score the same with `--score-only`; bad arguments are clear errors
//! (stderr, exit code 1, no panic). Skipped when the NAB copy is absent.

#![allow(clippy::unwrap_used)] // test helpers panic on purpose

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const PROFILES: [&str; 3] = ["standard", "reward_low_FP_rate", "reward_low_FN_rate"];

fn nab_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/NAB");
    if dir.join("labels/combined_windows.json").is_file() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: the NAB corpus is not at {}", dir.display());
        None
    }
}

fn wasmad(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasmad"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("wasmad runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_of(o: &Output) -> Value {
    assert!(o.status.success(), "failed:\n{}", stderr(o));
    serde_json::from_str(&stdout(o))
        .unwrap_or_else(|e| panic!("not one JSON object ({e}):\n{}", stdout(o)))
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A corpus of three NAB files (one without windows), labels filtered to them.
fn mini_corpus(nab: &Path, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wasmad-cli-eval-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let files = [
        "artificialNoAnomaly/art_daily_no_noise.csv",
        "realAdExchange/exchange-3_cpc_results.csv",
        "realKnownCause/rogue_agent_key_hold.csv",
    ];
    let labels: serde_json::Map<String, Value> = serde_json::from_str(
        &std::fs::read_to_string(nab.join("labels/combined_windows.json")).unwrap(),
    )
    .unwrap();
    let mut kept = serde_json::Map::new();
    for f in files {
        let to = dir.join("data").join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(nab.join("data").join(f), &to).unwrap();
        kept.insert(f.to_string(), labels[f].clone());
    }
    std::fs::create_dir_all(dir.join("labels")).unwrap();
    std::fs::write(
        dir.join("labels/combined_windows.json"),
        Value::Object(kept).to_string(),
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

#[test]
fn score_only_on_nab_numenta_results_gives_nab_scores() {
    let Some(nab) = nab_dir() else { return };
    let results = nab.join("results/numenta");
    let out = wasmad(&[
        "eval",
        "nab",
        "--data",
        path(&nab),
        "--score-only",
        "--results",
        path(&results),
        "--format",
        "json",
    ]);
    let v = json_of(&out);
    // NAB's final_results.json: 70.10 / 63.12 / 74.32 at NAB's thresholds. The
    // sweep finds NAB's standard and FN scores and a better FP-profile threshold.
    let s = |p: &str| v[p].as_f64().unwrap();
    assert!((s("standard") - 70.10).abs() < 0.01, "{v}");
    assert!((s("reward_low_FN_rate") - 74.32).abs() < 0.01, "{v}");
    assert!(s("reward_low_FP_rate") >= 63.12 - 0.01, "{v}");
    assert_eq!(v["files"], 58);
    assert_eq!(v["rows"], 365_558);
    assert_eq!(v["windows"], 116);
    assert_eq!(v["profiles"]["standard"]["tp"], 240);
    assert_eq!(v["profiles"]["standard"]["fp"], 153);
    assert_eq!(v["profiles"]["standard"]["null_score"], -116.0);
    assert_eq!(v["profiles"]["standard"]["perfect_score"], 116.0);
    assert!(
        !stderr(&out).contains('\r'),
        "no progress bar when stderr is not a terminal"
    );

    // The table names every profile with its score.
    let out = wasmad(&[
        "eval",
        "nab",
        "--data",
        path(&nab),
        "--score-only",
        "--results",
        path(&results),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("58 files (365558 rows, 116 windows)"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("standard") && l.contains(" 70.10 ")),
        "{text}"
    );
}

#[test]
fn default_config_on_a_mini_corpus_prints_json_and_its_results_score_the_same() {
    let Some(nab) = nab_dir() else { return };
    let data = mini_corpus(&nab, "default");
    let out_dir = data.join("out");
    let out = wasmad(&[
        "eval",
        "nab",
        "--data",
        path(&data),
        "--format",
        "json",
        "--out",
        path(&out_dir),
        "--report",
        path(&data.join("report.html")),
    ]);
    let v = json_of(&out);
    let html = std::fs::read_to_string(data.join("report.html")).expect("the --report file");
    assert_eq!(
        html.matches("<svg class=\"chart\"").count(),
        3,
        "one chart per file"
    );
    for p in PROFILES {
        let n = v[p].as_f64().unwrap_or_else(|| panic!("{p} missing: {v}"));
        assert!(n.is_finite() && n <= 100.0, "{p}: {n}");
        assert_eq!(v["profiles"][p]["score"], v[p]);
        assert!(v["profiles"][p]["threshold"].as_f64().is_some(), "{v}");
    }
    assert_eq!(v["files"], 3);
    assert_eq!(v["rows"], 4032 + 1538 + 1882);
    assert_eq!(
        v["config"]["algorithm"], "ensemble",
        "the default config: {v}"
    );
    assert_eq!(
        v["config"]["members"].as_array().map(Vec::len),
        Some(3),
        "{v}"
    );
    assert!(v["seconds"].as_f64().unwrap() >= 0.0);
    assert!(
        out_dir
            .join("realKnownCause/wasmad_rogue_agent_key_hold.csv")
            .is_file()
    );
    assert!(out_dir.join("wasmad_standard_scores.csv").is_file());

    let again = json_of(&wasmad(&[
        "eval",
        "nab",
        "--data",
        path(&data),
        "--score-only",
        "--results",
        path(&out_dir),
        "--format",
        "json",
    ]));
    for p in PROFILES {
        assert_eq!(again[p], v[p], "{p}");
        assert_eq!(
            again["profiles"][p]["threshold"],
            v["profiles"][p]["threshold"]
        );
    }
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn bad_arguments_are_clear_errors() {
    let Some(nab) = nab_dir() else { return };
    let empty = std::env::temp_dir().join(format!("wasmad-cli-eval-{}-empty", std::process::id()));
    let _ = std::fs::remove_dir_all(&empty);
    std::fs::create_dir_all(&empty).unwrap();
    let data = mini_corpus(&nab, "errors");
    let absent = empty.join("absent");
    let report_absent = absent.join("r.html").display().to_string();
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<&str>, Vec<&str>)> = vec![
        ("--data does not exist",
            vec!["eval", "nab", "--data", path(&absent)],
            vec!["is not a NAB corpus", "does not exist"]),
        ("--data is not a corpus",
            vec!["eval", "nab", "--data", path(&empty)],
            vec!["missing data/, labels/combined_windows.json, config/profiles.json"]),
        ("bad config",
            vec!["eval", "nab", "--data", path(&data), "--config", r#"{"algorithm":"zscore","alpha":1}"#],
            vec!["unknown key 'alpha' for algorithm 'zscore'"]),
        ("results directory missing",
            vec!["eval", "nab", "--data", path(&data), "--score-only", "--results", path(&absent)],
            vec!["results directory", "does not exist"]),
        ("results for other files",
            vec!["eval", "nab", "--data", path(&data), "--score-only", "--results", path(&empty)],
            vec!["has no results for 3 of the 3 corpus files"]),
        ("report path not writable",
            vec!["eval", "nab", "--data", path(&data), "--report", &report_absent],
            vec!["cannot write the report to", "absent/r.html"]),
        ("csv output",
            vec!["eval", "nab", "--data", path(&data), "--format", "csv"],
            vec!["table (default) or json"]),
        ("native",
            vec!["--native", "eval", "nab", "--data", path(&data)],
            vec!["drop --native"]),
    ];
    for (name, args, want) in cases {
        let out = wasmad(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(stdout(&out).is_empty(), "{name}: {}", stdout(&out));
        assert!(err.starts_with("error: "), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        for w in want {
            assert!(err.contains(w), "{name}: {err}\n  should contain: {w}");
        }
    }
    // Argument combinations are usage errors (clap, exit 2).
    let out = wasmad(&["eval", "nab", "--data", path(&data), "--score-only"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--results"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(&empty);
}
