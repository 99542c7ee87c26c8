#!/usr/bin/env bash
# One global configuration for the whole NAB corpus: a documented grid of
# candidate configs, each run with `wasmad eval nab --format ndjson` (every
# file through the WASM component, NAB v1.1 scoring, the threshold swept per
# profile), printed as a table sorted by the standard profile's score.
#
#   bash crates/eval/search/nab_search.sh [NAB_DIR]     # default ../shared/data/NAB
#
# Rules the grid keeps: every config is applied to every file unchanged (no
# per-file or per-category settings); the labels only rank whole configs.
# About 70 configs at 1-5 s each (debug build), 16-32 s for those with
# rcf: about eight minutes.
#
# The grid, by question:
#   A. raw detectors, no alert settings (the README's earlier table);
#   B. raw scores with a cooldown (alert hygiene alone);
#   C. the likelihood layer on each detector (cooldown 100 rows);
#   D. likelihood on zscore: shortWindow x cooldown;
#   E. one likelihood setting at a time around the best of D (threshold,
#      cap, window, minSamples), and the other hygiene keys (minConsecutive,
#      a cooldown in time, minDeviation);
#   F. holtwinters with its period detected (additive, multiplicative),
#      the row-scoring detectors (rcf, spike_dip, change_point, hst,
#      iforest) with the likelihood layer (E's best window), and hst and
#      iforest raw;
#   G. ensembles of calibrated members (E's best zscore with each other
#      detector), combined by max or mean, at probability thresholds 0.9999
#      to 0.999999, and cooldowns 50 to 200 around the best.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
DATA="${1:-$ROOT/../shared/data/NAB}"
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  if [ -d /work/target ] && [ -w /work/target ]; then
    export CARGO_TARGET_DIR=/work/target
  else
    export CARGO_TARGET_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/wasmad/target"
  fi
fi
(cd "$ROOT" && cargo build --quiet -p wasmad-cli)
WASMAD="$CARGO_TARGET_DIR/debug/wasmad"

# An ensemble config: combine, threshold, cooldown, then member configs.
ens() {
  local combine="$1" threshold="$2" cooldown="$3" members
  shift 3
  members="$(IFS=,; echo "$*")"
  printf '{"algorithm":"ensemble","members":[%s],"combine":"%s","threshold":%s,"cooldown":%s}' \
    "$members" "$combine" "$threshold" "$cooldown"
}
Z='{"algorithm":"zscore","likelihood":{"window":20000}}'
RCF='{"algorithm":"rcf","numberOfTrees":50,"shingleSize":4,"likelihood":{"window":20000}}'

