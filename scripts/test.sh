#!/usr/bin/env bash
# The whole test suite: formatting, lints (host and wasm32 guest), every Rust
# test, and the Python and Node bindings replaying the shared vectors.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

components="$(rustup component list --installed 2>/dev/null || true)"
for c in rustfmt clippy; do
  if ! grep -q "^$c" <<<"$components"; then
    echo "setup: rustup component add $c" >&2
    rustup component add "$c" >&2
  fi
done

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (host crates, all targets)"
cargo clippy --locked --all-targets -- -D warnings

echo "== cargo clippy (guest components, wasm32-unknown-unknown)"
cargo clippy --locked -p wasmad-guest -p wasmad-hostile-guest --target wasm32-unknown-unknown -- -D warnings

echo "== Kafka-API broker for the Kafka tests (tansu, built once into a cache outside the clone)"
WASMAD_TANSU="$(bash scripts/install-tansu.sh)"
export WASMAD_TANSU

echo "== cargo test"
cargo test --locked

bash crates/proxy/tests/envoy_test.sh  # the Envoy filter (crates/proxy) in a real Envoy

echo "== broker adapters: Redpanda transform (wasm32-wasip1) and Fluvio SmartModule (wasm32-unknown-unknown)"
rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1 >&2
cargo build --locked -p wasmad-redpanda --target wasm32-wasip1 --profile proxy
cargo build --locked -p wasmad-fluvio --target wasm32-unknown-unknown --profile proxy
cargo test --locked -p wasmad-redpanda -p wasmad-fluvio

echo "== bindings: the same component in Python (wasmtime-py) and Node (jco)"
bash scripts/test-bindings.sh
