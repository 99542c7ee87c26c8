//! The bulk bytes calling convention of `process-bytes` (see `wit/detector.wit`):
//! raw little-endian columns in, raw little-endian columns out.

use crate::engine::{Extra, Input, Scores};
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

/// Request header bit: a key column follows the values.
pub const INPUT_HAS_KEYS: u32 = 1;
/// Request header bit: no timestamps (for detectors that read no event
/// time; see [`crate::Detector::needs_timestamps`]).
pub const INPUT_NO_TIMESTAMPS: u32 = 2;

/// Encode a request: `u32 n, u32 width, u32 flags` ([`INPUT_HAS_KEYS`],
/// [`INPUT_NO_TIMESTAMPS`]), n i64 timestamps (unless left out), f64
/// values, u32 keys.
pub fn encode_input(input: &Input<'_>) -> Vec<u8> {
    let n = input.rows();
    let mut out = Vec::with_capacity(
        12 + input.timestamps.len() * 8 + input.values.len() * 8 + input.keys.len() * 4,
    );
    let mut flags = 0;
    if !input.keys.is_empty() {
        flags |= INPUT_HAS_KEYS;
    }
    if input.timestamps.is_empty() && n > 0 {
        flags |= INPUT_NO_TIMESTAMPS;
    }
    out.extend_from_slice(&(n as u32).to_le_bytes());
    out.extend_from_slice(&(input.width as u32).to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
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
    let header_flags = u32_at(&mut b, "the header")?;
    if header_flags > INPUT_HAS_KEYS | INPUT_NO_TIMESTAMPS {
        return Err(Error::InvalidInput(format!(
            "process-bytes header flags must be 0 to 3 (bit 0: keys follow, bit 1: no timestamps), got {header_flags}"
        )));
    }
    let has_keys = u32::from(header_flags & INPUT_HAS_KEYS != 0);
    let n_ts = if header_flags & INPUT_NO_TIMESTAMPS != 0 {
        0
    } else {
        n
    };
    if width == 0 {
        return Err(Error::InvalidInput("width must be at least 1".into()));
    }
    let nv = n
        .checked_mul(width)
        .ok_or_else(|| Error::InvalidInput(format!("rows ({n}) * width ({width}) overflows")))?;
    let expected = n_ts
        .saturating_mul(8)
        .saturating_add(nv.saturating_mul(8))
        .saturating_add(if has_keys == 1 {
            n.saturating_mul(4)
        } else {
            0
        });
    if b.len() != expected {
        return Err(Error::InvalidInput(format!(
            "process-bytes body has {} bytes; a batch of {n} rows of width {width} (keys: {}, timestamps: {}) needs {expected}",
            b.len(),
            has_keys == 1,
            n_ts == n
        )));
    }
    let ts = take(&mut b, n_ts * 8, "timestamps")?;
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

/// Header bit: a probability column follows the flags.
pub const HAS_PROBABILITY: u32 = 1;
/// Header bit: an extras section follows (see [`encode_scores`]).
pub const HAS_EXTRAS: u32 = 2;

/// Encode results: `u32 n`, `u32 present` (bit 0: probability, bit 1:
/// extras), then forecast, lower, upper, score (n f64 each), flags (n u8),
/// probability (n f64) if present, and, if present, the extras: `u32 count`,
/// then per extra `u32 name_len`, the UTF-8 name, `u32 per_row` and
/// `n * per_row` f64.
pub fn encode_scores(s: &Scores) -> Vec<u8> {
    let n = s.len();
    let has_p = !s.probability.is_empty();
    let has_x = !s.extras.is_empty();
    let extra_bytes: usize = s
        .extras
        .iter()
        .map(|e| 8 + e.name.len() + e.values.len() * 8)
        .sum();
    let mut out = Vec::with_capacity(12 + n * if has_p { 41 } else { 33 } + extra_bytes);
    out.extend_from_slice(&(n as u32).to_le_bytes());
    let present = if has_p { HAS_PROBABILITY } else { 0 } | if has_x { HAS_EXTRAS } else { 0 };
    out.extend_from_slice(&present.to_le_bytes());
    for col in [&s.forecast, &s.lower, &s.upper, &s.score] {
        for v in col {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out.extend_from_slice(&s.flags);
    for v in &s.probability {
        out.extend_from_slice(&v.to_le_bytes());
    }
    if has_x {
        out.extend_from_slice(&(s.extras.len() as u32).to_le_bytes());
        for e in &s.extras {
            out.extend_from_slice(&(e.name.len() as u32).to_le_bytes());
            out.extend_from_slice(e.name.as_bytes());
            out.extend_from_slice(&(e.per_row as u32).to_le_bytes());
            for v in &e.values {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    out
}

/// Decode results.
pub fn decode_scores(mut b: &[u8]) -> Result<Scores> {
    let n = u32_at(&mut b, "the header")? as usize;
    let present = u32_at(&mut b, "the header")?;
    if present > (HAS_PROBABILITY | HAS_EXTRAS) {
        return Err(Error::InvalidInput(format!(
            "scores header present-bits must be 0 to 3 (bit 0 probability, bit 1 extras), got {present}"
        )));
    }
    let has_p = present & HAS_PROBABILITY != 0;
    let per_row = if has_p { 41 } else { 33 };
    let need = n.checked_mul(per_row);
    if need.is_none_or(|need| need > b.len())
        || (present & HAS_EXTRAS == 0 && need != Some(b.len()))
    {
        return Err(Error::InvalidInput(format!(
            "scores body has {} bytes; {n} rows need {}",
            b.len(),
            n.saturating_mul(per_row)
        )));
    }
    let col = |b: &mut &[u8], len: usize| -> Result<Vec<f64>> {
        Ok(take(b, len.saturating_mul(8), "scores")?
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect())
    };
    let forecast = col(&mut b, n)?;
    let lower = col(&mut b, n)?;
    let upper = col(&mut b, n)?;
    let score = col(&mut b, n)?;
    let flags = take(&mut b, n, "flags")?.to_vec();
    let probability = if has_p { col(&mut b, n)? } else { Vec::new() };
    let mut extras = Vec::new();
    if present & HAS_EXTRAS != 0 {
        let count = u32_at(&mut b, "the extras header")?;
        for _ in 0..count {
            let len = u32_at(&mut b, "an extra's name length")? as usize;
            let name = std::str::from_utf8(take(&mut b, len, "an extra's name")?)
                .map_err(|_| Error::InvalidInput("an extra's name is not UTF-8".into()))?
                .to_string();
            let per_row = u32_at(&mut b, "an extra's width")? as usize;
            let values = col(&mut b, n.saturating_mul(per_row))?;
            extras.push(Extra {
                name,
                per_row,
                values,
            });
        }
        if !b.is_empty() {
            return Err(Error::InvalidInput(format!(
                "scores body has {} unexpected bytes after the extras",
                b.len()
            )));
        }
    }
    Ok(Scores {
        forecast,
        lower,
        upper,
        score,
        flags,
        probability,
        extras,
    })
}
