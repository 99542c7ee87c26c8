"""Rows per second of wasmad in Python, per algorithm, one key and 1000 keys.

    WASMAD_COMPONENT=detector.wasm python bench.py [--rows N] [--engine core|component]

Each figure is the best of 3 calls of `process` over N rows (values, int64
timestamps and, for keyed runs, uint32 key ids as numpy arrays), on a detector
that has already seen one batch, so it includes the binding's conversions and
both copies across the boundary.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import wasmad

CONFIGS = [
    {"algorithm": "zscore"},
    {"algorithm": "zscore", "window": 100},
    {"algorithm": "ewma"},
    {"algorithm": "mad", "window": 100},
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--engine", default="core", choices=["core", "component"])
    args = p.parse_args()
    n = args.rows
    rng = np.random.default_rng(42)
    values = rng.normal(10.0, 1.0, n)
    ts = np.arange(n, dtype=np.int64) * 1_000_000
    for keys in (None, 1000):
        k = None if keys is None else (np.arange(n) % keys).astype(np.uint32)
        for cfg in CONFIGS:
            d = wasmad.Detector(cfg, engine=args.engine)
            d.process(values, ts, k)  # warm: every key exists, memory has grown
            best = float("inf")
            for _ in range(3):
                t = time.perf_counter()
                d.process(values, ts, k)
                best = min(best, time.perf_counter() - t)
            label = ",".join(f"{a}={b}" for a, b in cfg.items())
            print(
                f"python {args.engine:9} {label:28} keys={keys or 1:<5} "
                f"{n / best / 1e6:7.2f}M rows/s"
            )


if __name__ == "__main__":
    main()
