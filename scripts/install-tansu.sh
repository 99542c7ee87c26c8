#!/usr/bin/env bash
# Installs the tansu Kafka-API broker used by the Kafka tests and benchmarks,
# once, into a cache outside the clone (CI and later runs reuse it). Prints
# the path of the broker binary on stdout.
#   WASMAD_TANSU=/path/to/tansu   use that binary instead
set -euo pipefail
if [ -n "${WASMAD_TANSU:-}" ]; then echo "$WASMAD_TANSU"; exit 0; fi
version=0.6.0
cache="${XDG_CACHE_HOME:-$HOME/.cache}/wasmad/tansu-$version"
bin="$cache/bin/tansu"
if [ ! -x "$bin" ]; then
  echo "setup: cargo install tansu $version (once, about 15 minutes on 2 cores) into $cache" >&2
  mkdir -p "$cache"
  # Its own build directory: the broker's dependencies never touch the project's.
  CARGO_TARGET_DIR="$cache/build" cargo install tansu --version "$version" --locked \
    --features dynostore --root "$cache" >&2
  rm -rf "$cache/build"
fi
echo "$bin"
