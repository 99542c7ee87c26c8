//! `'format' = 'avro'` for the kafka connector: each record value is one
//! Avro datum in Avro's binary encoding, without a container-file header or
//! a schema-registry prefix, as Flink's `avro` format writes it. Both sides
//! use the schema derived from the table's columns ([`AvroSchema::json`]):
//! a record named `row` with one field per column, in order, of the Avro
//! type of the column's SQL type, and `["null", type]` for columns that may
//! be NULL (every column unless declared `NOT NULL`).
//!
//! | SQL type | Avro type |
//! | --- | --- |
//! | `BOOLEAN` | `boolean` |
//! | `TINYINT`, `SMALLINT`, `INT` | `int` |
//! | `BIGINT` | `long` |
//! | `FLOAT` / `REAL` | `float` |
//! | `DOUBLE` | `double` |
//! | `STRING`, `VARCHAR` | `string` |
//! | `TIMESTAMP(3)` (and 1, 2) | `long`, logical type `timestamp-millis` |
//! | `TIMESTAMP(6)` (and 4, 5) | `long`, logical type `timestamp-micros` |
//! | `DATE` | `int`, logical type `date` |

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Date32Builder, Float32Builder, Float64Builder,
    Int8Builder, Int16Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder, TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    Schema, SchemaRef, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
};

/// The Avro type of one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Boolean,
    Int8,
    Int16,
    Int32,
    Long,
    Float,
    Double,
    String,
    TimestampMillis,
    TimestampMicros,
    Date,
}

impl Kind {
    fn of(dt: &DataType) -> Option<Kind> {
        Some(match dt {
            DataType::Boolean => Kind::Boolean,
            DataType::Int8 => Kind::Int8,
            DataType::Int16 => Kind::Int16,
            DataType::Int32 => Kind::Int32,
            DataType::Int64 => Kind::Long,
            DataType::Float32 => Kind::Float,
            DataType::Float64 => Kind::Double,
            DataType::Utf8 => Kind::String,
            DataType::Timestamp(TimeUnit::Millisecond, _) => Kind::TimestampMillis,
            DataType::Timestamp(TimeUnit::Microsecond, _) => Kind::TimestampMicros,
            DataType::Date32 => Kind::Date,
            _ => return None,
        })
    }

    fn json(self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Kind::Boolean => json!("boolean"),
            Kind::Int8 | Kind::Int16 | Kind::Int32 => json!("int"),
            Kind::Long => json!("long"),
            Kind::Float => json!("float"),
            Kind::Double => json!("double"),
            Kind::String => json!("string"),
            Kind::TimestampMillis => json!({"type": "long", "logicalType": "timestamp-millis"}),
            Kind::TimestampMicros => json!({"type": "long", "logicalType": "timestamp-micros"}),
            Kind::Date => json!({"type": "int", "logicalType": "date"}),
        }
    }
}

/// The SQL types a column of an Avro table may have.
const ACCEPTED: &str = "BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, FLOAT, DOUBLE, STRING, \
                        TIMESTAMP(1..3), TIMESTAMP(4..6), DATE";

#[derive(Debug, Clone)]
struct Column {
    name: String,
    kind: Kind,
    nullable: bool,
}

/// A table's Avro record schema: how its rows are encoded and decoded.
#[derive(Debug, Clone)]
pub struct AvroSchema {
    arrow: SchemaRef,
    columns: Vec<Column>,
}

