//! The Redpanda transform: `on_record_written` over one [`Scorer`].

#[cfg(target_arch = "wasm32")]
fn main() {
    use redpanda_transform_sdk::{BorrowedRecord, RecordWriter, WriteEvent, on_record_written};
    use std::cell::RefCell;
    use std::time::UNIX_EPOCH;
    use wasmad_redpanda::{Scorer, Settings};

    // A bad configuration stops the transform at startup with a clear message
    // (in the broker's transform log), before any record is read.
    let scorer = Settings::from_lookup(|n| std::env::var(n).ok(), |(env, _)| env)
        .and_then(Scorer::new)
        .unwrap_or_else(|e| {
            eprintln!("wasmad-redpanda: {e}");
            std::process::exit(1)
        });
    let scorer = RefCell::new(scorer);
    on_record_written(move |event: WriteEvent, writer: &mut RecordWriter| {
        let record = &event.record;
        let ts_ms = record
            .timestamp()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let value = record.value().unwrap_or_default();
        let scored = scorer
            .borrow_mut()
            .score_record(value, record.key(), ts_ms)
            .map_err(|e| format!("wasmad-redpanda: {e}"))?;
        if let Some(out) = scored {
            let out = BorrowedRecord::new_with_headers(
                record.key(),
                Some(&out),
                record.headers().to_vec(),
            );
            writer.write(out).map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    })
}

/// On the host there is no broker: say how to build the transform.
#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!(
        "wasmad-redpanda is a Redpanda data transform: build it with \
         `cargo build -p wasmad-redpanda --target wasm32-wasip1 --release` and deploy \
         the .wasm with `rpk transform deploy` (see crates/redpanda/README.md)"
    );
    std::process::exit(2);
}
