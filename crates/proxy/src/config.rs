//! The plugin configuration: the JSON in Envoy's `configuration` field,
//! validated in full before the plugin starts.

use serde_json::{Map, Value};
use wasmad_core::{Detector, Input, Scores};

use crate::error::{Error, Result};

/// Every key the plugin configuration accepts.
pub const KEYS: &[&str] = &[
    "metric",
    "detector",
    "action",
    "keyBy",
    "rejectStatus",
    "maxKeys",
    "tagUpstream",
    "width",
    "timestamp",
    "exactOutputs",
];

/// The default `rejectStatus`: 429 Too Many Requests.
pub const DEFAULT_REJECT_STATUS: u32 = 429;
/// The default `maxKeys`.
pub const DEFAULT_MAX_KEYS: usize = 10_000;
/// The largest `width` (values per request).
pub const MAX_WIDTH: usize = 1024;

/// The per-request number that is scored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metric {
    /// A numeric request header (`header:<name>`), scored when the request
    /// headers arrive.
    RequestHeader(String),
    /// A numeric response header (`response_header:<name>`, e.g.
    /// `x-envoy-upstream-service-time`), scored when the response headers arrive.
    ResponseHeader(String),
    /// Milliseconds from the request headers to the response headers
    /// (`request_duration`): the upstream's latency as this filter sees it.
    RequestDuration,
}

impl Metric {
    /// True if the value is known when the request headers arrive (so the
    /// request can still be rejected).
    pub fn at_request(&self) -> bool {
        matches!(self, Metric::RequestHeader(_))
    }
}

/// What happens to a scored request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Add `x-anomaly`, `x-anomaly-score` and `x-anomaly-status` headers.
    Tag,
    /// Answer anomalous requests with a local reply (`rejectStatus`) instead of
    /// forwarding them; tag the others.
    Reject,
}

/// Which model a request is scored against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyBy {
    /// One model for every request.
    None,
    /// One model per Envoy route name (`xds.route_name`).
    Route,
    /// One model per request path, query string excluded.
    Path,
    /// One model per value of a request header (a missing header is the key "").
    Header(String),
}

/// A validated plugin configuration.
#[derive(Debug)]
pub struct Config {
    /// What is scored.
    pub metric: Metric,
    /// The detector config as given (validated by building one detector).
    pub detector: String,
    /// Tag or reject.
    pub action: Action,
    /// The model key.
    pub key_by: KeyBy,
    /// Local reply status for rejected requests.
    pub reject_status: u32,
    /// At most this many keys get a model; requests with further keys are
    /// passed through unscored (status `overflow`).
    pub max_keys: usize,
    /// With a request-header metric, also set the tags on the request
    /// forwarded upstream (replacing any the client sent). Costs about 4 us
    /// of Envoy CPU per request, so off unless asked for.
    pub tag_upstream: bool,
    /// Values per request (the metric carries this many comma-separated
    /// numbers): 1 for the univariate algorithms, more for rcf and robust.
    pub width: usize,
    /// The request header holding the row's event time (integer
    /// microseconds since the Unix epoch); `None`: Envoy's clock.
    pub timestamp: Option<String>,
    /// Also send the detector's exact outputs (f64 bit patterns, the flag
    /// byte, the key count, the extras) as headers.
    pub exact_outputs: bool,
}

