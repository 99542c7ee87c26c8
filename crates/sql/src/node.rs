//! The logical node and its physical planning.
//!
//! [`DetectNode`] keeps every input column and appends the result columns. It
//! tells the optimizer which input columns it needs (so unused input columns
//! are pruned below it) and blocks filter and limit push-down through it: a
//! filter above the detector must never change what the detector learns from.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, DFSchemaRef};
use datafusion::error::Result;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{
    Expr, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};

use crate::backend::Backend;
use crate::exec::DetectAnomaliesExec;
use crate::spec::DetectSpec;

/// `ML_DETECT_ANOMALIES` over an input plan.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DetectNode {
    /// The rows to score.
    pub input: LogicalPlan,
    /// What to score and how.
    pub spec: DetectSpec,
    schema: DFSchemaRef,
}

impl PartialOrd for DetectNode {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match self.spec.partial_cmp(&other.spec) {
            Some(Ordering::Equal) => self.input.partial_cmp(&other.input),
            o => o,
        }
    }
}

impl DetectNode {
    /// Input columns followed by the result columns.
    pub fn try_new(input: LogicalPlan, spec: DetectSpec) -> Result<Self> {
        let mut fields: Vec<_> = input
            .schema()
            .iter()
            .map(|(q, f)| (q.cloned(), Arc::clone(f)))
            .collect();
        fields.extend(
            spec.output_fields(input.schema().as_arrow())?
                .into_iter()
                .map(|f| (None, Arc::new(f))),
        );
        let schema = DFSchema::new_with_metadata(fields, input.schema().metadata().clone())?;
        Ok(DetectNode {
            input,
            spec,
            schema: Arc::new(schema),
        })
    }

    fn required_input_columns(&self) -> Vec<&str> {
        self.spec.required_columns()
    }
}

impl UserDefinedLogicalNodeCore for DetectNode {
    fn name(&self) -> &str {
        "DetectAnomalies"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "DetectAnomalies: algorithm={}, value={}, time={}, partition_by=[{}], config={}",
            self.spec.algorithm,
            self.spec.values.join(","),
            self.spec.time.as_deref().unwrap_or("(input order)"),
            self.spec.partition_by.join(","),
            self.spec.detector_config
        )
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        let input = inputs.swap_remove(0);
        DetectNode::try_new(input, self.spec.clone())
    }

    fn necessary_children_exprs(&self, output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        let input_schema = self.input.schema();
        let n_input = input_schema.fields().len();
        let mut needed: Vec<usize> = output_columns
            .iter()
            .copied()
            .filter(|i| *i < n_input)
            .collect();
        for name in self.required_input_columns() {
            let idx = input_schema
                .fields()
                .iter()
                .position(|f| f.name() == name)?;
            needed.push(idx);
        }
        needed.sort_unstable();
        needed.dedup();
        Some(vec![needed])
    }

    fn supports_limit_pushdown(&self) -> bool {
        false
    }
}

/// Plans [`DetectNode`] into [`DetectAnomaliesExec`].
#[derive(Debug)]
pub struct DetectExtensionPlanner {
    backend: Backend,
}

impl DetectExtensionPlanner {
    /// Detectors of planned queries run on `backend`.
    pub fn new(backend: Backend) -> Self {
        DetectExtensionPlanner { backend }
    }
}

#[async_trait]
impl ExtensionPlanner for DetectExtensionPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn Session,
        _ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(node) = node.as_any().downcast_ref::<DetectNode>() else {
            return Ok(None);
        };
        let exec = DetectAnomaliesExec::try_new(
            Arc::clone(&physical_inputs[0]),
            node.spec.clone(),
            self.backend.clone(),
        )?;
        Ok(Some(Arc::new(exec)))
    }
}

/// The default physical planner plus [`DetectExtensionPlanner`].
#[derive(Debug)]
pub struct WasmadQueryPlanner {
    backend: Backend,
}

impl WasmadQueryPlanner {
    /// Plans queries whose detectors run on `backend`.
    pub fn new(backend: Backend) -> Self {
        WasmadQueryPlanner { backend }
    }
}

#[async_trait]
impl QueryPlanner for WasmadQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let planner = DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(
            DetectExtensionPlanner::new(self.backend.clone()),
        )]);
        planner
            .create_physical_plan(logical_plan, session_state)
            .await
    }
}
