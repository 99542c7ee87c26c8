//! SQL planning: `ML_DETECT_ANOMALIES(input, 'value', 'ts' [, 'config'])` in a
//! FROM clause becomes a [`DetectNode`] over the input's logical plan.
//!
//! The first argument is a table (or view, or CTE) name, or a parenthesised
//! subquery. DataFusion's table functions only see scalar arguments, so the
//! call is planned by a [`RelationPlanner`], which can plan a relation as its
//! argument: the input is a real plan, optimised like any other.

use std::sync::{Arc, OnceLock};

use datafusion::catalog::CatalogProviderList;
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::LogicalPlanBuilder;

use datafusion::common::{DataFusionError, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::planner::{
    PlannedRelation, RelationPlanner, RelationPlannerContext, RelationPlanning,
};
use datafusion::logical_expr::{Extension, LogicalPlan};

use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, FunctionArg, FunctionArgExpr, Ident, ObjectName, ObjectNamePart, TableFactor,
    Value,
};

use crate::backend::Backend;
use crate::node::DetectNode;
use crate::spec::DetectSpec;

/// The function name, matched case-insensitively.
pub const FUNCTION_NAME: &str = "ml_detect_anomalies";

const USAGE: &str =
    "ML_DETECT_ANOMALIES(table_or_(subquery), 'value_column', 'time_column' [, 'config json'])";

/// Plans `ML_DETECT_ANOMALIES(...)` relations.
#[derive(Debug)]
pub struct DetectAnomaliesPlanner {
    backend: Backend,
    /// The session's catalogs. DataFusion resolves only the tables it sees
    /// as relations in a statement before planning it; a table named as a
    /// function argument is looked up here instead.
    catalogs: OnceLock<Arc<dyn CatalogProviderList>>,
}

impl DetectAnomaliesPlanner {
    /// A planner whose detectors run on `backend`.
    pub fn new(backend: Backend) -> Self {
        DetectAnomaliesPlanner {
            backend,
            catalogs: OnceLock::new(),
        }
    }

    /// Give the planner the session's catalogs (once, after the state is built).
    pub fn set_catalogs(&self, catalogs: Arc<dyn CatalogProviderList>) {
        let _ = self.catalogs.set(catalogs);
    }

    /// Plan a table named as the first argument: a CTE or a table already
    /// resolved by DataFusion, else a table or view from the catalogs.
    fn plan_named(
        &self,
        idents: &[Ident],
        ctx: &mut dyn RelationPlannerContext,
    ) -> Result<LogicalPlan> {
        let name = object_name(idents);
        let err = match ctx.plan(table_factor(name.clone())) {
            Ok(plan) => return Ok(plan),
            Err(e) => e,
        };
        let Some(catalogs) = self.catalogs.get() else {
            return Err(err);
        };
        let table_ref = ctx.object_name_to_table_reference(name)?;
        let options = ctx.context_provider().options();
        let catalog = table_ref
            .catalog()
            .unwrap_or(&options.catalog.default_catalog)
            .to_string();
        let schema = table_ref
            .schema()
            .unwrap_or(&options.catalog.default_schema)
            .to_string();
        let provider = catalogs
            .catalog(&catalog)
            .and_then(|c| c.schema(&schema))
            .map(|s| futures::executor::block_on(s.table(table_ref.table())))
            .transpose()?
            .flatten();
        match provider {
            Some(table) => {
                LogicalPlanBuilder::scan(table_ref, provider_as_source(table), None)?.build()
            }
            None => Err(err),
        }
    }
}

/// Which table function a FROM item calls, if it is one of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TableFn {
    Detect,
    /// Kinesis `RANDOM_CUT_FOREST[_WITH_EXPLANATION]`.
    Rcf {
        explanation: bool,
    },
}

fn our_function(name: &ObjectName) -> Option<TableFn> {
    let [part] = name.0.as_slice() else {
        return None;
    };
    let ident = part.as_ident()?;
    let v = ident.value.to_ascii_lowercase();
    match v.as_str() {
        FUNCTION_NAME => Some(TableFn::Detect),
        "random_cut_forest" => Some(TableFn::Rcf { explanation: false }),
        "random_cut_forest_with_explanation" => Some(TableFn::Rcf { explanation: true }),
        _ => None,
    }
}

const RCF_USAGE: &str = "RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM \"S\") [, numberOfTrees 1..1000 (100) [, subSampleSize 10..1000 (256) [, timeDecay 1..2147483647 (100000) [, shingleSize 1..30 (1)]]]]); RANDOM_CUT_FOREST_WITH_EXPLANATION takes the same and then withDirectionality (true|false)";

