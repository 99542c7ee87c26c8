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
    Array, ArrayRef, AsArray, BooleanArray, DictionaryArray, Float64Array, Int8Array, Int64Array,
    ListArray, RecordBatch, StringArray, StructArray,
};
use datafusion::arrow::buffer::{BooleanBuffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Field, Fields, Float64Type, Int8Type, Int64Type, Schema,
    SchemaRef, TimeUnit,
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
use crate::spec::{AIC, DetectSpec, Output, RMSE};
use crate::state::{DetectorStateStore, Slot};

/// Scores its input with one detector per partition.
#[derive(Debug, Clone)]
pub struct DetectAnomaliesExec {
    input: Arc<dyn ExecutionPlan>,
    spec: DetectSpec,
    backend: Backend,
    value_idx: Vec<usize>,
    time_idx: Option<usize>,
    when_idx: Option<usize>,
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
        let time_idx = spec
            .time
            .as_deref()
            .map(|t| column_index(&in_schema, t))
            .transpose()?;
        let when_idx = spec
            .learn_when
            .as_deref()
            .map(|t| column_index(&in_schema, t))
            .transpose()?;
        let key_idx = spec
            .partition_by
            .iter()
            .map(|n| column_index(&in_schema, n))
            .collect::<Result<Vec<_>>>()?;
        let mut fields: Vec<_> = in_schema.fields().iter().cloned().collect();
        fields.extend(spec.output_fields(&in_schema)?.into_iter().map(Arc::new));
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
            when_idx,
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
            "value={};time={};partition_by={};config={};output={:?};partition={partition}",
            self.spec.values.join(","),
            self.spec.time.as_deref().unwrap_or(""),
            self.spec.partition_by.join(","),
            self.spec.detector_config,
            self.spec.output
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
            self.spec.time.as_deref().unwrap_or("(input order)"),
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
        // Without a time column rows are taken in input order.
        let Some(time_idx) = self.time_idx else {
            return vec![None];
        };
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
        let by_time = LexRequirement::new(vec![sort_req(time_idx)]);
        let mut alternatives = vec![by_time];
        if !self.key_idx.is_empty() {
            let by_key = LexRequirement::new(
                self.key_idx
                    .iter()
                    .chain(std::iter::once(&time_idx))
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
        let (detector, ids, clock, last_ts) = match saved {
            Some(slot) => (slot.detector, slot.keys, slot.clock, slot.last_ts),
            None => (
                self.backend
                    .create(&self.spec.detector_config)
                    .map_err(|e| exec_datafusion_err!("ML_DETECT_ANOMALIES: {e}"))?,
                hashbrown::HashMap::new(),
                0,
                Vec::new(),
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
            Some(KeyDictionary::with_ids(
                key_fields,
                ids,
                self.spec.max_keys,
                self.spec.state_ttl,
            )?)
        };
        Ok(Box::pin(DetectStream {
            input,
            schema: Arc::clone(&self.schema),
            persist: store.clone().map(|s| (s, slot_id)),
            state: Some(PartitionState {
                detector,
                keys,
                value_idx: self.value_idx.clone(),
                time_idx: self.time_idx,
                when_idx: self.when_idx,
                key_idx: self.key_idx.clone(),
                output: self.spec.output.clone(),
                value_names: self.spec.labels.clone(),
                rows_seen: clock,
                last_ts,
                scores: Scores::default(),
                key_ids: Vec::new(),
                anomalies: MetricBuilder::new(&self.metrics).counter("anomalies", partition),
                keys_metric: MetricBuilder::new(&self.metrics).gauge("keys", partition),
                evicted: MetricBuilder::new(&self.metrics).counter("evicted_keys", partition),
                evicted_total: store.as_ref().map(|s| s.evicted_counter()),
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
    /// Ids of evicted keys, reused for new keys (their models were reset).
    free: Vec<u32>,
    /// The next never-used id.
    next: u32,
    /// Per id: the batch it was last seen in (least recently used goes first).
    last_batch: Vec<u64>,
    /// Per id: its latest event time (`i64::MIN`: unknown, e.g. after a restore).
    last_time: Vec<i64>,
    batch: u64,
    max_keys: Option<usize>,
    ttl: Option<u64>,
    /// Event time of the last TTL sweep.
    swept_at: Option<i64>,
    /// Ids given up in this batch by keys that came back after `stateTtl`
    /// (the key moved to a fresh id at that row); reset after the batch.
    retired: Vec<u32>,
}

impl KeyDictionary {
    fn with_ids(
        fields: Vec<SortField>,
        ids: hashbrown::HashMap<Box<[u8]>, u32>,
        max_keys: Option<u64>,
        ttl: Option<u64>,
    ) -> Result<Self> {
        // After a restore the ids in use may have gaps (evicted keys): those
        // are free again.
        let next = ids.values().max().map_or(0, |m| m + 1);
        let mut used = vec![false; next as usize];
        for id in ids.values() {
            used[*id as usize] = true;
        }
        let free = (0..next).filter(|i| !used[*i as usize]).collect();
        Ok(KeyDictionary {
            converter: RowConverter::new(fields)?,
            ids,
            free,
            next,
            last_batch: vec![0; next as usize],
            last_time: vec![i64::MIN; next as usize],
            batch: 0,
            max_keys: max_keys.map(|m| usize::try_from(m).unwrap_or(usize::MAX)),
            ttl,
            swept_at: None,
            retired: Vec::new(),
        })
    }

    fn new_id(&mut self) -> Result<u32> {
        if let Some(id) = self.free.pop() {
            return Ok(id);
        }
        let id = self.next;
        self.next = self.next.checked_add(1).ok_or_else(|| {
            exec_datafusion_err!("ML_DETECT_ANOMALIES: more than 4294967295 keys in one partition")
        })?;
        Ok(id)
    }

    fn assign(&mut self, columns: &[ArrayRef], ts: &[i64], out: &mut Vec<u32>) -> Result<()> {
        let rows = self.converter.convert_columns(columns)?;
        out.clear();
        out.reserve(rows.num_rows());
        self.batch += 1;
        let track = self.max_keys.is_some() || self.ttl.is_some();
        let ttl = self.ttl.map(|t| i64::try_from(t).unwrap_or(i64::MAX));
        for (i, row) in rows.iter().enumerate() {
            let bytes = row.as_ref();
            let t = ts.get(i).copied().unwrap_or(i64::MIN);
            let id = match self.ids.get(bytes).copied() {
                // Back after longer than stateTtl: from this row on the key
                // has a fresh model under a new id (its earlier rows in this
                // batch keep the old one, which is reset after the batch).
                Some(id)
                    if ttl.is_some_and(|ttl| {
                        let last = self.last_time.get(id as usize).copied().unwrap_or(i64::MIN);
                        last != i64::MIN && t.saturating_sub(last) > ttl
                    }) =>
                {
                    self.retired.push(id);
                    let fresh = self.new_id()?;
                    self.ids.insert(bytes.into(), fresh);
                    fresh
                }
                Some(id) => id,
                None => {
                    let id = self.new_id()?;
                    self.ids.insert(bytes.into(), id);
                    id
                }
            };
            if track {
                let k = id as usize;
                if k >= self.last_batch.len() {
                    self.last_batch.resize(k + 1, 0);
                    self.last_time.resize(k + 1, i64::MIN);
                }
                self.last_batch[k] = self.batch;
                self.last_time[k] = self.last_time[k].max(t);
            }
            out.push(id);
        }
        Ok(())
    }

    /// Keys to evict after a batch whose latest event time is `now`: those
    /// not seen for `stateTtl`, then the least recently seen beyond
    /// `maxKeys`. They leave the dictionary; their ids are returned (the
    /// caller resets their models) and reused for new keys.
    fn evict(&mut self, now: i64) -> Vec<u32> {
        // Sweep for stale keys when event time has moved a quarter TTL since
        // the last sweep.
        let ttl = self.ttl.map(|t| i64::try_from(t).unwrap_or(i64::MAX));
        let sweep = ttl.filter(|ttl| {
            self.swept_at
                .is_none_or(|t| now.saturating_sub(t) >= (ttl / 4).max(1))
        });
        let over_cap = self.max_keys.is_some_and(|max| self.ids.len() > max);
        // Most batches have nothing to evict: no per-key work for them.
        if sweep.is_none() && !over_cap && self.retired.is_empty() {
            return Vec::new();
        }
        let mut gone = vec![false; self.next as usize];
        let mut count = 0usize;
        let retired = std::mem::take(&mut self.retired);
        if let Some(ttl) = sweep {
            for id in self.ids.values() {
                let t = &mut self.last_time[*id as usize];
                if *t == i64::MIN {
                    *t = now; // unknown since a restore: count from now
                } else if now.saturating_sub(*t) > ttl {
                    gone[*id as usize] = true;
                    count += 1;
                }
            }
            self.swept_at = Some(now);
        }
        if let Some(max) = self.max_keys {
            let live = self.ids.len() - count;
            if live > max {
                let mut candidates: Vec<(u64, u32)> = self
                    .ids
                    .values()
                    .filter(|id| !gone[**id as usize])
                    .map(|id| (self.last_batch[*id as usize], *id))
                    .collect();
                let excess = live - max;
                candidates.select_nth_unstable(excess - 1);
                for (_, id) in &candidates[..excess] {
                    gone[*id as usize] = true;
                }
                count += excess;
            }
        }
        if count > 0 {
            self.ids.retain(|_, id| !gone[*id as usize]);
        }
        for id in &retired {
            gone[*id as usize] = true;
        }
        if count == 0 && retired.is_empty() {
            return Vec::new();
        }
        let evicted: Vec<u32> = (0..self.next).filter(|i| gone[*i as usize]).collect();
        for id in &evicted {
            self.last_time[*id as usize] = i64::MIN;
        }
        self.free.extend(evicted.iter().rev());
        evicted
    }
}

struct PartitionState {
    detector: PartitionDetector,
    keys: Option<KeyDictionary>,
    value_idx: Vec<usize>,
    time_idx: Option<usize>,
    when_idx: Option<usize>,
    key_idx: Vec<usize>,
    output: Output,
    value_names: Vec<String>,
    /// Rows processed so far: the clock when there is no time column.
    rows_seen: i64,
    /// Each key's latest event time (ML_FORECAST steps forward from it).
    last_ts: Vec<i64>,
    scores: Scores,
    key_ids: Vec<u32>,
    anomalies: Count,
    keys_metric: datafusion::physical_plan::metrics::Gauge,
    evicted: Count,
    /// The streaming job's running total of evicted keys, when there is one.
    evicted_total: Option<Arc<std::sync::atomic::AtomicU64>>,
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
        let (ts, ts_nulls) = match self.time_idx {
            Some(i) => time_micros(batch.column(i))?,
            None => (
                std::borrow::Cow::Owned((self.rows_seen..self.rows_seen + n as i64).collect()),
                None,
            ),
        };
        self.rows_seen += n as i64;
        // Rows the model must not learn from (Azure's WHEN) count as missing.
        let ts_nulls = match self.when_idx {
            None => ts_nulls,
            Some(i) => {
                let when = cast(batch.column(i), &DataType::Boolean)?;
                let when = when.as_boolean();
                let learn = BooleanBuffer::collect_bool(n, |r| when.is_valid(r) && when.value(r));
                NullBuffer::union(ts_nulls.as_ref(), Some(&NullBuffer::new(learn)))
            }
        };

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
                dict.assign(&cols, &ts, &mut self.key_ids)?;
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
        // Bounded state: evict keys past stateTtl or beyond maxKeys, after
        // the batch that saw them last is scored.
        if let Some(dict) = &mut self.keys
            && (dict.max_keys.is_some() || dict.ttl.is_some())
        {
            let now = ts.iter().copied().max().unwrap_or(i64::MIN);
            let evicted = dict.evict(now);
            if !evicted.is_empty() {
                self.detector.reset_keys(&evicted)?;
                self.evicted.add(evicted.len());
                if let Some(total) = &self.evicted_total {
                    total.fetch_add(evicted.len() as u64, std::sync::atomic::Ordering::Relaxed);
                }
                self.keys_metric.set(dict.ids.len());
            }
        }
        let scores = std::mem::take(&mut self.scores);
        let mut columns = batch.columns().to_vec();
        let first_new = columns.len();
        let anomalies = match &self.output {
            Output::Full {
                rmse_aic,
                attribution,
            } => {
                let extras = (
                    rmse_aic.then(|| {
                        (
                            extra_column(&scores, RMSE, n),
                            extra_column(&scores, AIC, n),
                        )
                    }),
                    attribution.then(|| attribution_column(&scores, &self.value_names, n)),
                );
                let (cols, count) = build_result_columns(scores, n)?;
                columns.extend(cols);
                if let Some((rmse, aic)) = extras.0 {
                    columns.push(rmse?);
                    columns.push(aic?);
                }
                if let Some(attr) = extras.1 {
                    columns.push(attr?);
                }
                count
            }
            Output::Kinesis {
                explanation,
                directionality,
            } => {
                let count = count_anomalies(&scores.flags);
                columns.push(kinesis_score(&scores));
                if *explanation {
                    columns.push(kinesis_explanation(
                        &scores,
                        &self.value_names,
                        *directionality,
                        n,
                    )?);
                }
                count
            }
            Output::Azure { .. } => {
                let count = count_anomalies(&scores.flags);
                columns.push(azure_record(&scores, n)?);
                count
            }
            Output::Confluent { .. } => {
                let actual = batch_values(&batch, &self.value_idx, &self.value_names)?;
                let ts_col = match self.time_idx {
                    Some(i) => Arc::clone(batch.column(i)),
                    None => Arc::new(Int64Array::from(ts.to_vec())) as ArrayRef,
                };
                let count = count_anomalies(&scores.flags);
                columns.push(confluent_struct(scores, ts_col, actual, n)?);
                count
            }
            Output::Forecast { .. } => {
                let count = count_anomalies(&scores.flags);
                let field = out_schema.field(first_new).clone();
                columns.push(forecast_list(
                    &scores,
                    &ts,
                    key_ids,
                    &mut self.last_ts,
                    &field,
                    n,
                )?);
                count
            }
        };
        self.anomalies.add(anomalies);
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
    let valid = ok_rows(flags);
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

/// Rows whose status is `ok` (values are NULL elsewhere).
fn ok_rows(flags: &[u8]) -> Option<NullBuffer> {
    let ok = NullBuffer::new(BooleanBuffer::collect_bool(flags.len(), |i| {
        flags[i] & flags::STATUS_MASK == 0
    }));
    (ok.null_count() > 0).then_some(ok)
}

fn count_anomalies(flags: &[u8]) -> usize {
    flags.iter().filter(|f| flags::is_anomaly(**f)).count()
}

/// A one-per-row extra (`rmse`, `aic`) as a Float64 column; NULL when the
/// detector did not write it or the row is not scored.
fn extra_column(s: &Scores, name: &str, n: usize) -> Result<ArrayRef> {
    match s.extra(name) {
        None => Ok(Arc::new(Float64Array::new_null(n))),
        Some(e) if e.per_row == 1 && e.values.len() == n => {
            let valid = NullBuffer::union(
                ok_rows(&s.flags).as_ref(),
                Some(&NullBuffer::new(BooleanBuffer::collect_bool(n, |i| {
                    e.values[i].is_finite()
                }))),
            );
            Ok(Arc::new(Float64Array::new(
                ScalarBuffer::from(e.values.clone()),
                valid,
            )))
        }
        Some(e) => Err(DataFusionError::Execution(format!(
            "ML_DETECT_ANOMALIES: detector returned a malformed '{name}' column ({} values, {} per row, for {n} rows)",
            e.values.len(),
            e.per_row
        ))),
    }
}

/// (high, low) attribution pairs of each value column for row `i`.
fn attribution_pairs(s: &Scores, width: usize, n: usize) -> Result<Option<&[f64]>> {
    match s.extra("attribution") {
        None => Ok(None),
        Some(e) if e.per_row == 2 * width && e.values.len() == n * 2 * width => Ok(Some(&e.values)),
        Some(e) => Err(DataFusionError::Execution(format!(
            "ML_DETECT_ANOMALIES: detector returned a malformed attribution ({} per row; expected {} for {width} value columns)",
            e.per_row,
            2 * width
        ))),
    }
}

/// `attribution`: a struct with each value column's share (high + low) of
/// the score; NULL when the detector gives none or the row is not scored.
fn attribution_column(s: &Scores, names: &[String], n: usize) -> Result<ArrayRef> {
    let width = names.len();
    let fields: Fields = names
        .iter()
        .map(|v| Field::new(v, DataType::Float64, true))
        .collect();
    let pairs = attribution_pairs(s, width, n)?;
    let Some(pairs) = pairs else {
        return Ok(Arc::new(StructArray::new_null(fields, n)));
    };
    let valid = ok_rows(&s.flags);
    let children: Vec<ArrayRef> = (0..width)
        .map(|j| {
            let v: Vec<f64> = (0..n)
                .map(|i| pairs[i * 2 * width + 2 * j] + pairs[i * 2 * width + 2 * j + 1])
                .collect();
            Arc::new(Float64Array::new(ScalarBuffer::from(v), valid.clone())) as ArrayRef
        })
        .collect();
    Ok(Arc::new(StructArray::try_new(fields, children, valid)?))
}

/// Kinesis `ANOMALY_SCORE`: the score, 0 until the model is trained (and
/// for skipped rows).
fn kinesis_score(s: &Scores) -> ArrayRef {
    let v: Vec<f64> = s
        .score
        .iter()
        .zip(&s.flags)
        .map(|(x, f)| {
            if f & flags::STATUS_MASK == 0 && x.is_finite() {
                *x
            } else {
                0.0
            }
        })
        .collect();
    Arc::new(Float64Array::from(v))
}

/// Kinesis `ANOMALY_EXPLANATION`: per value column
/// `{"DIRECTION":"HIGH|LOW","STRENGTH":"..","ATTRIBUTION_SCORE":".."}`, where
/// ATTRIBUTION_SCORE = high + low (they sum to the anomaly score), DIRECTION
/// is the larger side and STRENGTH = |high - low| (the directional part).
fn kinesis_explanation(
    s: &Scores,
    names: &[String],
    directionality: bool,
    n: usize,
) -> Result<ArrayRef> {
    let width = names.len();
    let pairs = attribution_pairs(s, width, n)?;
    let mut out = datafusion::arrow::array::StringBuilder::new();
    for i in 0..n {
        match pairs {
            Some(p) if s.flags[i] & flags::STATUS_MASK == 0 => {
                let mut obj = serde_json::Map::new();
                for (j, name) in names.iter().enumerate() {
                    let (high, low) = (p[i * 2 * width + 2 * j], p[i * 2 * width + 2 * j + 1]);
                    let entry = if directionality {
                        serde_json::json!({
                            "DIRECTION": if high >= low { "HIGH" } else { "LOW" },
                            "STRENGTH": format!("{:.4}", (high - low).abs()),
                            "ATTRIBUTION_SCORE": format!("{:.4}", high + low),
                        })
                    } else {
                        serde_json::json!({ "ATTRIBUTION_SCORE": format!("{:.4}", high + low) })
                    };
                    obj.insert(name.clone(), entry);
                }
                out.append_value(serde_json::Value::Object(obj).to_string());
            }
            _ => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// Azure's `{IsAnomaly, Score}` record.
fn azure_record(s: &Scores, n: usize) -> Result<ArrayRef> {
    let is_anomaly: Vec<i64> = s
        .flags
        .iter()
        .map(|f| i64::from(flags::is_anomaly(*f)))
        .collect();
    let score = Float64Array::new(ScalarBuffer::from(s.score.clone()), ok_rows(&s.flags));
    debug_assert_eq!(is_anomaly.len(), n);
    Ok(Arc::new(StructArray::try_new(
        crate::spec::azure_fields(),
        vec![Arc::new(Int64Array::from(is_anomaly)), Arc::new(score)],
        None,
    )?))
}

/// The value columns as Float64 (one column) or a struct of them.
fn batch_values(batch: &RecordBatch, idx: &[usize], names: &[String]) -> Result<ArrayRef> {
    let cols = idx
        .iter()
        .map(|&i| cast(batch.column(i), &DataType::Float64))
        .collect::<Result<Vec<_>, _>>()?;
    if cols.len() == 1 {
        return Ok(Arc::clone(&cols[0]));
    }
    let fields: Fields = names
        .iter()
        .map(|v| Field::new(v, DataType::Float64, true))
        .collect();
    Ok(Arc::new(StructArray::try_new(fields, cols, None)?))
}

/// Confluent's result struct (see [`crate::spec::CONFLUENT_FIELDS`]).
fn confluent_struct(s: Scores, ts: ArrayRef, actual: ArrayRef, n: usize) -> Result<ArrayRef> {
    let rmse = extra_column(&s, RMSE, n)?;
    let aic = extra_column(&s, AIC, n)?;
    let valid = ok_rows(&s.flags);
    let (cols, _) = build_result_columns(s, n)?;
    // cols: forecast, lower, upper, score, is_anomaly, direction, status, ...
    let is_anomaly = BooleanArray::new(cols[4].as_boolean().values().clone(), valid);
    let fields = crate::spec::confluent_fields(ts.data_type().clone(), actual.data_type().clone());
    Ok(Arc::new(StructArray::try_new(
        fields,
        vec![
            ts,
            actual,
            Arc::clone(&cols[0]),
            Arc::clone(&cols[1]),
            Arc::clone(&cols[2]),
            Arc::new(is_anomaly),
            rmse,
            aic,
            Arc::clone(&cols[3]),
            Arc::clone(&cols[5]),
            Arc::clone(&cols[6]),
        ],
        None,
    )?))
}

/// `ML_FORECAST`: per row, one struct per horizon step from the detector's
/// `forecast` extra (value, lower, upper per step). Step k's timestamp is
/// the row's time plus k times the key's latest sampling interval.
fn forecast_list(
    s: &Scores,
    ts: &[i64],
    keys: &[u32],
    last_ts: &mut Vec<i64>,
    field: &Field,
    n: usize,
) -> Result<ArrayRef> {
    let DataType::List(item) = field.data_type() else {
        return internal_err!("ML_FORECAST output is not a list");
    };
    let DataType::Struct(fields) = item.data_type() else {
        return internal_err!("ML_FORECAST items are not structs");
    };
    let steps = match s.extra("forecast") {
        Some(e) if e.per_row % 3 == 0 && e.values.len() == n * e.per_row => Some(e),
        None => None,
        Some(e) => {
            return Err(DataFusionError::Execution(format!(
                "ML_FORECAST: detector returned a malformed forecast ({} per row)",
                e.per_row
            )));
        }
    };
    let rmse = s.extra(RMSE);
    let aic = s.extra(AIC);
    let mut offsets = vec![0i32];
    let (mut t, mut v, mut lo, mut hi, mut r, mut a) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut valid_rows = Vec::with_capacity(n);
    for (i, &t_i) in ts.iter().enumerate().take(n) {
        let k = keys.get(i).map_or(0, |k| *k as usize);
        if last_ts.len() <= k {
            last_ts.resize(k + 1, i64::MIN);
        }
        let step = if last_ts[k] == i64::MIN {
            0
        } else {
            t_i.saturating_sub(last_ts[k])
        };
        last_ts[k] = t_i;
        let ok = s.flags[i] & flags::STATUS_MASK == 0;
        match steps {
            Some(e) if ok => {
                let h = e.per_row / 3;
                for j in 0..h {
                    let base = i * e.per_row + 3 * j;
                    t.push(Some(t_i.saturating_add(step.saturating_mul(j as i64 + 1))));
                    v.push(Some(e.values[base]));
                    lo.push(Some(e.values[base + 1]));
                    hi.push(Some(e.values[base + 2]));
                    r.push(rmse.and_then(|x| x.values.get(i).copied()));
                    a.push(aic.and_then(|x| x.values.get(i).copied()));
                }
                valid_rows.push(true);
            }
            _ => valid_rows.push(false),
        }
        offsets.push(i32::try_from(t.len()).map_err(|_| {
            DataFusionError::Execution("ML_FORECAST: too many forecast steps in one batch".into())
        })?);
    }
    // Times are microseconds (the detector's unit): convert to the
    // output's type (the time column's timestamp unit, or Int64 µs).
    let ts_array: ArrayRef = match fields[0].data_type() {
        DataType::Timestamp(_, tz) => cast(
            &(Arc::new(
                datafusion::arrow::array::TimestampMicrosecondArray::from(t)
                    .with_timezone_opt(tz.clone()),
            ) as ArrayRef),
            fields[0].data_type(),
        )?,
        _ => Arc::new(Int64Array::from(t)),
    };
    let items = StructArray::try_new(
        fields.clone(),
        vec![
            ts_array,
            Arc::new(Float64Array::from(v)),
            Arc::new(Float64Array::from(lo)),
            Arc::new(Float64Array::from(hi)),
            Arc::new(Float64Array::from(r)),
            Arc::new(Float64Array::from(a)),
        ],
        None,
    )?;
    Ok(Arc::new(ListArray::try_new(
        Arc::clone(item),
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        Arc::new(items),
        Some(NullBuffer::from(valid_rows)),
    )?))
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
                    clock: state.rows_seen,
                    last_ts: state.last_ts,
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
