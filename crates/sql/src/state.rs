//! [`DetectorStateStore`]: detector state that outlives one execution of a
//! plan.
//!
//! A batch query creates a fresh detector per partition each time it runs. A
//! streaming job (`wasmad-stream`) runs the same physical plan once per epoch
//! and needs each partition's detector and key dictionary to carry on from
//! where the previous epoch left them. It installs a store as a
//! `SessionConfig` extension; [`crate::exec::DetectAnomaliesExec`] then takes
//! its partition's state from the store when it starts and puts it back when
//! its stream ends (or is dropped). Between epochs nothing runs, so
//! [`DetectorStateStore::snapshot`] sees a consistent cut, and
//! [`DetectorStateStore::restore`] puts a checkpoint back before the first
//! epoch.
//!
//! Slots are named after the operator's call (value, time, key columns and
//! detector config) and the partition number, so the same SQL planned again
//! in a restarted process finds its state. Two identical calls over inputs
//! with the same columns in one query would share a name: the stream runtime
//! refuses such queries.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};

use datafusion::common::exec_datafusion_err;
use datafusion::error::Result;

use crate::backend::{Backend, PartitionDetector};

/// One partition's detector and its key dictionary (key row bytes to dense id).
pub(crate) struct Slot {
    pub(crate) detector: PartitionDetector,
    pub(crate) keys: hashbrown::HashMap<Box<[u8]>, u32>,
    /// Rows processed: the clock of forms without a time column.
    pub(crate) clock: i64,
    /// Each key's latest event time (ML_FORECAST's step).
    pub(crate) last_ts: Vec<i64>,
}

/// The serialisable form of one slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotSnapshot {
    /// The slot's name (operator call and partition).
    pub id: String,
    /// The detector's snapshot (the WIT `snapshot`).
    pub detector: Vec<u8>,
    /// Key dictionary: the key columns in Arrow row format, and their ids.
    pub keys: Vec<(Vec<u8>, u32)>,
    /// Rows processed (the clock of forms without a time column).
    pub clock: i64,
    /// Each key's latest event time, by key id.
    pub last_ts: Vec<i64>,
}

/// Detector state shared by the executions of one plan (see the module docs).
#[derive(Default)]
pub struct DetectorStateStore {
    slots: Mutex<BTreeMap<String, Slot>>,
    /// Keys evicted (`maxKeys`, `stateTtl`) by every slot, ever.
    evicted: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl fmt::Debug for DetectorStateStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DetectorStateStore")
            .field("slots", &self.lock().keys().cloned().collect::<Vec<_>>())
            .finish()
    }
}

impl DetectorStateStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Slot>> {
        // A panic elsewhere cannot leave a slot half-written: slots are
        // moved in and out whole.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The running count of evicted keys (shared with the operators).
    pub(crate) fn evicted_counter(&self) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
        std::sync::Arc::clone(&self.evicted)
    }

    /// Keys evicted so far (`maxKeys`, `stateTtl`), over every slot.
    pub fn evicted_keys(&self) -> u64 {
        self.evicted.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn take(&self, id: &str) -> Option<Slot> {
        self.lock().remove(id)
    }

    pub(crate) fn put(&self, id: String, slot: Slot) {
        self.lock().insert(id, slot);
    }

    /// Number of slots (operator partitions that have run).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no operator partition has run yet.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Keys known to all slots.
    pub fn key_count(&self) -> usize {
        self.lock().values().map(|s| s.keys.len().max(1)).sum()
    }

    /// Snapshot every slot, in name order. Call it between executions.
    pub fn snapshot(&self) -> Result<Vec<SlotSnapshot>> {
        let mut slots = self.lock();
        let mut out = Vec::with_capacity(slots.len());
        for (id, slot) in slots.iter_mut() {
            let detector = slot
                .detector
                .snapshot()
                .map_err(|e| exec_datafusion_err!("snapshot of detector state '{id}': {e}"))?;
            let mut keys: Vec<(Vec<u8>, u32)> =
                slot.keys.iter().map(|(k, v)| (k.to_vec(), *v)).collect();
            keys.sort_by_key(|(_, id)| *id);
            out.push(SlotSnapshot {
                id: id.clone(),
                detector,
                keys,
                clock: slot.clock,
                last_ts: slot.last_ts.clone(),
            });
        }
        Ok(out)
    }

    /// Replace the store's content with `snapshots`, rebuilding each detector
    /// on `backend`.
    pub fn restore(&self, snapshots: Vec<SlotSnapshot>, backend: &Backend) -> Result<()> {
        let mut restored = BTreeMap::new();
        for s in snapshots {
            let detector = backend.restore(&s.detector).map_err(|e| {
                exec_datafusion_err!("cannot restore detector state '{}': {e}", s.id)
            })?;
            let keys = s
                .keys
                .into_iter()
                .map(|(k, v)| (k.into_boxed_slice(), v))
                .collect();
            restored.insert(
                s.id,
                Slot {
                    detector,
                    keys,
                    clock: s.clock,
                    last_ts: s.last_ts,
                },
            );
        }
        *self.lock() = restored;
        Ok(())
    }
}
