"""Reference scores for `hst` from river's HalfSpaceTrees (river 0.26).

river grows its trees with Python's `random`; wasmad with its own PRNG, so
the trees differ. This script therefore writes river's trees with its
scores: `tests/hst.rs` loads the same trees into wasmad's model and checks
every row's score against river's (mass profiles, window pivots, the early
stop under a tenth of the window, normalisation). Tree growth itself is
checked there by its own properties (splits inside the padded ranges,
columns weighted by range, seeded determinism).

Regenerate (writes hst_reference.json next to this file):

    python3 -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install river==0.26.1 numpy
    /tmp/refvenv/bin/python crates/core/tests/reference/hst/make_hst_reference.py
"""

import json
import pathlib

import numpy as np
from river import anomaly

HERE = pathlib.Path(__file__).parent


def heap_order(root, height):
    """(feature, threshold) of every branch in heap order: children of i at 2i+1, 2i+2."""
    features, splits = [], []
    level = [root]
    for _ in range(height):
        nxt = []
        for node in level:
            features.append(node.feature)
            splits.append(node.threshold)
            nxt.extend(node.children)
        level = nxt
    return features, splits


def case(name, rows, limits, n_trees, height, window_size, seed):
    width = rows.shape[1]
    hst = anomaly.HalfSpaceTrees(
        n_trees=n_trees,
        height=height,
        window_size=window_size,
        limits={i: tuple(limits[i]) for i in range(width)},
        seed=seed,
    )
    scores = []
    trees = None
    for r in rows:
        x = {i: float(r[i]) for i in range(width)}
        scores.append(float(hst.score_one(x)))
        hst.learn_one(x)
        if trees is None:
            trees = [heap_order(t, height) for t in hst.trees]
    return {
        "name": name,
        "config": {
            "algorithm": "hst",
            "numberOfTrees": n_trees,
            "height": height,
            "windowSize": window_size,
            "limits": limits,
        },
        "features": [f for f, _ in trees],
        "splits": [s for _, s in trees],
        "rows": rows.tolist(),
        "scores": scores,
    }


def main():
    rng = np.random.default_rng(20261204)
    n = 600
    # One column: noise around 0.4 in [0, 1], spikes and a level shift.
    one = 0.4 + 0.05 * rng.standard_normal(n)
    one[200] = 0.95
    one[350] = 0.02
    one[450:] += 0.2
    # Two columns on different scales, a joint outlier and one per column.
    a = 10 + 2 * rng.standard_normal(n)
    b = 0.5 * a + rng.standard_normal(n) * 3 + 40
    a[300], b[300] = 19, 20
    a[420] = -4
    b[500] = 90
    two = np.column_stack([a, b])
    cases = [
        case("one column, river defaults", one[:, None], [[0.0, 1.0]], 10, 8, 250, 42),
        case("two columns, short windows", two, [[-5.0, 25.0], [0.0, 100.0]], 5, 6, 50, 7),
        case("two columns, deep trees", two, [[-5.0, 25.0], [0.0, 100.0]], 3, 10, 100, 3),
    ]
    out = HERE / "hst_reference.json"
    out.write_text(json.dumps({"river": "0.26.1", "cases": cases}))
    print("wrote", out)


if __name__ == "__main__":
    main()
