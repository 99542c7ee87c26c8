//! `DetectorStateStore`: a plan run over the first half of the data and then
//! over the second half, with the store installed, scores the second half
//! exactly as one run over all of it; the same holds when the store is
//! snapshotted after the first half and restored into a new session.
//! Without a store, the second run starts from scratch (checked, so the test
//! can tell the difference).

#![allow(clippy::unwrap_used)] // test helpers panic on purpose

use std::sync::Arc;

use datafusion::arrow::array::{Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use wasmad_sql::{Backend, DetectorStateStore};

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        Field::new("v", DataType::Float64, false),
    ]))
}

/// Rows `lo..hi` of a seeded two-key series with a spike in each half.
fn rows(lo: usize, hi: usize) -> RecordBatch {
    let mut k = Vec::new();
    let mut ts = Vec::new();
    let mut v = Vec::new();
    let mut x: u64 = 12345;
    for i in 0..hi {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        if i < lo {
            continue;
        }
        k.push(if i % 2 == 0 { "a" } else { "b" });
        ts.push((i / 2) as i64 * 60_000_000);
        let noise = (x >> 40) as f64 / (1u64 << 24) as f64;
        v.push(if i == 140 || i == 301 {
            50.0
        } else {
            10.0 + noise
        });
    }
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from(k)),
            Arc::new(TimestampMicrosecondArray::from(ts)),
            Arc::new(Float64Array::from(v)),
        ],
    )
    .unwrap()
}

const QUERY: &str = r#"SELECT k, ts, v, forecast_value, score, is_anomaly, status
    FROM ML_DETECT_ANOMALIES(t, 'v', 'ts', '{"window":50,"partitionBy":"k"}') ORDER BY ts, k"#;

async fn run(store: Option<Arc<DetectorStateStore>>, batch: RecordBatch) -> String {
    let mut config = SessionConfig::new().with_target_partitions(2);
    if let Some(s) = store {
        config = config.with_extension(s);
    }
    let ctx: SessionContext = wasmad_sql::context(config, Backend::embedded().unwrap());
    let table = MemTable::try_new(schema(), vec![vec![batch]]).unwrap();
    ctx.register_table("t", Arc::new(table)).unwrap();
    let out = ctx.sql(QUERY).await.unwrap().collect().await.unwrap();
    pretty_format_batches(&out).unwrap().to_string()
}

/// The table text without its header, as rows.
fn body(table: &str) -> Vec<String> {
    table
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| k "))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn a_store_carries_detectors_from_one_execution_to_the_next() {
    let whole = body(&run(None, rows(0, 400)).await);
    let second_half_alone = body(&run(None, rows(200, 400)).await);

    let store = Arc::new(DetectorStateStore::new());
    let first = body(&run(Some(Arc::clone(&store)), rows(0, 200)).await);
    assert!(!store.is_empty(), "the detectors were kept");
    assert_eq!(store.key_count(), 2);
    let second = body(&run(Some(Arc::clone(&store)), rows(200, 400)).await);
    let mut joined = first.clone();
    joined.extend(second.clone());
    assert_eq!(joined, whole);
    assert_ne!(
        second, second_half_alone,
        "without the store the second half starts cold"
    );

    // Snapshot after the first half, restore into a new store.
    let store = Arc::new(DetectorStateStore::new());
    run(Some(Arc::clone(&store)), rows(0, 200)).await;
    let snapshot = store.snapshot().unwrap();
    let restored = Arc::new(DetectorStateStore::new());
    restored
        .restore(snapshot, &Backend::embedded().unwrap())
        .unwrap();
    let after_restore = body(&run(Some(restored), rows(200, 400)).await);
    assert_eq!(after_restore, second);
}
