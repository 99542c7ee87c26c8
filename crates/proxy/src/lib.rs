//! An Envoy HTTP filter (proxy-wasm) that scores one number per request with
//! the `wasmad-core` detectors and tags or rejects anomalous requests.
//!
//! Built for `wasm32-wasip1` as a core module (Envoy loads core modules, not
//! components). The plugin configuration (see [`config`]) picks the metric (a
//! numeric request or response header, or the time from request to response
//! headers; a header may carry a row of `width` numbers), the detector config,
//! the model key (route, path, a header or none), the action (`tag` or
//! `reject`), an optional event-time header and whether to return the exact
//! outputs (f64 bit patterns) as headers. Each key gets its own model inside
//! one detector, by dense key id as the SQL host does ([`models`]).
//!
//! The proxy-wasm glue only exists on wasm; configuration and scoring are plain
//! Rust and are tested on the host. See `crates/proxy/README.md` for the
//! Envoy configuration and `crates/proxy/tests/envoy_test.sh` for the test
//! against a real Envoy.

pub mod config;
pub mod error;
pub mod models;

#[cfg(target_arch = "wasm32")]
mod filter;

pub use config::Config;
pub use error::{Error, Result};
pub use models::{Models, Verdict};
