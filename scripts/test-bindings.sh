#!/usr/bin/env bash
# The Python and Node bindings against the component: builds the CLI, exports
# the embedded component, sets up a Python venv and the npm packages, transpiles
# the component with jco, then runs pytest (bindings/python) and node --test
# (bindings/js). Both suites always run; the exit code is non-zero if either
# (or any step before them) fails.
#
# Needs Rust, Python >= 3.11 with pip and venv, Node >= 20 and npm. The venv
# lives in $CARGO_TARGET_DIR/py-venv and is reused; packages are reinstalled
# only when bindings/python/requirements.txt or bindings/js/package-lock.json
# change.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

python="${PYTHON:-python3}"
for tool in "$python" node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "test-bindings: '$tool' is not installed (needs Python >= 3.11, Node >= 20 and npm)" >&2
    exit 1
  fi
done
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "test-bindings: $("$python" --version 2>&1) is too old; Python >= 3.11 is needed (set PYTHON=...)" >&2
  exit 1
fi
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
  echo "test-bindings: node $(node --version) is too old; Node >= 20 is needed" >&2
  exit 1
fi

echo "== cargo build -p wasmad-cli"
cargo build --locked -p wasmad-cli

out="$CARGO_TARGET_DIR/bindings"
mkdir -p "$out"
export WASMAD_COMPONENT="$out/wasmad_detector.wasm"
echo "== wasmad export-component $WASMAD_COMPONENT"
"$CARGO_TARGET_DIR/debug/wasmad" export-component "$WASMAD_COMPONENT"

echo "== python venv ($CARGO_TARGET_DIR/py-venv)"
venv="$CARGO_TARGET_DIR/py-venv"
requirements="bindings/python/requirements.txt"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
if ! cmp -s "$requirements" "$venv/.wasmad-requirements"; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/.wasmad-requirements"
fi
"$venv/bin/python" -c 'import sys, numpy, wasmtime, pytest; print("python", sys.version.split()[0], "numpy", numpy.__version__, "pytest", pytest.__version__)'

echo "== npm ci (bindings/js)"
if ! cmp -s bindings/js/package-lock.json bindings/js/node_modules/.wasmad-lock; then
  (cd bindings/js && npm ci --no-audit --no-fund)
  cp bindings/js/package-lock.json bindings/js/node_modules/.wasmad-lock
fi
echo "== jco transpile (npm run build)"
(cd bindings/js && npm run --silent build)

status=0
echo "== pytest (bindings/python)"
(cd bindings/python && "$venv/bin/python" -m pytest) || status=1
echo "== node --test (bindings/js)"
(cd bindings/js && node --test test/) || status=1
echo "== browser example (examples/web: Chromium via apt-get if missing, npm ci, node --test)"
bash examples/web/test.sh || status=1
echo "== examples/flink (scripts/test-flink.sh)"
WASMAD_CLI="$CARGO_TARGET_DIR/debug/wasmad" bash scripts/test-flink.sh || status=1
if [ "$status" -ne 0 ]; then
  echo "test-bindings: FAILED" >&2
fi
exit "$status"
