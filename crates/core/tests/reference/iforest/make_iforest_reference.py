"""Reference scores for `iforest` from scikit-learn's IsolationForest (1.9).

scikit-learn draws subsamples and splits with numpy's generator, wasmad with
its own PRNG, so the forests differ. This script writes scikit-learn's
fitted trees (split column, threshold, children, training rows per node)
with its `-score_samples` of test rows: `tests/iforest.rs` loads the same
trees into wasmad's model and checks every score (leaf depths, c(n) of leaf
sizes, normalisation by c(psi)). Tree growth itself is checked there by its
own properties.

Regenerate (writes iforest_reference.json next to this file):

    python3 -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install scikit-learn==1.9.1 numpy
    /tmp/refvenv/bin/python crates/core/tests/reference/iforest/make_iforest_reference.py
"""

import json
import pathlib

import numpy as np
from sklearn.ensemble import IsolationForest

HERE = pathlib.Path(__file__).parent


def case(name, train, test, n_estimators, max_samples, seed):
    f = IsolationForest(n_estimators=n_estimators, max_samples=max_samples, random_state=seed)
    f.fit(train)
    trees = []
    for est, feats in zip(f.estimators_, f.estimators_features_):
        t = est.tree_
        nodes = []
        for i in range(t.node_count):
            leaf = t.children_left[i] == -1
            # [column, threshold, left, right, training rows]; column -1 for
            # a leaf. scikit-learn trains each tree on a column subset: map
            # back to the row's columns.
            nodes.append(
                [
                    -1 if leaf else int(feats[t.feature[i]]),
                    0.0 if leaf else float(t.threshold[i]),
                    0 if leaf else int(t.children_left[i]),
                    0 if leaf else int(t.children_right[i]),
                    int(t.n_node_samples[i]),
                ]
            )
        trees.append(nodes)
    return {
        "name": name,
        "psi": int(f.max_samples_),
        "trees": trees,
        "rows": test.tolist(),
        "scores": (-f.score_samples(test)).tolist(),
    }


def main():
    rng = np.random.default_rng(20261204)
    one = rng.normal(10, 2, size=(500, 1))
    one_test = np.vstack([rng.normal(10, 2, size=(60, 1)), [[25.0], [-3.0], [10.0], [14.5]]])
    a = rng.normal(0, 1, size=400)
    b = 2 * a + rng.normal(0, 0.3, size=400)
    c = rng.uniform(-5, 5, size=400)
    three = np.column_stack([a, b, c])
    three_test = np.vstack([np.column_stack([a[:50], b[:50], c[:50]]), [[2.0, -4.0, 0.0], [0.0, 0.0, 9.0], [3.0, 6.0, 4.9]]])
    # A constant column: scikit-learn skips it when it picks split columns.
    const = np.column_stack([rng.normal(0, 1, 300), np.full(300, 7.0)])
    const_test = np.array([[0.0, 7.0], [4.0, 7.0], [-0.5, 7.0], [0.1, 100.0]])
    cases = [
        case("one column", one, one_test, 20, 256, 0),
        case("three columns", three, three_test, 15, 128, 1),
        case("a constant column, small psi", const, const_test, 20, 16, 2),
    ]
    out = HERE / "iforest_reference.json"
    out.write_text(json.dumps({"scikit-learn": "1.9.1", "cases": cases}))
    print("wrote", out)


if __name__ == "__main__":
    main()
