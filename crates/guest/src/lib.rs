//! The wasmad detector component: `wit/detector.wit` exported over
//! [`wasmad_core`]. Built for `wasm32-unknown-unknown` and wrapped into a
//! component by `crates/host/build.rs`; the world imports nothing.

// The generated canonical-ABI glue is `unsafe` by nature; this crate writes
// no unsafe code of its own.
#![allow(unsafe_code)]

use std::cell::RefCell;

use wasmad_core::{Detector as CoreDetector, Input, Scores as CoreScores, bytes};

#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "detector-component",
    });
}

use bindings::exports::wasmad::detector::detectors::{
    Columns, Detector, Error, Extra, Guest, GuestDetector, Scores,
};

struct Component;

/// One detector resource: the core detector and a reusable output buffer.
pub struct DetectorResource {
    inner: RefCell<State>,
}

struct State {
    detector: CoreDetector,
    out: CoreScores,
}

fn to_wit(e: wasmad_core::Error) -> Error {
    match e {
        wasmad_core::Error::InvalidConfig(m) => Error::InvalidConfig(m),
        wasmad_core::Error::InvalidInput(m) => Error::InvalidInput(m),
        wasmad_core::Error::InvalidSnapshot(m) => Error::InvalidSnapshot(m),
    }
}

fn wrap(detector: CoreDetector) -> Detector {
    Detector::new(DetectorResource {
        inner: RefCell::new(State {
            detector,
            out: CoreScores::default(),
        }),
    })
}

impl Guest for Component {
    type Detector = DetectorResource;

    fn abi_version() -> u32 {
        wasmad_core::ABI_VERSION
    }

    fn describe() -> String {
        wasmad_core::describe()
    }
}

impl GuestDetector for DetectorResource {
    fn create(config: String) -> Result<Detector, Error> {
        CoreDetector::from_config(&config).map(wrap).map_err(to_wit)
    }

    fn restore(snapshot: Vec<u8>) -> Result<Detector, Error> {
        CoreDetector::restore(&snapshot).map(wrap).map_err(to_wit)
    }

    fn process(&self, input: Columns) -> Result<Scores, Error> {
        let mut st = self.inner.borrow_mut();
        let State { detector, out } = &mut *st;
        let input = Input {
            timestamps: &input.timestamps,
            values: &input.values,
            width: input.width as usize,
            keys: &input.keys,
        };
        detector.process(&input, out).map_err(to_wit)?;
        // Hand the buffers over; the next call allocates fresh ones (the
        // canonical ABI frees these after the host has copied them).
        let out = std::mem::take(out);
        Ok(Scores {
            forecast: out.forecast,
            lower: out.lower,
            upper: out.upper,
            score: out.score,
            row_flags: out.flags,
            probability: out.probability,
            extras: out
                .extras
                .into_iter()
                .map(|e| Extra {
                    name: e.name,
                    per_row: e.per_row as u32,
                    values: e.values,
                })
                .collect(),
        })
    }

    fn process_bytes(&self, input: Vec<u8>) -> Result<Vec<u8>, Error> {
        let owned = bytes::decode_input(&input).map_err(to_wit)?;
        drop(input);
        let mut st = self.inner.borrow_mut();
        let State { detector, out } = &mut *st;
        detector.process(&owned.as_input(), out).map_err(to_wit)?;
        Ok(bytes::encode_scores(out))
    }

    fn snapshot(&self) -> Vec<u8> {
        self.inner.borrow().detector.snapshot()
    }

    fn config(&self) -> String {
        self.inner.borrow().detector.config_json()
    }

    fn reset_keys(&self, ids: Vec<u32>) -> Result<(), Error> {
        self.inner
            .borrow_mut()
            .detector
            .reset_keys(&ids)
            .map_err(to_wit)
    }

    fn key_count(&self) -> u32 {
        u32::try_from(self.inner.borrow().detector.key_count()).unwrap_or(u32::MAX)
    }
}

bindings::export!(Component with_types_in bindings);
