#!/usr/bin/env bash
# Serve the browser example: builds the CLI and exports the detector component
# (skipped when $WASMAD_COMPONENT names an existing file), installs the JS
# bindings' packages and transpiles the component with jco (bindings/js/gen),
# then serves examples/web on 127.0.0.1 and prints the URL.
#
#   bash examples/web/start.sh [--port N]      # default: a free port
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/env.sh"   # cd to the repo, CARGO_TARGET_DIR

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "start: '$tool' is not installed (needs Node >= 20 and npm)" >&2
    exit 1
  fi
done

if [ -z "${WASMAD_COMPONENT:-}" ] || [ ! -f "$WASMAD_COMPONENT" ]; then
  echo "== cargo build -p wasmad-cli" >&2
  cargo build --locked -p wasmad-cli >&2
  mkdir -p "$CARGO_TARGET_DIR/bindings"
  export WASMAD_COMPONENT="$CARGO_TARGET_DIR/bindings/wasmad_detector.wasm"
  "$CARGO_TARGET_DIR/debug/wasmad" export-component "$WASMAD_COMPONENT" >&2
fi

if ! cmp -s bindings/js/package-lock.json bindings/js/node_modules/.wasmad-lock; then
  echo "== npm ci (bindings/js)" >&2
  (cd bindings/js && npm ci --no-audit --no-fund >&2)
  cp bindings/js/package-lock.json bindings/js/node_modules/.wasmad-lock
fi
(cd bindings/js && npm run --silent build >&2)

exec node examples/web/serve.mjs "$@"
