//! `'format' = 'avro'` against fastavro: the datums fastavro 1.13.1 wrote
//! for tests/reference/avro/rows.json (script and outputs committed there)
//! are the bytes wasmad encodes for the same rows, and decode back to them;
//! and the schema wasmad derives for the table is the one fastavro used.

#![allow(clippy::unwrap_used)] // a test: any failure is the finding

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float32Array, Float64Array, Int8Array, Int16Array,
    Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use serde_json::Value;
use wasmad_stream::avro::AvroSchema;

fn reference(name: &str) -> String {
    let path = format!("{}/tests/reference/avro/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn table() -> Arc<Schema> {
    let ts = |u| DataType::Timestamp(u, None);
    Arc::new(Schema::new(vec![
        Field::new("b", DataType::Boolean, true),
        Field::new("i8", DataType::Int8, true),
        Field::new("i16", DataType::Int16, true),
        Field::new("i32", DataType::Int32, true),
        Field::new("l", DataType::Int64, true),
        Field::new("f", DataType::Float32, true),
        Field::new("d", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("tms", ts(TimeUnit::Millisecond), true),
        Field::new("tus", ts(TimeUnit::Microsecond), true),
        Field::new("dt", DataType::Date32, true),
        Field::new("k", DataType::Utf8, false),
        Field::new("x", DataType::Float64, false),
    ]))
}

fn rows_batch(rows: &[Value]) -> RecordBatch {
    let col = |name: &'static str| rows.iter().map(move |r| r[name].clone());
    let int = |name: &'static str| col(name).map(|v| v.as_i64()).collect::<Vec<_>>();
    let float = |name: &'static str| col(name).map(|v| v.as_f64()).collect::<Vec<_>>();
    let text = |name: &'static str| {
        col(name)
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let narrow = |v: Vec<Option<i64>>| -> Vec<Option<i32>> {
        v.into_iter()
            .map(|x| x.map(|x| i32::try_from(x).unwrap()))
            .collect()
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(BooleanArray::from(
            col("b").map(|v| v.as_bool()).collect::<Vec<_>>(),
        )),
        Arc::new(Int8Array::from(
            int("i8")
                .into_iter()
                .map(|x| x.map(|x| i8::try_from(x).unwrap()))
                .collect::<Vec<_>>(),
        )),
        Arc::new(Int16Array::from(
            int("i16")
                .into_iter()
                .map(|x| x.map(|x| i16::try_from(x).unwrap()))
                .collect::<Vec<_>>(),
        )),
        Arc::new(Int32Array::from(narrow(int("i32")))),
        Arc::new(Int64Array::from(int("l"))),
        Arc::new(Float32Array::from(
            float("f")
                .into_iter()
                .map(|x| x.map(|x| x as f32))
                .collect::<Vec<_>>(),
        )),
        Arc::new(Float64Array::from(float("d"))),
        Arc::new(StringArray::from(text("s"))),
        Arc::new(TimestampMillisecondArray::from(int("tms"))),
        Arc::new(TimestampMicrosecondArray::from(int("tus"))),
        Arc::new(Date32Array::from(narrow(int("dt")))),
        Arc::new(StringArray::from(text("k"))),
        Arc::new(Float64Array::from(float("x"))),
    ];
    RecordBatch::try_new(table(), columns).expect("the rows fit the table")
}

#[test]
fn wasmad_writes_and_reads_the_datums_fastavro_writes() {
    let avro = AvroSchema::for_table(&table()).expect("every column is supported");
    let want_schema: Value = serde_json::from_str(&reference("schema.json")).unwrap();
    assert_eq!(avro.json(), want_schema);

    let rows: Vec<Value> = serde_json::from_str(&reference("rows.json")).unwrap();
    let batch = rows_batch(&rows);
    let datums: Vec<Vec<u8>> = reference("datums.txt")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            (0..l.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&l[i..i + 2], 16).unwrap())
                .collect()
        })
        .collect();
    assert_eq!(datums.len(), rows.len());

    let encoded = avro.encode(&batch).expect("encodes");
    for (i, (ours, theirs)) in encoded.iter().zip(&datums).enumerate() {
        assert_eq!(ours, theirs, "row {i}");
    }
    let decoded = avro
        .decode(datums.iter().map(Vec::as_slice))
        .expect("decodes");
    assert_eq!(decoded, batch);
}
