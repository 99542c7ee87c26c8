#!/usr/bin/env bash
# Streaming-job throughput and event-to-output latency (BENCHMARKS.md,
# "Streaming jobs"). Uses the debug CLI of $CARGO_TARGET_DIR unless WASMAD is set.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
W="${WASMAD:-${CARGO_TARGET_DIR:-$HOME/.cache/wasmad/target}/debug/wasmad}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/throughput.sql" <<'SQL'
CREATE TABLE m (host STRING, ts TIMESTAMP(3), cpu DOUBLE, WATERMARK FOR ts AS ts - INTERVAL '1' MINUTE)
WITH ('connector' = 'datagen', 'keys' = '100', 'number-of-rows' = '2000000', 'rows-per-second' = '0', 'seed' = '1');
SELECT host, ts, cpu, score FROM ML_DETECT_ANOMALIES(m, 'cpu', 'ts', '{"partitionBy":"host","window":100}') WHERE is_anomaly;
SQL
cat > "$tmp/latency.sql" <<'SQL'
CREATE TABLE m (host STRING, ts TIMESTAMP(3), cpu DOUBLE, WATERMARK FOR ts AS ts)
WITH ('connector' = 'datagen', 'keys' = '100', 'number-of-rows' = '200000', 'rows-per-second' = '20000', 'seed' = '1');
SELECT host, ts, cpu, score FROM ML_DETECT_ANOMALIES(m, 'cpu', 'ts', '{"partitionBy":"host","window":100}') WHERE is_anomaly;
SQL
cd "$tmp"
for p in 1 2; do
  echo "throughput, --parallelism $p:"; "$W" run throughput.sql --stats --parallelism "$p" > /dev/null
done
echo "throughput, --parallelism 2, checkpoint every 1s:"
"$W" run throughput.sql --stats --parallelism 2 --checkpoint-dir ck --checkpoint-interval 1s > /dev/null
echo "latency at 20000 rows/s, no watermark delay:"; "$W" run latency.sql --stats --parallelism 2 > /dev/null
echo "latency at 20000 rows/s, --epoch-ms 2:"; "$W" run latency.sql --stats --parallelism 2 --epoch-ms 2 > /dev/null
