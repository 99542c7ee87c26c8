//! What one `ML_DETECT_ANOMALIES(...)` call asks for, validated against its
//! input schema at planning time.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema};
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

/// Output column (our form, `arima`): recent one-step RMSE.
pub const RMSE: &str = "rmse";
/// Output column (our form, `arima`): AIC of the current fit.
pub const AIC: &str = "aic";
/// Output column (our form, multivariate input): each value column's share of the score.
pub const ATTRIBUTION: &str = "attribution";
/// The `rcf` config key that turns on per-column attribution.
pub const RCF_ATTRIBUTION_KEY: &str = "attribution";
/// Kinesis output column.
pub const ANOMALY_SCORE: &str = "ANOMALY_SCORE";
/// Kinesis output column (the explanation variant).
pub const ANOMALY_EXPLANATION: &str = "ANOMALY_EXPLANATION";

/// What the operator appends to each input row: the SQL form decides.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub enum Output {
    /// `ML_DETECT_ANOMALIES(table, ...)`: [`RESULT_COLUMNS`], then `rmse` and
    /// `aic` when `rmse_aic`, then `attribution` (a struct with one field per
    /// value column) when `attribution`.
    Full {
        /// Append `rmse` and `aic`.
        rmse_aic: bool,
        /// Append `attribution`.
        attribution: bool,
    },
    /// Kinesis `RANDOM_CUT_FOREST`: `ANOMALY_SCORE` (0 before the model is
    /// trained), and `ANOMALY_EXPLANATION` JSON when `explanation`.
    Kinesis {
        /// Append `ANOMALY_EXPLANATION`.
        explanation: bool,
        /// Explanations carry `DIRECTION` and `STRENGTH` too.
        directionality: bool,
    },
    /// Confluent's OVER form: one struct column `name` with fields
    /// [`CONFLUENT_FIELDS`] (NULL values before the model is trained).
    Confluent {
        /// The output column's name.
        name: String,
    },
    /// `ML_FORECAST`: one list column `name`, one struct per horizon step.
    Forecast {
        /// The output column's name.
        name: String,
    },
    /// Azure Stream Analytics: one record column `name`: `{IsAnomaly, Score}`.
    Azure {
        /// The output column's name.
        name: String,
    },
}

/// Confluent's result fields, in order (1-based positions as Confluent
/// documents them), then ours.
pub const CONFLUENT_FIELDS: [&str; 11] = [
    "timestamp",
    "actual_value",
    FORECAST_VALUE,
    LOWER_BOUND,
    UPPER_BOUND,
    IS_ANOMALY,
    RMSE,
    AIC,
    SCORE,
    DIRECTION,
    STATUS,
];

/// Confluent's result struct: [`CONFLUENT_FIELDS`] with the time column's
/// type and the value's (`Float64`, or a struct of `Float64`s for `ROW(...)`).
/// The window function's declared type, the operator's schema and the
/// arrays it builds all come from here.
pub fn confluent_fields(time: DataType, actual: DataType) -> Fields {
    Fields::from(vec![
        Field::new("timestamp", time, true),
        Field::new("actual_value", actual, true),
        Field::new(FORECAST_VALUE, DataType::Float64, true),
        Field::new(LOWER_BOUND, DataType::Float64, true),
        Field::new(UPPER_BOUND, DataType::Float64, true),
        Field::new(IS_ANOMALY, DataType::Boolean, true),
        Field::new(RMSE, DataType::Float64, true),
        Field::new(AIC, DataType::Float64, true),
        Field::new(SCORE, DataType::Float64, true),
        Field::new(DIRECTION, label_type(), true),
        Field::new(STATUS, label_type(), false),
    ])
}

/// The fields of one `ML_FORECAST` step for a time column of type `time`
/// (step times are timestamps of the same unit, or `Int64` microseconds).
pub fn forecast_fields(time: &DataType) -> Fields {
    let ts = match time {
        t @ DataType::Timestamp(_, _) => t.clone(),
        _ => DataType::Int64,
    };
    Fields::from(vec![
        Field::new("timestamp", ts, true),
        Field::new(FORECAST_VALUE, DataType::Float64, true),
        Field::new(LOWER_BOUND, DataType::Float64, true),
        Field::new(UPPER_BOUND, DataType::Float64, true),
        Field::new(RMSE, DataType::Float64, true),
        Field::new(AIC, DataType::Float64, true),
    ])
}

