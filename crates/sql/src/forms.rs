//! Other vendors' forms, planned onto the same batch operator.
//!
//! * Confluent: `ML_DETECT_ANOMALIES(v, ts, config) OVER (PARTITION BY k ORDER BY ts ...)`,
//!   `ML_DETECT_ANOMALIES_ROBUST(ROW(a, b), ts, config) OVER (...)` and
//!   `ML_FORECAST(v, ts, config) OVER (...)`.
//! * Azure Stream Analytics: `AnomalyDetection_SpikeAndDip(v, confidence,
//!   historySize, mode) OVER (...)` and `AnomalyDetection_ChangePoint(v,
//!   confidence, historySize) OVER (...)` (after [`crate::rewrite`] has moved
//!   `LIMIT DURATION` and `WHEN` into two trailing arguments).
//!
//! Each is registered as a window function only so that DataFusion's SQL
//! planner accepts it and knows its result type. The analyzer rule
//! [`WindowForms`] then replaces every `Window` node that computes one of
//! them with a projection of the arguments, a [`DetectNode`] (the operator
//! the table-function form uses: batch at a time, one detector per
//! partition, per-key models) and a projection back to the window's schema.
//! So the OVER form costs what the table form costs, instead of a scalar
//! value built per row. Their partition evaluators are never run.
//!
//! Also here: Confluent's 1-based positional struct access `r[6]`
//! ([`PositionalFieldAccess`]) and ASA's `GetRecordPropertyValue(rec, 'name')`.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, DFSchema, ScalarValue, plan_datafusion_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::ExprSchemable;
use datafusion::logical_expr::expr::{WindowFunction, WindowFunctionParams};
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawFieldAccessExpr};
use datafusion::logical_expr::{
    Expr, Extension, GetFieldAccess, LogicalPlan, LogicalPlanBuilder, PartitionEvaluator,
    Signature, Volatility, WindowFunctionDefinition, WindowUDF, WindowUDFImpl,
};
use datafusion::optimizer::analyzer::AnalyzerRule;
use serde_json::{Map, Value};

use crate::backend::Backend;
use crate::node::DetectNode;
use crate::spec::{DetectSpec, Output, check_time, parse_config};

/// The window forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Form {
    /// Confluent `ML_DETECT_ANOMALIES(v, ts, config) OVER (...)`.
    Confluent,
    /// Confluent `ML_DETECT_ANOMALIES_ROBUST(v | ROW(...), ts, config) OVER (...)`.
    ConfluentRobust,
    /// Confluent `ML_FORECAST(v, ts, config) OVER (...)`.
    Forecast,
    /// ASA `AnomalyDetection_SpikeAndDip(v, confidence, historySize, mode, dur, when)`.
    SpikeAndDip,
    /// ASA `AnomalyDetection_ChangePoint(v, confidence, historySize, dur, when)`.
    ChangePoint,
}

impl Form {
    const ALL: [Form; 5] = [
        Form::Confluent,
        Form::ConfluentRobust,
        Form::Forecast,
        Form::SpikeAndDip,
        Form::ChangePoint,
    ];

