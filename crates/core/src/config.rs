//! Config parsing and validation, driven by one table of parameter specs per
//! algorithm. The same table feeds `describe()`, so what the module documents
//! and what it accepts can never drift apart.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The JSON type of a config value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any finite JSON number.
    Number,
    /// A whole JSON number.
    Integer,
    /// A JSON string, one of `values` when that list is not empty.
    String,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Number => "number",
            Kind::Integer => "integer",
            Kind::String => "string",
        }
    }
}

/// One config key of one algorithm.
#[derive(Debug, Clone)]
pub struct ParamSpec {
    /// The JSON key, camelCase.
    pub key: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Default, as JSON (`Value::Null`: no default, the key is optional).
    pub default: Value,
    /// Inclusive lower bound, if any.
    pub min: Option<f64>,
    /// Exclusive lower bound, if any.
    pub min_exclusive: Option<f64>,
    /// Inclusive upper bound, if any.
    pub max: Option<f64>,
    /// Accepted strings (for `Kind::String`).
    pub values: &'static [&'static str],
    /// One line for humans.
    pub description: &'static str,
}

impl ParamSpec {
    /// A number key.
    pub fn number(key: &'static str, default: Option<f64>, description: &'static str) -> Self {
        ParamSpec {
            key,
            kind: Kind::Number,
            default: default.map_or(Value::Null, Value::from),
            min: None,
            min_exclusive: None,
            max: None,
            values: &[],
            description,
        }
    }
    /// An integer key.
    pub fn integer(key: &'static str, default: Option<u64>, description: &'static str) -> Self {
        ParamSpec {
            kind: Kind::Integer,
            default: default.map_or(Value::Null, Value::from),
            ..ParamSpec::number(key, None, description)
        }
    }
    /// A string key with a closed set of values.
    pub fn choice(
        key: &'static str,
        default: &'static str,
        values: &'static [&'static str],
        description: &'static str,
    ) -> Self {
        ParamSpec {
            kind: Kind::String,
            default: Value::from(default),
            values,
            ..ParamSpec::number(key, None, description)
        }
    }
    /// Require `value >= min`.
    pub fn min(mut self, min: f64) -> Self {
        self.min = Some(min);
        self
    }
    /// Require `value > bound`.
    pub fn above(mut self, bound: f64) -> Self {
        self.min_exclusive = Some(bound);
        self
    }
    /// Require `value <= max`.
    pub fn max(mut self, max: f64) -> Self {
        self.max = Some(max);
        self
    }

    fn range_text(&self) -> String {
        let lo = match (self.min, self.min_exclusive) {
            (Some(m), _) => Some(format!(">= {m}")),
            (None, Some(m)) => Some(format!("> {m}")),
            _ => None,
        };
        let hi = self.max.map(|m| format!("<= {m}"));
        match (lo, hi) {
            (Some(l), Some(h)) => format!("{l} and {h}"),
            (Some(l), None) => l,
            (None, Some(h)) => h,
            (None, None) => "any finite value".to_string(),
        }
    }

    /// The spec as JSON, for `describe()`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("key".into(), self.key.into());
        m.insert("type".into(), self.kind.name().into());
        m.insert("default".into(), self.default.clone());
        if let Some(v) = self.min {
            m.insert("min".into(), v.into());
        }
        if let Some(v) = self.min_exclusive {
            m.insert("exclusiveMin".into(), v.into());
        }
        if let Some(v) = self.max {
            m.insert("max".into(), v.into());
        }
        if !self.values.is_empty() {
            m.insert("values".into(), self.values.to_vec().into());
        }
        m.insert("description".into(), self.description.into());
        Value::Object(m)
    }
}

/// Which deviations may be flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    /// Above or below the band.
    Both,
    /// Only above the band.
    Up,
    /// Only below the band.
    Down,
}

impl Direction {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Both => "both",
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }
}

/// Keys every algorithm takes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Common {
    /// Band half-width in the detector's units (z, robust z, ...).
    pub threshold: f64,
    /// Rows a key learns from before it is scored.
    pub min_training_size: u64,
    /// Which side is flagged.
    pub direction: Direction,
}

/// The common keys with an algorithm's defaults.
pub fn common_specs(threshold: f64, min_training_size: u64) -> Vec<ParamSpec> {
    vec![
        ParamSpec::number(
            "threshold",
            Some(threshold),
            "Flag a row when its score lies beyond +/- threshold.",
        )
        .above(0.0),
        ParamSpec::integer(
            "minTrainingSize",
            Some(min_training_size),
            "Rows each key learns from before it is scored (status 'warmup' until then).",
        )
        .min(2.0)
        .max(1e9),
        ParamSpec::choice(
            "direction",
            "both",
            &["both", "up", "down"],
            "Which deviations are flagged: above the band, below it, or both.",
        ),
    ]
}

/// Reads one algorithm's config object against its specs.
pub struct Reader<'a> {
    algorithm: &'static str,
    obj: &'a Map<String, Value>,
    specs: Vec<ParamSpec>,
}

/// Keys consumed by hosts rather than detectors; a detector ignores them.
pub const HOST_KEYS: &[&str] = &["partitionBy"];

