#!/usr/bin/env bash
# Streaming through a real Kafka-API broker on loopback (BENCHMARKS.md,
# "Kafka"): throughput with 1, 10k and 1M keys, peak RSS per key, checkpoint
# time and size at 1M keys, and event-to-output latency (from the Kafka
# record timestamp the producer set to the sink's acknowledged write) at
# fixed producer rates. Uses the release CLI of $CARGO_TARGET_DIR unless
# WASMAD is set, and the tansu broker of scripts/install-tansu.sh.
#   bash scripts/bench-kafka.sh            # everything (about 5 minutes)
#   RATES="20000 100000" bash scripts/bench-kafka.sh latency
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
W="${WASMAD:-${CARGO_TARGET_DIR:-$HOME/.cache/wasmad/target}/release/wasmad}"
T="$(bash "$root/scripts/install-tansu.sh")"
what="${1:-all}"
tmp="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
B="127.0.0.1:$port"
"$T" broker --listener-url "tcp://$B" --advertised-listener-url "tcp://$B" \
  --storage-engine memory://tansu/ > "$tmp/broker.log" 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
cd "$tmp"
topic() { "$T" topic create "$1" --partitions "$2" --broker "tcp://$B" > /dev/null 2>&1; }
stat() { grep -o "$1=[0-9.]*" | cut -d= -f2; }

produce() { # topic keys rows rate
  cat > produce.sql <<SQL
CREATE TABLE gen (host STRING, ts TIMESTAMP(3), v DOUBLE)
WITH ('connector' = 'datagen', 'keys' = '$2', 'number-of-rows' = '$3', 'rows-per-second' = '$4', 'seed' = '1');
CREATE TABLE t (host STRING, ts TIMESTAMP(3), v DOUBLE)
WITH ('connector' = 'kafka', 'topic' = '$1', 'properties.bootstrap.servers' = '$B', 'key.fields' = 'host');
INSERT INTO t SELECT * FROM gen;
SQL
  "$W" run produce.sql --stats 2>&1 | grep '^stats:'
}

detect_job() { # in out bounded(0/1) delay
  local bound=""
  [ "$3" = 1 ] && bound=", 'scan.bounded.mode' = 'latest-offset'" || bound=", 'scan.startup.mode' = 'latest-offset'"
  cat > detect.sql <<SQL
CREATE TABLE m (host STRING, ts TIMESTAMP(3), v DOUBLE, WATERMARK FOR ts AS ts - INTERVAL '$4' SECOND)
WITH ('connector' = 'kafka', 'topic' = '$1', 'properties.bootstrap.servers' = '$B'$bound);
CREATE TABLE o (host STRING, ts TIMESTAMP(3), v DOUBLE, score DOUBLE, is_anomaly BOOLEAN)
WITH ('connector' = 'kafka', 'topic' = '$2', 'properties.bootstrap.servers' = '$B', 'key.fields' = 'host');
INSERT INTO o SELECT host, ts, v, score, is_anomaly
FROM ML_DETECT_ANOMALIES(m, 'v', 'ts', '{"partitionBy":"host","window":100}');
SQL
}

if [ "$what" = all ] || [ "$what" = keys ]; then
  echo "# throughput, all rows scored and written back to Kafka (bounded replay of a topic; 4 partitions in and out)"
  echo "keys rows throughput_rows_per_s rss_peak_mb checkpoint_ms checkpoint_bytes"
  for spec in "1 1000000" "10000 1000000" "1000000 3000000"; do
    set -- $spec
    topic "in$1" 4; topic "out$1" 4
    produce "in$1" "$1" "$2" 0 > /dev/null
    detect_job "in$1" "out$1" 1 0
    s="$("$W" run detect.sql --stats --checkpoint-dir "ck$1" --checkpoint-interval 1h 2>&1 | grep '^stats:')"
    echo "$1 $2 $(stat throughput_rows_per_s <<<"$s") $(stat rss_peak_mb <<<"$s") $(stat checkpoint_ms <<<"$s") $(stat checkpoint_bytes <<<"$s")"
  done
fi

if [ "$what" = all ] || [ "$what" = latency ]; then
  echo "# event-to-output latency at a fixed producer rate (100 keys, 10 s, watermark delay 0)"
  echo "rate rows_in latency_p50_ms latency_p99_ms"
  for rate in ${RATES:-10000 20000 50000 100000}; do
    topic "lat$rate" 4; topic "latout$rate" 4
    detect_job "lat$rate" "latout$rate" 0 0
    "$W" run detect.sql --stats > /dev/null 2> detect.err &
    job=$!
    sleep 2 # start-up (compiling the component) before the first event
    produce "lat$rate" 100 $((rate * 10)) "$rate" > /dev/null
    sleep 1
    kill -TERM $job; wait $job || true
    s="$(grep '^stats:' detect.err)"
    echo "$rate $(stat rows_in <<<"$s") $(stat latency_p50_ms <<<"$s") $(stat latency_p99_ms <<<"$s")"
  done
fi