impl AvroSchema {
    /// The schema of `table`'s columns; an error names a column whose name
    /// or type Avro cannot carry, and what is accepted.
    pub fn for_table(table: &SchemaRef) -> Result<AvroSchema, String> {
        let mut columns = Vec::with_capacity(table.fields().len());
        for f in table.fields() {
            let name = f.name();
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!(
                    "column '{name}' cannot be an Avro field: names start with a letter or '_' and hold only letters, digits and '_'"
                ));
            }
            let kind = Kind::of(f.data_type()).ok_or_else(|| {
                format!(
                    "column '{name}' has type {} which format 'avro' does not carry; accepted: {ACCEPTED}",
                    f.data_type()
                )
            })?;
            columns.push(Column {
                name: name.clone(),
                kind,
                nullable: f.is_nullable(),
            });
        }
        Ok(AvroSchema {
            arrow: Arc::clone(table),
            columns,
        })
    }

    /// The Avro schema, as JSON.
    pub fn json(&self) -> serde_json::Value {
        let fields: Vec<serde_json::Value> = self
            .columns
            .iter()
            .map(|c| {
                let t = if c.nullable {
                    serde_json::json!(["null", c.kind.json()])
                } else {
                    c.kind.json()
                };
                serde_json::json!({"name": c.name, "type": t})
            })
            .collect();
        serde_json::json!({"type": "record", "name": "row", "fields": fields})
    }

    /// One datum per row of `batch` (whose columns are the table's, in order).
    pub fn encode(&self, batch: &RecordBatch) -> Result<Vec<Vec<u8>>, String> {
        if batch.num_columns() != self.columns.len() {
            return Err(format!(
                "{} columns to encode, the Avro schema has {}",
                batch.num_columns(),
                self.columns.len()
            ));
        }
        let mut rows = vec![Vec::new(); batch.num_rows()];
        for (c, a) in self.columns.iter().zip(batch.columns()) {
            if Kind::of(a.data_type()) != Some(c.kind) {
                return Err(format!(
                    "column '{}' is {} in the batch, not the table's type",
                    c.name,
                    a.data_type()
                ));
            }
            for (i, out) in rows.iter_mut().enumerate() {
                if a.is_null(i) {
                    if !c.nullable {
                        return Err(format!(
                            "column '{}' is declared NOT NULL but row {i} holds NULL",
                            c.name
                        ));
                    }
                    put_long(out, 0);
                    continue;
                }
                if c.nullable {
                    put_long(out, 1);
                }
                put_value(out, c.kind, a.as_ref(), i);
            }
        }
        Ok(rows)
    }

    /// The rows of `data`, one datum each, as a batch of the table's schema.
    /// An error names the datum (its index in `data`) and what is wrong.
    pub fn decode<'a>(
        &self,
        data: impl ExactSizeIterator<Item = &'a [u8]>,
    ) -> Result<RecordBatch, String> {
        let n = data.len();
        let mut builders: Vec<Builder> = self
            .columns
            .iter()
            .map(|c| Builder::new(c.kind, n))
            .collect();
        for (row, datum) in data.enumerate() {
            let mut r = Reader { b: datum, at: 0 };
            for (c, b) in self.columns.iter().zip(builders.iter_mut()) {
                let fail = |e: String| format!("datum {row}, field '{}': {e}", c.name);
                let present = if c.nullable {
                    match r.long().map_err(fail)? {
                        0 => false,
                        1 => true,
                        u => {
                            return Err(fail(format!(
                                "union branch {u}; the field's type is [\"null\", {}], branches 0 and 1",
                                c.kind.json()
                            )));
                        }
                    }
                } else {
                    true
                };
                if present {
                    b.push(&mut r).map_err(fail)?;
                } else {
                    b.push_null();
                }
            }
            if r.at != datum.len() {
                return Err(format!(
                    "datum {row}: {} bytes after the last field (a datum of another schema?); expected the schema {}",
                    datum.len() - r.at,
                    self.json()
                ));
            }
        }
        let columns: Vec<ArrayRef> = builders
            .into_iter()
            .zip(self.arrow.fields())
            .map(|(b, f)| b.finish(f.data_type()))
            .collect();
        let batch = RecordBatch::try_new(Arc::clone(&self.arrow), columns)
            .map_err(|e| format!("cannot build the rows: {e}"))?;
        Ok(batch)
    }

    /// The Arrow schema rows decode to.
    pub fn arrow(&self) -> &Schema {
        &self.arrow
    }
}