impl<'a> Reader<'a> {
    /// Check that every key of `obj` is `algorithm` or one of `specs`.
    pub fn new(
        algorithm: &'static str,
        obj: &'a Map<String, Value>,
        specs: Vec<ParamSpec>,
    ) -> Result<Self> {
        for key in obj.keys() {
            if key == "algorithm" || HOST_KEYS.contains(&key.as_str()) {
                continue;
            }
            if !specs.iter().any(|s| s.key == key) {
                let mut accepted: Vec<&str> = vec!["algorithm"];
                accepted.extend(specs.iter().map(|s| s.key));
                return Err(Error::InvalidConfig(format!(
                    "unknown key '{key}' for algorithm '{algorithm}'; accepted keys: {}",
                    accepted.join(", ")
                )));
            }
        }
        Ok(Reader {
            algorithm,
            obj,
            specs,
        })
    }

    fn spec(&self, key: &str) -> &ParamSpec {
        // Every caller passes a key from its own spec list.
        self.specs
            .iter()
            .find(|s| s.key == key)
            .unwrap_or_else(|| unreachable!("no spec for key {key}"))
    }

    fn present(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    fn check_range(&self, spec: &ParamSpec, v: f64) -> Result<f64> {
        let ok = spec.min.is_none_or(|m| v >= m)
            && spec.min_exclusive.is_none_or(|m| v > m)
            && spec.max.is_none_or(|m| v <= m);
        if ok && v.is_finite() {
            Ok(v)
        } else {
            Err(Error::InvalidConfig(format!(
                "'{}' = {v} is out of range for algorithm '{}'; accepted: {} {}",
                spec.key,
                self.algorithm,
                spec.kind.name(),
                spec.range_text()
            )))
        }
    }

    fn wrong_type(&self, spec: &ParamSpec, v: &Value) -> Error {
        let accepted = if spec.values.is_empty() {
            let article = if spec.kind == Kind::Integer {
                "an"
            } else {
                "a"
            };
            format!("{article} {} {}", spec.kind.name(), spec.range_text())
        } else {
            format!("one of {}", spec.values.join(", "))
        };
        Error::InvalidConfig(format!(
            "'{}' = {v} has the wrong type for algorithm '{}'; accepted: {accepted}",
            spec.key, self.algorithm
        ))
    }

    /// A number key (absent: its default, or `None` when it has none).
    pub fn number(&self, key: &str) -> Result<Option<f64>> {
        let spec = self.spec(key);
        match self.present(key) {
            Some(v) => match v.as_f64() {
                Some(x) => self.check_range(spec, x).map(Some),
                None => Err(self.wrong_type(spec, v)),
            },
            None => Ok(spec.default.as_f64()),
        }
    }

    /// A number key that has a default.
    pub fn number_or_default(&self, key: &str) -> Result<f64> {
        self.number(key)?
            .ok_or_else(|| Error::InvalidConfig(format!("'{key}' is required")))
    }

    /// An integer key (absent: its default, or `None`).
    pub fn integer(&self, key: &str) -> Result<Option<u64>> {
        let spec = self.spec(key);
        match self.present(key) {
            Some(v) => match v.as_f64() {
                // Whole numbers only; a negative or huge one is out of range.
                Some(f) if f.fract() == 0.0 => {
                    self.check_range(spec, f)?;
                    if (0.0..9.0e15).contains(&f) {
                        Ok(Some(f as u64))
                    } else {
                        Err(self.wrong_type(spec, v))
                    }
                }
                _ => Err(self.wrong_type(spec, v)),
            },
            None => Ok(spec.default.as_u64()),
        }
    }

    /// A string key restricted to its spec's values.
    pub fn choice(&self, key: &str) -> Result<&'a str> {
        let spec = self.spec(key);
        match self.present(key) {
            Some(Value::String(s)) if spec.values.contains(&s.as_str()) => Ok(s.as_str()),
            Some(v) => Err(self.wrong_type(spec, v)),
            None => Ok(spec
                .values
                .iter()
                .find(|v| spec.default.as_str() == Some(**v))
                .copied()
                .unwrap_or("")),
        }
    }

    /// Whether the user set `key`.
    pub fn is_set(&self, key: &str) -> bool {
        self.present(key).is_some()
    }

    /// The common keys.
    pub fn common(&self) -> Result<Common> {
        let direction = match self.choice("direction")? {
            "up" => Direction::Up,
            "down" => Direction::Down,
            _ => Direction::Both,
        };
        Ok(Common {
            threshold: self.number_or_default("threshold")?,
            min_training_size: self.integer("minTrainingSize")?.unwrap_or(2),
            direction,
        })
    }
}

/// Parse a config string into a JSON object.
pub fn parse_object(config: &str) -> Result<Map<String, Value>> {
    let trimmed = config.trim();
    if trimmed.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(Error::InvalidConfig(format!(
            "config must be a JSON object such as {{\"algorithm\":\"zscore\",\"threshold\":3}}, got {other}"
        ))),
        Err(e) => Err(Error::InvalidConfig(format!(
            "config is not valid JSON ({e}); expected an object such as {{\"algorithm\":\"zscore\",\"threshold\":3}}"
        ))),
    }
}