/// A Kinesis numeric or boolean argument.
fn literal_arg(arg: &FunctionArg, position: usize, role: &str) -> Result<serde_json::Value> {
    let bad = |got: &dyn std::fmt::Display| {
        plan_err!(
            "RANDOM_CUT_FOREST: argument {position} ({role}) must be a literal, got {got}; usage: {RCF_USAGE}"
        )
    };
    let FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) = arg else {
        return bad(arg);
    };
    match expr {
        SqlExpr::Value(v) => match &v.value {
            Value::Number(n, _) => match n.parse::<f64>() {
                Ok(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => {
                    Ok(serde_json::Value::from(x as i64))
                }
                Ok(x) => Ok(serde_json::Value::from(x)),
                Err(_) => bad(n),
            },
            Value::Boolean(b) => Ok(serde_json::Value::Bool(*b)),
            other => bad(other),
        },
        other => bad(other),
    }
}

impl DetectAnomaliesPlanner {
    /// Kinesis `RANDOM_CUT_FOREST(input, numberOfTrees, subSampleSize,
    /// timeDecay, shingleSize)` (and `_WITH_EXPLANATION(..., withDirectionality)`):
    /// every numeric input column (at most 30) forms one point; rows are
    /// taken in input order; output: the input columns plus `ANOMALY_SCORE`
    /// (and `ANOMALY_EXPLANATION`).
    fn plan_rcf(
        &self,
        args: &[FunctionArg],
        explanation: bool,
        ctx: &mut dyn RelationPlannerContext,
    ) -> Result<LogicalPlan> {
        let max = if explanation { 6 } else { 5 };
        if args.is_empty() || args.len() > max {
            return plan_err!(
                "RANDOM_CUT_FOREST{} takes 1 to {max} arguments, got {}; usage: {RCF_USAGE}",
                if explanation { "_WITH_EXPLANATION" } else { "" },
                args.len()
            );
        }
        let input = plan_input(self, &args[0], ctx)?;
        let mut config = serde_json::Map::new();
        config.insert("algorithm".into(), "rcf".into());
        let keys = ["numberOfTrees", "subSampleSize", "timeDecay", "shingleSize"];
        for (i, key) in keys.iter().enumerate() {
            if let Some(a) = args.get(i + 1) {
                let v = literal_arg(a, i + 2, key)?;
                if v.is_boolean() {
                    return plan_err!(
                        "RANDOM_CUT_FOREST: argument {} ({key}) must be a number; usage: {RCF_USAGE}",
                        i + 2
                    );
                }
                config.insert((*key).into(), v);
            }
        }
        let directionality = match args.get(5) {
            None => false,
            Some(a) => match literal_arg(a, 6, "withDirectionality")? {
                serde_json::Value::Bool(b) => b,
                other => {
                    return plan_err!(
                        "RANDOM_CUT_FOREST_WITH_EXPLANATION: argument 6 (withDirectionality) must be true or false, got {other}; usage: {RCF_USAGE}"
                    );
                }
            },
        };
        if explanation {
            config.insert(crate::spec::RCF_ATTRIBUTION_KEY.into(), true.into());
        }
        let values: Vec<String> = input
            .schema()
            .fields()
            .iter()
            .filter(|f| f.data_type().is_numeric())
            .map(|f| f.name().clone())
            .collect();
        if values.iter().all(|v| v.eq_ignore_ascii_case("rowtime")) {
            return plan_err!(
                "RANDOM_CUT_FOREST: the input has no numeric columns; the numeric columns (at most 30) of each row form the point to score"
            );
        }
        if values.len() > 30 {
            return plan_err!(
                "RANDOM_CUT_FOREST: the input has {} numeric columns ({}); accepted: at most 30; select the ones to score in the CURSOR query",
                values.len(),
                values.join(", ")
            );
        }
        // Kinesis orders a stream by its ROWTIME column: use it when the
        // input has one (else rows are taken in input order).
        let rowtime = input
            .schema()
            .fields()
            .iter()
            .find(|f| {
                f.name().eq_ignore_ascii_case("rowtime") && crate::spec::is_time_type(f.data_type())
            })
            .map(|f| f.name().clone());
        let values: Vec<String> = values
            .into_iter()
            .filter(|v| Some(v) != rowtime.as_ref())
            .collect();
        let spec = DetectSpec::build(
            input.schema(),
            values,
            rowtime,
            config,
            crate::spec::Output::Kinesis {
                explanation,
                directionality,
            },
            &self.backend,
            None,
        )
        .map_err(|e| match e {
            DataFusionError::Plan(m) => DataFusionError::Plan(format!(
                "RANDOM_CUT_FOREST: {}; usage: {RCF_USAGE}",
                m.trim_start_matches("ML_DETECT_ANOMALIES: ")
            )),
            other => other,
        })?;
        let node = DetectNode::try_new(input, spec)?;
        Ok(LogicalPlan::Extension(Extension {
            node: Arc::new(node),
        }))
    }
}