    fn name(self) -> &'static str {
        match self {
            Form::Confluent => "ml_detect_anomalies",
            Form::ConfluentRobust => "ml_detect_anomalies_robust",
            Form::Forecast => "ml_forecast",
            Form::SpikeAndDip => "anomalydetection_spikeanddip",
            Form::ChangePoint => "anomalydetection_changepoint",
        }
    }

    fn usage(self) -> &'static str {
        match self {
            Form::Confluent => {
                "ML_DETECT_ANOMALIES(value, ts [, JSON_OBJECT(...) | 'json']) OVER ([PARTITION BY key] ORDER BY ts)"
            }
            Form::ConfluentRobust => {
                "ML_DETECT_ANOMALIES_ROBUST(value | ROW(v1, v2, ...), ts [, JSON_OBJECT(...) | 'json']) OVER ([PARTITION BY key] ORDER BY ts)"
            }
            Form::Forecast => {
                "ML_FORECAST(value, ts [, JSON_OBJECT('horizon' VALUE n, ...) | 'json']) OVER ([PARTITION BY key] ORDER BY ts)"
            }
            Form::SpikeAndDip => {
                "AnomalyDetection_SpikeAndDip(CAST(value AS float), confidence 1..100, historySize, 'spikes' | 'dips' | 'spikesanddips') OVER ([PARTITION BY key] LIMIT DURATION(unit, n) [WHEN condition])"
            }
            Form::ChangePoint => {
                "AnomalyDetection_ChangePoint(CAST(value AS float), confidence 1..100, historySize) OVER ([PARTITION BY key] LIMIT DURATION(unit, n) [WHEN condition])"
            }
        }
    }

    fn of(udf: &WindowUDF) -> Option<Form> {
        udf.inner().downcast_ref::<FormUdwf>().map(|f| f.form)
    }
}

/// The placeholder window function of one [`Form`].
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FormUdwf {
    form: Form,
    signature: Signature,
}

impl FormUdwf {
    fn new(form: Form) -> Self {
        FormUdwf {
            form,
            signature: Signature::variadic_any(Volatility::Volatile),
        }
    }
}

/// The Confluent struct type for a value argument of type `value` and a time
/// argument of type `time`.
fn confluent_type(value: &DataType, time: &DataType) -> DataType {
    let actual = match value {
        DataType::Struct(f) => DataType::Struct(
            f.iter()
                .map(|f| Field::new(f.name(), DataType::Float64, true))
                .collect(),
        ),
        _ => DataType::Float64,
    };
    DataType::Struct(crate::spec::confluent_fields(time.clone(), actual))
}

impl WindowUDFImpl for FormUdwf {
    fn name(&self) -> &str {
        self.form.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn partition_evaluator(
        &self,
        _args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        plan_err!(
            "{} is planned onto wasmad's detector operator and cannot run as a plain window function; usage: {}",
            self.form.name(),
            self.form.usage()
        )
    }

    fn field(&self, args: WindowUDFFieldArgs) -> Result<FieldRef> {
        let types: Vec<&DataType> = args.input_fields().iter().map(|f| f.data_type()).collect();
        let time = types.get(1).copied().cloned().unwrap_or(DataType::Int64);
        let value = types.first().copied().cloned().unwrap_or(DataType::Float64);
        let dt = match self.form {
            Form::Confluent | Form::ConfluentRobust => confluent_type(&value, &time),
            Form::Forecast => crate::spec::forecast_list_type(&time),
            Form::SpikeAndDip | Form::ChangePoint => DataType::Struct(crate::spec::azure_fields()),
        };
        Ok(Arc::new(Field::new(args.name(), dt, true)))
    }
}

/// Every placeholder window function.
pub fn window_functions() -> Vec<Arc<WindowUDF>> {
    Form::ALL
        .iter()
        .map(|f| Arc::new(WindowUDF::new_from_impl(FormUdwf::new(*f))))
        .collect()
}

/// Replaces window nodes computing a [`Form`] with [`DetectNode`]s.
#[derive(Debug)]
pub struct WindowForms {
    backend: Backend,
}

impl WindowForms {
    /// Detectors of rewritten plans run on `backend`.
    pub fn new(backend: Backend) -> Self {
        WindowForms { backend }
    }
}

impl AnalyzerRule for WindowForms {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|p| self.rewrite(p))
            .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "wasmad_window_forms"
    }
}

/// A literal argument.
fn literal(e: &Expr) -> Option<&ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v),
        Expr::Cast(c) => literal(&c.expr),
        Expr::TryCast(c) => literal(&c.expr),
        _ => None,
    }
}

