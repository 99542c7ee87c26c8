//! A Redpanda data transform that scores JSON records with the `wasmad-core`
//! detectors and writes them with `is_anomaly`, `score`, `forecast_value` and
//! `status` added (or only the anomalous ones).
//!
//! Built for `wasm32-wasip1` (Redpanda runs WASI core modules); the binary
//! `src/main.rs` is the transform. Settings come from the transform's
//! environment variables ([`records::NAMES`]); the broker-independent mapping
//! ([`records`]) is plain Rust, tested on the host, and shared with
//! `crates/fluvio`. See `crates/redpanda/README.md`.

pub mod records;

pub use records::{Scorer, Settings};
