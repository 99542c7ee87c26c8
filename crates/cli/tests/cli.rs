//! The `wasmad` binary: every `sql/*.sql` sample against its golden output,
//! output formats, user errors (stderr, exit code, no backtrace), `--module`.
//!
//! `WASMAD_BLESS=1 cargo test -p wasmad-cli --test cli` rewrites the golden
//! `sql/*.out` files (review the diff before committing).

#![allow(clippy::unwrap_used)] // test helpers panic on purpose

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn wasmad(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasmad"))
        .args(args)
        .current_dir(root())
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

#[test]
fn every_sample_script_matches_its_golden_output() {
    let bless = std::env::var_os("WASMAD_BLESS").is_some();
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(root().join("sql"))
        .expect("sql/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    scripts.sort();
    assert!(
        scripts.len() >= 6,
        "expected the sample scripts, found {scripts:?}"
    );
    let mut mismatched = Vec::new();
    for script in &scripts {
        let rel = script
            .strip_prefix(root())
            .unwrap_or(script)
            .to_string_lossy()
            .into_owned();
        let out = wasmad(&["run", &rel]);
        assert!(out.status.success(), "{rel} failed:\n{}", stderr(&out));
        let golden = script.with_extension("out");
        if bless {
            std::fs::write(&golden, &out.stdout).expect("write golden file");
            continue;
        }
        let want = std::fs::read_to_string(&golden)
            .unwrap_or_else(|_| panic!("{} is missing; run with WASMAD_BLESS=1", golden.display()));
        if want != stdout(&out) {
            eprintln!("--- {rel}: expected\n{want}\n--- got\n{}", stdout(&out));
            mismatched.push(rel);
        }
    }
    assert!(
        mismatched.is_empty(),
        "output differs from golden files: {mismatched:?}"
    );
}

#[test]
fn the_demo_prints_anomalies_from_bundled_data() {
    let out = wasmad(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("wasmad demo"), "{text}");
    assert!(text.contains("| ec2_cpu_825cc2      | 4032  |"), "{text}");
    assert!(text.contains("down"), "{text}");
}

const CREATE: &str = "CREATE EXTERNAL TABLE m (series VARCHAR NOT NULL, timestamp TIMESTAMP NOT NULL, value DOUBLE) \
    STORED AS CSV LOCATION 'examples/data/nab_metrics.csv' OPTIONS ('format.has_header' 'true')";

#[test]
fn formats_csv_and_ndjson() {
    let q = format!(
        "{CREATE}; SELECT timestamp, is_anomaly, status FROM ML_DETECT_ANOMALIES((SELECT * FROM m WHERE series = 'nyc_taxi'), 'value', 'timestamp', '{{\"minTrainingSize\":2}}') ORDER BY timestamp LIMIT 3"
    );
    let out = wasmad(&["--format", "csv", "query", &q]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "timestamp,is_anomaly,status\n2014-07-01T00:00:00,false,warmup\n2014-07-01T00:30:00,false,warmup\n2014-07-01T01:00:00,false,ok\n"
    );
    let out = wasmad(&["--format", "ndjson", "query", &q]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["status"], "ok");
    assert_eq!(lines[2]["is_anomaly"], false);
}

#[test]
fn user_errors_go_to_stderr_with_a_non_zero_exit_and_no_backtrace() {
    for (args, expected) in [
        (
            vec!["query", "SELECT * FROM ML_DETECT_ANOMALIES(nope, 'v', 't')"],
            "table 'datafusion.public.nope' not found",
        ),
        (
            vec![
                "query",
                "CREATE TABLE t (ts BIGINT, v DOUBLE) AS VALUES (1, 1.0); SELECT * FROM ML_DETECT_ANOMALIES(t, 'v', 'ts', '{\"algorithm\":\"x\"}')",
            ],
            "unknown algorithm 'x'; accepted: zscore, ewma, mad",
        ),
        (
            vec!["run", "no/such/file.sql"],
            "cannot read no/such/file.sql",
        ),
        (vec!["query", ";"], "no SQL statements found"),
        (
            vec!["--module", "no/such.wasm", "query", "SELECT 1"],
            "load: module 'no/such.wasm': cannot read the file",
        ),
    ] {
        let out = wasmad(&args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = stderr(&out);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("stack backtrace"),
            "{err}"
        );
        assert!(
            stdout(&out).is_empty(),
            "{args:?} printed to stdout: {}",
            stdout(&out)
        );
    }
}

#[test]
fn a_hostile_module_fails_the_query_cleanly() {
    let hostile = wasmad_host::testing::HOSTILE_COMPONENT;
    let out = wasmad(&[
        "--module",
        hostile,
        "--call-timeout-ms",
        "300",
        "query",
        "CREATE TABLE t (ts BIGINT, v DOUBLE) AS VALUES (1, 1.0); SELECT * FROM ML_DETECT_ANOMALIES(t, 'v', 'ts', '{\"algorithm\":\"process-loop\"}')",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("did not return within the call time limit"),
        "{err}"
    );
    assert!(err.contains("hostile.wasm"), "{err}");
    assert!(err.contains("detector.process"), "{err}");
}

#[test]
fn module_flag_loads_the_exported_component() {
    let dir = std::env::temp_dir().join(format!("wasmad-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("detector.wasm");
    let out = wasmad(&["export-component", path.to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let q = "CREATE TABLE t (ts BIGINT, v DOUBLE) AS VALUES (1, 1.0), (2, 1.0), (3, 9.0); SELECT count(*) FROM ML_DETECT_ANOMALIES(t, 'v', 'ts', '{\"minTrainingSize\":2}') WHERE is_anomaly";
    let via_module = wasmad(&[
        "--format",
        "csv",
        "--module",
        path.to_str().expect("utf-8"),
        "query",
        q,
    ]);
    let native = wasmad(&["--format", "csv", "--native", "query", q]);
    assert!(via_module.status.success(), "{}", stderr(&via_module));
    assert_eq!(stdout(&via_module), "count(*)\n1\n");
    assert_eq!(stdout(&via_module), stdout(&native));
    let desc = wasmad(&["describe"]);
    let v: serde_json::Value = serde_json::from_slice(&desc.stdout).expect("describe prints JSON");
    assert_eq!(v["abi"], wasmad_core::ABI_VERSION);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn parquet_and_json_inputs_give_the_same_results_as_csv() {
    let dir = std::env::temp_dir().join(format!("wasmad-formats-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let d = dir.to_str().expect("utf-8 path");
    let detect = |table: &str| {
        format!(
            "SELECT series, count(*) AS n, sum(CASE WHEN is_anomaly THEN 1 ELSE 0 END) AS a FROM ML_DETECT_ANOMALIES({table}, 'value', 'timestamp', '{{\"window\":500,\"threshold\":5,\"partitionBy\":\"series\"}}') GROUP BY series ORDER BY series"
        )
    };
    let q = format!(
        "{CREATE}; \
         COPY m TO '{d}/m.parquet' STORED AS PARQUET; \
         COPY m TO '{d}/m.json' STORED AS JSON; \
         CREATE EXTERNAL TABLE p (series VARCHAR NOT NULL, timestamp TIMESTAMP NOT NULL, value DOUBLE) STORED AS PARQUET LOCATION '{d}/m.parquet'; \
         CREATE EXTERNAL TABLE j (series VARCHAR NOT NULL, timestamp TIMESTAMP NOT NULL, value DOUBLE) STORED AS JSON LOCATION '{d}/m.json'; \
         {}; {}; {}",
        detect("m"),
        detect("p"),
        detect("j")
    );
    let out = wasmad(&["--format", "csv", "query", &q]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // COPY prints its row count; then three identical result tables.
    let tables: Vec<&str> = text.split("series,n,a\n").skip(1).collect();
    assert_eq!(tables.len(), 3, "{text}");
    assert!(tables[0].contains("machine_temperature,22695,"), "{text}");
    assert_eq!(tables[0], tables[1], "parquet differs from csv");
    assert_eq!(tables[0], tables[2], "json differs from csv");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_prints_json_lines_for_every_path() {
    let out = wasmad(&[
        "--format",
        "json",
        "bench",
        "--rows",
        "20000",
        "--sql-keys",
        "1,10",
        "--repeat",
        "1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    // 3 detectors x (native, wasm, wasm-bytes) + 2 key counts x (sql, sql-over, sql-native).
    assert_eq!(lines.len(), 15, "{}", stdout(&out));
    for l in &lines {
        assert!(l["rows_per_sec"].as_f64().is_some_and(|r| r > 0.0), "{l}");
        assert!(
            [
                "native",
                "wasm",
                "wasm-bytes",
                "sql",
                "sql-over",
                "sql-native"
            ]
            .contains(&l["path"].as_str().unwrap_or("")),
            "{l}"
        );
    }
    // The same data gives the same anomalies natively and in WASM.
    for d in ["zscore", "ewma", "mad"] {
        let count = |path: &str| {
            lines
                .iter()
                .find(|l| l["detector"] == d && l["path"] == path)
                .map(|l| l["anomalies"].clone())
        };
        assert_eq!(count("native"), count("wasm"), "{d}");
        assert_eq!(count("native"), count("wasm-bytes"), "{d}");
        assert!(
            count("native")
                .and_then(|v| v.as_u64())
                .is_some_and(|n| n > 0),
            "{d} finds the spikes"
        );
    }
    // The OVER form and the table form find the same anomalies.
    for l in lines.iter().filter(|l| l["path"] == "sql-over") {
        let table = lines
            .iter()
            .find(|t| t["path"] == "sql" && t["keys"] == l["keys"])
            .expect("a table-form row for each OVER-form row");
        assert_eq!(l["anomalies"], table["anomalies"], "{l}");
    }
}

/// `--floor` adds each detector's floors: every row skipped (none flagged),
/// natively and in the component; the text form reports ns/row for both.
#[test]
fn bench_floor_times_rows_that_are_all_skipped() {
    let args = [
        "bench",
        "--rows",
        "20000",
        "--no-sql",
        "--detectors",
        "zscore,ewma",
        "--repeat",
        "1",
        "--floor",
    ];
    let out = wasmad(&[&["--format", "json"][..], &args[..]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    // 2 detectors x (native, wasm, wasm-bytes, native-floor, wasm-floor).
    assert_eq!(lines.len(), 10, "{}", stdout(&out));
    for d in ["zscore", "ewma"] {
        for path in ["native-floor", "wasm-floor"] {
            let l = lines
                .iter()
                .find(|l| l["detector"] == d && l["path"] == path)
                .unwrap_or_else(|| panic!("no {path} row for {d}"));
            assert_eq!(l["anomalies"], 0, "{l}");
            assert!(l["rows_per_sec"].as_f64().is_some_and(|r| r > 0.0), "{l}");
        }
    }
    let text = wasmad(&args);
    assert!(text.status.success(), "{}", stderr(&text));
    for d in ["zscore", "ewma"] {
        assert!(
            stdout(&text)
                .lines()
                .any(|l| l.trim_start().starts_with(d) && l.contains("ns/row: native")),
            "{}",
            stdout(&text)
        );
    }
}

/// A reader that stops early (`wasmad describe | head -c 100`) ends the
/// command quietly: exit 0, no panic about a broken pipe.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    use std::io::Read;
    for args in [
        &["describe"][..],
        &[
            "bench",
            "--rows",
            "100000",
            "--no-sql",
            "--detectors",
            "zscore",
        ][..],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wasmad"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("wasmad starts");
        let mut first = [0u8; 1];
        child
            .stdout
            .take()
            .expect("stdout")
            .read_exact(&mut first)
            .expect("some output");
        // The pipe's read end is dropped here: further writes fail with EPIPE.
        let out = child.wait_with_output().expect("wasmad ends");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