fn number_arg(form: Form, args: &[Expr], i: usize, what: &str) -> Result<f64> {
    let bad = || {
        plan_datafusion_err!(
            "{}: argument {} ({what}) must be a number literal; usage: {}",
            form.name(),
            i + 1,
            form.usage()
        )
    };
    let v = literal(args.get(i).ok_or_else(bad)?).ok_or_else(bad)?;
    let v = v.cast_to(&DataType::Float64).map_err(|_| bad())?;
    match v {
        ScalarValue::Float64(Some(x)) => Ok(x),
        _ => Err(bad()),
    }
}

fn string_arg(form: Form, args: &[Expr], i: usize, what: &str) -> Result<String> {
    let bad = || {
        plan_datafusion_err!(
            "{}: argument {} ({what}) must be a string literal; usage: {}",
            form.name(),
            i + 1,
            form.usage()
        )
    };
    match literal(args.get(i).ok_or_else(bad)?).ok_or_else(bad)? {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Ok(s.clone()),
        _ => Err(bad()),
    }
}

/// `ROW(a, b)` / `struct(a, b)` / `named_struct('a', a, ...)`: its parts and names.
fn row_parts(e: &Expr) -> Option<Vec<(String, Expr)>> {
    if let Expr::Alias(a) = e {
        return row_parts(&a.expr);
    }
    let Expr::ScalarFunction(f) = e else {
        return None;
    };
    match f.func.name() {
        "struct" | "row" => Some(
            f.args
                .iter()
                .enumerate()
                // DataFusion names ROW(...)'s fields c0, c1, ...
                .map(|(i, a)| (format!("c{i}"), a.clone()))
                .collect(),
        ),
        "named_struct" => f
            .args
            .chunks(2)
            .map(|pair| match pair {
                [Expr::Literal(n, _), v] => {
                    n.try_as_str().flatten().map(|n| (n.to_string(), v.clone()))
                }
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

impl WindowForms {
    fn rewrite(&self, plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Window(window) = &plan else {
            return Ok(Transformed::no(plan));
        };
        let n_input = window.input.schema().fields().len();
        let mut ours = Vec::new();
        let mut others = Vec::new();
        for (k, e) in window.window_expr.iter().enumerate() {
            let form = match e {
                Expr::WindowFunction(wf) => match &wf.fun {
                    WindowFunctionDefinition::WindowUDF(udf) => Form::of(udf),
                    _ => None,
                },
                _ => None,
            };
            match form {
                Some(f) => ours.push((k, f, e)),
                None => others.push(e.clone()),
            }
        }
        if ours.is_empty() {
            return Ok(Transformed::no(plan));
        }
        let mut current = window.input.as_ref().clone();
        for (n, (k, form, e)) in ours.into_iter().enumerate() {
            let Expr::WindowFunction(wf) = e else {
                continue;
            };
            let name = window.schema.field(n_input + k).name().clone();
            current = self.plan_form(current, form, wf, n, name)?;
        }
        if !others.is_empty() {
            current = LogicalPlanBuilder::from(current).window(others)?.build()?;
        }
        // Back to the window's schema: its input columns, then each window
        // expression's column, in order; the helper columns are dropped.
        let exprs: Vec<Expr> = window
            .schema
            .iter()
            .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
            .collect();
        let out = LogicalPlanBuilder::from(current).project(exprs)?.build()?;
        Ok(Transformed::yes(out))
    }

    fn plan_form(
        &self,
        input: LogicalPlan,
        form: Form,
        wf: &WindowFunction,
        n: usize,
        name: String,
    ) -> Result<LogicalPlan> {
        let WindowFunctionParams {
            args,
            partition_by,
            order_by,
            ..
        } = &wf.params;
        let (min_args, max_args) = match form {
            Form::Confluent | Form::ConfluentRobust | Form::Forecast => (2, 3),
            Form::SpikeAndDip => (6, 6),
            Form::ChangePoint => (5, 5),
        };
        if args.len() < min_args || args.len() > max_args {
            let shown = match form {
                // Two of ASA's arguments come from the OVER clause.
                Form::SpikeAndDip | Form::ChangePoint => args.len().saturating_sub(2),
                _ => args.len(),
            };
            return plan_err!(
                "{} takes {} arguments, got {shown}; usage: {}",
                form.name(),
                match form {
                    Form::SpikeAndDip => "4",
                    Form::ChangePoint => "3",
                    _ => "2 or 3",
                },
                form.usage()
            );
        }
        let hidden = |what: &str| format!("__wasmad_{n}_{what}");
        let mut exprs: Vec<Expr> = input
            .schema()
            .iter()
            .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
            .collect();
        // A plain column whose name is unique in the input is read as it is;
        // anything else becomes a helper column `__wasmad_<n>_<role>`.
        let in_schema = input.schema().clone();
        let column_or_hidden = |e: &Expr, role: &str, exprs: &mut Vec<Expr>| -> String {
            if let Expr::Column(c) = e
                && in_schema
                    .fields()
                    .iter()
                    .filter(|f| f.name() == &c.name)
                    .count()
                    == 1
            {
                return c.name.clone();
            }
            let h = hidden(role);
            exprs.push(e.clone().alias(&h));
            h
        };
        // Values: one expression, or the parts of ROW(...).
        let parts = match row_parts(&args[0]) {
            Some(p) => p,
            None => vec![("value".to_string(), args[0].clone())],
        };
        let mut values = Vec::new();
        for (j, (_, e)) in parts.iter().enumerate() {
            values.push(column_or_hidden(e, &format!("v{j}"), &mut exprs));
        }
        // Time: Confluent's second argument (which its ORDER BY names); for
        // ASA, the TIMESTAMP BY column (which the rewrite turns into ORDER
        // BY), else the input order.
        let time: Option<String> = match form {
            Form::Confluent | Form::ConfluentRobust | Form::Forecast => {
                Some(column_or_hidden(&args[1], "t", &mut exprs))
            }
            _ => match order_by.as_slice() {
                [] => None,
                [sort] => Some(column_or_hidden(&sort.expr, "t", &mut exprs)),
                _ => {
                    return plan_err!(
                        "{}: events are ordered by one time column (FROM input TIMESTAMP BY ts); usage: {}",
                        form.name(),
                        form.usage()
                    );
                }
            },
        };
        let mut keys = Vec::new();
        for (j, e) in partition_by.iter().enumerate() {
            keys.push(Value::from(column_or_hidden(
                e,
                &format!("k{j}"),
                &mut exprs,
            )));
        }
        let learn_when = match form {
            Form::SpikeAndDip | Form::ChangePoint => {
                let h = hidden("when");
                exprs.push(args[args.len() - 1].clone().alias(&h));
                Some(h)
            }
            _ => None,
        };
        let (mut config, default_algorithm, output) = match form {
            Form::Confluent | Form::ConfluentRobust | Form::Forecast => {
                let config = match args.get(2) {
                    None => Map::new(),
                    Some(_) => parse_config(&string_arg(form, args, 2, "config")?)?,
                };
                let (alg, output) = match form {
                    Form::Confluent => ("arima", Output::Confluent { name }),
                    Form::ConfluentRobust => ("robust", Output::Confluent { name }),
                    _ => ("arima", Output::Forecast { name }),
                };
                (config, alg, output)
            }
            Form::SpikeAndDip | Form::ChangePoint => {
                let confidence = number_arg(form, args, 1, "confidence")?;
                let history = number_arg(form, args, 2, "historySize")?;
                let mut config = Map::new();
                config.insert("confidence".into(), Value::from(confidence));
                if history.fract() != 0.0 || history < 0.0 {
                    return plan_err!(
                        "{}: historySize must be a whole number of events, got {history}; usage: {}",
                        form.name(),
                        form.usage()
                    );
                }
                config.insert("historySize".into(), Value::from(history as u64));
                let alg = if form == Form::SpikeAndDip {
                    let mode = string_arg(form, args, 3, "mode")?;
                    config.insert("mode".into(), Value::from(mode.to_ascii_lowercase()));
                    "spike_dip"
                } else {
                    "change_point"
                };
                // LIMIT DURATION: events older than this (in event time)
                // leave the model's history, as well as those beyond
                // historySize events.
                let duration = string_arg(form, args, args.len() - 2, "LIMIT DURATION")?;
                config.insert("historyDuration".into(), Value::from(duration));
                (config, alg, Output::Azure { name })
            }
        };
        if config.contains_key(crate::spec::PARTITION_BY) {
            return plan_err!(
                "{}: give keys with OVER (PARTITION BY ...), not a 'partitionBy' config key",
                form.name()
            );
        }
        if !keys.is_empty() {
            config.insert(crate::spec::PARTITION_BY.into(), Value::Array(keys));
        }
        if form == Form::Forecast {
            config.entry("horizon").or_insert_with(|| Value::from(1));
            config.insert("forecastSteps".into(), Value::Bool(true));
        }
        let projected = LogicalPlanBuilder::from(input).project(exprs)?.build()?;
        let schema: &DFSchema = projected.schema();
        if let Some(t) = &time {
            check_time(schema, t).map_err(|e| {
                let what = match form {
                    Form::SpikeAndDip | Form::ChangePoint => "TIMESTAMP BY",
                    _ => "the second argument",
                };
                plan_datafusion_err!(
                    "{}: {what} must be the event time (TIMESTAMP, DATE or integer microseconds): {e}",
                    form.name()
                )
            })?;
        }
        let mut spec = DetectSpec::build(
            schema,
            values,
            time,
            config,
            output,
            &self.backend,
            Some(default_algorithm),
        )
        .map_err(|e| {
            // Name helper columns by the argument they hold.
            let text = e
                .to_string()
                .replace(&hidden("v0"), "(argument 1)")
                .replace(&hidden("t"), "(argument 2)");
            plan_datafusion_err!("{}: {text}; usage: {}", form.name(), form.usage())
        })?;
        spec.labels = parts.into_iter().map(|(n, _)| n).collect();
        spec.learn_when = learn_when;
        let node = DetectNode::try_new(projected, spec)?;
        Ok(LogicalPlan::Extension(Extension {
            node: Arc::new(node),
        }))
    }
}

/// `r[6]` on a struct: Confluent's 1-based field position.
#[derive(Debug)]
pub struct PositionalFieldAccess;

impl ExprPlanner for PositionalFieldAccess {
    fn plan_field_access(
        &self,
        expr: RawFieldAccessExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawFieldAccessExpr>> {
        let RawFieldAccessExpr { expr, field_access } = expr;
        if let GetFieldAccess::ListIndex { key } = &field_access
            && let Expr::Literal(v, _) = key.as_ref()
            && let Ok(DataType::Struct(fields)) = expr.get_type(schema)
        {
            let pos = match v {
                ScalarValue::Int64(Some(p)) => *p,
                ScalarValue::Int32(Some(p)) => i64::from(*p),
                _ => {
                    return Ok(PlannerResult::Original(RawFieldAccessExpr {
                        expr,
                        field_access,
                    }));
                }
            };
            if pos < 1 || pos as usize > fields.len() {
                return plan_err!(
                    "struct field position {pos} is out of range: positions are 1-based, 1 to {} ({})",
                    fields.len(),
                    fields
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            let name = fields[pos as usize - 1].name().clone();
            return Ok(PlannerResult::Planned(
                datafusion::functions::core::expr_fn::get_field(expr, name),
            ));
        }
        Ok(PlannerResult::Original(RawFieldAccessExpr {
            expr,
            field_access,
        }))
    }
}