/// A string argument: a quoted literal, or a bare identifier (normalised).
fn string_arg(
    arg: &FunctionArg,
    position: usize,
    role: &str,
    ctx: &dyn RelationPlannerContext,
) -> Result<String> {
    let expr = match arg {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => e,
        other => {
            return plan_err!(
                "ML_DETECT_ANOMALIES: argument {position} ({role}) must be a string literal, got {other}; usage: {USAGE}"
            );
        }
    };
    match expr {
        SqlExpr::Value(v) => match &v.value {
            Value::SingleQuotedString(s)
            | Value::DoubleQuotedString(s)
            | Value::EscapedStringLiteral(s)
            | Value::NationalStringLiteral(s) => Ok(s.clone()),
            other => plan_err!(
                "ML_DETECT_ANOMALIES: argument {position} ({role}) must be a string literal such as 'value', got {other}; usage: {USAGE}"
            ),
        },
        SqlExpr::Identifier(id) if role != "config" => Ok(ctx.normalize_ident(id.clone())),
        other => plan_err!(
            "ML_DETECT_ANOMALIES: argument {position} ({role}) must be a string literal, got {other}; usage: {USAGE}"
        ),
    }
}

fn table_factor(name: ObjectName) -> TableFactor {
    TableFactor::Table {
        name,
        alias: None,
        args: None,
        with_hints: vec![],
        version: None,
        with_ordinality: false,
        partitions: vec![],
        json_path: None,
        sample: None,
        index_hints: vec![],
    }
}

fn object_name(idents: &[Ident]) -> ObjectName {
    ObjectName(
        idents
            .iter()
            .cloned()
            .map(ObjectNamePart::Identifier)
            .collect(),
    )
}

/// Plan the first argument: a table name or a subquery.
fn plan_input(
    planner: &DetectAnomaliesPlanner,
    arg: &FunctionArg,
    ctx: &mut dyn RelationPlannerContext,
) -> Result<LogicalPlan> {
    let expr = match arg {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => e,
        other => {
            return plan_err!(
                "ML_DETECT_ANOMALIES: argument 1 must be a table name or a parenthesised subquery, got {other}; usage: {USAGE}"
            );
        }
    };
    match expr {
        SqlExpr::Identifier(id) => planner.plan_named(std::slice::from_ref(id), ctx),
        SqlExpr::CompoundIdentifier(ids) => planner.plan_named(ids, ctx),
        SqlExpr::Subquery(query) => ctx.plan(TableFactor::Derived {
            lateral: false,
            subquery: query.clone(),
            alias: None,
            sample: None,
        }),
        other => plan_err!(
            "ML_DETECT_ANOMALIES: argument 1 must be a table name or a parenthesised subquery such as (SELECT * FROM t WHERE ...), got {other}; usage: {USAGE}"
        ),
    }
}

impl RelationPlanner for DetectAnomaliesPlanner {
    fn plan_relation(
        &self,
        relation: TableFactor,
        ctx: &mut dyn RelationPlannerContext,
    ) -> Result<RelationPlanning> {
        let (function, args, alias) = match &relation {
            TableFactor::Table {
                name,
                args: Some(args),
                alias,
                ..
            } => match our_function(name) {
                Some(f) => (f, args.args.clone(), alias.clone()),
                None => return Ok(RelationPlanning::Original(Box::new(relation))),
            },
            _ => return Ok(RelationPlanning::Original(Box::new(relation))),
        };
        if let TableFn::Rcf { explanation } = function {
            let plan = self.plan_rcf(&args, explanation, ctx)?;
            return Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(
                plan, alias,
            ))));
        }
        if !(3..=4).contains(&args.len()) {
            return plan_err!(
                "ML_DETECT_ANOMALIES expects 3 or 4 arguments, got {}; usage: {USAGE}",
                args.len()
            );
        }
        let input = plan_input(self, &args[0], ctx)?;
        let value = string_arg(&args[1], 2, "value column", ctx)?;
        let time = string_arg(&args[2], 3, "time column", ctx)?;
        let config = match args.get(3) {
            Some(a) => string_arg(a, 4, "config", ctx)?,
            None => String::new(),
        };
        let spec = DetectSpec::new(input.schema(), &value, &time, &config, &self.backend)?;
        let node = DetectNode::try_new(input, spec).map_err(|e| match e {
            DataFusionError::Plan(_) => e,
            other => DataFusionError::Plan(format!("ML_DETECT_ANOMALIES: {other}")),
        })?;
        let plan = LogicalPlan::Extension(Extension {
            node: Arc::new(node),
        });
        Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(
            plan, alias,
        ))))
    }
}
