//! [`DetectAnomaliesExec`]: the batch operator.
//!
//! Each output partition owns one detector (one wasmtime store) and a key
//! dictionary that maps key values to the dense ids the detector expects. The
//! operator asks DataFusion for its input hash-partitioned by the key columns
//! (or in one partition when there are no keys) and sorted by event time
//! within each partition; DataFusion adds a repartition or sort only when it
//! cannot prove the input already has them (for example a table declared
//! `WITH ORDER (ts)` needs no sort). Every input row comes out, in input
//! order, with the result columns appended, as soon as its batch is scored.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, DictionaryArray, Float64Array, Int8Array, RecordBatch,
    StringArray,
};
use datafusion::arrow::buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Float64Type, Int8Type, Int64Type, Schema, SchemaRef, TimeUnit,
};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{exec_datafusion_err, internal_err};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{
    EquivalenceProperties, LexRequirement, OrderingRequirements, PhysicalExpr,
    PhysicalSortRequirement,
};
use datafusion::physical_plan::execution_plan::EmissionType;
use datafusion::physical_plan::expressions::Column;
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, ExecutionPlanProperties,
    PlanProperties,
};
use futures::{Stream, StreamExt};
use wasmad_core::{Input, Scores, flags};

use crate::backend::{Backend, PartitionDetector};
use crate::spec::{DetectSpec, result_fields};
use crate::state::{DetectorStateStore, Slot};

