//! Event time: the watermark and the reorder buffer.
//!
//! The watermark of a source is the smallest, over its partitions that are
//! not idle, of (largest event time seen in the partition − the declared
//! delay); it never goes back. A partition that has produced nothing for the
//! idle timeout stops holding the watermark back; when every partition is
//! idle the largest partition watermark is used. When the source ends the
//! watermark jumps to +∞.
//!
//! Rows wait in the reorder buffer until the watermark reaches their event
//! time, then leave sorted by event time (stable: ties keep arrival order).
//! Out-of-order input within the delay therefore reaches the detector in the
//! same order as sorted input. A row whose event time is already below the
//! watermark when it arrives is late: it is returned separately (the job
//! writes it to its late side output and counts it).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{cast, concat_batches, filter_record_batch, take_record_batch};
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Event time in microseconds, NULL as `None`.
fn micros(col: &ArrayRef) -> Result<Vec<Option<i64>>> {
    let as_us = match col.data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, _) | DataType::Int64 => Arc::clone(col),
        DataType::Timestamp(_, tz) => {
            cast(col, &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))?
        }
        other => {
            return Err(Error::Ddl(format!(
                "event-time column of type {other}: a TIMESTAMP or BIGINT (microseconds) is required"
            )));
        }
    };
    let as_i64 = cast(&as_us, &DataType::Int64)?;
    Ok(as_i64.as_primitive::<Int64Type>().iter().collect())
}

/// Per-partition progress, serialised in checkpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventTimeState {
    /// Largest event time seen per partition.
    pub max_seen: Vec<Option<i64>>,
    /// The current watermark (`i64::MIN` before any row).
    pub watermark: i64,
}

/// Watermark and reorder buffer of one source.
#[derive(Debug)]
pub struct EventTime {
    schema: SchemaRef,
    time_idx: usize,
    delay: i64,
    idle_timeout: Option<i64>,
    state: EventTimeState,
    /// Per partition: processing time (µs) of the last row.
    last_active: Vec<i64>,
    /// Buffered rows and their arrival times (µs since the job started).
    buffer: Vec<(RecordBatch, Vec<u64>)>,
    buffered: usize,
    min_buffered: i64,
    ordered: bool,
}

impl EventTime {
    /// For a source of `partitions` partitions with event time at `time_idx`;
    /// `delay` `None` means no watermark was declared: rows pass through in
    /// arrival order and nothing is late.
    pub fn new(
        schema: SchemaRef,
        time_idx: usize,
        delay: Option<i64>,
        idle_timeout: Option<i64>,
        partitions: usize,
    ) -> Self {
        EventTime {
            schema,
            time_idx,
            delay: delay.unwrap_or(0),
            idle_timeout,
            state: EventTimeState {
                max_seen: vec![None; partitions.max(1)],
                watermark: i64::MIN,
            },
            last_active: vec![0; partitions.max(1)],
            buffer: Vec::new(),
            buffered: 0,
            min_buffered: i64::MAX,
            ordered: delay.is_some(),
        }
    }

    /// The current watermark.
    pub fn watermark(&self) -> i64 {
        self.state.watermark
    }

    /// Rows waiting for the watermark.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Add rows that arrived at `now` (µs since the job started) from
    /// `partition`; returns the late ones (already below the watermark).
    pub fn push(
        &mut self,
        partition: usize,
        batch: RecordBatch,
        now: u64,
    ) -> Result<Option<RecordBatch>> {
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        let p = partition.min(self.state.max_seen.len() - 1);
        self.last_active[p] = now as i64;
        if !self.ordered {
            let n = batch.num_rows();
            self.buffered += n;
            self.buffer.push((batch, vec![now; n]));
            return Ok(None);
        }
        let ts = micros(batch.column(self.time_idx))?;
        let wm = self.state.watermark;
        let late_mask: BooleanArray = ts
            .iter()
            .map(|t| Some(matches!(t, Some(t) if *t < wm)))
            .collect();
        let late_count = late_mask.true_count();
        let (on_time, late) = if late_count == 0 {
            (batch, None)
        } else {
            let keep = datafusion::arrow::compute::not(&late_mask)?;
            (
                filter_record_batch(&batch, &keep)?,
                Some(filter_record_batch(&batch, &late_mask)?),
            )
        };
        for t in ts
            .iter()
            .zip(late_mask.values().iter())
            .filter(|(_, l)| !l)
            .filter_map(|(t, _)| *t)
        {
            let m = &mut self.state.max_seen[p];
            *m = Some(m.map_or(t, |m| m.max(t)));
            self.min_buffered = self.min_buffered.min(t);
        }
        if on_time.num_rows() > 0 {
            if ts.iter().any(Option::is_none) {
                // Rows without event time are released at once (the
                // detector marks them skipped).
                self.min_buffered = i64::MIN;
            }
            let n = on_time.num_rows();
            self.buffered += n;
            self.buffer.push((on_time, vec![now; n]));
        }
        Ok(late)
    }

