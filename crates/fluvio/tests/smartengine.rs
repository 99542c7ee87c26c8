//! The built SmartModule in `fluvio-smartengine` (the engine Fluvio's
//! brokers embed), in-process: init with parameters, records through
//! `filter_map`, a spike flagged; a bad config refused at init.
//!
//! Needs the module built first (`scripts/test.sh` does):
//! `cargo build -p wasmad-fluvio --target wasm32-unknown-unknown --profile proxy`.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;

use fluvio_smartengine::{
    DEFAULT_SMARTENGINE_VERSION, SmartEngine, SmartModuleChainBuilder, SmartModuleChainInstance,
    SmartModuleConfig,
};
use fluvio_smartmodule::Record;
use fluvio_smartmodule::dataplane::smartmodule::SmartModuleInput;
use serde_json::Value;

/// `$WASMAD_FLUVIO_WASM`, else the `proxy`-profile build in this test's target dir.
fn module() -> Vec<u8> {
    let path = std::env::var_os("WASMAD_FLUVIO_WASM").map_or_else(
        || {
            // <target>/debug/deps/smartengine-<hash>
            let exe = std::env::current_exe().unwrap();
            let target = exe.ancestors().nth(3).unwrap().to_path_buf();
            target.join("wasm32-unknown-unknown/proxy/wasmad_fluvio.wasm")
        },
        PathBuf::from,
    );
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the SmartModule {} ({e}): build it first with `cargo build -p \
             wasmad-fluvio --target wasm32-unknown-unknown --profile proxy` or set \
             WASMAD_FLUVIO_WASM",
            path.display()
        )
    })
}

fn chain(
    engine: &SmartEngine,
    params: &[(&str, &str)],
) -> Result<SmartModuleChainInstance, String> {
    let mut config = SmartModuleConfig::builder();
    config.smartmodule_names(&["wasmad".to_string()]);
    for (k, v) in params {
        config.param(*k, *v);
    }
    let mut builder = SmartModuleChainBuilder::default();
    builder.add_smart_module(config.build().unwrap(), module());
    builder.initialize(engine).map_err(|e| format!("{e:#}"))
}

fn run(chain: &mut SmartModuleChainInstance, values: &[String]) -> Vec<Value> {
    let records = values.iter().map(|v| Record::new(v.as_str())).collect();
    let input = SmartModuleInput::try_from_records(records, DEFAULT_SMARTENGINE_VERSION).unwrap();
    let out = chain.process(input).unwrap();
    assert!(out.error.is_none(), "{:?}", out.error);
    out.successes
        .iter()
        .map(|r| serde_json::from_slice(r.value.as_ref()).unwrap())
        .collect()
}

fn steady(n: usize, key: &str) -> Vec<String> {
    (0..n)
        .map(|i| {
            let v = 10.0 + ((i * 7919) % 13) as f64 * 0.1;
            format!(r#"{{"key":"{key}","ts":{},"value":{v}}}"#, i * 1000)
        })
        .collect()
}

const ZSCORE: &str = r#"{"algorithm":"zscore","minTrainingSize":20,"threshold":4}"#;

#[test]
fn spike_flagged_in_the_smartengine() {
    let engine = SmartEngine::new();
    let mut c = chain(&engine, &[("config", ZSCORE)]).unwrap();
    let mut records = steady(40, "a");
    records.push(r#"{"key":"a","ts":41000,"value":100}"#.to_string());
    let out = run(&mut c, &records);
    assert_eq!(out.len(), 41);
    assert!(out[..20].iter().all(|o| o["status"] == "warmup"));
    assert!(
        out[20..40]
            .iter()
            .all(|o| o["status"] == "ok" && o["is_anomaly"] == false),
        "{out:?}"
    );
    let last = &out[40];
    assert_eq!(last["is_anomaly"], true, "{last}");
    assert!(last["score"].as_f64().unwrap() > 4.0, "{last}");
    assert_eq!(
        (last["key"].as_str(), last["value"].as_f64()),
        (Some("a"), Some(100.0))
    );

    // State persists across calls: a second batch of key "b" starts in warm-up,
    // while "a" stays trained.
    let out = run(
        &mut c,
        &[
            r#"{"key":"b","value":100}"#.to_string(),
            r#"{"key":"a","value":10.5}"#.to_string(),
        ],
    );
    assert_eq!(
        (out[0]["status"].as_str(), out[1]["status"].as_str()),
        (Some("warmup"), Some("ok"))
    );
}

#[test]
fn only_anomalies_filters() {
    let engine = SmartEngine::new();
    let mut c = chain(&engine, &[("config", ZSCORE), ("only_anomalies", "true")]).unwrap();
    let mut records = steady(40, "a");
    records.push(r#"{"key":"a","ts":41000,"value":-80}"#.to_string());
    let out = run(&mut c, &records);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0]["value"], -80.0);
}

#[test]
fn bad_config_fails_at_init() {
    let engine = SmartEngine::new();
    let e = chain(&engine, &[("config", r#"{"algorithm":"nope"}"#)])
        .err()
        .unwrap();
    assert!(
        e.contains("config is invalid") && e.contains("unknown algorithm"),
        "{e}"
    );
    let e = chain(&engine, &[]).err().unwrap();
    assert!(e.contains("config is required"), "{e}");
}

#[test]
fn bad_record_is_a_runtime_error() {
    let engine = SmartEngine::new();
    let mut c = chain(&engine, &[("config", ZSCORE)]).unwrap();
    let input = SmartModuleInput::try_from_records(
        vec![Record::new("not json")],
        DEFAULT_SMARTENGINE_VERSION,
    )
    .unwrap();
    let out = c.process(input).unwrap();
    let e = format!("{:?}", out.error);
    assert!(e.contains("not JSON"), "{e}");
}
