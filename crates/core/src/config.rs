//! Config parsing and validation, driven by one table of parameter specs per
//! algorithm. The same table feeds `describe()`, so what the module documents
//! and what it accepts can never drift apart.

use std::borrow::Cow;

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
    /// A JSON object whose keys are the spec's `fields` (and, when the spec
    /// allows it, `true` for every default or `false` for none).
    Object,
    /// A whole number of rows, or a duration string such as `"15m"` (see
    /// [`parse_duration`]).
    Duration,
    /// `true` or `false`.
    Boolean,
    /// A JSON array (read by the algorithm itself, e.g. `ensemble`'s
    /// `members`).
    List,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Number => "number",
            Kind::Integer => "integer",
            Kind::String => "string",
            Kind::Object => "object",
            Kind::Duration => "duration",
            Kind::Boolean => "boolean",
            Kind::List => "array",
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
    /// Exclusive upper bound, if any.
    pub max_exclusive: Option<f64>,
    /// Accepted strings (for `Kind::String`).
    pub values: &'static [&'static str],
    /// The keys of a `Kind::Object` value.
    pub fields: Vec<ParamSpec>,
    /// A `Kind::Object` key that also takes `true` (every default) or `false` (off).
    pub boolean: bool,
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
            max_exclusive: None,
            values: &[],
            fields: Vec::new(),
            boolean: false,
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
    /// A boolean key.
    pub fn boolean(key: &'static str, default: bool, description: &'static str) -> Self {
        ParamSpec {
            kind: Kind::Boolean,
            default: Value::from(default),
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
    /// A list key without default, which its algorithm reads with
    /// [`Reader::raw`].
    pub fn list(key: &'static str, description: &'static str) -> Self {
        ParamSpec {
            kind: Kind::List,
            ..ParamSpec::number(key, None, description)
        }
    }
    /// An object key with nested `fields`; its default is the object of their
    /// defaults.
    pub fn object(key: &'static str, fields: Vec<ParamSpec>, description: &'static str) -> Self {
        let default = Value::Object(
            fields
                .iter()
                .map(|f| (f.key.to_string(), f.default.clone()))
                .collect(),
        );
        ParamSpec {
            kind: Kind::Object,
            default,
            fields,
            ..ParamSpec::number(key, None, description)
        }
    }
    /// An object key that is off by default and also takes `true` (on, every
    /// field at its default) or `false` (off).
    pub fn optional_object(
        key: &'static str,
        fields: Vec<ParamSpec>,
        description: &'static str,
    ) -> Self {
        ParamSpec {
            default: Value::Null,
            boolean: true,
            ..ParamSpec::object(key, fields, description)
        }
    }
    /// A key taking a whole number of rows or a duration string; default 0 rows.
    pub fn duration(key: &'static str, description: &'static str) -> Self {
        ParamSpec {
            kind: Kind::Duration,
            default: Value::from(0u64),
            min: Some(0.0),
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
    /// Require `value < bound`.
    pub fn below(mut self, bound: f64) -> Self {
        self.max_exclusive = Some(bound);
        self
    }

    fn range_text(&self) -> String {
        let lo = match (self.min, self.min_exclusive) {
            (Some(m), _) => Some(format!(">= {m}")),
            (None, Some(m)) => Some(format!("> {m}")),
            _ => None,
        };
        let hi = match (self.max, self.max_exclusive) {
            (Some(m), _) => Some(format!("<= {m}")),
            (None, Some(m)) => Some(format!("< {m}")),
            _ => None,
        };
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
        if let Some(v) = self.max_exclusive {
            m.insert("exclusiveMax".into(), v.into());
        }
        if !self.values.is_empty() {
            m.insert("values".into(), self.values.to_vec().into());
        }
        if self.kind == Kind::Object {
            m.insert(
                "fields".into(),
                self.fields.iter().map(ParamSpec::to_json).collect(),
            );
            m.insert("acceptsBoolean".into(), self.boolean.into());
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
    /// Whether a deviation on the given side (`up`: above the forecast) may
    /// be flagged.
    #[inline]
    pub fn allows(self, up: bool) -> bool {
        match self {
            Direction::Both => true,
            Direction::Up => up,
            Direction::Down => !up,
        }
    }

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

impl Common {
    /// All zero, both directions: the starting point for algorithms whose own
    /// parameter reader fills the common keys with its defaults.
    pub const ZERO: Common = Common {
        threshold: 0.0,
        min_training_size: 0,
        direction: Direction::Both,
    };
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

/// Reads one algorithm's config object (or one nested object of it) against
/// its specs.
pub struct Reader<'a> {
    algorithm: &'static str,
    obj: Cow<'a, Map<String, Value>>,
    specs: Vec<ParamSpec>,
    /// The key of the enclosing object, for nested readers.
    parent: Option<&'static str>,
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
            obj: Cow::Borrowed(obj),
            specs,
            parent: None,
        })
    }

    /// Whether `key` is one of this reader's specs.
    pub fn knows(&self, key: &str) -> bool {
        self.specs.iter().any(|s| s.key == key)
    }

    fn spec(&self, key: &str) -> &ParamSpec {
        // Every caller passes a key from its own spec list.
        self.specs
            .iter()
            .find(|s| s.key == key)
            .unwrap_or_else(|| unreachable!("no spec for key {key}"))
    }

    /// The key as users write it: `likelihood.window` inside `likelihood`.
    fn label(&self, spec: &ParamSpec) -> String {
        match self.parent {
            Some(p) => format!("{p}.{}", spec.key),
            None => spec.key.to_string(),
        }
    }

    fn present(&self, key: &str) -> Option<&Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    fn check_range(&self, spec: &ParamSpec, v: f64) -> Result<f64> {
        let ok = spec.min.is_none_or(|m| v >= m)
            && spec.min_exclusive.is_none_or(|m| v > m)
            && spec.max.is_none_or(|m| v <= m)
            && spec.max_exclusive.is_none_or(|m| v < m);
        if ok && v.is_finite() {
            Ok(v)
        } else {
            Err(Error::InvalidConfig(format!(
                "'{}' = {v} is out of range for algorithm '{}'; accepted: {} {}",
                self.label(spec),
                self.algorithm,
                match spec.kind {
                    Kind::Duration => "integer",
                    k => k.name(),
                },
                spec.range_text()
            )))
        }
    }

    fn wrong_type(&self, spec: &ParamSpec, v: &Value) -> Error {
        let accepted = match spec.kind {
            _ if !spec.values.is_empty() => format!("one of {}", spec.values.join(", ")),
            Kind::Object => {
                let keys: Vec<&str> = spec.fields.iter().map(|f| f.key).collect();
                format!(
                    "{}an object with keys {}",
                    if spec.boolean { "true, false or " } else { "" },
                    keys.join(", ")
                )
            }
            Kind::Duration => format!(
                "an integer number of rows {}, or a duration string such as \"90s\", \"15m\" or \"2h\" (units: {})",
                spec.range_text(),
                DURATION_UNITS
                    .iter()
                    .map(|(u, _)| *u)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Kind::Integer => format!("an integer {}", spec.range_text()),
            Kind::Boolean => "true or false".to_string(),
            k => format!("a {} {}", k.name(), spec.range_text()),
        };
        Error::InvalidConfig(format!(
            "'{}' = {v} has the wrong type for algorithm '{}'; accepted: {accepted}",
            self.label(spec),
            self.algorithm
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

    /// A whole number within the spec's range, or an error naming it.
    fn whole(&self, spec: &ParamSpec, v: &Value) -> Result<u64> {
        match v.as_f64() {
            // Whole numbers only; a negative or huge one is out of range.
            Some(f) if f.fract() == 0.0 => {
                self.check_range(spec, f)?;
                if (0.0..9.0e15).contains(&f) {
                    Ok(f as u64)
                } else {
                    Err(self.wrong_type(spec, v))
                }
            }
            _ => Err(self.wrong_type(spec, v)),
        }
    }

    /// An integer key (absent: its default, or `None`).
    pub fn integer(&self, key: &str) -> Result<Option<u64>> {
        let spec = self.spec(key);
        match self.present(key) {
            Some(v) => self.whole(spec, v).map(Some),
            None => Ok(spec.default.as_u64()),
        }
    }

    /// An integer key that has a default.
    pub fn integer_or_default(&self, key: &str) -> Result<u64> {
        self.integer(key)?
            .ok_or_else(|| Error::InvalidConfig(format!("'{key}' is required")))
    }

    /// A boolean key (absent: its default).
    pub fn boolean(&self, key: &str) -> Result<bool> {
        let spec = self.spec(key);
        match self.present(key) {
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.wrong_type(spec, v)),
            None => Ok(spec.default.as_bool().unwrap_or(false)),
        }
    }

    /// A string key restricted to its spec's values.
    pub fn choice(&self, key: &str) -> Result<&'static str> {
        let spec = self.spec(key);
        match self.present(key) {
            Some(Value::String(s)) => spec
                .values
                .iter()
                .find(|v| **v == s.as_str())
                .copied()
                .ok_or_else(|| self.wrong_type(spec, &Value::String(s.clone()))),
            Some(v) => Err(self.wrong_type(spec, v)),
            None => Ok(spec
                .values
                .iter()
                .find(|v| spec.default.as_str() == Some(**v))
                .copied()
                .unwrap_or("")),
        }
    }

    /// A rows-or-duration key (absent: 0 rows).
    pub fn span(&self, key: &str) -> Result<Span> {
        let spec = self.spec(key);
        match self.present(key) {
            None => Ok(Span::Rows(spec.default.as_u64().unwrap_or(0))),
            Some(Value::String(s)) => parse_duration(s)
                .map(Span::Micros)
                .ok_or_else(|| self.wrong_type(spec, &Value::String(s.clone()))),
            Some(v) => self.whole(spec, v).map(Span::Rows),
        }
    }

    /// An integer key that also takes the string `"auto"`: `None` for
    /// `"auto"`, null or absent.
    pub fn integer_or_auto(&self, key: &str) -> Result<Option<u64>> {
        match self.present(key) {
            Some(Value::String(s)) if s == "auto" => Ok(None),
            Some(Value::String(_)) => {
                let spec = self.spec(key);
                Err(Error::InvalidConfig(format!(
                    "'{}' = {} has the wrong type for algorithm '{}'; accepted: an integer {}, or \"auto\"",
                    self.label(spec),
                    self.present(key).map_or(String::new(), Value::to_string),
                    self.algorithm,
                    spec.range_text()
                )))
            }
            _ => self.integer(key),
        }
    }

    /// A nested object key, read against its fields: `None` when absent,
    /// null or `false`; `true` (when the spec allows booleans) reads as `{}`,
    /// every field at its default.
    pub fn object(&self, key: &str) -> Result<Option<Reader<'a>>> {
        let spec = self.spec(key);
        let obj = match self.present(key) {
            None => {
                if spec.boolean {
                    return Ok(None);
                }
                Map::new()
            }
            Some(Value::Bool(b)) if spec.boolean => {
                if !*b {
                    return Ok(None);
                }
                Map::new()
            }
            Some(Value::Object(m)) => m.clone(),
            Some(v) => return Err(self.wrong_type(spec, v)),
        };
        for k in obj.keys() {
            if !spec.fields.iter().any(|f| f.key == k) {
                let accepted: Vec<&str> = spec.fields.iter().map(|f| f.key).collect();
                return Err(Error::InvalidConfig(format!(
                    "unknown key '{k}' in '{}' for algorithm '{}'; accepted keys: {}",
                    self.label(spec),
                    self.algorithm,
                    accepted.join(", ")
                )));
            }
        }
        Ok(Some(Reader {
            algorithm: self.algorithm,
            obj: Cow::Owned(obj),
            specs: spec.fields.clone(),
            parent: Some(spec.key),
        }))
    }

    /// The value the user gave for `key` (`None` when absent or null), for
    /// error messages about keys whose checks go beyond their spec.
    pub fn raw(&self, key: &str) -> Option<&Value> {
        self.present(key)
    }

    /// Whether the user set `key`.
    pub fn is_set(&self, key: &str) -> bool {
        self.present(key).is_some()
    }

    /// An error about this reader's object as a whole (e.g. two keys that
    /// contradict each other), naming the object for nested readers.
    pub fn invalid(&self, message: &str) -> Error {
        match self.parent {
            Some(p) => Error::InvalidConfig(format!(
                "'{p}' for algorithm '{}': {message}",
                self.algorithm
            )),
            None => Error::InvalidConfig(format!("{message} for algorithm '{}'", self.algorithm)),
        }
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

/// A length in rows or in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Span {
    /// A number of rows (0: none).
    Rows(u64),
    /// A duration in microseconds (the unit of timestamps); never 0.
    Micros(u64),
}

impl Span {
    /// The config spelling: a number of rows, or a duration string in the
    /// largest unit that divides it (`"90s"`, `"2h"`, `"1500us"`).
    pub fn to_json(self) -> Value {
        match self {
            Span::Rows(n) => Value::from(n),
            Span::Micros(us) => {
                let (unit, size) = DURATION_UNITS
                    .iter()
                    .rev()
                    .find(|(_, size)| us % size == 0)
                    .copied()
                    .unwrap_or(("us", 1));
                Value::from(format!("{}{unit}", us / size))
            }
        }
    }
}

/// Duration units and their length in microseconds, smallest first.
pub const DURATION_UNITS: &[(&str, u64)] = &[
    ("us", 1),
    ("ms", 1_000),
    ("s", 1_000_000),
    ("m", 60_000_000),
    ("h", 3_600_000_000),
    ("d", 86_400_000_000),
];

/// The longest accepted duration: about 31.7 years.
pub const MAX_DURATION_MICROS: u64 = 1_000_000_000_000_000;

/// A duration string: a positive number (whole or decimal) and one unit of
/// [`DURATION_UNITS`], e.g. `"250ms"`, `"1.5h"`, `"7d"`, spaces allowed
/// between them. Returns whole microseconds (rounded), at least 1 and at most
/// [`MAX_DURATION_MICROS`]; `None` when malformed or out of range.
pub fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = s.split_at(split);
    let unit = unit.trim_start();
    let size = DURATION_UNITS.iter().find(|(u, _)| *u == unit)?.1;
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return None;
    }
    let n: f64 = number.parse().ok()?;
    let us = (n * size as f64).round();
    (us >= 1.0 && us <= MAX_DURATION_MICROS as f64).then_some(us as u64)
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
