"""The Python API: errors carry the guest's message, snapshots restore exactly,
the fast path and wasmtime.component agree byte for byte, calls are bounded."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from conftest import THROUGHPUT

import wasmad

ENGINES = ["core", "component"]


def series(n: int, seed: int, keys: int = 0):
    rng = np.random.default_rng(seed)
    values = rng.normal(10.0, 1.0, n)
    values[rng.integers(0, n, n // 50)] += 8.0
    values[rng.integers(0, n, n // 100)] = np.nan
    ts = 1_700_000_000_000_000 + np.arange(n, dtype=np.int64) * 1_000_000
    k = None
    if keys:
        # dense ids, new keys in increasing order
        k = np.minimum(np.arange(n) % (keys + 3), keys - 1).astype(np.uint32)
    return values, ts, k


def same_bits(a: wasmad.Result, b: wasmad.Result) -> None:
    for col in ("forecast", "lower", "upper", "score"):
        assert (getattr(a, col).view(np.uint64) == getattr(b, col).view(np.uint64)).all(), col
    assert (a.flags == b.flags).all()
    assert (a.probability is None) == (b.probability is None)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("config", "needles"),
    [
        ({"algorithm": "nope"}, ["unknown algorithm 'nope'", "zscore, ewma, mad"]),
        ({"algorithm": "zscore", "threshold": -1}, ["threshold"]),
        ({"algorithm": "zscore", "bogus": 1}, ["bogus"]),
        ({"algorithm": "ewma", "alpha": 2}, ["alpha"]),
        ('{"algorithm": ', ["JSON"]),
        ("[1, 2]", ["object"]),
    ],
    ids=[
        "unknown-algorithm",
        "negative-threshold",
        "unknown-key",
        "alpha-range",
        "bad-json",
        "not-object",
    ],
)
def test_bad_configs_raise_invalid_config_with_the_guest_message(
    component, engine, config, needles
):
    with pytest.raises(wasmad.InvalidConfig) as e:
        wasmad.Detector(config, module=component, engine=engine)
    assert isinstance(e.value, ValueError) and isinstance(e.value, wasmad.WasmadError)
    for needle in needles:
        assert needle.lower() in str(e.value).lower(), str(e.value)
    assert e.value.message == str(e.value)


def test_both_engines_give_the_same_messages(component):
    messages = []
    for engine in ENGINES:
        with pytest.raises(wasmad.InvalidConfig) as e:
            wasmad.Detector({"algorithm": "mad", "window": 1}, module=component, engine=engine)
        messages.append(str(e.value))
    assert messages[0] == messages[1]
    assert "window" in messages[0]


@pytest.mark.parametrize("engine", ENGINES)
def test_bad_batches_raise_invalid_input(component, engine):
    d = wasmad.Detector({"algorithm": "zscore"}, module=component, engine=engine)
    # The guest checks key density: a fresh detector with one row accepts only id 0.
    with pytest.raises(wasmad.InvalidInput, match="not dense"):
        d.process([1.0], keys=[5])
    # The guest checks width: zscore is univariate.
    with pytest.raises(wasmad.InvalidInput, match="univariate"):
        d.process(np.ones((4, 2)))
    # The binding checks what cannot be encoded.
    with pytest.raises(wasmad.InvalidInput, match="one per row"):
        d.process([1.0, 2.0], keys=[0])
    with pytest.raises(wasmad.InvalidInput, match="one per row"):
        d.process([1.0, 2.0], timestamps=[1, 2, 3])
    with pytest.raises(wasmad.InvalidInput, match="integer"):
        d.process([1.0], keys=[0.5])
    with pytest.raises(wasmad.InvalidInput, match="0 .. 2"):
        d.process([1.0], keys=[-1])
    with pytest.raises(wasmad.InvalidInput, match="microseconds"):
        d.process([1.0], timestamps=[1.5])
    # Errors change nothing: the detector still works and learned nothing.
    assert d.key_count == 0
    r = d.process([1.0, 2.0])
    assert list(r.status) == ["warmup", "warmup"]


@pytest.mark.parametrize("engine", ENGINES)
def test_multivariate_rows_and_extras(component, engine):
    """(rows, width) arrays in, extras out as (rows, per_row) arrays."""
    x = np.column_stack([10 + np.arange(60) % 7, -3 + (np.arange(60) % 5) * 0.1, np.ones(60)])
    x[55, 2] = 99.0
    config = {"algorithm": "robust", "window": 20, "minTrainingSize": 10}
    d = wasmad.Detector(config, module=component, engine=engine)
    r = d.process(x)
    assert list(r.extras) == ["attribution"]
    a = r.extras["attribution"]
    assert a.shape == (60, 6) and a.dtype == np.float64
    assert r.is_anomaly[55] and np.isfinite(a[55]).all()
    # A Fortran-ordered (column-major) array is taken row by row all the same.
    f = wasmad.Detector(config, module=component, engine=engine).process(np.asfortranarray(x))
    assert (f.score.view(np.uint64) == r.score.view(np.uint64)).all()
    assert (f.extras["attribution"].view(np.uint64) == a.view(np.uint64)).all()
    # The detector keeps its width; univariate algorithms return no extras.
    with pytest.raises(wasmad.InvalidInput, match="width 2 cannot be mixed"):
        d.process(np.ones((3, 2)))
    with pytest.raises(wasmad.InvalidInput, match="2-d"):
        d.process(np.ones((2, 2, 3)))
    assert wasmad.Detector(module=component, engine=engine).process([1.0, 2.0]).extras == {}


@pytest.mark.parametrize("engine", ENGINES)
def test_bad_snapshots_raise_invalid_snapshot(component, engine):
    d = wasmad.Detector({"algorithm": "ewma"}, module=component)
    d.process(np.arange(50.0))
    snap = d.snapshot()
    for bad in [b"", b"garbage", snap[:-3], snap + b"\0", b"WMAD\xff\xff" + snap[6:]]:
        with pytest.raises(wasmad.InvalidSnapshot):
            wasmad.Detector.restore(bad, module=component, engine=engine)


def test_load_errors_say_what_is_expected(component, tmp_path, monkeypatch):
    with pytest.raises(wasmad.LoadError, match="cannot read"):
        wasmad.Detector(module=tmp_path / "missing.wasm")
    text = tmp_path / "text.wasm"
    text.write_bytes(b"not wasm at all")
    for engine in ENGINES:
        with pytest.raises(wasmad.LoadError):
            wasmad.Detector(module=text, engine=engine)
    core = tmp_path / "core.wasm"
    core.write_bytes(b"\0asm\x01\x00\x00\x00")
    with pytest.raises(wasmad.LoadError, match="core module"):
        wasmad.Detector(module=core)
    monkeypatch.delenv(wasmad.MODULE_ENV, raising=False)
    with pytest.raises(wasmad.LoadError, match=wasmad.MODULE_ENV):
        wasmad.Detector()
    monkeypatch.setenv(wasmad.MODULE_ENV, component)
    assert wasmad.Detector().config["algorithm"] == "zscore"
    with pytest.raises(ValueError, match="engine"):
        wasmad.Detector(module=component, engine="jit")


# ---------------------------------------------------------------- snapshots


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "config",
    [
        {"algorithm": "zscore"},
        {"algorithm": "zscore", "window": 64},
        {"algorithm": "ewma", "halfLife": 30},
        {"algorithm": "mad", "window": 41},
    ],
    ids=lambda c: json.dumps(c, separators=(",", ":")),
)
def test_restore_continues_exactly(component, engine, config):
    n = 3000 if engine == "core" else 600
    values, ts, keys = series(n, seed=7, keys=5)
    whole = wasmad.Detector(config, module=component, engine=engine).process(values, ts, keys)
    for split in (1, n // 3, n - 1):
        d = wasmad.Detector(config, module=component, engine=engine)
        first = d.process(values[:split], ts[:split], keys[:split])
        snap = d.snapshot()
        assert isinstance(snap, bytes) and snap[:4] == b"WMAD"
        e = wasmad.Detector.restore(snap, module=component, engine=engine)
        assert e.config == d.config and e.key_count == d.key_count
        second = e.process(values[split:], ts[split:], keys[split:])
        joined = wasmad.Result(
            *(
                np.concatenate([getattr(first, c), getattr(second, c)])
                for c in ("forecast", "lower", "upper", "score", "flags")
            ),
            None,
        )
        same_bits(whole, joined)
        # The original goes on independently and agrees too.
        same_bits(second, d.process(values[split:], ts[split:], keys[split:]))


def test_snapshots_cross_engines(component):
    values, ts, keys = series(500, seed=3, keys=3)
    cfg = {"algorithm": "mad", "window": 25}
    core = wasmad.Detector(cfg, module=component, engine="core")
    comp = wasmad.Detector(cfg, module=component, engine="component")
    same_bits(core.process(values, ts, keys), comp.process(values, ts, keys))
    assert core.snapshot() == comp.snapshot()
    a = wasmad.Detector.restore(core.snapshot(), module=component, engine="component")
    b = wasmad.Detector.restore(comp.snapshot(), module=component, engine="core")
    more, ts2, keys2 = series(200, seed=4, keys=3)
    same_bits(a.process(more, ts2, keys2), b.process(more, ts2, keys2))


def test_fast_path_equals_wasmtime_component_on_random_batches(component):
    rng = np.random.default_rng(11)
    for cfg in ({"algorithm": "zscore", "window": 30}, {"algorithm": "ewma"}, {"algorithm": "mad"}):
        core = wasmad.Detector(cfg, module=component, engine="core")
        comp = wasmad.Detector(cfg, module=component, engine="component")
        for _ in range(5):
            n = int(rng.integers(0, 300))
            values, ts, keys = series(n, seed=int(rng.integers(1 << 30)), keys=4)
            same_bits(core.process(values, ts, keys), comp.process(values, ts, keys))
        assert core.key_count == comp.key_count


# ---------------------------------------------------------------- results


def test_result_columns_follow_the_flag_byte(component):
    d = wasmad.Detector({"algorithm": "zscore", "minTrainingSize": 20}, module=component)
    values = np.r_[np.tile([10.0, 10.5, 9.5, 10.2], 10), 30.0, -10.0, np.nan, np.inf, 10.0]
    r = d.process(values)
    assert len(r) == len(values)
    assert r.forecast.dtype == np.float64 and r.flags.dtype == np.uint8
    assert r.is_anomaly.dtype == bool
    assert list(r.status[:20]) == ["warmup"] * 20
    assert list(r.status[-5:]) == ["ok", "ok", "skipped", "skipped", "ok"]
    assert list(r.direction[-5:]) == ["up", "down", None, None, None]
    assert list(r.is_anomaly[-5:]) == [True, True, False, False, False]
    assert np.isnan(r.score[:20]).all() and np.isnan(r.score[-3])
    assert r.score[-5] > 3 and r.score[-4] < -3
    assert r.lower[-5] < r.forecast[-5] < r.upper[-5]
    # Severity is graded for anomalies only (when the detector grades at all).
    assert all(s is None for s in r.severity[~r.is_anomaly])
    assert set(r.severity[r.is_anomaly]) <= {None, "low", "medium", "high"}
    assert (r.severity[r.is_anomaly] != None).sum() in (0, 2)  # noqa: E711
    assert r.probability is None
    cols = r.to_dict()
    assert set(cols) == {
        "forecast",
        "lower",
        "upper",
        "score",
        "is_anomaly",
        "direction",
        "status",
        "severity",
        "probability",
    }
    assert "anomalies=2" in repr(r)


def test_inputs_are_converted(component):
    a = wasmad.Detector(module=component)
    b = wasmad.Detector(module=component)
    values = [1.0, 2, None, 4.5] * 10
    dt = np.datetime64("2024-01-01T00:00:00", "s") + np.arange(40)
    ra = a.process(values, timestamps=dt, keys=[0] * 40)
    us = dt.astype("datetime64[us]").astype(np.int64)
    rb = b.process(np.array(values, dtype=float), timestamps=us, keys=np.zeros(40, np.int64))
    same_bits(ra, rb)
    assert ra.status[2] == "skipped"  # None is a missing value
    empty = a.process([])
    assert len(empty) == 0


def test_describe_and_properties(component):
    info = wasmad.describe(component)
    assert info["abi"] == wasmad.ABI_VERSION
    assert [a["name"] for a in info["algorithms"]] == [
        "zscore",
        "ewma",
        "mad",
        "holtwinters",
        "rcf",
        "spike_dip",
        "change_point",
        "robust",
        "arima",
        "ensemble",
        "hst",
        "iforest",
    ]
    d = wasmad.Detector('{"algorithm":"mad"}', module=component)
    assert d.config["window"] == 100 and d.config["threshold"] == 3.5
    assert d.engine == "core" and d.module.endswith(".wasm")
    d.process([1.0, 2.0], keys=[0, 1])
    assert d.key_count == 2


@pytest.mark.parametrize("engine", ENGINES)
def test_closed_detectors_refuse_calls(component, engine):
    with wasmad.Detector(module=component, engine=engine) as d:
        d.process([1.0])
    with pytest.raises(wasmad.WasmadError, match="closed"):
        d.process([1.0])


# ---------------------------------------------------------------- limits


def test_a_call_over_the_time_limit_is_interrupted(component):
    d = wasmad.Detector({"algorithm": "mad", "window": 2000}, module=component, timeout=0.01)
    start = time.perf_counter()
    with pytest.raises(wasmad.CallError) as e:
        d.process(np.random.default_rng(1).normal(size=3_000_000))
    assert e.value.kind == "timeout", str(e.value)
    assert "detector.process-bytes" in str(e.value) and "time limit" in str(e.value)
    assert time.perf_counter() - start < 10
    with pytest.raises(wasmad.CallError, match="unusable"):
        d.process([1.0])
    # Other detectors are unaffected.
    assert len(wasmad.Detector(module=component).process([1.0])) == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_a_call_over_the_memory_limit_fails_cleanly(component, engine):
    n = 1_000_000 if engine == "core" else 200_000
    d = wasmad.Detector(module=component, engine=engine, memory_limit=4 << 20)
    with pytest.raises(wasmad.CallError) as e:
        d.process(np.zeros(n))
    assert e.value.kind == "out-of-memory", str(e.value)
    assert "memory limit of 4194304 bytes" in str(e.value)


def test_the_component_engine_names_its_batch_size_limit(component):
    d = wasmad.Detector(module=component, engine="component")
    with pytest.raises(wasmad.CallError, match="too large for engine='component'"):
        d.process(np.zeros(150_000))
    # The core engine takes the same batch.
    assert len(wasmad.Detector(module=component).process(np.zeros(150_000))) == 150_000


# ---------------------------------------------------------------- speed


def test_fast_path_runs_at_least_a_million_rows_per_second(component):
    """The reason for the core path; the rate is printed after the summary."""
    n = 1_000_000
    values, ts, _ = series(n, seed=5)
    d = wasmad.Detector({"algorithm": "zscore"}, module=component)
    best = min(_timed(lambda: d.process(values, ts)) for _ in range(3))
    rate = n / best
    THROUGHPUT.append(
        f"wasmad python (core path): {rate / 1e6:.1f}M rows/s (zscore, {n} rows a call)"
    )
    assert rate >= 1_000_000, f"{rate:.0f} rows/s"


def _timed(f) -> float:
    start = time.perf_counter()
    f()
    return time.perf_counter() - start