/// Scores its input with one detector per partition.
#[derive(Debug, Clone)]
pub struct DetectAnomaliesExec {
    input: Arc<dyn ExecutionPlan>,
    spec: DetectSpec,
    backend: Backend,
    value_idx: Vec<usize>,
    time_idx: usize,
    key_idx: Vec<usize>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

fn column_index(schema: &Schema, name: &str) -> Result<usize> {
    schema
        .index_of(name)
        .map_err(|_| exec_datafusion_err!("ML_DETECT_ANOMALIES: input lost column '{name}'"))
}

impl DetectAnomaliesExec {
    /// Plan the operator over `input`.
    pub fn try_new(
        input: Arc<dyn ExecutionPlan>,
        spec: DetectSpec,
        backend: Backend,
    ) -> Result<Self> {
        let in_schema = input.schema();
        let value_idx = spec
            .values
            .iter()
            .map(|n| column_index(&in_schema, n))
            .collect::<Result<Vec<_>>>()?;
        let time_idx = column_index(&in_schema, &spec.time)?;
        let key_idx = spec
            .partition_by
            .iter()
            .map(|n| column_index(&in_schema, n))
            .collect::<Result<Vec<_>>>()?;
        let mut fields: Vec<_> = in_schema.fields().iter().cloned().collect();
        fields.extend(result_fields().iter().cloned());
        let schema = Arc::new(Schema::new_with_metadata(
            fields,
            in_schema.metadata().clone(),
        ));

        // Input order and partitioning pass through; the result columns add
        // no ordering of their own.
        let mut eq = EquivalenceProperties::new(Arc::clone(&schema));
        if let Some(ordering) = input.output_ordering() {
            eq.add_ordering(ordering.iter().cloned());
        }
        let properties = PlanProperties::new(
            eq,
            input.output_partitioning().clone(),
            EmissionType::Incremental,
            input.boundedness(),
        );
        Ok(DetectAnomaliesExec {
            input,
            spec,
            backend,
            value_idx,
            time_idx,
            key_idx,
            schema,
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    /// Whether the rows below any repartitioning are sorted by the key
    /// columns (in any order) before anything else.
    fn input_sorted_by_keys_first(&self) -> bool {
        let mut plan = Arc::clone(&self.input);
        loop {
            if let Some(ordering) = plan.output_ordering() {
                let leading: Vec<String> = ordering
                    .iter()
                    .take(self.key_idx.len())
                    .filter_map(|s| {
                        s.expr
                            .downcast_ref::<Column>()
                            .map(|c| c.name().to_string())
                    })
                    .collect();
                let mut keys = self.spec.partition_by.clone();
                let mut leading_sorted = leading;
                keys.sort();
                leading_sorted.sort();
                return keys == leading_sorted;
            }
            match plan.downcast_ref::<RepartitionExec>() {
                Some(r) => plan = Arc::clone(r.input()),
                None => return false,
            }
        }
    }

    /// The name of this call's partition state in a [`DetectorStateStore`]:
    /// stable across processes planning the same SQL.
    fn slot_id(&self, partition: usize) -> String {
        format!(
            "value={};time={};partition_by={};config={};partition={partition}",
            self.spec.values.join(","),
            self.spec.time,
            self.spec.partition_by.join(","),
            self.spec.detector_config
        )
    }

    fn key_exprs(&self) -> Vec<Arc<dyn PhysicalExpr>> {
        self.key_idx
            .iter()
            .map(|&i| {
                let name = self.input.schema().field(i).name().clone();
                Arc::new(Column::new(&name, i)) as Arc<dyn PhysicalExpr>
            })
            .collect()
    }
}

impl DisplayAs for DetectAnomaliesExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "DetectAnomaliesExec: algorithm={}, value={}, time={}, partition_by=[{}], backend={}",
            self.spec.algorithm,
            self.spec.values.join(","),
            self.spec.time,
            self.spec.partition_by.join(","),
            self.backend.name()
        )
    }
}

impl ExecutionPlan for DetectAnomaliesExec {
    fn name(&self) -> &str {
        "DetectAnomaliesExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        if self.key_idx.is_empty() {
            vec![Distribution::SinglePartition]
        } else {
            vec![Distribution::KeyPartitioned(self.key_exprs())]
        }
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        if self.input.boundedness().is_unbounded() {
            // Unbounded inputs cannot be sorted; streaming jobs order rows by
            // event time before they reach the detector.
            return vec![None];
        }
        // Each key's rows must arrive in time order. Input sorted by time, or
        // by the keys and then time, both give that: either satisfies.
        let schema = self.input.schema();
        let sort_req = |i: usize| {
            let expr: Arc<dyn PhysicalExpr> = Arc::new(Column::new(schema.field(i).name(), i));
            PhysicalSortRequirement::new(expr, None)
        };
        // DataFusion works towards the first alternative when it has to add a
        // sort or choose an order-preserving repartition, so put first the one
        // the data already has (looking through repartitions).
        let by_time = LexRequirement::new(vec![sort_req(self.time_idx)]);
        let mut alternatives = vec![by_time];
        if !self.key_idx.is_empty() {
            let by_key = LexRequirement::new(
                self.key_idx
                    .iter()
                    .chain(std::iter::once(&self.time_idx))
                    .map(|&i| sort_req(i)),
            );
            if self.input_sorted_by_keys_first() {
                alternatives.insert(0, by_key);
            } else {
                alternatives.push(by_key);
            }
        }
        vec![OrderingRequirements::new_alternatives(
            alternatives.into_iter().flatten(),
            false,
        )]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![!self.key_idx.is_empty()]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return internal_err!(
                "DetectAnomaliesExec takes one child, got {}",
                children.len()
            );
        }
        Ok(Arc::new(DetectAnomaliesExec::try_new(
            children.swap_remove(0),
            self.spec.clone(),
            self.backend.clone(),
        )?))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        // Streaming jobs keep each partition's detector across executions
        // of the plan (one per epoch) in a store installed in the session.
        let store = context
            .session_config()
            .get_extension::<DetectorStateStore>();
        let input = self.input.execute(partition, context)?;
        let slot_id = self.slot_id(partition);
        let saved = store.as_ref().and_then(|s| s.take(&slot_id));
        let (detector, ids) = match saved {
            Some(slot) => (slot.detector, slot.keys),
            None => (
                self.backend
                    .create(&self.spec.detector_config)
                    .map_err(|e| exec_datafusion_err!("ML_DETECT_ANOMALIES: {e}"))?,
                hashbrown::HashMap::new(),
            ),
        };
        let key_fields = self
            .key_idx
            .iter()
            .map(|&i| SortField::new(self.input.schema().field(i).data_type().clone()))
            .collect::<Vec<_>>();
        let keys = if key_fields.is_empty() {
            None
        } else {
            Some(KeyDictionary::with_ids(key_fields, ids)?)
        };
        Ok(Box::pin(DetectStream {
            input,
            schema: Arc::clone(&self.schema),
            persist: store.map(|s| (s, slot_id)),
            state: Some(PartitionState {
                detector,
                keys,
                value_idx: self.value_idx.clone(),
                time_idx: self.time_idx,
                key_idx: self.key_idx.clone(),
                scores: Scores::default(),
                key_ids: Vec::new(),
                anomalies: MetricBuilder::new(&self.metrics).counter("anomalies", partition),
                keys_metric: MetricBuilder::new(&self.metrics).gauge("keys", partition),
            }),
            baseline: BaselineMetrics::new(&self.metrics, partition),
        }))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// Maps key values (any number of columns, any types, NULL included) to dense ids.
struct KeyDictionary {
    converter: RowConverter,
    ids: hashbrown::HashMap<Box<[u8]>, u32>,
}

impl KeyDictionary {
    fn with_ids(fields: Vec<SortField>, ids: hashbrown::HashMap<Box<[u8]>, u32>) -> Result<Self> {
        Ok(KeyDictionary {
            converter: RowConverter::new(fields)?,
            ids,
        })
    }

