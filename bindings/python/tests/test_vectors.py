"""Every shared vector (tests/vectors, written by the Rust host) replays bit
for bit: with its batch splits and snapshot/restore point, twice, through the
fast core path and through wasmtime.component."""

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


def replay(v: dict, component: str, engine: str, batches: list[int], restore_after):
    values = f64s(v["values"])
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
    """Without its splits and restore point the vector gives the same output."""
    v = load_vector(path)
    out, d = replay(v, component, "core", [v["rows"]], None)
    assert_bit_identical(v, out, d, "one call")


def test_there_are_vectors():
    assert len(vector_files()) >= 10
