#!/usr/bin/env bash
# examples/flink: ML_DETECT_ANOMALIES on a local Flink mini-cluster (PyFlink),
# checked against the parity vectors and `wasmad query`.
#
# Needs Java >= 11 (17 recommended; installed with apt-get when missing and
# running as root) and Python >= 3.11 with venv; installs
# apache-flink (and wasmtime, numpy, pytest) into a venv under
# ~/.cache/wasmad/flink-venv when missing or when examples/flink/requirements.txt
# changes (a few minutes, once). Uses $WASMAD_COMPONENT and $WASMAD_CLI when set
# (scripts/test-bindings.sh sets the first); otherwise builds the CLI and exports
# the component like scripts/test-bindings.sh does.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

if ! command -v java >/dev/null && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "== apt-get install openjdk-17-jre-headless (Flink needs Java)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless) >&2 || true
fi
if ! command -v java >/dev/null; then
  echo "test-flink: Java is not installed and could not be installed; Flink needs Java 11 or newer (apt-get install openjdk-17-jre-headless)" >&2
  exit 1
fi
java_major="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)"
if [ -z "$java_major" ] || [ "$java_major" -lt 11 ]; then
  echo "test-flink: $(java -version 2>&1 | head -1): Flink needs Java 11 or newer" >&2
  exit 1
fi
python="${PYTHON:-python3}"
if ! command -v "$python" >/dev/null || ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "test-flink: Python >= 3.11 is needed (set PYTHON=...)" >&2
  exit 1
fi

if [ -z "${WASMAD_CLI:-}" ]; then
  echo "== cargo build -p wasmad-cli"
  cargo build --locked -p wasmad-cli
  export WASMAD_CLI="$CARGO_TARGET_DIR/debug/wasmad"
fi
if [ -z "${WASMAD_COMPONENT:-}" ]; then
  mkdir -p "$CARGO_TARGET_DIR/bindings"
  export WASMAD_COMPONENT="$CARGO_TARGET_DIR/bindings/wasmad_detector.wasm"
  echo "== wasmad export-component $WASMAD_COMPONENT"
  "$WASMAD_CLI" export-component "$WASMAD_COMPONENT"
fi

venv="${WASMAD_FLINK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmad/flink-venv}"
requirements="examples/flink/requirements.txt"
echo "== flink venv ($venv)"
if [ ! -x "$venv/bin/python" ]; then
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
fi
if ! cmp -s "$requirements" "$venv/.wasmad-requirements"; then
  echo "installing apache-flink and friends (a few minutes the first time)"
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"; then
    echo "test-flink: pip install -r $requirements failed" >&2
    exit 1
  fi
  cp "$requirements" "$venv/.wasmad-requirements"
fi
"$venv/bin/python" -c 'import pyflink.version, wasmtime, numpy, pytest; print("pyflink", pyflink.version.__version__, "numpy", numpy.__version__)'

echo "== pytest (examples/flink)"
cd examples/flink
exec "$venv/bin/python" -m pytest test_flink.py