    fn assign(&mut self, columns: &[ArrayRef], out: &mut Vec<u32>) -> Result<()> {
        let rows = self.converter.convert_columns(columns)?;
        out.clear();
        out.reserve(rows.num_rows());
        for row in rows.iter() {
            let bytes = row.as_ref();
            let id = match self.ids.get(bytes) {
                Some(id) => *id,
                None => {
                    let id = u32::try_from(self.ids.len()).map_err(|_| {
                        exec_datafusion_err!(
                            "ML_DETECT_ANOMALIES: more than 4294967295 keys in one partition"
                        )
                    })?;
                    self.ids.insert(bytes.into(), id);
                    id
                }
            };
            out.push(id);
        }
        Ok(())
    }
}

struct PartitionState {
    detector: PartitionDetector,
    keys: Option<KeyDictionary>,
    value_idx: Vec<usize>,
    time_idx: usize,
    key_idx: Vec<usize>,
    scores: Scores,
    key_ids: Vec<u32>,
    anomalies: Count,
    keys_metric: datafusion::physical_plan::metrics::Gauge,
}

/// Event time in microseconds since the epoch, and which rows have none.
fn time_micros(col: &ArrayRef) -> Result<(std::borrow::Cow<'_, [i64]>, Option<NullBuffer>)> {
    let nulls = col.logical_nulls();
    let scaled = |mul: i64, div: i64| -> Result<Vec<i64>> {
        let a = cast(col, &DataType::Int64)?;
        let a = a.as_primitive::<Int64Type>();
        Ok(a.values()
            .iter()
            .map(|v| v.saturating_mul(mul) / div)
            .collect())
    };
    let values: std::borrow::Cow<'_, [i64]> = match col.data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let a = col.as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>();
            std::borrow::Cow::Borrowed(a.values().as_ref())
        }
        DataType::Int64 => {
            std::borrow::Cow::Borrowed(col.as_primitive::<Int64Type>().values().as_ref())
        }
        DataType::Timestamp(TimeUnit::Second, _) => scaled(1_000_000, 1)?.into(),
        DataType::Timestamp(TimeUnit::Millisecond, _) => scaled(1_000, 1)?.into(),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => scaled(1, 1_000)?.into(),
        DataType::Date32 => col
            .as_primitive::<Date32Type>()
            .values()
            .iter()
            .map(|d| i64::from(*d) * 86_400_000_000)
            .collect::<Vec<_>>()
            .into(),
        DataType::Date64 => col
            .as_primitive::<Date64Type>()
            .values()
            .iter()
            .map(|d| d.saturating_mul(1_000))
            .collect::<Vec<_>>()
            .into(),
        _ => scaled(1, 1)?.into(),
    };
    Ok((values, nulls))
}

