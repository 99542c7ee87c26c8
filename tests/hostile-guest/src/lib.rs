//! A hostile implementation of `wit/detector.wit`, for host tests only.
//!
//! The config string (plain, or any JSON containing the word) picks the
//! misbehaviour: `"loop"` never returns from
//! `create`, `"alloc"` allocates until memory runs out, `"trap"` panics (an
//! `unreachable` trap); `"process-loop"`, `"process-alloc"` and `"process-trap"`
//! create fine and misbehave in `process`. Anything else creates a detector
//! whose `process` returns empty columns.

#![allow(unsafe_code)] // generated canonical-ABI glue only

use std::cell::RefCell;

#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "detector-component",
    });
}

use bindings::exports::wasmad::detector::detectors::{
    Columns, Detector, Error, Guest, GuestDetector, Scores,
};

struct Component;

/// The hostile detector.
pub struct Hostile {
    mode: String,
    hoard: RefCell<Vec<Vec<u8>>>,
}

const MODES: [&str; 6] = [
    "process-loop",
    "process-alloc",
    "process-trap",
    "loop",
    "alloc",
    "trap",
];

fn mode_of(config: &str) -> String {
    MODES
        .iter()
        .find(|m| config.contains(*m))
        .map_or_else(|| config.to_string(), |m| (*m).to_string())
}

fn misbehave(mode: &str, hoard: &RefCell<Vec<Vec<u8>>>) {
    match mode {
        "loop" | "process-loop" => {
            let mut i: u64 = 0;
            loop {
                i = std::hint::black_box(i.wrapping_add(1));
            }
        }
        "alloc" | "process-alloc" => loop {
            hoard
                .borrow_mut()
                .push(std::hint::black_box(vec![1u8; 1 << 20]));
        },
        "trap" | "process-trap" => panic!("hostile guest panics on purpose"),
        _ => {}
    }
}

impl Guest for Component {
    type Detector = Hostile;

    fn abi_version() -> u32 {
        if cfg!(feature = "wrong-abi") {
            999
        } else {
            2 // wasmad_core::ABI_VERSION (this guest does not depend on core)
        }
    }

    fn describe() -> String {
        r#"{"module":"hostile","version":"0.0.0","abi":2,"algorithms":[]}"#.into()
    }
}

impl GuestDetector for Hostile {
    fn create(config: String) -> Result<Detector, Error> {
        let hoard = RefCell::new(Vec::new());
        let mode = mode_of(&config);
        if !mode.starts_with("process-") {
            misbehave(&mode, &hoard);
        }
        Ok(Detector::new(Hostile { mode, hoard }))
    }

    fn restore(_snapshot: Vec<u8>) -> Result<Detector, Error> {
        Err(Error::InvalidSnapshot(
            "hostile guest keeps no state".into(),
        ))
    }

    fn process(&self, _input: Columns) -> Result<Scores, Error> {
        misbehave(&self.mode, &self.hoard);
        Ok(Scores {
            forecast: vec![],
            lower: vec![],
            upper: vec![],
            score: vec![],
            row_flags: vec![],
            probability: vec![],
            extras: vec![],
        })
    }

    fn process_bytes(&self, _input: Vec<u8>) -> Result<Vec<u8>, Error> {
        misbehave(&self.mode, &self.hoard);
        Ok(vec![])
    }

    fn snapshot(&self) -> Vec<u8> {
        vec![]
    }

    fn config(&self) -> String {
        self.mode.clone()
    }

    fn reset_keys(&self, _ids: Vec<u32>) -> Result<(), Error> {
        Ok(())
    }

    fn key_count(&self) -> u32 {
        0
    }
}

bindings::export!(Component with_types_in bindings);
