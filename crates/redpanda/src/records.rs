//! The broker-independent part of the Redpanda transform and the Fluvio
//! SmartModule: settings, and the record -> score -> record mapping.
//!
//! Plain Rust, tested on the host. `crates/fluvio` includes this same file
//! (`#[path]`), so both brokers map records identically.

use hashbrown::HashMap;
use serde_json::{Map, Value};
use wasmad_core::{Detector, Input, Scores, flags};

/// What the adapter was configured with.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The detector config JSON, exactly what `Detector::from_config` takes.
    pub detector: String,
    /// The field of the record's JSON object holding the number to score (or
    /// an array of numbers, for the multivariate detectors).
    pub value_field: String,
    /// The field holding the model key; absent in a record: the record's
    /// broker key, else one shared model.
    pub key_field: String,
    /// The field holding the event time in milliseconds since the epoch;
    /// absent in a record: the record's broker timestamp.
    pub ts_field: String,
    /// Write only the anomalous records (the others are dropped).
    pub only_anomalies: bool,
    /// Keys beyond this many get no model (status `overflow`).
    pub max_keys: usize,
}

/// The setting names, in the order of [`Settings`]'s fields: the
/// `WASMAD_*` environment variables (Redpanda) or SmartModule parameters
/// (Fluvio), given as `(environment variable, parameter)`.
pub const NAMES: [(&str, &str); 6] = [
    ("WASMAD_CONFIG", "config"),
    ("WASMAD_VALUE_FIELD", "value_field"),
    ("WASMAD_KEY_FIELD", "key_field"),
    ("WASMAD_TS_FIELD", "ts_field"),
    ("WASMAD_ONLY_ANOMALIES", "only_anomalies"),
    ("WASMAD_MAX_KEYS", "max_keys"),
];

impl Settings {
    /// Read the settings through `get` (an environment or a parameter map),
    /// with names picked by `name` from [`NAMES`]. The detector config is
    /// required and validated here, so a bad one fails at startup.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        name: impl Fn((&'static str, &'static str)) -> &'static str,
    ) -> Result<Settings, String> {
        let [config, value, key, ts, only, max] = NAMES.map(&name);
        let detector = get(config)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                format!(
                    "{config} is required: a wasmad detector config JSON, e.g. \
                 {{\"algorithm\":\"zscore\",\"minTrainingSize\":20}}"
                )
            })?;
        Detector::from_config(&detector).map_err(|e| format!("{config} is invalid: {e}"))?;
        let field = |n: &str, default: &str| -> Result<String, String> {
            match get(n) {
                None => Ok(default.to_string()),
                Some(s) if s.is_empty() => Err(format!("{n} must not be empty")),
                Some(s) => Ok(s),
            }
        };
        let only_anomalies = match get(only).as_deref().map(str::trim) {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                return Err(format!("{only} must be true or false, got {other:?}"));
            }
        };
        let max_keys = match get(max) {
            None => 10_000,
            Some(s) => match s.trim().parse::<usize>() {
                Ok(n) if n >= 1 => n,
                _ => return Err(format!("{max} must be a positive integer, got {s:?}")),
            },
        };
        Ok(Settings {
            detector,
            value_field: field(value, "value")?,
            key_field: field(key, "key")?,
            ts_field: field(ts, "ts")?,
            only_anomalies,
            max_keys,
        })
    }
}

/// One detector with a model per key (dense ids in arrival order, as the SQL
/// host does), turning record values into scored record values.
pub struct Scorer {
    settings: Settings,
    detector: Detector,
    ids: HashMap<Box<[u8]>, u32>,
    scores: Scores,
    values: Vec<f64>,
}

impl Scorer {
    /// A fresh scorer (the settings' detector config was validated).
    pub fn new(settings: Settings) -> Result<Scorer, String> {
        let detector = Detector::from_config(&settings.detector)
            .map_err(|e| format!("invalid detector config: {e}"))?;
        Ok(Scorer {
            settings,
            detector,
            ids: HashMap::new(),
            scores: Scores::default(),
            values: Vec::new(),
        })
    }

    /// Keys with a model.
    pub fn key_count(&self) -> usize {
        self.ids.len()
    }

