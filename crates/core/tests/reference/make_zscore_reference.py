#!/usr/bin/env python3
"""Independent reference values for the `zscore` and `mad` detectors of wasmad-core.

Re-run (from the repository root, Python 3 with numpy; `pip install numpy`):

    python3 crates/core/tests/reference/make_zscore_reference.py

It rewrites, next to this script:
  zscore_input.csv              ts,value: one seeded series (noise around a slow
                                sine, a few spikes and dips, NaN/inf rows, and a
                                flat run of 35 identical values)
  <name>_expected.csv           one per entry of CONFIGS below; line 1 is
                                `# config: <the detector config JSON>`, then
                                ts,value,forecast,lower,upper,score,is_anomaly,direction,status

`crates/core/tests/reference.rs` feeds the input to the Rust detector built from
each file's config and compares every row: floats within 1e-9 relative
tolerance (absolute 1e-9 for values near zero), is_anomaly, direction and status
exactly. Commit the script and every file it writes together.

The expected values are computed straight from the definitions, with numpy, and
share no code or algorithm with the Rust implementation (no Welford, no sorted
window, no two-run MAD merge):
  * only finite values are learned; a non-finite row is `skipped` (all outputs NaN);
  * the first `minTrainingSize` finite rows are `warmup` (all outputs NaN);
  * every other finite row is scored against the finite values BEFORE it (the
    last `window` of them when a window is set, else all of them):
      zscore: center = mean, scale = sample std (ddof=1)
      mad:    center = median, scale = 1.4826 * median(|v - median|), or, when
              that is 0, sqrt(pi/2) * mean(|v - median|)
    scale is floored at max(|center| * 1.5e-8, 1e-12); score = (x - center) / scale;
    lower/upper = center -/+ threshold * scale; direction = up when score >= 0;
    is_anomaly: |score| > threshold (both), score > threshold (up), score < -threshold (down).

The series uses Python's `random.Random(seed).random()` (stable across Python
versions) with a hand-written Box-Muller transform, so a re-run reproduces the
committed files byte for byte.
"""

import json
import math
import os
import random

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20240501
ROWS = 400

# name -> detector config. Each becomes <name>_expected.csv.
CONFIGS = {
    "zscore_all": {"algorithm": "zscore", "threshold": 3, "minTrainingSize": 20},
    "zscore_window50": {"algorithm": "zscore", "threshold": 3, "minTrainingSize": 20, "window": 50},
    "zscore_window30_up": {
        "algorithm": "zscore",
        "threshold": 2.5,
        "minTrainingSize": 10,
        "window": 30,
        "direction": "up",
    },
    "mad_window50": {"algorithm": "mad", "threshold": 3.5, "minTrainingSize": 20, "window": 50},
    # A window shorter than the flat run: MAD = 0 and then mean-abs-dev = 0,
    # so the scale floor is exercised.
    "mad_window20_down": {
        "algorithm": "mad",
        "threshold": 3,
        "minTrainingSize": 10,
        "window": 20,
        "direction": "down",
    },
}


def make_series():
    rng = random.Random(SEED)

    def normal():
        u1 = 1.0 - rng.random()  # (0, 1]
        u2 = rng.random()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

    ts = [1_700_000_000_000_000 + i * 60_000_000 for i in range(ROWS)]
    values = []
    for i in range(ROWS):
        v = 100.0 + 5.0 * math.sin(2.0 * math.pi * i / 100.0) + 2.0 * normal()
        if rng.random() < 0.03:
            v = float("nan")
        values.append(v)
    for i, jump in [(60, 25.0), (140, -30.0), (200, 40.0), (330, 20.0), (370, -25.0)]:
        values[i] += jump
    for i in range(250, 285):  # a flat run
        values[i] = 100.0
    values[90] = float("inf")
    values[91] = float("-inf")
    values[92] = float("nan")
    return ts, values


def zscore_baseline(prev):
    return float(np.mean(prev)), float(np.std(prev, ddof=1))


def mad_baseline(prev):
    center = float(np.median(prev))
    dev = np.abs(prev - center)
    mad = float(np.median(dev))
    if mad > 0.0:
        return center, 1.4826 * mad
    return center, math.sqrt(math.pi / 2.0) * float(np.mean(dev))


def expected(config, values):
    threshold = float(config["threshold"])
    min_training = int(config["minTrainingSize"])
    window = config.get("window")
    direction = config.get("direction", "both")
    baseline = zscore_baseline if config["algorithm"] == "zscore" else mad_baseline

    nan = float("nan")
    learned = []
    rows = []
    for x in values:
        if not math.isfinite(x):
            rows.append((nan, nan, nan, nan, 0, "", "skipped"))
            continue
        if len(learned) < min_training:
            learned.append(x)
            rows.append((nan, nan, nan, nan, 0, "", "warmup"))
            continue
        prev = np.array(learned[-window:] if window else learned, dtype=np.float64)
        center, scale = baseline(prev)
        scale = max(scale, max(abs(center) * 1.5e-8, 1e-12))
        z = (x - center) / scale
        # Exact comparisons below are only meaningful away from ties.
        assert not (0.0 < abs(z) < 1e-6), f"score {z} too close to 0: change SEED"
        assert abs(abs(z) - threshold) > 1e-6, f"score {z} too close to the threshold: change SEED"
        if direction == "both":
            anomalous = abs(z) > threshold
        elif direction == "up":
            anomalous = z > threshold
        else:
            anomalous = z < -threshold
        rows.append(
            (
                center,
                center - threshold * scale,
                center + threshold * scale,
                z,
                int(anomalous),
                "up" if z >= 0.0 else "down",
                "ok",
            )
        )
        learned.append(x)
    return rows


def fmt(v):
    # repr() is the shortest string that parses back to the same f64.
    return repr(float(v)) if isinstance(v, float) else str(v)


def main():
    ts, values = make_series()
    with open(os.path.join(HERE, "zscore_input.csv"), "w", newline="\n") as f:
        f.write("ts,value\n")
        for t, v in zip(ts, values):
            f.write(f"{t},{fmt(v)}\n")
    for name, config in CONFIGS.items():
        rows = expected(config, values)
        path = os.path.join(HERE, f"{name}_expected.csv")
        with open(path, "w", newline="\n") as f:
            f.write(f"# config: {json.dumps(config, separators=(',', ':'))}\n")
            f.write("ts,value,forecast,lower,upper,score,is_anomaly,direction,status\n")
            for t, v, row in zip(ts, values, rows):
                f.write(",".join([str(t), fmt(v)] + [fmt(c) for c in row]) + "\n")
        flagged = sum(r[4] for r in rows)
        print(f"wrote {path}: {len(rows)} rows, {flagged} anomalies")


if __name__ == "__main__":
    main()