    /// Recompute the watermark at processing time `now` (µs since start).
    pub fn advance(&mut self, now: u64) {
        if !self.ordered {
            return;
        }
        let mut active = Vec::new();
        let mut all = Vec::new();
        for (p, m) in self.state.max_seen.iter().enumerate() {
            let idle = self
                .idle_timeout
                .is_some_and(|t| now as i64 - self.last_active[p] >= t);
            if let Some(m) = m {
                all.push(m.saturating_sub(self.delay));
                if !idle {
                    active.push(m.saturating_sub(self.delay));
                }
            } else if !idle {
                // A partition that has produced nothing holds the watermark
                // back until it does or goes idle.
                active.push(i64::MIN);
            }
        }
        let candidate = if active.is_empty() {
            all.into_iter().max()
        } else {
            active.into_iter().min()
        };
        if let Some(c) = candidate {
            self.state.watermark = self.state.watermark.max(c);
        }
    }

    /// The source has ended: everything buffered can go.
    pub fn finish(&mut self) {
        if self.ordered {
            self.state.watermark = i64::MAX;
        }
    }

    /// Rows at or below the watermark, sorted by event time, with their
    /// arrival times.
    pub fn release(&mut self) -> Result<Option<(RecordBatch, Vec<u64>)>> {
        if self.buffered == 0 {
            return Ok(None);
        }
        if !self.ordered {
            let parts = std::mem::take(&mut self.buffer);
            self.buffered = 0;
            return self.concat(parts).map(Some);
        }
        if self.min_buffered > self.state.watermark {
            return Ok(None);
        }
        let parts = std::mem::take(&mut self.buffer);
        let (all, arrivals) = self.concat(parts)?;
        let ts = micros(all.column(self.time_idx))?;
        let wm = self.state.watermark;
        let mut ready: Vec<u32> = Vec::new();
        let mut keep: Vec<u32> = Vec::new();
        for (i, t) in ts.iter().enumerate() {
            match t {
                Some(t) if *t > wm => keep.push(i as u32),
                _ => ready.push(i as u32),
            }
        }
        // Stable: equal times keep their arrival order.
        ready.sort_by_key(|&i| ts[i as usize].unwrap_or(i64::MIN));
        let pick = |idx: &[u32]| -> Result<(RecordBatch, Vec<u64>)> {
            let indices = UInt32Array::from(idx.to_vec());
            let b = take_record_batch(&all, &indices)?;
            let a = idx.iter().map(|&i| arrivals[i as usize]).collect();
            Ok((b, a))
        };
        let out = pick(&ready)?;
        let rest = pick(&keep)?;
        self.buffered = rest.0.num_rows();
        self.min_buffered = keep
            .iter()
            .filter_map(|&i| ts[i as usize])
            .min()
            .unwrap_or(i64::MAX);
        if self.buffered > 0 {
            self.buffer.push(rest);
        }
        Ok((out.0.num_rows() > 0).then_some(out))
    }

    fn concat(&self, parts: Vec<(RecordBatch, Vec<u64>)>) -> Result<(RecordBatch, Vec<u64>)> {
        let arrivals: Vec<u64> = parts.iter().flat_map(|(_, a)| a.iter().copied()).collect();
        let batches: Vec<RecordBatch> = parts.into_iter().map(|(b, _)| b).collect();
        Ok((concat_batches(&self.schema, &batches)?, arrivals))
    }