    /// Score one record. `value` is the record's value (a JSON object),
    /// `record_key` its broker key, `record_ts_ms` its broker timestamp in
    /// milliseconds. Returns the object with `is_anomaly`, `score`,
    /// `forecast_value` and `status` added, serialized; `None` when only
    /// anomalies are written and this one is not. A value that is not a JSON
    /// object is an error; a missing or non-numeric value field is scored as
    /// `skipped` (neither learned nor scored).
    pub fn score_record(
        &mut self,
        value: &[u8],
        record_key: Option<&[u8]>,
        record_ts_ms: i64,
    ) -> Result<Option<Vec<u8>>, String> {
        let mut object = match serde_json::from_slice::<Value>(value) {
            Ok(Value::Object(map)) => map,
            Ok(other) => {
                return Err(format!(
                    "record value must be a JSON object, got {}",
                    kind(&other)
                ));
            }
            Err(e) => return Err(format!("record value is not JSON: {e}")),
        };
        let s = &self.settings;
        let key: Vec<u8> = match object.get(&s.key_field) {
            Some(Value::String(k)) => k.as_bytes().to_vec(),
            Some(Value::Null) | None => record_key.unwrap_or_default().to_vec(),
            Some(other) => other.to_string().into_bytes(),
        };
        let ts_ms = match object.get(&s.ts_field) {
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .unwrap_or(record_ts_ms),
            Some(Value::Null) | None => record_ts_ms,
            Some(other) => {
                return Err(format!(
                    "field {:?} must be milliseconds since the epoch (a number), got {}",
                    s.ts_field,
                    kind(other)
                ));
            }
        };
        self.values.clear();
        let usable = match object.get(&s.value_field) {
            Some(Value::Array(items)) if !items.is_empty() => {
                items.iter().all(|v| match number(v) {
                    Some(x) => {
                        self.values.push(x);
                        true
                    }
                    None => false,
                })
            }
            Some(v) => number(v).map(|x| self.values.push(x)).is_some(),
            None => false,
        };
        let (status, anomaly, score, forecast) = if !usable {
            ("skipped", false, f64::NAN, f64::NAN)
        } else {
            self.process(&key, ts_ms.saturating_mul(1000))?
        };
        if self.settings.only_anomalies && !anomaly {
            return Ok(None);
        }
        add_fields(&mut object, status, anomaly, score, forecast);
        serde_json::to_vec(&Value::Object(object))
            .map(Some)
            .map_err(|e| format!("cannot serialize the scored record: {e}"))
    }

    /// Score then learn `self.values` for `key`: (status, anomaly, score, forecast).
    fn process(
        &mut self,
        key: &[u8],
        ts_us: i64,
    ) -> Result<(&'static str, bool, f64, f64), String> {
        let (id, new) = match self.ids.get(key) {
            Some(id) => (*id, false),
            None if self.ids.len() >= self.settings.max_keys => {
                return Ok(("overflow", false, f64::NAN, f64::NAN));
            }
            None => (self.ids.len() as u32, true),
        };
        let input = Input {
            timestamps: &[ts_us],
            values: &self.values,
            width: self.values.len(),
            keys: &[id],
        };
        self.detector
            .process(&input, &mut self.scores)
            .map_err(|e| format!("detector error: {e}"))?;
        // Only now: a key is held once its model exists, so ids stay dense.
        if new {
            self.ids.insert(key.into(), id);
        }
        let f = self.scores.flags[0];
        let status = flags::Status::from_flags(f);
        Ok((
            status.as_str(),
            status == flags::Status::Ok && flags::is_anomaly(f),
            self.scores.score[0],
            self.scores.forecast[0],
        ))
    }
}

fn add_fields(object: &mut Map<String, Value>, status: &str, anomaly: bool, score: f64, fc: f64) {
    // Non-finite numbers (no score yet) become JSON null.
    let num = |x: f64| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number);
    object.insert("is_anomaly".into(), Value::Bool(anomaly));
    object.insert("score".into(), num(score));
    object.insert("forecast_value".into(), num(fc));
    object.insert("status".into(), Value::String(status.into()));
}