CONFIGS=(
  # A. raw detectors
  '{"algorithm":"zscore"}'
  '{"algorithm":"zscore","window":6400}'
  '{"algorithm":"ewma","halfLife":1000}'
  '{"algorithm":"mad","window":100}'
  # B. raw scores with a cooldown
  '{"algorithm":"zscore","cooldown":100}'
  '{"algorithm":"zscore","cooldown":300}'
  '{"algorithm":"zscore","threshold":5,"cooldown":100}'
  '{"algorithm":"ewma","halfLife":1000,"cooldown":300}'
  # C. likelihood on each detector
  '{"algorithm":"zscore","likelihood":true,"cooldown":100}'
  '{"algorithm":"zscore","window":5000,"likelihood":true,"cooldown":100}'
  '{"algorithm":"ewma","alpha":0.005,"likelihood":true,"cooldown":100}'
  '{"algorithm":"ewma","halfLife":1000,"likelihood":true,"cooldown":100}'
  '{"algorithm":"mad","window":1000,"likelihood":true,"cooldown":100}'
  # D. likelihood on zscore: shortWindow x cooldown
  '{"algorithm":"zscore","likelihood":{"shortWindow":5},"cooldown":0}'
  '{"algorithm":"zscore","likelihood":{"shortWindow":5},"cooldown":50}'
  '{"algorithm":"zscore","likelihood":{"shortWindow":5},"cooldown":100}'
  '{"algorithm":"zscore","likelihood":{"shortWindow":5},"cooldown":200}'
  '{"algorithm":"zscore","likelihood":{"shortWindow":10},"cooldown":0}'
  '{"algorithm":"zscore","likelihood":{"shortWindow":10},"cooldown":50}'
  '{"algorithm":"zscore","likelihood":{"shortWindow":10},"cooldown":200}'
  '{"algorithm":"zscore","likelihood":{"shortWindow":20},"cooldown":0}'
  '{"algorithm":"zscore","likelihood":{"shortWindow":20},"cooldown":50}'
  '{"algorithm":"zscore","likelihood":{"shortWindow":20},"cooldown":100}'
  '{"algorithm":"zscore","likelihood":{"shortWindow":20},"cooldown":200}'
  # E. one setting at a time around {"likelihood":true,"cooldown":100}
  '{"algorithm":"zscore","likelihood":{"threshold":0.999},"cooldown":100}'
  '{"algorithm":"zscore","likelihood":{"threshold":0.99999},"cooldown":100}'
  '{"algorithm":"zscore","likelihood":{"cap":5},"cooldown":100}'
  '{"algorithm":"zscore","likelihood":{"cap":20},"cooldown":100}'
  '{"algorithm":"zscore","likelihood":{"window":3000},"cooldown":100}'
  '{"algorithm":"zscore","likelihood":{"window":20000},"cooldown":100}'
  '{"algorithm":"zscore","likelihood":{"minSamples":300},"cooldown":100}'
  '{"algorithm":"zscore","likelihood":{"minStd":0.3},"cooldown":100}'
  '{"algorithm":"zscore","likelihood":true,"cooldown":100,"minConsecutive":2}'
  '{"algorithm":"zscore","likelihood":true,"cooldown":"8h"}'
  '{"algorithm":"zscore","likelihood":true,"cooldown":"12h"}'
  '{"algorithm":"zscore","likelihood":true,"cooldown":100,"minDeviation":{"relative":0.05}}'
  # F. likelihood on the row-scoring detectors
  '{"algorithm":"rcf","numberOfTrees":50,"shingleSize":4,"likelihood":{"window":20000},"cooldown":100}'
  '{"algorithm":"spike_dip","confidence":99.9,"historySize":288,"likelihood":{"window":20000},"cooldown":100}'
  '{"algorithm":"change_point","likelihood":{"window":20000},"cooldown":100}'
  '{"algorithm":"holtwinters","likelihood":{"window":20000},"cooldown":100}'
  '{"algorithm":"holtwinters","seasonality":"multiplicative","likelihood":{"window":20000},"cooldown":100}'
  '{"algorithm":"holtwinters","alpha":0,"gamma":0,"likelihood":{"window":20000},"cooldown":100}'
  '{"algorithm":"hst","cooldown":100}'
  '{"algorithm":"hst","likelihood":{"window":20000},"cooldown":100}'
  '{"algorithm":"hst","windowSize":1000,"likelihood":{"window":20000},"cooldown":100}'
  '{"algorithm":"iforest","cooldown":100}'
  '{"algorithm":"iforest","likelihood":{"window":20000},"cooldown":100}'
  # G. ensembles of calibrated members
  "$(ens max 0.9999 100 "$Z" "$RCF")"
  "$(ens max 0.99995 100 "$Z" "$RCF")"
  "$(ens max 0.99999 100 "$Z" "$RCF")"
  "$(ens max 0.999999 100 "$Z" "$RCF")"
  "$(ens max 0.99999 50 "$Z" "$RCF")"
  "$(ens max 0.99999 200 "$Z" "$RCF")"
  "$(ens mean 0.999 100 "$Z" "$RCF")"
  "$(ens mean 0.9999 100 "$Z" "$RCF")"
  "$(ens max 0.99999 100 "$Z" '{"algorithm":"mad","window":1000,"likelihood":true}')"
  "$(ens max 0.99999 100 "$Z" '{"algorithm":"holtwinters","period":288,"alpha":0,"gamma":0,"likelihood":{"window":20000}}')"
  "$(ens max 0.99999 100 "$Z" '{"algorithm":"spike_dip","confidence":99.9,"historySize":288,"likelihood":{"window":20000}}')"
  "$(ens max 0.99999 100 "$Z" "$RCF" '{"algorithm":"mad","window":1000,"likelihood":true}')"
  "$(ens max 0.99995 100 "$Z" "$RCF" '{"algorithm":"mad","window":1000,"likelihood":true}')"
  "$(ens max 0.99998 100 "$Z" "$RCF" '{"algorithm":"mad","window":1000,"likelihood":true}')"
  "$(ens max 0.99999 75 "$Z" "$RCF" '{"algorithm":"mad","window":1000,"likelihood":true}')"
  "$(ens max 0.99999 150 "$Z" "$RCF" '{"algorithm":"mad","window":1000,"likelihood":true}')"
  "$(ens max 0.99999 100 "$Z" "$RCF" '{"algorithm":"mad","window":1000,"likelihood":{"window":20000}}')"
  "$(ens max 0.99999 100 "$Z" '{"algorithm":"rcf","numberOfTrees":50,"shingleSize":8,"likelihood":{"window":20000}}' '{"algorithm":"mad","window":1000,"likelihood":true}')"
  "$(ens max 0.99999 100 "$Z" "$RCF" '{"algorithm":"mad","window":1000,"likelihood":true}' '{"algorithm":"hst","likelihood":{"window":20000}}')"
  "$(ens max 0.99999 100 "$Z" "$RCF" '{"algorithm":"mad","window":1000,"likelihood":true}' '{"algorithm":"iforest","likelihood":{"window":20000}}')"
  "$(ens max 0.99999 100 "$Z" "$RCF" '{"algorithm":"mad","window":1000,"likelihood":true}' '{"algorithm":"holtwinters","alpha":0,"gamma":0,"likelihood":{"window":20000}}')"
)

# A top-level number of the one-line JSON report (the profiles object
# nests the same names, followed by an object rather than a number).
field() { sed -E "s/.*\"$1\":(-?[0-9.eE+-]+).*/\1/" <<<"$2"; }

rows=()
for config in "${CONFIGS[@]}"; do
  json="$("$WASMAD" --format ndjson eval nab --data "$DATA" --config "$config")"
  rows+=("$(printf '%8.2f %8.2f %8.2f  %s' \
    "$(field standard "$json")" \
    "$(field reward_low_FP_rate "$json")" \
    "$(field reward_low_FN_rate "$json")" \
    "$config")")
  echo "done: $config" >&2
done

printf '%8s %8s %8s  %s\n' standard low_FP low_FN config
printf '%s\n' "${rows[@]}" | sort -k1,1 -g -r
echo
echo "command: $WASMAD eval nab --data $DATA --config '<config>'"