/// Avro's `long`/`int` encoding: zig-zag, then 7 bits a byte, low first.
fn put_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        let byte = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_value(out: &mut Vec<u8>, kind: Kind, a: &dyn Array, i: usize) {
    match kind {
        Kind::Boolean => out.push(u8::from(a.as_boolean().value(i))),
        Kind::Int8 => put_long(out, a.as_primitive::<Int8Type>().value(i).into()),
        Kind::Int16 => put_long(out, a.as_primitive::<Int16Type>().value(i).into()),
        Kind::Int32 => put_long(out, a.as_primitive::<Int32Type>().value(i).into()),
        Kind::Long => put_long(out, a.as_primitive::<Int64Type>().value(i)),
        Kind::Float => {
            out.extend_from_slice(&a.as_primitive::<Float32Type>().value(i).to_le_bytes())
        }
        Kind::Double => {
            out.extend_from_slice(&a.as_primitive::<Float64Type>().value(i).to_le_bytes())
        }
        Kind::String => {
            let s = a.as_string::<i32>().value(i);
            put_long(out, s.len() as i64);
            out.extend_from_slice(s.as_bytes());
        }
        Kind::TimestampMillis => {
            put_long(out, a.as_primitive::<TimestampMillisecondType>().value(i))
        }
        Kind::TimestampMicros => {
            put_long(out, a.as_primitive::<TimestampMicrosecondType>().value(i))
        }
        Kind::Date => put_long(out, a.as_primitive::<Date32Type>().value(i).into()),
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize, what: &str) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.b.len());
        match end {
            Some(end) => {
                let s = &self.b[self.at..end];
                self.at = end;
                Ok(s)
            }
            None => Err(format!(
                "the datum ends after {} bytes, inside a {what}",
                self.b.len()
            )),
        }
    }

    fn long(&mut self) -> Result<i64, String> {
        let mut z: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1, "long")?[0];
            z |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                if shift == 63 && byte > 1 {
                    break;
                }
                return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
        }
        Err("a long longer than 10 bytes (not Avro's variable-length encoding)".into())
    }

    fn int(&mut self) -> Result<i32, String> {
        let v = self.long()?;
        i32::try_from(v).map_err(|_| format!("{v} does not fit an Avro int"))
    }
}

/// Builds one column while decoding.
enum Builder {
    Boolean(BooleanBuilder),
    Int8(Int8Builder),
    Int16(Int16Builder),
    Int32(Int32Builder),
    Long(Int64Builder),
    Float(Float32Builder),
    Double(Float64Builder),
    String(StringBuilder),
    TimestampMillis(TimestampMillisecondBuilder),
    TimestampMicros(TimestampMicrosecondBuilder),
    Date(Date32Builder),
}

impl Builder {
    fn new(kind: Kind, n: usize) -> Builder {
        match kind {
            Kind::Boolean => Builder::Boolean(BooleanBuilder::with_capacity(n)),
            Kind::Int8 => Builder::Int8(Int8Builder::with_capacity(n)),
            Kind::Int16 => Builder::Int16(Int16Builder::with_capacity(n)),
            Kind::Int32 => Builder::Int32(Int32Builder::with_capacity(n)),
            Kind::Long => Builder::Long(Int64Builder::with_capacity(n)),
            Kind::Float => Builder::Float(Float32Builder::with_capacity(n)),
            Kind::Double => Builder::Double(Float64Builder::with_capacity(n)),
            Kind::String => Builder::String(StringBuilder::with_capacity(n, n * 8)),
            Kind::TimestampMillis => {
                Builder::TimestampMillis(TimestampMillisecondBuilder::with_capacity(n))
            }
            Kind::TimestampMicros => {
                Builder::TimestampMicros(TimestampMicrosecondBuilder::with_capacity(n))
            }
            Kind::Date => Builder::Date(Date32Builder::with_capacity(n)),
        }
    }

