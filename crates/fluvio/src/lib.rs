//! A Fluvio SmartModule (`filter_map`) that scores JSON records with the
//! `wasmad-core` detectors and emits them with `is_anomaly`, `score`,
//! `forecast_value` and `status` added (or only the anomalous ones).
//!
//! Built for `wasm32-unknown-unknown`. `#[smartmodule(init)]` reads the
//! SmartModule parameters (`config`, `value_field`, `key_field`, `ts_field`,
//! `only_anomalies`, `max_keys`; see [`records::NAMES`]); a bad config fails
//! the init with a clear message. The mapping is the same file as the Redpanda
//! transform's (`crates/redpanda/src/records.rs`), plain Rust tested on the
//! host. See `crates/fluvio/README.md`.

#[path = "../../redpanda/src/records.rs"]
pub mod records;

pub use records::{Scorer, Settings};

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)] // the smartmodule macros export `extern` entry points
mod smartmodule {
    use std::sync::{Mutex, OnceLock};

    use fluvio_smartmodule::dataplane::smartmodule::SmartModuleExtraParams;
    use fluvio_smartmodule::{RecordData, Result, SmartModuleRecord, eyre, smartmodule};

    use crate::{Scorer, Settings};

    static SCORER: OnceLock<Mutex<Scorer>> = OnceLock::new();

    #[smartmodule(init)]
    fn init(params: SmartModuleExtraParams) -> Result<()> {
        let scorer = Settings::from_lookup(|n| params.get(n).cloned(), |(_, param)| param)
            .and_then(Scorer::new)
            .map_err(|e| eyre!("wasmad-fluvio: {e}"))?;
        SCORER
            .set(Mutex::new(scorer))
            .map_err(|_| eyre!("wasmad-fluvio: init called twice"))
    }

    #[smartmodule(filter_map)]
    fn filter_map(record: &SmartModuleRecord) -> Result<Option<(Option<RecordData>, RecordData)>> {
        let scorer = SCORER.get().ok_or_else(|| {
            eyre!("wasmad-fluvio: not initialized (the config parameter is required)")
        })?;
        let mut scorer = scorer
            .lock()
            .map_err(|_| eyre!("wasmad-fluvio: scorer poisoned"))?;
        let key = record.key().map(|k| k.as_ref());
        let scored = scorer
            .score_record(record.value().as_ref(), key, record.timestamp())
            .map_err(|e| eyre!("wasmad-fluvio: {e}"))?;
        Ok(scored.map(|out| (record.key().cloned(), RecordData::from(out))))
    }
}
