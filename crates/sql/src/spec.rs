//! What one `ML_DETECT_ANOMALIES(...)` call asks for, validated against its
//! input schema at planning time.

use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{DFSchema, plan_datafusion_err, plan_err};
use datafusion::error::Result;
use serde_json::Value;

use crate::backend::Backend;

/// Output column: expected value.
pub const FORECAST_VALUE: &str = "forecast_value";
/// Output column: lower band.
pub const LOWER_BOUND: &str = "lower_bound";
/// Output column: upper band.
pub const UPPER_BOUND: &str = "upper_bound";
/// Output column: signed score.
pub const SCORE: &str = "score";
/// Output column: anomaly flag.
pub const IS_ANOMALY: &str = "is_anomaly";
/// Output column: `up` / `down` for anomalies, NULL otherwise.
pub const DIRECTION: &str = "direction";
/// Output column: `ok` / `warmup` / `skipped`.
pub const STATUS: &str = "status";
/// Output column: `low` / `medium` / `high` for anomalies, NULL otherwise.
pub const SEVERITY: &str = "severity";
/// Output column: calibrated anomaly probability in [0, 1] when the config
/// asks for one (e.g. `likelihood`), NULL otherwise.
pub const ANOMALY_PROBABILITY: &str = "anomaly_probability";

/// The result columns, in output order.
pub const RESULT_COLUMNS: [&str; 9] = [
    FORECAST_VALUE,
    LOWER_BOUND,
    UPPER_BOUND,
    SCORE,
    IS_ANOMALY,
    DIRECTION,
    STATUS,
    SEVERITY,
    ANOMALY_PROBABILITY,
];

/// The string columns are dictionary encoded: one byte per row.
pub fn label_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8))
}

/// The fields appended to every input row.
pub fn result_fields() -> Fields {
    Fields::from(vec![
        Field::new(FORECAST_VALUE, DataType::Float64, true),
        Field::new(LOWER_BOUND, DataType::Float64, true),
        Field::new(UPPER_BOUND, DataType::Float64, true),
        Field::new(SCORE, DataType::Float64, true),
        Field::new(IS_ANOMALY, DataType::Boolean, false),
        Field::new(DIRECTION, label_type(), true),
        Field::new(STATUS, label_type(), false),
        Field::new(SEVERITY, label_type(), true),
        Field::new(ANOMALY_PROBABILITY, DataType::Float64, true),
    ])
}

/// A validated call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct DetectSpec {
    /// Value column names (one for univariate detectors).
    pub values: Vec<String>,
    /// Event-time column name.
    pub time: String,
    /// Key columns (`partitionBy`): one model per distinct key.
    pub partition_by: Vec<String>,
    /// The config JSON handed to the detector (host keys removed).
    pub detector_config: String,
    /// The algorithm, for EXPLAIN.
    pub algorithm: String,
}

/// Host-side config keys, consumed here and not passed to the detector.
pub const PARTITION_BY: &str = "partitionBy";

fn is_numeric(t: &DataType) -> bool {
    t.is_numeric()
}

/// Accepted event-time types.
pub fn is_time_type(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Timestamp(_, _)
            | DataType::Date32
            | DataType::Date64
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
    )
}

/// Find a column by name: exact match first, then a unique case-insensitive one.
pub fn resolve_column<'a>(
    schema: &'a DFSchema,
    name: &str,
    role: &str,
) -> Result<(String, &'a FieldRef)> {
    let fields: Vec<&FieldRef> = schema.fields().iter().collect();
    if let Some(f) = fields.iter().find(|f| f.name() == name) {
        return Ok((f.name().clone(), f));
    }
    let ci: Vec<&&FieldRef> = fields
        .iter()
        .filter(|f| f.name().eq_ignore_ascii_case(name))
        .collect();
    if let [f] = ci.as_slice() {
        return Ok((f.name().clone(), f));
    }
    let available: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
    plan_err!(
        "ML_DETECT_ANOMALIES: {role} column '{name}' not found in the input; available columns: {}",
        available.join(", ")
    )
}