    fn push(&mut self, r: &mut Reader<'_>) -> Result<(), String> {
        let narrow = |v: i32, what: &str| format!("{v} does not fit the column's {what}");
        match self {
            Builder::Boolean(b) => match r.take(1, "boolean")?[0] {
                0 => b.append_value(false),
                1 => b.append_value(true),
                x => return Err(format!("boolean byte {x}, not 0 or 1")),
            },
            Builder::Int8(b) => {
                let v = r.int()?;
                b.append_value(i8::try_from(v).map_err(|_| narrow(v, "TINYINT"))?);
            }
            Builder::Int16(b) => {
                let v = r.int()?;
                b.append_value(i16::try_from(v).map_err(|_| narrow(v, "SMALLINT"))?);
            }
            Builder::Int32(b) => b.append_value(r.int()?),
            Builder::Long(b) => b.append_value(r.long()?),
            Builder::Float(b) => {
                let bytes = r.take(4, "float")?;
                b.append_value(f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]));
            }
            Builder::Double(b) => {
                let mut x = [0u8; 8];
                x.copy_from_slice(r.take(8, "double")?);
                b.append_value(f64::from_le_bytes(x));
            }
            Builder::String(b) => {
                let len = r.long()?;
                let len = usize::try_from(len)
                    .map_err(|_| format!("a string of negative length {len}"))?;
                let bytes = r.take(len, "string")?;
                let s = std::str::from_utf8(bytes)
                    .map_err(|e| format!("a string that is not UTF-8 ({e})"))?;
                b.append_value(s);
            }
            Builder::TimestampMillis(b) => b.append_value(r.long()?),
            Builder::TimestampMicros(b) => b.append_value(r.long()?),
            Builder::Date(b) => b.append_value(r.int()?),
        }
        Ok(())
    }

    fn push_null(&mut self) {
        match self {
            Builder::Boolean(b) => b.append_null(),
            Builder::Int8(b) => b.append_null(),
            Builder::Int16(b) => b.append_null(),
            Builder::Int32(b) => b.append_null(),
            Builder::Long(b) => b.append_null(),
            Builder::Float(b) => b.append_null(),
            Builder::Double(b) => b.append_null(),
            Builder::String(b) => b.append_null(),
            Builder::TimestampMillis(b) => b.append_null(),
            Builder::TimestampMicros(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
        }
    }

    /// The column, typed as the table's field `dt` (a timestamp keeps the
    /// field's time zone: the values are instants either way, only labelled).
    fn finish(self, dt: &DataType) -> ArrayRef {
        let tz = match dt {
            DataType::Timestamp(_, tz) => tz.clone(),
            _ => None,
        };
        match self {
            Builder::Boolean(mut b) => Arc::new(b.finish()),
            Builder::Int8(mut b) => Arc::new(b.finish()),
            Builder::Int16(mut b) => Arc::new(b.finish()),
            Builder::Int32(mut b) => Arc::new(b.finish()),
            Builder::Long(mut b) => Arc::new(b.finish()),
            Builder::Float(mut b) => Arc::new(b.finish()),
            Builder::Double(mut b) => Arc::new(b.finish()),
            Builder::String(mut b) => Arc::new(b.finish()),
            Builder::TimestampMillis(mut b) => Arc::new(b.finish().with_timezone_opt(tz)),
            Builder::TimestampMicros(mut b) => Arc::new(b.finish().with_timezone_opt(tz)),
            Builder::Date(mut b) => Arc::new(b.finish()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Field;

    fn long_bytes(v: i64) -> Vec<u8> {
        let mut out = Vec::new();
        put_long(&mut out, v);
        out
    }

    /// The examples of the Avro specification ("Binary Encoding").
    #[test]
    fn longs_are_zigzag_varints_as_in_the_spec() {
        for (v, want) in [
            (0, vec![0x00]),
            (-1, vec![0x01]),
            (1, vec![0x02]),
            (-2, vec![0x03]),
            (2, vec![0x04]),
            (-64, vec![0x7f]),
            (64, vec![0x80, 0x01]),
        ] {
            assert_eq!(long_bytes(v), want, "{v}");
        }
        for v in [i64::MIN, i64::MAX, -1_000_000_007, 1 << 40, 300] {
            let b = long_bytes(v);
            let mut r = Reader { b: &b, at: 0 };
            assert_eq!(r.long(), Ok(v));
            assert_eq!(r.at, b.len());
        }
        // "foo" is 06 66 6f 6f.
        let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, false)]));
        let a = AvroSchema::for_table(&schema).unwrap();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(datafusion::arrow::array::StringArray::from(vec![
                "foo",
            ]))],
        )
        .unwrap();
        assert_eq!(
            a.encode(&batch).unwrap(),
            vec![vec![0x06, b'f', b'o', b'o']]
        );
    }

    #[test]
    fn bad_data_is_an_error_naming_the_datum_and_field() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("v", DataType::Float64, true),
            Field::new("host", DataType::Utf8, true),
        ]));
        let a = AvroSchema::for_table(&schema).unwrap();
        let good: Vec<u8> = [&[2u8][..], &1.5f64.to_le_bytes(), &[2, 2, b'a']].concat();
        assert_eq!(a.decode([&good[..]].into_iter()).unwrap().num_rows(), 1);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                good[..5].to_vec(),
                "datum 1, field 'v': the datum ends after 5 bytes, inside a double",
            ),
            ([&[4u8][..]].concat(), "datum 1, field 'v': union branch 2"),
            (
                [&good[..], &[0u8][..]].concat(),
                "datum 1: 1 bytes after the last field",
            ),
            (
                [&[2u8][..], &1.5f64.to_le_bytes(), &[2, 4, 0xff, 0xfe]].concat(),
                "datum 1, field 'host': a string that is not UTF-8",
            ),
            (
                [&[2u8][..], &1.5f64.to_le_bytes(), &[2, 1]].concat(),
                "datum 1, field 'host': a string of negative length -1",
            ),
            (
                vec![0xff; 12],
                "datum 1, field 'v': a long longer than 10 bytes",
            ),
        ];
        for (bytes, want) in cases {
            let e = a.decode([&good[..], &bytes[..]].into_iter()).unwrap_err();
            assert!(e.starts_with(want), "{e}\nwant: {want}");
        }
    }

    #[test]
    fn unsupported_columns_are_refused_with_the_accepted_types() {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "t",
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            true,
        )]));
        let e = AvroSchema::for_table(&schema).unwrap_err();
        assert!(
            e.contains("column 't'") && e.contains("accepted: BOOLEAN"),
            "{e}"
        );
        let schema = Arc::new(Schema::new(vec![Field::new("a-b", DataType::Int64, true)]));
        let e = AvroSchema::for_table(&schema).unwrap_err();
        assert!(e.contains("column 'a-b' cannot be an Avro field"), "{e}");
    }

    /// A zoned timestamp column keeps every value, extremes included (no
    /// conversion that could turn one into NULL).
    #[test]
    fn zoned_timestamps_round_trip_at_the_extremes() {
        let dt = DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into()));
        let schema = Arc::new(Schema::new(vec![Field::new("t", dt, true)]));
        let a = AvroSchema::for_table(&schema).unwrap();
        let values = vec![
            Some(i64::MAX),
            Some(i64::MIN),
            None,
            Some(0),
            Some(9_000_000_000_000_000),
        ];
        let array = datafusion::arrow::array::TimestampMillisecondArray::from(values)
            .with_timezone("+00:00");
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(array)]).unwrap();
        let datums = a.encode(&batch).unwrap();
        let back = a.decode(datums.iter().map(Vec::as_slice)).unwrap();
        assert_eq!(back, batch);
    }

    #[test]
    fn a_declared_not_null_column_refuses_null() {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        let a = AvroSchema::for_table(&schema).unwrap();
        let nullable = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
        let batch = RecordBatch::try_new(
            nullable,
            vec![Arc::new(datafusion::arrow::array::Int64Array::from(vec![
                Some(1),
                None,
            ]))],
        )
        .unwrap();
        let e = a.encode(&batch).unwrap_err();
        assert!(e.contains("declared NOT NULL but row 1 holds NULL"), "{e}");
    }
}