impl Config {
    /// Parse and validate the plugin configuration. The error names the bad
    /// key and says what is accepted.
    pub fn parse(text: &[u8]) -> Result<Config> {
        let value: Value = serde_json::from_slice(text).map_err(|e| {
            Error::Config(format!(
                "not valid JSON ({e}); expected an object with keys {}",
                KEYS.join(", ")
            ))
        })?;
        let Value::Object(map) = value else {
            return Err(Error::Config(format!(
                "expected a JSON object with keys {}, got {}",
                KEYS.join(", "),
                kind(&value)
            )));
        };
        if let Some(bad) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(Error::Config(format!(
                "unknown key '{bad}'; accepted keys: {}",
                KEYS.join(", ")
            )));
        }
        let metric = parse_metric(required_str(&map, "metric")?)?;
        let detector = match map.get("detector") {
            Some(v @ Value::Object(_)) => v.to_string(),
            Some(v) => {
                return Err(Error::Config(format!(
                    "'detector' must be a wasmad detector config object such as \
                     {{\"algorithm\":\"zscore\"}}, got {}",
                    kind(v)
                )));
            }
            None => {
                return Err(Error::Config(
                    "missing key 'detector' (a wasmad detector config object such as \
                     {\"algorithm\":\"zscore\"})"
                        .into(),
                ));
            }
        };
        let width = match map.get("width") {
            None => 1,
            Some(v) => match v.as_u64() {
                Some(n @ 1..) if n <= MAX_WIDTH as u64 => n as usize,
                _ => {
                    return Err(Error::Config(format!(
                        "'width' must be an integer from 1 to {MAX_WIDTH} (values per request), got {v}"
                    )));
                }
            },
        };
        // Build one detector and score one row with it: a config this filter
        // cannot use (e.g. a univariate algorithm with width 2) fails here,
        // not per request.
        let mut probe = Detector::from_config(&detector)
            .map_err(|e| Error::Config(format!("'detector': {e}")))?;
        let zeros = vec![0.0; width];
        probe
            .process(
                &Input {
                    timestamps: &[0],
                    values: &zeros,
                    width,
                    keys: &[],
                },
                &mut Scores::default(),
            )
            .map_err(|e| {
                Error::Config(format!(
                    "'detector': algorithm '{}' cannot score {width} number{} per request ({})",
                    probe.algorithm(),
                    if width == 1 { "" } else { "s" },
                    e.message()
                ))
            })?;
        let action = match optional_str(&map, "action")? {
            None | Some("tag") => Action::Tag,
            Some("reject") => Action::Reject,
            Some(other) => {
                return Err(Error::Config(format!(
                    "'action': '{other}' is not an action; accepted: \"tag\", \"reject\""
                )));
            }
        };
        if action == Action::Reject && !metric.at_request() {
            return Err(Error::Config(
                "'action': \"reject\" needs a metric known when the request arrives \
                 (\"header:<name>\"); response metrics can only be tagged"
                    .into(),
            ));
        }
        let key_by = match optional_str(&map, "keyBy")? {
            None | Some("route") => KeyBy::Route,
            Some("none") => KeyBy::None,
            Some("path") => KeyBy::Path,
            Some(other) => match other.strip_prefix("header:") {
                Some(name) if valid_header_name(name) => KeyBy::Header(name.to_ascii_lowercase()),
                _ => {
                    return Err(Error::Config(format!(
                        "'keyBy': '{other}' is not a key; accepted: \"route\", \"path\", \
                         \"none\", \"header:<name>\""
                    )));
                }
            },
        };
        let reject_status = match map.get("rejectStatus") {
            None => DEFAULT_REJECT_STATUS,
            Some(v) => match v.as_u64() {
                Some(s @ 200..=599) => s as u32,
                _ => {
                    return Err(Error::Config(format!(
                        "'rejectStatus' must be an HTTP status from 200 to 599, got {v}"
                    )));
                }
            },
        };
        let max_keys = match map.get("maxKeys") {
            None => DEFAULT_MAX_KEYS,
            Some(v) => match v.as_u64() {
                Some(n @ 1..=10_000_000) => n as usize,
                _ => {
                    return Err(Error::Config(format!(
                        "'maxKeys' must be an integer from 1 to 10000000, got {v}"
                    )));
                }
            },
        };
        let tag_upstream = optional_bool(&map, "tagUpstream")?;
        let exact_outputs = optional_bool(&map, "exactOutputs")?;
        let timestamp = match optional_str(&map, "timestamp")? {
            None => None,
            Some(s) => match s.strip_prefix("header:") {
                Some(name) if valid_header_name(name) => Some(name.to_ascii_lowercase()),
                _ => {
                    return Err(Error::Config(format!(
                        "'timestamp': '{s}' is not a timestamp source; accepted: \"header:<name>\" \
                         (a request header holding integer microseconds since the Unix epoch)"
                    )));
                }
            },
        };
        if width > 1 && metric == Metric::RequestDuration {
            return Err(Error::Config(format!(
                "'width': {width} needs a header metric carrying {width} comma-separated numbers; \
                 \"request_duration\" is one number"
            )));
        }
        if tag_upstream && !metric.at_request() {
            return Err(Error::Config(
                "'tagUpstream': true needs a metric known when the request arrives \
                 (\"header:<name>\"); the request has left when the others are measured"
                    .into(),
            ));
        }
        Ok(Config {
            metric,
            detector,
            action,
            key_by,
            reject_status,
            max_keys,
            tag_upstream,
            width,
            timestamp,
            exact_outputs,
        })
    }
}

fn parse_metric(s: &str) -> Result<Metric> {
    let bad = || {
        Error::Config(format!(
            "'metric': '{s}' is not a metric; accepted: \"header:<name>\" (a numeric \
             request header), \"response_header:<name>\", \"request_duration\""
        ))
    };
    if s == "request_duration" {
        return Ok(Metric::RequestDuration);
    }
    if let Some(name) = s.strip_prefix("header:") {
        return if valid_header_name(name) {
            Ok(Metric::RequestHeader(name.to_ascii_lowercase()))
        } else {
            Err(bad())
        };
    }
    if let Some(name) = s.strip_prefix("response_header:") {
        return if valid_header_name(name) {
            Ok(Metric::ResponseHeader(name.to_ascii_lowercase()))
        } else {
            Err(bad())
        };
    }
    Err(bad())
}

/// An HTTP header name (RFC 9110 token characters), not a pseudo-header.
fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn required_str<'a>(map: &'a Map<String, Value>, key: &str) -> Result<&'a str> {
    optional_str(map, key)?.ok_or_else(|| Error::Config(format!("missing key '{key}'")))
}

fn optional_str<'a>(map: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(Error::Config(format!(
            "'{key}' must be a string, got {}",
            kind(v)
        ))),
    }
}

fn optional_bool(map: &Map<String, Value>, key: &str) -> Result<bool> {
    match map.get(key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(Error::Config(format!(
            "'{key}' must be true or false, got {}",
            kind(v)
        ))),
    }
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