impl PartitionState {
    fn process(&mut self, batch: RecordBatch, out_schema: &SchemaRef) -> Result<RecordBatch> {
        let n = batch.num_rows();
        let (ts, ts_nulls) = time_micros(batch.column(self.time_idx))?;

        // Values, row-major; NULL values and rows without a time become NaN
        // (status 'skipped': kept in the output, never learned).
        let width = self.value_idx.len();
        let single: ArrayRef;
        let owned: Vec<f64>;
        let values: &[f64] = if width == 1 {
            let col = batch.column(self.value_idx[0]);
            single = if col.data_type() == &DataType::Float64 {
                Arc::clone(col)
            } else {
                cast(col, &DataType::Float64)?
            };
            let a = single.as_primitive::<Float64Type>();
            match NullBuffer::union(a.logical_nulls().as_ref(), ts_nulls.as_ref()) {
                // No missing values or times: the detector reads the column in place.
                None => a.values().as_ref(),
                Some(nb) => {
                    owned = a
                        .values()
                        .iter()
                        .zip(nb.iter())
                        .map(|(v, valid)| if valid { *v } else { f64::NAN })
                        .collect();
                    &owned
                }
            }
        } else {
            let cols = self
                .value_idx
                .iter()
                .map(|&i| cast(batch.column(i), &DataType::Float64))
                .collect::<Result<Vec<_>, _>>()?;
            let mut v = vec![f64::NAN; n * width];
            for (j, c) in cols.iter().enumerate() {
                let a = c.as_primitive::<Float64Type>();
                for i in 0..n {
                    if a.is_valid(i) && ts_nulls.as_ref().is_none_or(|nb| nb.is_valid(i)) {
                        v[i * width + j] = a.value(i);
                    }
                }
            }
            owned = v;
            &owned
        };

        let key_ids: &[u32] = match &mut self.keys {
            Some(dict) => {
                let cols: Vec<ArrayRef> = self
                    .key_idx
                    .iter()
                    .map(|&i| Arc::clone(batch.column(i)))
                    .collect();
                dict.assign(&cols, &mut self.key_ids)?;
                self.keys_metric.set(dict.ids.len());
                &self.key_ids
            }
            None => &[],
        };

        let input = Input {
            timestamps: &ts,
            values,
            width,
            keys: key_ids,
        };
        self.detector.process(&input, &mut self.scores)?;
        let results = build_result_columns(std::mem::take(&mut self.scores), n)?;
        self.anomalies.add(results.1);
        let mut columns = batch.columns().to_vec();
        columns.extend(results.0);
        Ok(RecordBatch::try_new(Arc::clone(out_schema), columns)?)
    }
}

