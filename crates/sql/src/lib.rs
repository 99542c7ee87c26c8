//! DataFusion integration: the `ML_DETECT_ANOMALIES` table function and its
//! batch operator.
//!
//! ```sql
//! SELECT * FROM ML_DETECT_ANOMALIES(metrics, 'value', 'ts', '{"algorithm":"zscore","threshold":3.5}');
//! SELECT * FROM ML_DETECT_ANOMALIES((SELECT * FROM metrics WHERE region = 'eu'), 'value', 'ts',
//!                                   '{"algorithm":"mad","partitionBy":"host"}') WHERE is_anomaly;
//! ```
//!
//! [`context`] builds a `SessionContext` with the function installed:
//! a relation planner ([`planner`]) turns the call into a logical node
//! ([`node`]), planned into [`exec::DetectAnomaliesExec`], whose detectors
//! run on a [`Backend`]: the WASM component by default.

pub mod backend;
pub mod exec;
pub mod forms;
pub mod node;
pub mod planner;
pub mod rewrite;
pub mod spec;
pub mod state;

use std::sync::Arc;

use datafusion::execution::SessionStateBuilder;
use datafusion::execution::session_state::SessionState;
use datafusion::prelude::{SessionConfig, SessionContext};

pub use backend::{Backend, PartitionDetector};
pub use spec::RESULT_COLUMNS;
pub use state::DetectorStateStore;

/// A session state with `ML_DETECT_ANOMALIES` installed over `backend`,
/// starting from `builder` (for example `SessionStateBuilder::new()
/// .with_config(..).with_default_features()`).
pub fn install(builder: SessionStateBuilder, backend: Backend) -> SessionState {
    let relation_planner = Arc::new(planner::DetectAnomaliesPlanner::new(backend.clone()));
    let mut builder = builder
        .with_query_planner(Arc::new(node::WasmadQueryPlanner::new(backend.clone())))
        .with_relation_planners(vec![Arc::clone(&relation_planner) as _])
        .with_analyzer_rule(Arc::new(forms::WindowForms::new(backend)));
    // Ours first: `r[6]` on a struct is a field position, not a list index.
    let planners = builder.expr_planners().get_or_insert_with(Vec::new);
    planners.insert(0, Arc::new(forms::PositionalFieldAccess));
    let windows = builder.window_functions().get_or_insert_with(Vec::new);
    windows.extend(forms::window_functions());
    // ASA's GetRecordPropertyValue(record, 'name') is get_field.
    let scalars = builder.scalar_functions().get_or_insert_with(Vec::new);
    let get_field = datafusion::functions::core::get_field();
    scalars.push(Arc::new(
        get_field
            .as_ref()
            .clone()
            .with_aliases(["getrecordpropertyvalue"]),
    ));
    let state = builder.build();
    relation_planner.set_catalogs(Arc::clone(state.catalog_list()));
    state
}

/// Plan one statement: [`rewrite::rewrite`] (other vendors' syntax), then
/// DataFusion's `SessionContext::sql`. Use this instead of `ctx.sql` so that
/// Confluent, Kinesis and Azure queries run unchanged.
pub async fn sql(
    ctx: &SessionContext,
    statement: &str,
) -> datafusion::error::Result<datafusion::dataframe::DataFrame> {
    let text = rewrite::rewrite(statement)?;
    ctx.sql(&text).await
}

/// A session with `ML_DETECT_ANOMALIES` installed over `backend`.
///
/// It also sets `datafusion.optimizer.prefer_existing_sort = true`: input that
/// is already in time (or key and time) order keeps it through
/// repartitioning with a streaming merge instead of a full re-sort.
pub fn context(mut config: SessionConfig, backend: Backend) -> SessionContext {
    config.options_mut().optimizer.prefer_existing_sort = true;
    let builder = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features();
    SessionContext::new_with_state(install(builder, backend))
}