/// A JSON number, or a string holding one.
fn number(v: &Value) -> Option<f64> {
    let x = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    x.is_finite().then_some(x)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|n| map.get(n).cloned(), |(env, _)| env)
    }

    fn zscore() -> Settings {
        settings(&[(
            "WASMAD_CONFIG",
            r#"{"algorithm":"zscore","minTrainingSize":20,"threshold":4}"#,
        )])
        .unwrap()
    }

    fn out(bytes: Option<Vec<u8>>) -> Value {
        serde_json::from_slice(&bytes.unwrap()).unwrap()
    }

    fn rec(key: &str, ts: i64, value: f64) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"key": key, "ts": ts, "value": value})).unwrap()
    }

    /// A steady series with a little jitter, then a spike.
    fn series(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| 10.0 + ((i * 7919) % 13) as f64 * 0.1)
            .collect()
    }

    #[test]
    fn defaults_and_errors() {
        let s = zscore();
        assert_eq!(
            (
                s.value_field.as_str(),
                s.key_field.as_str(),
                s.ts_field.as_str()
            ),
            ("value", "key", "ts")
        );
        assert!(!s.only_anomalies);
        assert_eq!(s.max_keys, 10_000);
        let e = settings(&[]).unwrap_err();
        assert!(e.contains("WASMAD_CONFIG is required"), "{e}");
        let e = settings(&[("WASMAD_CONFIG", r#"{"algorithm":"nope"}"#)]).unwrap_err();
        assert!(e.contains("WASMAD_CONFIG is invalid"), "{e}");
        let e = settings(&[("WASMAD_CONFIG", "{not json")]).unwrap_err();
        assert!(e.contains("WASMAD_CONFIG is invalid"), "{e}");
        let ok = r#"{"algorithm":"mad"}"#;
        let e = settings(&[("WASMAD_CONFIG", ok), ("WASMAD_ONLY_ANOMALIES", "yes")]).unwrap_err();
        assert!(
            e.contains("WASMAD_ONLY_ANOMALIES must be true or false"),
            "{e}"
        );
        let e = settings(&[("WASMAD_CONFIG", ok), ("WASMAD_MAX_KEYS", "0")]).unwrap_err();
        assert!(
            e.contains("WASMAD_MAX_KEYS must be a positive integer"),
            "{e}"
        );
        let e = settings(&[("WASMAD_CONFIG", ok), ("WASMAD_VALUE_FIELD", "")]).unwrap_err();
        assert!(e.contains("WASMAD_VALUE_FIELD must not be empty"), "{e}");
        // Fluvio's parameter names.
        let s = Settings::from_lookup(
            |n| (n == "config").then(|| ok.to_string()),
            |(_, param)| param,
        )
        .unwrap();
        assert_eq!(s.detector, ok);
    }

    #[test]
    fn warmup_then_scored_then_spike_flagged() {
        let mut sc = Scorer::new(zscore()).unwrap();
        let xs = series(40);
        for (i, x) in xs.iter().enumerate() {
            let o = out(sc
                .score_record(&rec("a", i as i64 * 1000, *x), None, 0)
                .unwrap());
            let status = o["status"].as_str().unwrap();
            if i < 20 {
                assert_eq!(status, "warmup", "row {i}");
                assert_eq!(o["score"], Value::Null);
            } else {
                assert_eq!(status, "ok", "row {i}");
                assert_eq!(o["is_anomaly"], Value::Bool(false), "row {i}: {o}");
                assert!(o["forecast_value"].as_f64().unwrap() > 9.0);
            }
            // The input fields are kept.
            assert_eq!(o["key"], "a");
            assert_eq!(o["value"].as_f64().unwrap(), *x);
        }
        let o = out(sc.score_record(&rec("a", 41_000, 100.0), None, 0).unwrap());
        assert_eq!(o["is_anomaly"], Value::Bool(true), "{o}");
        assert_eq!(o["status"], "ok");
        assert!(o["score"].as_f64().unwrap() > 4.0, "{o}");
        let fc = o["forecast_value"].as_f64().unwrap();
        assert!((9.5..11.5).contains(&fc), "{o}");
    }

    #[test]
    fn per_key_models_and_broker_key_fallback() {
        let mut sc = Scorer::new(zscore()).unwrap();
        for (i, x) in series(25).iter().enumerate() {
            sc.score_record(&rec("a", i as i64, *x), None, 0).unwrap();
        }
        // A new key starts in warmup although "a" is trained.
        let o = out(sc.score_record(&rec("b", 0, 100.0), None, 0).unwrap());
        assert_eq!(o["status"], "warmup");
        // No key field: the broker key names the model ("a" again: trained).
        let v = br#"{"value": 100.0}"#;
        let o = out(sc.score_record(v, Some(b"a"), 30).unwrap());
        assert_eq!(
            (o["status"].as_str(), o["is_anomaly"].as_bool()),
            (Some("ok"), Some(true))
        );
        assert_eq!(sc.key_count(), 2);
    }

    #[test]
    fn skipped_invalid_overflow_and_only_anomalies() {
        let mut s = zscore();
        s.max_keys = 1;
        let mut sc = Scorer::new(s).unwrap();
        let o = out(sc
            .score_record(br#"{"key":"a","value":"n/a"}"#, None, 0)
            .unwrap());
        assert_eq!(o["status"], "skipped");
        let o = out(sc.score_record(br#"{"key":"a"}"#, None, 0).unwrap());
        assert_eq!(o["status"], "skipped");
        let o = out(sc
            .score_record(br#"{"key":"a","value":"3.5"}"#, None, 0)
            .unwrap());
        assert_eq!(o["status"], "warmup");
        let o = out(sc
            .score_record(br#"{"key":"b","value":1}"#, None, 0)
            .unwrap());
        assert_eq!(o["status"], "overflow");
        let e = sc.score_record(b"[1,2]", None, 0).unwrap_err();
        assert!(e.contains("must be a JSON object, got an array"), "{e}");
        let e = sc.score_record(b"{oops", None, 0).unwrap_err();
        assert!(e.contains("not JSON"), "{e}");
        let e = sc
            .score_record(br#"{"value":1,"ts":"yesterday"}"#, None, 0)
            .unwrap_err();
        assert!(e.contains("milliseconds since the epoch"), "{e}");

        let mut s = zscore();
        s.only_anomalies = true;
        let mut sc = Scorer::new(s).unwrap();
        for (i, x) in series(30).iter().enumerate() {
            assert!(
                sc.score_record(&rec("a", i as i64, *x), None, 0)
                    .unwrap()
                    .is_none()
            );
        }
        let o = out(sc.score_record(&rec("a", 31, 100.0), None, 0).unwrap());
        assert_eq!(o["is_anomaly"], Value::Bool(true));
    }

    #[test]
    fn configured_value_field_and_multivariate() {
        let s = settings(&[
            (
                "WASMAD_CONFIG",
                r#"{"algorithm":"mad","minTrainingSize":10}"#,
            ),
            ("WASMAD_VALUE_FIELD", "latency_ms"),
            ("WASMAD_KEY_FIELD", "route"),
        ])
        .unwrap();
        let mut sc = Scorer::new(s).unwrap();
        for (i, x) in series(15).iter().enumerate() {
            let v = serde_json::json!({"route": "/x", "latency_ms": x, "ts": i});
            sc.score_record(&serde_json::to_vec(&v).unwrap(), None, 0)
                .unwrap();
        }
        let v = br#"{"route": "/x", "latency_ms": 500, "ts": 20}"#;
        let o = out(sc.score_record(v, None, 0).unwrap());
        assert_eq!(o["is_anomaly"], Value::Bool(true), "{o}");

        // An array value feeds a multivariate detector (width = its length).
        let s = settings(&[(
            "WASMAD_CONFIG",
            r#"{"algorithm":"robust","minTrainingSize":10}"#,
        )]);
        let mut sc = Scorer::new(s.unwrap()).unwrap();
        let o = out(sc.score_record(br#"{"value":[1.0,2.0]}"#, None, 0).unwrap());
        assert_eq!(o["status"], "warmup", "{o}");
    }
}