/// `ML_FORECAST`'s list type: one struct of [`forecast_fields`] per step.
pub fn forecast_list_type(time: &DataType) -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(forecast_fields(time)),
        true,
    )))
}

/// Azure's `{IsAnomaly, Score}` record.
pub fn azure_fields() -> Fields {
    Fields::from(vec![
        Field::new("IsAnomaly", DataType::Int64, false),
        Field::new("Score", DataType::Float64, true),
    ])
}

/// A validated call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct DetectSpec {
    /// Value column names (one for univariate detectors).
    pub values: Vec<String>,
    /// What users call each value (field names of `attribution`,
    /// `actual_value` and Kinesis explanations); usually `values`.
    pub labels: Vec<String>,
    /// Event-time column name; `None`: rows are taken in input order
    /// (Kinesis and Azure forms, which have no time argument).
    pub time: Option<String>,
    /// Key columns (`partitionBy`): one model per distinct key.
    pub partition_by: Vec<String>,
    /// A boolean column: rows where it is not true are not learned
    /// (status `skipped`); Azure's `WHEN`.
    pub learn_when: Option<String>,
    /// The config JSON handed to the detector (host keys removed).
    pub detector_config: String,
    /// The algorithm, for EXPLAIN.
    pub algorithm: String,
    /// The columns appended.
    pub output: Output,
    /// `maxKeys`: at most this many keys per partition; the least recently
    /// seen key is evicted (its model reset and its id reused).
    pub max_keys: Option<u64>,
    /// `stateTtl`: a key not seen for this long (event time, microseconds)
    /// is evicted.
    pub state_ttl: Option<u64>,
}

impl DetectSpec {
    /// The columns appended to each input row.
    pub fn output_fields(&self, input: &Schema) -> Result<Vec<Field>> {
        let f64f = |n: &str| Field::new(n, DataType::Float64, true);
        Ok(match &self.output {
            Output::Full {
                rmse_aic,
                attribution,
            } => {
                let mut v: Vec<Field> =
                    result_fields().iter().map(|f| f.as_ref().clone()).collect();
                if *rmse_aic {
                    v.push(f64f(RMSE));
                    v.push(f64f(AIC));
                }
                if *attribution {
                    v.push(Field::new(
                        ATTRIBUTION,
                        DataType::Struct(self.attribution_fields()),
                        true,
                    ));
                }
                v
            }
            Output::Kinesis { explanation, .. } => {
                let mut v = vec![Field::new(ANOMALY_SCORE, DataType::Float64, false)];
                if *explanation {
                    v.push(Field::new(ANOMALY_EXPLANATION, DataType::Utf8, true));
                }
                v
            }
            Output::Confluent { name } => vec![Field::new(
                name,
                DataType::Struct(self.confluent_fields(input)?),
                true,
            )],
            Output::Forecast { name } => vec![Field::new(
                name,
                forecast_list_type(&self.time_type(input)?),
                true,
            )],
            Output::Azure { name } => {
                vec![Field::new(name, DataType::Struct(azure_fields()), true)]
            }
        })
    }

    /// One Float64 field per value column.
    pub fn attribution_fields(&self) -> Fields {
        self.labels
            .iter()
            .map(|v| Field::new(v, DataType::Float64, true))
            .collect()
    }

    fn time_type(&self, input: &Schema) -> Result<DataType> {
        match &self.time {
            Some(t) => Ok(input.field_with_name(t)?.data_type().clone()),
            None => Ok(DataType::Int64),
        }
    }

    fn confluent_fields(&self, input: &Schema) -> Result<Fields> {
        let actual = if self.values.len() == 1 {
            DataType::Float64
        } else {
            DataType::Struct(self.attribution_fields())
        };
        Ok(confluent_fields(self.time_type(input)?, actual))
    }

    /// Input columns the operator reads.
    pub fn required_columns(&self) -> Vec<&str> {
        let mut cols: Vec<&str> = self.values.iter().map(String::as_str).collect();
        cols.extend(self.time.as_deref());
        cols.extend(self.partition_by.iter().map(String::as_str));
        cols.extend(self.learn_when.as_deref());
        cols
    }
}

/// Host-side config keys, consumed here and not passed to the detector.
pub const PARTITION_BY: &str = "partitionBy";
/// Host-side config key: keys kept per partition (least recently seen evicted).
pub const MAX_KEYS: &str = "maxKeys";
/// Host-side config key: evict keys not seen for this long in event time.
pub const STATE_TTL: &str = "stateTtl";

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

