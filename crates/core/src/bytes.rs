//! The bulk bytes calling convention of `process-bytes` (see `wit/detector.wit`):
//! raw little-endian columns in, raw little-endian columns out.

use crate::engine::{Input, Scores};
use crate::error::{Error, Result};

/// Owned columns decoded from a `process-bytes` request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OwnedInput {
    /// Timestamps.
    pub timestamps: Vec<i64>,
    /// Values, row-major.
    pub values: Vec<f64>,
    /// Values per row.
    pub width: usize,
    /// Key ids (empty: one model).
    pub keys: Vec<u32>,
}

impl OwnedInput {
    /// Borrow as an [`Input`].
    pub fn as_input(&self) -> Input<'_> {
        Input {
            timestamps: &self.timestamps,
            values: &self.values,
            width: self.width,
            keys: &self.keys,
        }
    }
}

fn take<'a>(b: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8]> {
    if b.len() < n {
        return Err(Error::InvalidInput(format!(
            "process-bytes input is truncated in {what}: needs {n} more bytes, has {}",
            b.len()
        )));
    }
    let (head, tail) = b.split_at(n);
    *b = tail;
    Ok(head)
}

fn u32_at(b: &mut &[u8], what: &str) -> Result<u32> {
    let s = take(b, 4, what)?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Encode a request: `u32 n, u32 width, u32 has_keys`, i64 timestamps,
/// f64 values, u32 keys.
pub fn encode_input(input: &Input<'_>) -> Vec<u8> {
    let n = input.rows();
    let mut out = Vec::with_capacity(12 + n * 8 + input.values.len() * 8 + input.keys.len() * 4);
    out.extend_from_slice(&(n as u32).to_le_bytes());
    out.extend_from_slice(&(input.width as u32).to_le_bytes());
    out.extend_from_slice(&u32::from(!input.keys.is_empty()).to_le_bytes());
    for t in input.timestamps {
        out.extend_from_slice(&t.to_le_bytes());
    }
    for v in input.values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for k in input.keys {
        out.extend_from_slice(&k.to_le_bytes());
    }
    out
}

/// Decode a request.
pub fn decode_input(mut b: &[u8]) -> Result<OwnedInput> {
    let n = u32_at(&mut b, "the header")? as usize;
    let width = u32_at(&mut b, "the header")? as usize;
    let has_keys = u32_at(&mut b, "the header")?;
    if has_keys > 1 {
        return Err(Error::InvalidInput(format!(
            "process-bytes header has-keys must be 0 or 1, got {has_keys}"
        )));
    }
    if width == 0 {
        return Err(Error::InvalidInput("width must be at least 1".into()));
    }
    let nv = n
        .checked_mul(width)
        .ok_or_else(|| Error::InvalidInput(format!("rows ({n}) * width ({width}) overflows")))?;
    let expected = n
        .saturating_mul(8)
        .saturating_add(nv.saturating_mul(8))
        .saturating_add(if has_keys == 1 {
            n.saturating_mul(4)
        } else {
            0
        });
    if b.len() != expected {
        return Err(Error::InvalidInput(format!(
            "process-bytes body has {} bytes; a batch of {n} rows of width {width} (keys: {}) needs {expected}",
            b.len(),
            has_keys == 1
        )));
    }
    let ts = take(&mut b, n * 8, "timestamps")?;
    let vs = take(&mut b, nv * 8, "values")?;
    let timestamps = ts
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();
    let values = vs
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();
    let keys = if has_keys == 1 {
        b.chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap_or([0; 4])))
            .collect()
    } else {
        Vec::new()
    };
    Ok(OwnedInput {
        timestamps,
        values,
        width,
        keys,
    })
}

/// Encode results: `u32 n`, `u32 has_probability`, then forecast, lower,
/// upper, score (f64 each), flags (u8), and probability (f64) if present.
pub fn encode_scores(s: &Scores) -> Vec<u8> {
    let n = s.len();
    let has_p = !s.probability.is_empty();
    let mut out = Vec::with_capacity(8 + n * if has_p { 41 } else { 33 });
    out.extend_from_slice(&(n as u32).to_le_bytes());
    out.extend_from_slice(&u32::from(has_p).to_le_bytes());
    for col in [&s.forecast, &s.lower, &s.upper, &s.score] {
        for v in col {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out.extend_from_slice(&s.flags);
    for v in &s.probability {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Decode results.
pub fn decode_scores(mut b: &[u8]) -> Result<Scores> {
    let n = u32_at(&mut b, "the header")? as usize;
    let has_p = u32_at(&mut b, "the header")?;
    if has_p > 1 {
        return Err(Error::InvalidInput(format!(
            "scores header has-probability must be 0 or 1, got {has_p}"
        )));
    }
    let per_row = if has_p == 1 { 41 } else { 33 };
    let need = n.checked_mul(per_row);
    if need != Some(b.len()) {
        return Err(Error::InvalidInput(format!(
            "scores body has {} bytes; {n} rows need {}",
            b.len(),
            n.saturating_mul(per_row)
        )));
    }
    let col = |b: &mut &[u8]| -> Result<Vec<f64>> {
        Ok(take(b, n * 8, "scores")?
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect())
    };
    let forecast = col(&mut b)?;
    let lower = col(&mut b)?;
    let upper = col(&mut b)?;
    let score = col(&mut b)?;
    let flags = take(&mut b, n, "flags")?.to_vec();
    let probability = if has_p == 1 { col(&mut b)? } else { Vec::new() };
    Ok(Scores {
        forecast,
        lower,
        upper,
        score,
        flags,
        probability,
    })
}
