//! Where detectors run: inside the WASM component (the default, what users
//! get) or natively (for benchmarks and parity checks; identical results).

use datafusion::error::{DataFusionError, Result};
use wasmad_core::{Input, Scores};
use wasmad_host::{Runtime, WasmDetector};

/// The detector implementation a session uses.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A component loaded with wasmtime (the embedded one or `--module PATH`).
    Wasm(Runtime),
    /// `wasmad-core` compiled into the host; for benchmarks and parity tests.
    Native,
}

impl Backend {
    /// The embedded component with default limits.
    pub fn embedded() -> Result<Backend> {
        Runtime::embedded(wasmad_host::Limits::default())
            .map(Backend::Wasm)
            .map_err(|e| DataFusionError::External(Box::new(e)))
    }

    /// Short name for plans and benchmarks.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Wasm(_) => "wasm",
            Backend::Native => "native",
        }
    }

    /// The module's `describe()` JSON.
    pub fn describe(&self) -> String {
        match self {
            Backend::Wasm(rt) => rt.describe().to_string(),
            Backend::Native => wasmad_core::describe(),
        }
    }

    /// A detector for one partition.
    pub fn create(&self, config: &str) -> Result<PartitionDetector, String> {
        match self {
            Backend::Wasm(rt) => rt
                .create(config)
                .map(|d| PartitionDetector::Wasm(Box::new(d)))
                .map_err(|e| e.to_string()),
            Backend::Native => wasmad_core::Detector::from_config(config)
                .map(|d| PartitionDetector::Native(Box::new(d)))
                .map_err(|e| e.to_string()),
        }
    }

    /// A detector for one partition, rebuilt from [`PartitionDetector::snapshot`]
    /// bytes (streaming jobs restoring a checkpoint).
    pub fn restore(&self, snapshot: &[u8]) -> Result<PartitionDetector, String> {
        match self {
            Backend::Wasm(rt) => rt
                .restore(snapshot)
                .map(|d| PartitionDetector::Wasm(Box::new(d)))
                .map_err(|e| e.to_string()),
            Backend::Native => wasmad_core::Detector::restore(snapshot)
                .map(|d| PartitionDetector::Native(Box::new(d)))
                .map_err(|e| e.to_string()),
        }
    }
}

/// One partition's detector.
#[derive(Debug)]
pub enum PartitionDetector {
    /// In its own wasmtime store (boxed: one per partition, moved rarely).
    Wasm(Box<WasmDetector>),
    /// Native (boxed: one per partition, moved rarely).
    Native(Box<wasmad_core::Detector>),
}

impl PartitionDetector {
    /// Score a batch.
    pub fn process(&mut self, input: &Input<'_>, out: &mut Scores) -> Result<()> {
        match self {
            PartitionDetector::Wasm(d) => d
                .process(input, out)
                .map_err(|e| DataFusionError::External(Box::new(e))),
            PartitionDetector::Native(d) => d
                .process(input, out)
                .map_err(|e| DataFusionError::Execution(e.to_string())),
        }
    }

    /// Give the keys `ids` fresh models (key eviction reuses their ids).
    pub fn reset_keys(&mut self, ids: &[u32]) -> Result<()> {
        match self {
            PartitionDetector::Wasm(d) => d
                .reset_keys(ids)
                .map_err(|e| DataFusionError::External(Box::new(e))),
            PartitionDetector::Native(d) => d
                .reset_keys(ids)
                .map_err(|e| DataFusionError::Execution(e.to_string())),
        }
    }

    /// The detector's snapshot bytes.
    pub fn snapshot(&mut self) -> Result<Vec<u8>> {
        match self {
            PartitionDetector::Wasm(d) => d
                .snapshot()
                .map_err(|e| DataFusionError::External(Box::new(e))),
            PartitionDetector::Native(d) => Ok(d.snapshot()),
        }
    }
}
