#!/usr/bin/env bash
# Random Cut Forest speed, in one run: the native krcf crate (a Rust port of
# AWS's randomcutforest) against wasmad's rcf natively and inside the WASM
# component through SQL, on the same 200k-point series (30 trees, 256
# points per tree, univariate, shingle 1, seed 42, no attribution).
#   bash scripts/bench-rcf.sh [rows]
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
set -euo pipefail
rows="${1:-200000}"
cargo build --release --locked -p wasmad-cli
cargo build --release --locked -p wasmad-core --example rcf_speed
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
"$CARGO_TARGET_DIR/release/examples/rcf_speed" "$rows" "$dir/series.csv" | tee "$dir/native.txt"
krcf=$(awk '/^krcf/ {print $3}' "$dir/native.txt")
sql="CREATE EXTERNAL TABLE s (ts BIGINT, v DOUBLE) STORED AS CSV LOCATION '$dir/series.csv' OPTIONS ('format.has_header' 'true');
SELECT count(*) AS flagged FROM ML_DETECT_ANOMALIES(s, 'v', 'ts', '{\"algorithm\":\"rcf\",\"numberOfTrees\":30,\"subSampleSize\":256,\"timeDecay\":100000,\"attribution\":false}') WHERE is_anomaly;"
start=$(date +%s.%N)
"$CARGO_TARGET_DIR/release/wasmad" --format csv query "$sql" > "$dir/flagged.txt"
end=$(date +%s.%N)
wasm=$(awk -v n="$rows" -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", n / (b - a) }')
echo "wasmad rcf in the WASM component, through SQL (CSV scan and process start included): $wasm rows/s"
awk -v w="$wasm" -v k="$krcf" 'BEGIN { printf "ratio (wasmad WASM via SQL / krcf native): %.2fx\n", w / k }'