/// Arrow columns from detector output, and the number of anomalies.
fn build_result_columns(s: Scores, n: usize) -> Result<(Vec<ArrayRef>, usize)> {
    if s.len() != n {
        return Err(DataFusionError::Execution(format!(
            "ML_DETECT_ANOMALIES: detector returned {} rows for a batch of {n}",
            s.len()
        )));
    }
    let flags = &s.flags;
    let ok = BooleanBuffer::collect_bool(n, |i| flags[i] & flags::STATUS_MASK == 0);
    let ok_nulls = NullBuffer::new(ok);
    let valid = (ok_nulls.null_count() > 0).then_some(ok_nulls);
    let f64col = |v: Vec<f64>| -> ArrayRef {
        Arc::new(Float64Array::new(ScalarBuffer::from(v), valid.clone()))
    };
    let anomaly = BooleanBuffer::collect_bool(n, |i| flags::is_anomaly(flags[i]));
    let anomalies = anomaly.count_set_bits();
    let is_anomaly: ArrayRef = Arc::new(BooleanArray::new(anomaly.clone(), None));

    let dir_keys: Vec<i8> = flags
        .iter()
        .map(|f| if flags::is_up(*f) { 0 } else { 1 })
        .collect();
    let dir_keys = Int8Array::new(ScalarBuffer::from(dir_keys), Some(NullBuffer::new(anomaly)));
    let direction: ArrayRef = Arc::new(DictionaryArray::<Int8Type>::try_new(
        dir_keys,
        Arc::new(StringArray::from(vec!["up", "down"])),
    )?);
    let status_keys: Vec<i8> = flags
        .iter()
        .map(|f| ((f & flags::STATUS_MASK) >> flags::STATUS_SHIFT).min(2) as i8)
        .collect();
    let status: ArrayRef = Arc::new(DictionaryArray::<Int8Type>::try_new(
        Int8Array::from(status_keys),
        Arc::new(StringArray::from(vec!["ok", "warmup", "skipped"])),
    )?);
    // Severity: dictionary keys 0 low, 1 medium, 2 high; NULL when none.
    let severity_keys: Vec<i8> = flags
        .iter()
        .map(|f| (((f & flags::SEVERITY_MASK) >> flags::SEVERITY_SHIFT) as i8 - 1).max(0))
        .collect();
    let has_severity = BooleanBuffer::collect_bool(n, |i| flags[i] & flags::SEVERITY_MASK != 0);
    let severity: ArrayRef = Arc::new(DictionaryArray::<Int8Type>::try_new(
        Int8Array::new(
            ScalarBuffer::from(severity_keys),
            Some(NullBuffer::new(has_severity)),
        ),
        Arc::new(StringArray::from(vec!["low", "medium", "high"])),
    )?);
    let probability: ArrayRef = if s.probability.is_empty() {
        Arc::new(Float64Array::new_null(n))
    } else if s.probability.len() == n {
        Arc::new(Float64Array::new(
            ScalarBuffer::from(s.probability),
            valid.clone(),
        ))
    } else {
        return Err(DataFusionError::Execution(format!(
            "ML_DETECT_ANOMALIES: detector returned {} probabilities for a batch of {n}",
            s.probability.len()
        )));
    };
    Ok((
        vec![
            f64col(s.forecast),
            f64col(s.lower),
            f64col(s.upper),
            f64col(s.score),
            is_anomaly,
            direction,
            status,
            severity,
            probability,
        ],
        anomalies,
    ))
}

struct DetectStream {
    input: SendableRecordBatchStream,
    schema: SchemaRef,
    /// Always `Some` until the stream is dropped.
    state: Option<PartitionState>,
    /// Where the state goes when the stream ends (streaming jobs).
    persist: Option<(Arc<DetectorStateStore>, String)>,
    baseline: BaselineMetrics,
}

impl Drop for DetectStream {
    fn drop(&mut self) {
        self.release_state();
    }
}

impl DetectStream {
    /// Return the partition's state to the store (streaming jobs). Called
    /// when the input ends, before the end is passed on, so the next
    /// execution always finds it; and on drop, for streams cut short.
    fn release_state(&mut self) {
        if let (Some((store, id)), Some(state)) = (self.persist.take(), self.state.take()) {
            let keys = state.keys.map(|k| k.ids).unwrap_or_default();
            store.put(
                id,
                Slot {
                    detector: state.detector,
                    keys,
                },
            );
        }
    }
}

impl Stream for DetectStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let poll = match this.input.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(batch))) => {
                let timer = this.baseline.elapsed_compute().timer();
                let out = match this.state.as_mut() {
                    Some(state) => state.process(batch, &this.schema),
                    None => {
                        internal_err!("DetectAnomaliesExec polled after its state was released")
                    }
                };
                timer.done();
                Poll::Ready(Some(out))
            }
            Poll::Ready(None) => {
                this.release_state();
                Poll::Ready(None)
            }
            other => other,
        };
        this.baseline.record_poll(poll)
    }
}

impl RecordBatchStream for DetectStream {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}