    /// The watermark state and the buffered rows, for a checkpoint.
    pub fn checkpoint(&self) -> Result<(EventTimeState, Vec<u8>)> {
        let batches: Vec<RecordBatch> = self.buffer.iter().map(|(b, _)| b.clone()).collect();
        let mut buf = Vec::new();
        {
            let mut w =
                datafusion::arrow::ipc::writer::StreamWriter::try_new(&mut buf, &self.schema)?;
            for b in &batches {
                w.write(b)?;
            }
            w.finish()?;
        }
        Ok((self.state.clone(), buf))
    }

    /// Put back a checkpoint's state and buffered rows (arriving `now`).
    pub fn restore(&mut self, state: EventTimeState, buffer: &[u8], now: u64) -> Result<()> {
        if state.max_seen.len() != self.state.max_seen.len() {
            return Err(Error::Checkpoint(format!(
                "the checkpoint tracks {} source partitions, the source has {}",
                state.max_seen.len(),
                self.state.max_seen.len()
            )));
        }
        self.state = state;
        self.buffer.clear();
        self.buffered = 0;
        self.min_buffered = i64::MAX;
        let reader = datafusion::arrow::ipc::reader::StreamReader::try_new(
            std::io::Cursor::new(buffer),
            None,
        )?;
        for b in reader {
            let b = b?;
            let b = RecordBatch::try_new(Arc::clone(&self.schema), b.columns().to_vec())?;
            if self.ordered {
                for t in micros(b.column(self.time_idx))?.into_iter() {
                    self.min_buffered = self.min_buffered.min(t.unwrap_or(i64::MIN));
                }
            }
            let n = b.num_rows();
            self.buffered += n;
            self.buffer.push((b, vec![now; n]));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("ts", DataType::Int64, true),
        ]))
    }

    fn batch(rows: &[(&str, i64)]) -> RecordBatch {
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
            ],
        )
        .unwrap()
    }

    fn times(b: &RecordBatch) -> Vec<i64> {
        b.column(1).as_primitive::<Int64Type>().values().to_vec()
    }

    #[test]
    fn releases_in_time_order_once_the_watermark_passes() {
        let mut et = EventTime::new(schema(), 1, Some(10), None, 1);
        assert!(
            et.push(0, batch(&[("a", 5), ("a", 3), ("b", 12)]), 0)
                .unwrap()
                .is_none()
        );
        et.advance(0);
        assert_eq!(et.watermark(), 2);
        assert!(et.release().unwrap().is_none());
        et.push(0, batch(&[("a", 20), ("b", 4)]), 1).unwrap();
        et.advance(1);
        assert_eq!(et.watermark(), 10);
        let (out, arrivals) = et.release().unwrap().unwrap();
        assert_eq!(times(&out), vec![3, 4, 5]);
        assert_eq!(arrivals, vec![0, 1, 0]);
        // 7 is below the watermark (10): late, never buffered.
        let late = et
            .push(0, batch(&[("a", 7), ("a", 15)]), 2)
            .unwrap()
            .unwrap();
        assert_eq!(times(&late), vec![7]);
        et.finish();
        let (out, _) = et.release().unwrap().unwrap();
        assert_eq!(times(&out), vec![12, 15, 20]);
        assert_eq!(et.buffered(), 0);
    }

    #[test]
    fn an_idle_partition_stops_holding_the_watermark() {
        let mut et = EventTime::new(schema(), 1, Some(0), Some(100), 2);
        et.push(0, batch(&[("a", 50)]), 0).unwrap();
        et.advance(10);
        // Partition 1 has produced nothing and is not idle yet.
        assert_eq!(et.watermark(), i64::MIN);
        et.advance(150);
        assert_eq!(et.watermark(), 50);
    }

    #[test]
    fn checkpoint_round_trip_keeps_buffer_and_watermark() {
        let mut et = EventTime::new(schema(), 1, Some(10), None, 1);
        et.push(0, batch(&[("a", 30), ("a", 25)]), 0).unwrap();
        et.advance(0);
        let (state, bytes) = et.checkpoint().unwrap();
        let mut back = EventTime::new(schema(), 1, Some(10), None, 1);
        back.restore(state, &bytes, 5).unwrap();
        assert_eq!(back.watermark(), 20);
        assert_eq!(back.buffered(), 2);
        back.finish();
        assert_eq!(times(&back.release().unwrap().unwrap().0), vec![25, 30]);
    }
}
