//! Streaming anomaly detectors in plain Rust: no wasm, arrow or IO.
//!
//! A [`Detector`] is built from a JSON config (validated against a spec table,
//! so an invalid detector cannot exist), holds one model per key, and processes
//! a batch of column slices at a time ([`Input`] in, [`Scores`] out). Every row
//! is scored against its key's baseline *before* it is learned. NaN, infinite
//! and missing values are `skipped`: not learned, not flagged.
//!
//! ```
//! use wasmad_core::{Detector, Input, Scores, flags};
//! let mut d = Detector::from_config(r#"{"algorithm":"zscore","minTrainingSize":3}"#).unwrap();
//! let ts = [0, 1, 2, 3, 4];
//! let vs = [1.0, 1.1, 0.9, 1.0, 50.0];
//! let mut out = Scores::default();
//! d.process(&Input::univariate(&ts, &vs), &mut out).unwrap();
//! assert!(flags::is_anomaly(out.flags[4]));
//! assert!(!flags::is_anomaly(out.flags[3]));
//! ```

pub mod alert;
pub mod arima;
pub mod bytes;
pub mod changepoint;
pub mod config;
pub mod detector;
pub mod engine;
pub mod ensemble;
pub mod error;
pub mod ewma;
pub mod flags;
pub mod gauss;
pub mod holtwinters;
pub mod holtwinters_v1;
pub mod hst;
pub mod iforest;
pub mod kde;
pub mod likelihood;
pub mod mad;
pub mod model;
pub mod rcf;
pub mod robust;
pub mod row;
pub mod rows;
pub mod spikedip;
pub mod step;
pub mod stl;
pub mod zscore;

pub use detector::{ABI_VERSION, ALGORITHMS, Detector, describe};
pub use engine::{Input, Scores};
pub use error::{Error, Result};
