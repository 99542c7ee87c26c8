//! End-to-end invariants of `ML_DETECT_ANOMALIES`: the batch size DataFusion
//! uses, the number of partitions, and the backend (WASM or native) never
//! change a single output value.

#![allow(clippy::unwrap_used)] // test helpers panic on purpose

use std::path::Path;
use std::sync::OnceLock;

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::{CsvReadOptions, SessionConfig};
use proptest::prelude::*;
use wasmad_sql::Backend;

fn wasm() -> Backend {
    static B: OnceLock<Backend> = OnceLock::new();
    B.get_or_init(|| Backend::embedded().unwrap()).clone()
}

const QUERIES: &[&str] = &[
    r#"SELECT series, timestamp, forecast_value, lower_bound, upper_bound, score, is_anomaly, direction, status
       FROM ML_DETECT_ANOMALIES(m, 'value', 'timestamp', '{"algorithm":"zscore","window":50,"partitionBy":"series"}')"#,
    r#"SELECT series, timestamp, forecast_value, score, is_anomaly, status
       FROM ML_DETECT_ANOMALIES(m, 'value', 'timestamp', '{"algorithm":"mad","window":40,"minTrainingSize":20,"partitionBy":"series"}')"#,
    r#"SELECT timestamp, forecast_value, score, is_anomaly
       FROM ML_DETECT_ANOMALIES((SELECT * FROM m WHERE series = 'ec2_cpu_825cc2'), 'value', 'timestamp', '{"algorithm":"ewma","halfLife":20}')"#,
    // The vendor forms and the row-scoring detectors (planned onto the same operator).
    r#"SELECT series, timestamp, r.forecast_value, r.lower_bound, r.rmse, r.aic, r.score, r.is_anomaly, r.status
       FROM (SELECT series, timestamp, ML_DETECT_ANOMALIES(value, timestamp, JSON_OBJECT('p' VALUE 1, 'd' VALUE 0, 'q' VALUE 1, 'minTrainingSize' VALUE 64, 'updateInterval' VALUE 100))
             OVER (PARTITION BY series ORDER BY timestamp) AS r FROM m)"#,
    r#"SELECT series, timestamp, score, is_anomaly, attribution, status
       FROM ML_DETECT_ANOMALIES((SELECT series, timestamp, value, value * value AS sq FROM m), 'value,sq', 'timestamp', '{"algorithm":"rcf","numberOfTrees":10,"subSampleSize":64,"shingleSize":2,"partitionBy":"series"}')"#,
    r#"SELECT series, timestamp, GetRecordPropertyValue(sd, 'IsAnomaly') AS a, GetRecordPropertyValue(sd, 'Score') AS s
       FROM (SELECT series, timestamp, AnomalyDetection_SpikeAndDip(CAST(value AS float), 95, 120, 'spikesanddips')
             OVER (PARTITION BY series LIMIT DURATION(hour, 12)) AS sd FROM m TIMESTAMP BY timestamp)"#,
];

/// Every result row as text (f64s by their bits), sorted: row order across
/// partitions is not part of the contract, values are.
fn canonical(batches: &[RecordBatch]) -> Vec<String> {
    let mut rows = Vec::new();
    for b in batches {
        let fmts: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &FormatOptions::default()).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            let cells: Vec<String> = b
                .columns()
                .iter()
                .zip(&fmts)
                .map(|(c, f)| {
                    match c
                        .as_any()
                        .downcast_ref::<datafusion::arrow::array::Float64Array>()
                    {
                        Some(a) if !a.is_null(r) => format!("{:016x}", a.value(r).to_bits()),
                        _ => f.value(r).to_string(),
                    }
                })
                .collect();
            rows.push(cells.join("|"));
        }
    }
    rows.sort();
    rows
}

fn run(batch_size: usize, partitions: usize, backend: Backend, query: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let config = SessionConfig::new()
            .with_batch_size(batch_size)
            .with_target_partitions(partitions);
        let ctx = wasmad_sql::context(config, backend);
        // A slice of the demo data: 3000 rows of each of two series.
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/nab_metrics.csv");
        ctx.register_csv("raw", path.to_str().unwrap(), CsvReadOptions::new())
            .await
            .unwrap();
        ctx.sql(
            "CREATE VIEW m AS SELECT series, CAST(timestamp AS TIMESTAMP) AS timestamp, value FROM raw \
             WHERE series IN ('nyc_taxi', 'ec2_cpu_825cc2') AND CAST(timestamp AS TIMESTAMP) < TIMESTAMP '2014-08-10'",
        )
        .await
        .unwrap();
        let batches = wasmad_sql::sql(&ctx, query)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        canonical(&batches)
    })
}

fn reference(query: usize) -> &'static Vec<String> {
    static R: OnceLock<Vec<Vec<String>>> = OnceLock::new();
    &R.get_or_init(|| QUERIES.iter().map(|q| run(8192, 1, wasm(), q)).collect())[query]
}

#[test]
fn the_reference_run_scores_rows() {
    for (i, q) in QUERIES.iter().enumerate() {
        let rows = reference(i);
        assert!(rows.len() > 1000, "query {i} returned {} rows", rows.len());
        assert!(
            rows.iter()
                .any(|r| r.contains("|true") || r.contains("|1|")),
            "query {i} flags nothing: {q}"
        );
    }
}

#[test]
fn the_native_backend_gives_identical_results() {
    for (i, q) in QUERIES.iter().enumerate() {
        assert_eq!(&run(8192, 2, Backend::Native, q), reference(i), "query {i}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn batch_size_and_partitions_never_change_results(
        batch_size in prop_oneof![Just(1usize), 2usize..64, 64usize..5000],
        partitions in 1usize..5,
        query in 0..QUERIES.len(),
    ) {
        prop_assert_eq!(&run(batch_size, partitions, wasm(), QUERIES[query]), reference(query));
    }
}
