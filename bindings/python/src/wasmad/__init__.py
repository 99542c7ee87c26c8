"""wasmad: streaming anomaly detectors from one WebAssembly component.

The detectors (zscore, ewma, mad, holtwinters, rcf, spike_dip, change_point,
robust) are the Rust code of the wasmad project, compiled to one component
(``wit/detector.wit``); this package runs that component with wasmtime. The same ``.wasm`` runs in the Rust/SQL host and in
Node, and gives bit-identical results everywhere.

>>> import numpy as np, wasmad
>>> d = wasmad.Detector({"algorithm": "zscore", "threshold": 3.0})  # doctest: +SKIP
>>> r = d.process(np.array([1.0, 1.1, 0.9] * 20 + [9.0]))            # doctest: +SKIP
>>> r.is_anomaly[-1], r.direction[-1], r.status[-1]                  # doctest: +SKIP
(True, 'up', 'ok')

The component file comes from ``module=`` or the ``WASMAD_COMPONENT``
environment variable; ``wasmad export-component PATH`` writes one.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from functools import cached_property
from typing import Any

import numpy as np

from ._errors import (
    CallError,
    GuestError,
    InvalidConfig,
    InvalidInput,
    InvalidSnapshot,
    LoadError,
    WasmadError,
)
from ._runtime import ABI_VERSION, Limits, load

__all__ = [
    "ABI_VERSION",
    "CallError",
    "Detector",
    "GuestError",
    "InvalidConfig",
    "InvalidInput",
    "InvalidSnapshot",
    "LoadError",
    "MODULE_ENV",
    "Result",
    "WasmadError",
    "describe",
]

#: Environment variable naming the component file when ``module=`` is not given.
MODULE_ENV = "WASMAD_COMPONENT"

_STATUS = np.array(["ok", "warmup", "skipped", "skipped"], dtype=object)
_SEVERITY = np.array([None, "low", "medium", "high"], dtype=object)


def _module_path(module: str | os.PathLike[str] | None) -> str:
    if module is not None:
        return os.fspath(module)
    path = os.environ.get(MODULE_ENV)
    if not path:
        raise LoadError(
            f"no detector component: pass module=PATH or set {MODULE_ENV}; "
            "`wasmad export-component PATH` writes one"
        )
    return path


def describe(module: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The module's ``describe()``: every algorithm, config key, type, default
    and range, as a dict."""
    result: dict[str, Any] = json.loads(load(_module_path(module), "core").describe_json)
    return result