/// The time column named `time_arg`, checked.
pub fn check_time(input: &DFSchema, time_arg: &str) -> Result<String> {
    let (time, field) = resolve_column(input, time_arg, "time")?;
    if !is_time_type(field.data_type()) {
        return plan_err!(
            "ML_DETECT_ANOMALIES: time column '{time}' has type {}; accepted: TIMESTAMP, DATE, or an integer column (taken as microseconds since the epoch)",
            field.data_type()
        );
    }
    Ok(time)
}

/// A config argument: empty, or a JSON object.
pub fn parse_config(config: &str) -> Result<serde_json::Map<String, Value>> {
    Ok(match config.trim() {
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
    })
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
        let time = check_time(input, time_arg)?;

        let obj = parse_config(config)?;
        let attribution = values.len() > 1;
        let mut spec = DetectSpec::build(
            input,
            values,
            Some(time),
            obj,
            Output::Full {
                rmse_aic: false,
                attribution,
            },
            backend,
            None,
        )?;
        if spec.algorithm == "arima" {
            spec.output = Output::Full {
                rmse_aic: true,
                attribution,
            };
        }
        Ok(spec)
    }

    /// Validate a call whose columns are already resolved: `obj` is the
    /// config (its `partitionBy` is taken out here), `default_algorithm`
    /// applies when it names none.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        input: &DFSchema,
        values: Vec<String>,
        time: Option<String>,
        mut obj: serde_json::Map<String, Value>,
        output: Output,
        backend: &Backend,
        default_algorithm: Option<&str>,
    ) -> Result<DetectSpec> {
        for name in &values {
            let (name, field) = resolve_column(input, name, "value")?;
            if !is_numeric(field.data_type()) {
                return plan_err!(
                    "ML_DETECT_ANOMALIES: value column '{name}' has type {}; accepted: a numeric column (integer, float or decimal); CAST it if it holds numbers as text",
                    field.data_type()
                );
            }
        }
        if let Some(default) = default_algorithm
            && !obj.contains_key("algorithm")
        {
            obj.insert("algorithm".into(), Value::from(default));
        }
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
        let max_keys = match obj.remove(MAX_KEYS) {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64().filter(|n| *n >= 1) {
                Some(n) => Some(n),
                None => {
                    return plan_err!(
                        "ML_DETECT_ANOMALIES: maxKeys must be an integer >= 1 (keys kept per partition; the least recently seen is evicted), got {v}"
                    );
                }
            },
        };
        let state_ttl = match obj.remove(STATE_TTL) {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => match wasmad_core::config::parse_duration(&t) {
                Some(us) => Some(us),
                None => {
                    return plan_err!(
                        "ML_DETECT_ANOMALIES: stateTtl = \"{t}\" is not a duration; accepted: a string such as \"90s\", \"15m\", \"2h\", \"7d\" (units us, ms, s, m, h, d)"
                    );
                }
            },
            Some(other) => {
                return plan_err!(
                    "ML_DETECT_ANOMALIES: stateTtl must be a duration string such as \"1h\", got {other}"
                );
            }
        };
        if (max_keys.is_some() || state_ttl.is_some()) && partition_by.is_empty() {
            return plan_err!(
                "ML_DETECT_ANOMALIES: maxKeys and stateTtl bound the per-key state: they need partitionBy (or OVER (PARTITION BY ...))"
            );
        }

        let algorithm = obj
            .get("algorithm")
            .and_then(Value::as_str)
            .unwrap_or("zscore")
            .to_ascii_lowercase();
        let detector_config = Value::Object(obj).to_string();
        // Build one detector now so that config errors are planning errors.
        let detector = backend.create(&detector_config).map_err(|e| {
            plan_datafusion_err!(
                "ML_DETECT_ANOMALIES: {e} (host keys: {PARTITION_BY}, {MAX_KEYS}, {STATE_TTL})"
            )
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
        let spec = DetectSpec {
            labels: values.clone(),
            values,
            time,
            partition_by,
            learn_when: None,
            detector_config,
            algorithm,
            output,
            max_keys,
            state_ttl,
        };
        let arrow_schema = input.as_arrow();
        for field in spec.output_fields(arrow_schema)? {
            let name = field.name();
            if input.fields().iter().any(|f| f.name() == name) {
                return plan_err!(
                    "ML_DETECT_ANOMALIES: the input already has a column named '{name}', which is an output column; rename it in a subquery (SELECT {name} AS input_{name}, ...)"
                );
            }
        }
        Ok(spec)
    }
}
