"""Every shared vector (tests/vectors, written by the Rust host) replays bit
for bit: with its batch splits and snapshot/restore point, twice, through the
fast core path and through wasmtime.component. Multivariate vectors (width > 1)
go in as (rows, width) arrays; the extra outputs (e.g. rcf's and robust's
attribution) are compared too."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import load_vector, vector_files

import wasmad

F64_COLUMNS = ("forecast", "lower", "upper", "score")


def f64s(hexes: list[str]) -> np.ndarray:
    """IEEE-754 bit patterns (16 hex digits) as float64, exactly."""
    return np.array([int(h, 16) for h in hexes], dtype=np.uint64).view(np.float64)


def replay(
    v: dict, component: str, engine: str, batches: list[int], restore_after, two_d: bool = False
):
    assert v["format"] in (1, 2), f"{v['name']}: unknown vector format {v['format']}"
    width = v["width"]
    values = f64s(v["values"])
    assert values.size == v["rows"] * width, f"{v['name']}: rows * width values"
    # Width 1 goes in as a 1-d array, unless two_d; wider rows as (rows, width).
    values = values.reshape(-1, width) if two_d or width > 1 else values
    timestamps = np.array([int(t) for t in v["timestamps"]], dtype=np.int64)
    keys = np.array(v["keys"], dtype=np.uint32) if v["keys"] else None
    d = wasmad.Detector(v["config"], module=component, engine=engine)
    out = []
    start = 0
    for i, b in enumerate(batches):
        rows = slice(start, start + b)
        r = d.process(values[rows], timestamps[rows], None if keys is None else keys[rows])
        assert len(r) == b
        out.append(r)
        start += b
        if restore_after == i:
            snap = d.snapshot()
            d.close()
            d = wasmad.Detector.restore(snap, module=component, engine=engine)
    assert start == v["rows"] == len(values)
    return out, d


def assert_bit_identical(v: dict, out: list, d: wasmad.Detector, run: str) -> None:
    name = f"{v['name']} ({run})"
    for col in F64_COLUMNS:
        got = np.concatenate([getattr(r, col) for r in out]).view(np.uint64)
        want = f64s(v[col]).view(np.uint64)
        assert got.shape == want.shape, f"{name}: {col} length"
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, (
            f"{name}: {col}[{bad[0]}] differs: want {int(want[bad[0]]):016x}, "
            f"got {int(got[bad[0]]):016x} ({bad.size} rows differ)"
        )
    flags = np.concatenate([r.flags for r in out])
    assert flags.dtype == np.uint8
    assert flags.tolist() == v["flags"], f"{name}: flags"
    if v["probability"]:
        # A batch of 0 rows carries no probability column at all.
        got = np.concatenate(
            [np.empty(0) if r.probability is None else r.probability for r in out]
        ).view(np.uint64)
        want = f64s(v["probability"]).view(np.uint64)
        assert got.shape == want.shape and (got == want).all(), f"{name}: probability"
    else:
        assert all(r.probability is None for r in out), f"{name}: no probability"
    # Extras: per name, the batches' (rows, per_row) arrays stacked (a 0-row
    # batch may carry none); names, widths and bits as in the vector.
    want_extras = v.get("extras", [])
    names: list[str] = []
    for r in out:
        names += [k for k in r.extras if k not in names]
    assert names == [e["name"] for e in want_extras], f"{name}: extra names"
    for e in want_extras:
        parts = [r.extras[e["name"]] for r in out if e["name"] in r.extras]
        for p in parts:
            assert p.ndim == 2 and p.shape[1] == e["per_row"], f"{name}: {e['name']} shape"
        got = np.concatenate([p.reshape(-1) for p in parts]).view(np.uint64)
        want = f64s(e["values"]).view(np.uint64)
        assert got.shape == want.shape, f"{name}: extra {e['name']} length"
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, (
            f"{name}: extra {e['name']}[{bad[0]}] (row {bad[0] // e['per_row']}) differs: "
            f"want {int(want[bad[0]]):016x}, got {int(got[bad[0]]):016x} ({bad.size} differ)"
        )
    assert d.key_count == v["key_count"], f"{name}: key count"


@pytest.fixture(params=["core", "component"])
def engine(request) -> str:
    return request.param


@pytest.mark.parametrize("path", vector_files(), ids=lambda p: p.stem)
def test_vector_replays_bit_identically(path, component, engine):
    v = load_vector(path)
    for run in ("run 1", "run 2"):  # twice: determinism
        out, d = replay(v, component, engine, v["batches"], v["restore_after_batch"])
        assert_bit_identical(v, out, d, f"{engine}, {run}")
        assert d.config == json.loads(v["effective_config"])


@pytest.mark.parametrize("path", vector_files(), ids=lambda p: p.stem)
def test_vector_in_one_call(path, component):
    """Without its splits and restore point the vector gives the same output
    (values passed as a (rows, width) array even for width 1)."""
    v = load_vector(path)
    out, d = replay(v, component, "core", [v["rows"]], None, two_d=True)
    assert_bit_identical(v, out, d, "one call")


def test_there_are_vectors():
    assert len(vector_files()) >= 10
    vs = [load_vector(p) for p in vector_files()]
    assert any(
        v["width"] > 1 and any(e["name"] == "attribution" for e in v.get("extras", [])) for v in vs
    ), "a multivariate vector with attribution"