impl DetectSpec {
    /// Validate the arguments against the input schema and the backend.
    pub fn new(
        input: &DFSchema,
        value_arg: &str,
        time_arg: &str,
        config: &str,
        backend: &Backend,
    ) -> Result<DetectSpec> {
        // Value columns: one name, or a comma-separated list for multivariate detectors.
        let mut values = Vec::new();
        for name in value_arg.split(',').map(str::trim) {
            if name.is_empty() {
                return plan_err!(
                    "ML_DETECT_ANOMALIES: value column argument '{value_arg}' is empty; give a column name such as 'value' (or 'cpu,mem' for a multivariate detector)"
                );
            }
            let (name, field) = resolve_column(input, name, "value")?;
            if !is_numeric(field.data_type()) {
                return plan_err!(
                    "ML_DETECT_ANOMALIES: value column '{name}' has type {}; accepted: a numeric column (integer, float or decimal); CAST it if it holds numbers as text",
                    field.data_type()
                );
            }
            values.push(name);
        }
        let (time, field) = resolve_column(input, time_arg, "time")?;
        if !is_time_type(field.data_type()) {
            return plan_err!(
                "ML_DETECT_ANOMALIES: time column '{time}' has type {}; accepted: TIMESTAMP, DATE, or an integer column (taken as microseconds since the epoch)",
                field.data_type()
            );
        }

        // Config: a JSON object; partitionBy is ours, the rest is the detector's.
        let mut obj = match config.trim() {
            "" => serde_json::Map::new(),
            text => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(m)) => m,
                Ok(other) => {
                    return plan_err!(
                        "ML_DETECT_ANOMALIES: config must be a JSON object such as '{{\"algorithm\":\"zscore\",\"threshold\":3.5}}', got {other}"
                    );
                }
                Err(e) => {
                    return plan_err!(
                        "ML_DETECT_ANOMALIES: config is not valid JSON ({e}); expected an object such as '{{\"algorithm\":\"zscore\",\"threshold\":3.5}}'"
                    );
                }
            },
        };
        let mut partition_by = Vec::new();
        match obj.remove(PARTITION_BY) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => partition_by.push(s),
            Some(Value::Array(items)) => {
                for item in items {
                    match item {
                        Value::String(s) => partition_by.push(s),
                        other => {
                            return plan_err!(
                                "ML_DETECT_ANOMALIES: partitionBy must be a column name or a list of column names, got {other}"
                            );
                        }
                    }
                }
            }
            Some(other) => {
                return plan_err!(
                    "ML_DETECT_ANOMALIES: partitionBy must be a column name or a list of column names, got {other}"
                );
            }
        }
        let partition_by = partition_by
            .iter()
            .map(|k| resolve_column(input, k, "partitionBy").map(|(n, _)| n))
            .collect::<Result<Vec<_>>>()?;

        let algorithm = obj
            .get("algorithm")
            .and_then(Value::as_str)
            .unwrap_or("zscore")
            .to_ascii_lowercase();
        let detector_config = Value::Object(obj).to_string();
        // Build one detector now so that config errors are planning errors.
        let detector = backend.create(&detector_config).map_err(|e| {
            plan_datafusion_err!("ML_DETECT_ANOMALIES: {e} (host keys: {PARTITION_BY})")
        })?;
        drop(detector);
        let described: Value = serde_json::from_str(&backend.describe()).unwrap_or(Value::Null);
        let multivariate = described["algorithms"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == algorithm.as_str()))
            .and_then(|x| x["multivariate"].as_bool())
            .unwrap_or(false);
        if values.len() > 1 && !multivariate {
            return plan_err!(
                "ML_DETECT_ANOMALIES: algorithm '{algorithm}' is univariate, but {} value columns were given ({}); give one value column",
                values.len(),
                values.join(", ")
            );
        }
        for name in RESULT_COLUMNS {
            if input.fields().iter().any(|f| f.name() == name) {
                return plan_err!(
                    "ML_DETECT_ANOMALIES: the input already has a column named '{name}', which is an output column; rename it in a subquery (SELECT {name} AS input_{name}, ...)"
                );
            }
        }
        Ok(DetectSpec {
            values,
            time,
            partition_by,
            detector_config,
            algorithm,
        })
    }
}
