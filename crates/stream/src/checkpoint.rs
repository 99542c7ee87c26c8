//! Checkpoints: one file per job directory, replaced atomically.
//!
//! Written between epochs, when nothing runs, so it is a consistent cut: the
//! source position, the watermark and reorder buffer, every detector's state
//! (the WIT `snapshot`) and the sinks' positions all describe the same
//! moment. The file is written to `checkpoint.tmp`, fsynced, renamed over
//! `checkpoint`, and the directory is fsynced: a crash leaves either the old
//! or the new checkpoint, never a torn one.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wasmad_sql::state::SlotSnapshot;

use crate::error::{Error, Result};
use crate::eventtime::EventTimeState;

const MAGIC: &[u8; 4] = b"WMCK";
const VERSION: u16 = 2;
const FILE: &str = "checkpoint";

/// One detector slot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DetectorSlot {
    /// Slot name (operator call and partition).
    pub id: String,
    /// WIT snapshot bytes.
    pub detector: Vec<u8>,
    /// Key dictionary.
    pub keys: Vec<(Vec<u8>, u32)>,
    /// Rows processed (the clock of forms without a time column).
    #[serde(default)]
    pub clock: i64,
    /// Each key's latest event time, by key id.
    #[serde(default)]
    pub last_ts: Vec<i64>,
}

impl From<SlotSnapshot> for DetectorSlot {
    fn from(s: SlotSnapshot) -> Self {
        DetectorSlot {
            id: s.id,
            detector: s.detector,
            keys: s.keys,
            clock: s.clock,
            last_ts: s.last_ts,
        }
    }
}

impl From<DetectorSlot> for SlotSnapshot {
    fn from(s: DetectorSlot) -> Self {
        SlotSnapshot {
            id: s.id,
            detector: s.detector,
            keys: s.keys,
            clock: s.clock,
            last_ts: s.last_ts,
        }
    }
}

/// Everything a job needs to resume.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Fingerprint of the job script: a checkpoint resumes only its own job.
    pub job: u64,
    /// Epochs completed.
    pub epoch: u64,
    /// Partitions of the detector operator (`--parallelism`): keys hash to
    /// partitions, so it must not change across a restore.
    pub partitions: usize,
    /// Source position.
    pub source_offset: Vec<u8>,
    /// Watermark state.
    pub event_time: EventTimeState,
    /// Reorder buffer (Arrow IPC stream).
    pub buffer: Vec<u8>,
    /// Detector states.
    pub detectors: Vec<DetectorSlot>,
    /// Sink position (serialised by the sink).
    pub sink_position: Vec<u8>,
    /// Late side-output sink position, if the job has one.
    pub late_sink_position: Option<Vec<u8>>,
    /// Counters carried across restarts: rows in, rows out, anomalies, late rows.
    pub counters: [u64; 4],
}

/// FNV-1a: a stable fingerprint of the job text.
pub fn fingerprint(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn io(path: &Path, what: &str, e: std::io::Error) -> Error {
    Error::Checkpoint(format!("{what} {}: {e}", path.display()))
}

/// The checkpoint file in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// Write `ckpt` into `dir` atomically; returns its size in bytes.
pub fn write(dir: &Path, ckpt: &Checkpoint) -> Result<u64> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, "cannot create", e))?;
    let body = postcard::to_allocvec(ckpt)
        .map_err(|e| Error::Checkpoint(format!("cannot encode: {e}")))?;
    let tmp = dir.join(format!("{FILE}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, "cannot create", e))?;
        f.write_all(MAGIC)
            .map_err(|e| io(&tmp, "cannot write", e))?;
        f.write_all(&VERSION.to_le_bytes())
            .map_err(|e| io(&tmp, "cannot write", e))?;
        f.write_all(&body)
            .map_err(|e| io(&tmp, "cannot write", e))?;
        f.sync_all().map_err(|e| io(&tmp, "cannot fsync", e))?;
    }
    let dest = path(dir);
    std::fs::rename(&tmp, &dest).map_err(|e| io(&dest, "cannot rename onto", e))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(dir, "cannot fsync", e))?;
    Ok(body.len() as u64 + 6)
}

/// The checkpoint in `dir`, if there is one.
pub fn read(dir: &Path) -> Result<Option<Checkpoint>> {
    let p = path(dir);
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&p, "cannot read", e)),
    };
    if bytes.len() < 6 || &bytes[..4] != MAGIC {
        return Err(Error::Checkpoint(format!(
            "{} is not a wasmad checkpoint (it must start with 'WMCK')",
            p.display()
        )));
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    if version != VERSION {
        return Err(Error::Checkpoint(format!(
            "{}: checkpoint version {version} is not supported; this build reads version {VERSION}",
            p.display()
        )));
    }
    let ckpt = postcard::from_bytes(&bytes[6..])
        .map_err(|e| Error::Checkpoint(format!("{} is corrupt: {e}", p.display())))?;
    Ok(Some(ckpt))
}
