#!/usr/bin/env bash
# The demo: builds wasmad and runs sql/quickstart.sql over the bundled NAB data.
# Extra arguments go to wasmad (e.g. `bash scripts/demo.sh --format csv`).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cargo build --locked -p wasmad-cli
exec "$CARGO_TARGET_DIR/debug/wasmad" "$@"
