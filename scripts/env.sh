# Shared set-up for scripts/demo.sh and scripts/test.sh (sourced, not run).
# Installs what a fresh machine with only Rust lacks, and picks a build
# directory that outlives the clone so later runs (and CI) reuse it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  if [ -d /work/target ] && [ -w /work/target ]; then
    export CARGO_TARGET_DIR=/work/target
  else
    export CARGO_TARGET_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/wasmad/target"
  fi
fi
mkdir -p "$CARGO_TARGET_DIR"

# The detector guest is built for wasm32-unknown-unknown (crates/host/build.rs).
installed_targets="$(rustup target list --installed 2>/dev/null || true)"
for t in wasm32-unknown-unknown; do
  if ! grep -qx "$t" <<<"$installed_targets"; then
    echo "setup: rustup target add $t" >&2
    rustup target add "$t" >&2
  fi
done
