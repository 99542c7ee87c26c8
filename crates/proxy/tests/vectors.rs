//! Every parity vector (`tests/vectors`) replayed through the filter's models
//! one row per request, as Envoy drives them, reading the outputs back from the
//! exact-output headers (`exactOutputs`): the same bits as every other host.
//! `envoy_test.py` replays them through a real Envoy too.

use std::path::PathBuf;

use serde_json::Value;
use wasmad_proxy::Models;
use wasmad_proxy::models::parse_row;

fn vectors() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/vectors")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read");
            let v: Value = serde_json::from_str(&text).expect("json");
            (
                p.file_stem()
                    .expect("a file name")
                    .to_string_lossy()
                    .into_owned(),
                v,
            )
        })
        .collect()
}

fn strs(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key}"))
        .iter()
        .map(|x| match x {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

fn f64_of(hex: &str) -> f64 {
    f64::from_bits(u64::from_str_radix(hex, 16).expect("hex"))
}

/// What the Envoy test sends: each value as Rust's/Python's shortest
/// round-trip decimal (`nan`, `inf`, `-inf` for the others).
fn header_text(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{x:?}")
    }
}

#[test]
fn every_vector_replays_one_request_at_a_time() {
    let vs = vectors();
    assert!(vs.len() >= 20, "{} vectors", vs.len());
    for (name, v) in vs {
        let width = v["width"].as_u64().unwrap_or(1) as usize;
        let rows = v["rows"].as_u64().expect("rows") as usize;
        let values: Vec<f64> = strs(&v, "values").iter().map(|h| f64_of(h)).collect();
        let timestamps: Vec<i64> = strs(&v, "timestamps")
            .iter()
            .map(|t| t.parse().expect("ts"))
            .collect();
        let keys = strs(&v, "keys");
        let mut m =
            Models::new(v["config"].as_str().expect("config"), width, 10_000).expect("models");
        assert_eq!(
            m.effective_config(),
            v["effective_config"].as_str().expect("effective_config"),
            "{name}"
        );
        let mut got: std::collections::HashMap<String, Vec<String>> = Default::default();
        let mut last_key_count = String::new();
        for i in 0..rows {
            let text: Vec<String> = values[i * width..(i + 1) * width]
                .iter()
                .map(|x| header_text(*x))
                .collect();
            let row = parse_row(text.join(",").as_bytes(), width).expect("row parses");
            let key = keys.get(i).map_or("", String::as_str);
            m.score(key.as_bytes(), Some(&row), timestamps[i])
                .unwrap_or_else(|e| panic!("{name} row {i}: {e}"));
            for (h, value) in m.exact_headers() {
                if h == "x-anomaly-key-count" {
                    last_key_count = value;
                } else {
                    got.entry(h).or_default().push(value);
                }
            }
        }
        let col = |h: &str| got.get(h).cloned().unwrap_or_default();
        for c in ["forecast", "lower", "upper", "score", "probability"] {
            assert_eq!(
                col(&format!("x-anomaly-{c}-bits")),
                strs(&v, c),
                "{name}: {c}"
            );
        }
        let flags: Vec<String> = strs(&v, "flags");
        assert_eq!(col("x-anomaly-flags"), flags, "{name}: flags");
        let extras = v["extras"].as_array().cloned().unwrap_or_default();
        let names: Vec<&str> = extras
            .iter()
            .map(|e| e["name"].as_str().expect("extra name"))
            .collect();
        if names.is_empty() {
            assert!(col("x-anomaly-extras").is_empty(), "{name}: no extras");
        } else {
            assert!(
                col("x-anomaly-extras")
                    .iter()
                    .all(|n| *n == names.join(",")),
                "{name}: extras names"
            );
        }
        for e in &extras {
            let h = format!(
                "x-anomaly-extra-{}-bits",
                e["name"].as_str().expect("extra name")
            );
            let flat: Vec<String> = col(&h)
                .iter()
                .flat_map(|s| s.split(',').map(str::to_string).collect::<Vec<_>>())
                .collect();
            assert_eq!(flat, strs(e, "values"), "{name}: {h}");
        }
        assert_eq!(
            last_key_count,
            v["key_count"].to_string(),
            "{name}: key count"
        );
    }
}