class Result:
    """Scores for one batch, one element per input row (numpy arrays).

    ``forecast``, ``lower``, ``upper`` and ``score`` are float64 (NaN unless
    ``status`` is ``"ok"``); ``is_anomaly`` is bool; ``direction`` (``"up"``,
    ``"down"`` or None), ``status`` (``"ok"``, ``"warmup"``, ``"skipped"``) and
    ``severity`` (``"low"``, ``"medium"``, ``"high"`` or None) are object
    arrays of str, decoded from ``flags`` (the raw uint8 flag byte of
    ``wit/detector.wit``) on first access; ``probability`` is float64, or None
    when the detector computes none.
    """

    def __init__(
        self,
        forecast: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        score: np.ndarray,
        flags: np.ndarray,
        probability: np.ndarray | None,
        extras: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.forecast = forecast
        self.lower = lower
        self.upper = upper
        self.score = score
        self.flags = flags
        self.probability = probability
        #: Further outputs some algorithms add, by name (``rmse``, ``aic``,
        #: ``attribution``, ``forecast``): float64 arrays of shape (rows, per_row).
        self.extras = extras or {}

    def __len__(self) -> int:
        return len(self.flags)

    def __repr__(self) -> str:
        return (
            f"Result(rows={len(self)}, anomalies={int(self.is_anomaly.sum())}, "
            f"warmup={int((self._status_code == 1).sum())}, "
            f"skipped={int((self._status_code >= 2).sum())})"
        )

    @cached_property
    def _status_code(self) -> np.ndarray:
        return (self.flags >> 2) & 3

    @cached_property
    def is_anomaly(self) -> np.ndarray:
        """True where the row lies outside the band on a side the config flags."""
        return (self.flags & 1).astype(bool)

    @cached_property
    def direction(self) -> np.ndarray:
        """``"up"`` or ``"down"`` for anomalies, None otherwise."""
        out = np.full(len(self), None, dtype=object)
        anomalous = self.is_anomaly
        up = (self.flags & 2).astype(bool)
        out[anomalous & up] = "up"
        out[anomalous & ~up] = "down"
        return out

    @cached_property
    def status(self) -> np.ndarray:
        """``"ok"``, ``"warmup"`` (learned, not scored) or ``"skipped"``
        (NaN or infinite value: neither learned nor flagged)."""
        return _STATUS[self._status_code]

    @cached_property
    def severity(self) -> np.ndarray:
        """``"low"``, ``"medium"`` or ``"high"`` for graded anomalies, else None."""
        return _SEVERITY[(self.flags >> 4) & 3]

    def to_dict(self) -> dict[str, np.ndarray | None]:
        """The columns by name (``pandas.DataFrame(result.to_dict())`` works)."""
        return {
            "forecast": self.forecast,
            "lower": self.lower,
            "upper": self.upper,
            "score": self.score,
            "is_anomaly": self.is_anomaly,
            "direction": self.direction,
            "status": self.status,
            "severity": self.severity,
            "probability": self.probability,
        }


def _config_json(config: Mapping[str, Any] | str | None) -> str:
    if config is None:
        return "{}"
    if isinstance(config, str):
        return config
    if isinstance(config, Mapping):
        return json.dumps(dict(config), separators=(",", ":"), allow_nan=False)
    raise TypeError(f"config must be a dict or a JSON string, got {type(config).__name__}")


class Detector:
    """One streaming detector: its config and every key's model, in a
    WebAssembly instance of its own.

    ``engine="core"`` (default) is the fast path; ``engine="component"`` goes
    through ``wasmtime.component`` (exact but about 50 times slower per row;
    useful as a cross-check). ``memory_limit`` (bytes) and ``timeout``
    (seconds, or None) bound every call; a call that exceeds them raises
    :class:`CallError` and leaves the detector unusable.

    Not thread-safe across concurrent calls: a lock serialises them.
    """

    def __init__(
        self,
        config: Mapping[str, Any] | str | None = None,
        *,
        module: str | os.PathLike[str] | None = None,
        engine: str = "core",
        memory_limit: int = 2 << 30,
        timeout: float | None = 30.0,
    ) -> None:
        self._open(module, engine, memory_limit, timeout)
        self._inst.create(_config_json(config))

    def _open(
        self,
        module: str | os.PathLike[str] | None,
        engine: str,
        memory_limit: int,
        timeout: float | None,
    ) -> None:
        self._lock = threading.Lock()
        self._module = load(_module_path(module), engine)
        self._inst = self._module.instantiate(Limits(memory_limit, timeout))

    @classmethod
    def restore(
        cls,
        snapshot: bytes | bytearray | memoryview,
        *,
        module: str | os.PathLike[str] | None = None,
        engine: str = "core",
        memory_limit: int = 2 << 30,
        timeout: float | None = 30.0,
    ) -> Detector:
        """A detector rebuilt from :meth:`snapshot` bytes; it continues exactly
        where the snapshotted one was."""
        self = cls.__new__(cls)
        self._open(module, engine, memory_limit, timeout)
        self._inst.restore(bytes(snapshot))
        return self

    def process(
        self,
        values: Any,
        timestamps: Any = None,
        keys: Any = None,
    ) -> Result:
        """Score a batch, then learn it; each row is scored against its key's
        baseline before the row is learned.

        ``values``: n floats (NaN, None or +/-inf mark a missing value), or an
        (n, width) array for multivariate detectors. ``timestamps``: n
        integers (microseconds since the epoch) or datetime64 values; zeros
        when omitted. ``keys``: None for one model, or n dense key ids (a new
        key's id is the number of keys seen so far; ``pandas.factorize``
        gives such ids).
        """
        v = np.asarray(values)
        if v.dtype != np.float64 or v.dtype.byteorder == ">":
            try:
                v = v.astype("<f8")
            except (TypeError, ValueError) as e:
                raise InvalidInput(f"values must be numbers: {e}") from None
        if v.ndim == 1:
            n, width = v.shape[0], 1
        elif v.ndim == 2:
            n, width = v.shape
        else:
            raise InvalidInput(
                f"values must be a 1-d array (one value per row) or 2-d (rows, width); "
                f"got {v.ndim} dimensions"
            )
        v = np.ascontiguousarray(v)

        if timestamps is None:
            ts = np.zeros(n, dtype="<i8")
        else:
            ts = np.asarray(timestamps)
            if ts.dtype.kind == "M":
                ts = ts.astype("datetime64[us]").view("<i8")
            elif ts.dtype.kind in "iu":
                if ts.dtype.kind == "u" and ts.size and ts.max() > np.iinfo(np.int64).max:
                    raise InvalidInput("timestamps exceed the signed 64-bit range")
                ts = ts.astype("<i8")
            else:
                raise InvalidInput(
                    "timestamps must be integers (microseconds since the Unix epoch) or "
                    f"datetime64; got dtype {ts.dtype}"
                )
            if ts.ndim != 1 or ts.shape[0] != n:
                raise InvalidInput(f"timestamps has shape {ts.shape}; expected one per row ({n})")
            ts = np.ascontiguousarray(ts)

        k = None
        if keys is not None:
            k = np.asarray(keys)
            if k.dtype.kind not in "iu":
                raise InvalidInput(
                    f"keys must be integer key ids (dense, from 0); got dtype {k.dtype}"
                )
            if k.ndim != 1 or k.shape[0] != n:
                raise InvalidInput(f"keys has shape {k.shape}; expected one per row ({n})")
            if k.size and (k.min() < 0 or k.max() > 0xFFFFFFFF):
                raise InvalidInput("key ids must be in 0 .. 2^32-1")
            k = np.ascontiguousarray(k.astype("<u4"))

        with self._lock:
            cols = self._inst.process(ts, v, width, k)
        return Result(*cols)

    def snapshot(self) -> bytes:
        """The whole detector (config and every key's state) as bytes."""
        with self._lock:
            return self._inst.snapshot()

    @property
    def config(self) -> dict[str, Any]:
        """The effective config, every default filled in."""
        with self._lock:
            result: dict[str, Any] = json.loads(self._inst.config())
            return result

    @property
    def key_count(self) -> int:
        """Number of key models held."""
        with self._lock:
            return self._inst.key_count()

    @property
    def module(self) -> str:
        """The component file this detector runs."""
        return self._module.name

    @property
    def engine(self) -> str:
        """``"core"`` or ``"component"``."""
        return self._module.kind

    def close(self) -> None:
        """Drop the detector's resource in the component. Further calls raise."""
        with self._lock:
            self._inst.close()

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Detector(module={self._module.name!r}, engine={self._module.kind!r})"
