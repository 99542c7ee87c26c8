"""ML_DETECT_ANOMALIES on Apache Flink (PyFlink 2.3), backed by the wasmad component.

What it shows: the same ``.wasm`` the Rust SQL host embeds, run inside a Flink
job through the Python bindings (``bindings/python``), keyed so each key's
model lives in one task, batched so that one call crosses into WebAssembly per
batch of rows, and checkpointed: each key's detector ``snapshot()`` bytes are
Flink keyed state (a ``ValueState`` of bytes), so a job restored from a
checkpoint or savepoint carries on exactly where it stopped.

Run locally (a mini-cluster; `README.md` has the cluster submission)::

    python examples/flink/wasmad_flink.py --module wasmad_detector.wasm \\
        --sql "SELECT * FROM ML_DETECT_ANOMALIES(...)"

Three layers, use whichever fits:

- :class:`DetectAnomalies`, a ``KeyedProcessFunction`` (the engine);
- :func:`detect_anomalies`, a ``DataStream`` -> ``DataStream`` helper, and
  :func:`ml_detect_anomalies`, a ``Table`` -> ``Table`` one (the table-valued
  function: every input column, then the detector's columns);
- :func:`sql_query`, which runs the host's SQL shape,
  ``... FROM ML_DETECT_ANOMALIES(input, 'value', 'time' [, 'config'])``,
  unchanged: each call is planned as the keyed operator over ``input`` and
  bound to the statement as a temporary view.

Why not a Python UDTF in a ``LATERAL TABLE`` join: PyFlink's table functions
(UDTF, UDAF, pandas UDAF) get no keyed state, no timers and no say in how rows
are partitioned, and Python has neither process table functions (``TABLE t
PARTITION BY k``) nor general over-window aggregates. A detector is a per-key
state machine whose state must be checkpointed, which is exactly a keyed
process function; the table-valued shape is kept by converting the input table
to a stream, keying it, and converting the result back to a table (see
README.md, "Design").
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import itertools
import json
import math
import os
import re
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BINDINGS_SRC = os.path.join(REPO, "bindings", "python", "src")

from pyflink.common import Row, Types  # noqa: E402
from pyflink.common.typeinfo import (  # noqa: E402
    BasicArrayTypeInfo,
    BasicType,
    BasicTypeInfo,
    ExternalTypeInfo,
    ListTypeInfo,
    LocalTimeTypeInfo,
    ObjectArrayTypeInfo,
    PrimitiveArrayTypeInfo,
    RowTypeInfo,
    TypeInformation,
)
from pyflink.datastream import (  # noqa: E402
    DataStream,
    KeyedProcessFunction,
    RuntimeContext,
    StreamExecutionEnvironment,
)
from pyflink.datastream.state import ListStateDescriptor, ValueStateDescriptor  # noqa: E402

#: The columns the function appends to every input row, as in the Rust host.
OUTPUT_COLUMNS = (
    "forecast_value",
    "lower_bound",
    "upper_bound",
    "score",
    "is_anomaly",
    "direction",
    "status",
    "severity",
    "anomaly_probability",
)
OUTPUT_TYPES = (
    Types.DOUBLE(),
    Types.DOUBLE(),
    Types.DOUBLE(),
    Types.DOUBLE(),
    Types.BOOLEAN(),
    Types.STRING(),
    Types.STRING(),
    Types.STRING(),
    Types.DOUBLE(),
)

_EPOCH = _dt.datetime(1970, 1, 1)
_EPOCH_UTC = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_US = _dt.timedelta(microseconds=1)
_MAX_TS = (1 << 63) - 1


class DetectorConfigError(ValueError):
    """A bad argument to ML_DETECT_ANOMALIES (raised while planning the job)."""


#: Type of every extras column: the detector's ``per_row`` values of that
#: output for the row (``attribution``: a (high, low) pair per value column).
EXTRA_TYPE = Types.BASIC_ARRAY(Types.DOUBLE())

_NUMERIC = {
    BasicType.BYTE: "TINYINT",
    BasicType.SHORT: "SMALLINT",
    BasicType.INT: "INT",
    BasicType.LONG: "BIGINT",
    BasicType.BIG_INT: "BIGINT",
    BasicType.FLOAT: "FLOAT",
    BasicType.DOUBLE: "DOUBLE",
    BasicType.BIG_DEC: "DECIMAL",
}
_OTHER = {
    BasicType.STRING: "STRING",
    BasicType.BOOLEAN: "BOOLEAN",
    BasicType.CHAR: "CHAR",
    BasicType.INSTANT: "TIMESTAMP_LTZ",
}
ACCEPTED_VALUES = (
    "accepted: a numeric column (TINYINT, SMALLINT, INT, BIGINT, FLOAT, DOUBLE or DECIMAL), "
    "a comma-separated list of them ('cpu,mem') for a multivariate detector, or one ARRAY "
    "column of numbers (e.g. ARRAY<DOUBLE>) holding each row's values"
)


def _element_type(t: TypeInformation) -> TypeInformation | None:
    if isinstance(t, (BasicArrayTypeInfo, PrimitiveArrayTypeInfo, ObjectArrayTypeInfo)):
        return t._element_type
    if isinstance(t, ListTypeInfo):
        return t.elem_type
    return None


def _is_number(t: TypeInformation) -> bool:
    return isinstance(t, BasicTypeInfo) and t._basic_type in _NUMERIC


def sql_type_name(t: TypeInformation) -> str:
    """A field's type as SQL spells it (for error messages)."""
    if isinstance(t, BasicTypeInfo) and not isinstance(t, LocalTimeTypeInfo):
        b = t._basic_type
        return _NUMERIC.get(b) or _OTHER.get(b) or b.value
    elem = _element_type(t)
    if elem is not None:
        return f"ARRAY<{sql_type_name(elem)}>"
    if isinstance(t, LocalTimeTypeInfo):
        return {"LOCAL_DATE": "DATE", "LOCAL_TIME": "TIME"}.get(t._time_type.name, "TIMESTAMP")
    if isinstance(t, RowTypeInfo):
        return "ROW<...>"
    return str(t)


def check_value_columns(
    value_fields: str | Sequence[str], names: Sequence[str], types: Sequence[TypeInformation]
) -> tuple[list[str], bool]:
    """Check the value-column argument against the input: returns the column
    names and whether it is one ARRAY column (whose elements are a row's
    values) rather than numeric columns (one value each). Raises
    :class:`DetectorConfigError` naming the column and what is accepted."""
    arg = value_fields if isinstance(value_fields, str) else ",".join(value_fields)
    fields = (
        [f.strip() for f in value_fields.split(",")]
        if isinstance(value_fields, str)
        else [f.strip() for f in value_fields]
    )
    if not fields or any(not f for f in fields):
        raise DetectorConfigError(
            f"ML_DETECT_ANOMALIES: value column argument '{arg}' has an empty column name; give "
            "a column name such as 'value' (or 'cpu,mem' for a multivariate detector)"
        )
    arrays = []
    for f in fields:
        if f not in names:
            raise DetectorConfigError(
                f"ML_DETECT_ANOMALIES: no column '{f}' in the input (value column argument "
                f"'{arg}'); it has {', '.join(names)}"
            )
        t = types[list(names).index(f)]
        elem = _element_type(t)
        if elem is not None and _is_number(elem):
            arrays.append(f)
        elif not _is_number(t):
            raise DetectorConfigError(
                f"ML_DETECT_ANOMALIES: value column '{f}' has type {sql_type_name(t)}; "
                f"{ACCEPTED_VALUES}"
                + ("; CAST it if it holds numbers as text" if sql_type_name(t) == "STRING" else "")
            )
    if arrays and len(fields) > 1:
        t = types[list(names).index(arrays[0])]
        raise DetectorConfigError(
            f"ML_DETECT_ANOMALIES: value column '{arrays[0]}' is an {sql_type_name(t)} in the "
            f"list '{arg}': give an ARRAY column alone (its elements are the row's values), or "
            "list numeric columns only"
        )
    return fields, bool(arrays)


def probe_detector(config: Mapping[str, Any] | str, width: int, module: str, what: str) -> dict:
    """Create a detector from ``config`` and score one empty row of ``width``
    values: a bad config or a width the detector does not take is a planning
    error (naming ``what``, the value columns); returns the extras the
    detector gives, name -> values per row."""
    _import_bindings()
    import numpy as np
    import wasmad

    try:
        d = wasmad.Detector(_detector_config(config), module=find_module(module))
    except wasmad.InvalidConfig as e:
        raise DetectorConfigError(f"ML_DETECT_ANOMALIES: {e}") from None
    try:
        r = d.process(np.full((1, width), np.nan), np.zeros(1, dtype=np.int64))
    except wasmad.InvalidInput as e:
        raise DetectorConfigError(
            f"ML_DETECT_ANOMALIES: {what} give{'s' if width == 1 else ''} {width} "
            f"value{'s' if width != 1 else ''} per row, which this detector does not take: {e}"
        ) from None
    finally:
        d.close()
    return {name: int(a.shape[1]) for name, a in r.extras.items()}


def find_module(module: str) -> str:
    """The component file: ``module`` itself if it exists, else a file of that
    name in a ``sys.path`` directory (where ``flink run -pyfs`` and
    ``add_python_file`` put shipped files on the workers)."""
    if os.path.isfile(module):
        return os.path.abspath(module)
    name = os.path.basename(module)
    for d in sys.path:
        for cand in (os.path.join(d, name), os.path.join(d, os.path.basename(d), name)):
            if os.path.isfile(cand):
                return cand
    raise FileNotFoundError(
        f"detector component '{module}' not found (nor '{name}' on sys.path): pass the path "
        "of a file written by `wasmad export-component PATH`, and ship it to the workers "
        "with `flink run -pyfs PATH` or env.add_python_file(PATH)"
    )


def time_micros(t: Any) -> int | None:
    """A time column value as microseconds since the Unix epoch (UTC for
    naive timestamps, as the Rust host reads SQL ``TIMESTAMP``); integers are
    taken as microseconds already; None stays None."""
    if t is None:
        return None
    if isinstance(t, _dt.datetime):
        if t.tzinfo is None:
            return (t - _EPOCH) // _US
        return (t - _EPOCH_UTC) // _US
    if isinstance(t, _dt.date):
        return (t - _EPOCH.date()).days * 86_400_000_000
    if isinstance(t, int):
        return t
    raise TypeError(
        f"time column value {t!r} ({type(t).__name__}): expected a TIMESTAMP, DATE or "
        "an integer (microseconds since the epoch)"
    )


def _import_bindings() -> None:
    """Make ``wasmad`` importable on the client: installed, or from this clone."""
    try:
        import wasmad  # noqa: F401
    except ImportError:
        sys.path.insert(0, BINDINGS_SRC)


def _value(v: Any) -> float:
    return math.nan if v is None else float(v)


class DetectAnomalies(KeyedProcessFunction):
    """One wasmad detector per key, fed batch by batch, checkpointed.

    Rows of a key are appended to a ``ListState`` buffer (so an unflushed row
    is part of every checkpoint) and flushed through the key's detector in one
    ``process`` call -- one WebAssembly boundary crossing -- when the buffer
    reaches ``batch_size`` rows, when ``max_delay_ms`` of processing time has
    passed since its first row, or at the end of a bounded input (an
    event-time timer at the end of time, which the final watermark fires).
    After each flush the detector's ``snapshot()`` bytes go into a
    ``ValueState`` of bytes: that, not the live detector, is the key's state
    of record. Live detectors are a cache (``cache_size`` per task, least
    recently used evicted); a key whose detector is not cached -- after a
    restore from a checkpoint, a rescale, or an eviction -- is rebuilt with
    ``Detector.restore`` from those bytes.

    Rows are fed to a key's model in arrival order (the Rust host sorts each
    key's rows by time; feed a Flink key its rows in time order, as one Kafka
    partition per key or an ordered file does).

    ``config``: the detector config (dict or JSON string), or a callable
    from the key to a config. ``value_fields``: the position of the value
    field, or several for a multivariate detector; with ``value_array``, the
    position of one array field whose elements are the row's values (every
    row of a key must hold as many; a NULL array or element is a missing
    value). ``time_field``: the position of a TIMESTAMP, DATE or integer
    (microseconds) field. ``value_names`` name the value fields in error
    messages. Output: every input field, then :data:`OUTPUT_COLUMNS`, then
    one :data:`EXTRA_TYPE` field per name in ``extras`` (the detector's
    output of that name for the row; NULL when it gives none or the row is
    not scored).
    """

    def __init__(
        self,
        config: Mapping[str, Any] | str | Callable[[Any], Mapping[str, Any] | str],
        value_fields: int | Sequence[int],
        time_field: int,
        module: str,
        *,
        batch_size: int = 1024,
        max_delay_ms: int | None = 1000,
        cache_size: int = 1024,
        value_array: bool = False,
        value_names: Sequence[str] | None = None,
        extras: Sequence[str] = (),
    ) -> None:
        if batch_size < 1:
            raise DetectorConfigError(f"batch_size must be >= 1, got {batch_size}")
        if cache_size < 1:
            raise DetectorConfigError(f"cache_size must be >= 1, got {cache_size}")
        if max_delay_ms is not None and max_delay_ms < 1:
            raise DetectorConfigError(f"max_delay_ms must be >= 1 or None, got {max_delay_ms}")
        self.config = config
        self.value_fields = [value_fields] if isinstance(value_fields, int) else list(value_fields)
        if value_array and len(self.value_fields) != 1:
            raise DetectorConfigError("value_array takes the position of one array field")
        self.value_array = value_array
        self.value_names = list(value_names) if value_names else [str(f) for f in self.value_fields]
        self.extras = list(extras)
        self.time_field = time_field
        self.module = module
        self.batch_size = batch_size
        self.max_delay_ms = max_delay_ms
        self.cache_size = cache_size
        #: Field names for the output rows (input names, then OUTPUT_COLUMNS).
        self.output_names: list[str] | None = None

    # -- lifecycle

    def open(self, runtime_context: RuntimeContext) -> None:
        import numpy as np
        import wasmad

        self._np = np
        self._wasmad = wasmad
        self._path = find_module(self.module)
        self._rows = runtime_context.get_list_state(
            ListStateDescriptor("wasmad-rows", Types.PICKLED_BYTE_ARRAY())
        )
        self._snapshot = runtime_context.get_state(
            ValueStateDescriptor("wasmad-snapshot", Types.PRIMITIVE_ARRAY(Types.BYTE()))
        )
        # Flushes so far for the key: tells a cached detector from a stale one.
        self._generation = runtime_context.get_state(
            ValueStateDescriptor("wasmad-generation", Types.LONG())
        )
        # Values per row of the key (an array value column: fixed by its first
        # non-NULL array, then checked on every row).
        self._width = runtime_context.get_state(ValueStateDescriptor("wasmad-width", Types.INT()))
        # Rows buffered per key since its last flush, kept in memory only: it
        # paces batches and timers; after a restore it restarts at 0, which at
        # most delays a key's next flush (the rows themselves are in state).
        self._pending: dict[Any, int] = {}
        self._cache: OrderedDict[Any, tuple[int, Any]] = OrderedDict()
        self._metrics = {"flushes": 0, "rows": 0, "restores": 0, "creates": 0}

    def close(self) -> None:
        for _, d in self._cache.values():
            d.close()
        self._cache.clear()

    # -- per row

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context):
        self._rows.add(value)
        key = ctx.get_current_key()
        n = self._pending.get(key, 0) + 1
        if n >= self.batch_size:
            yield from self._flush(key)
            return
        self._pending[key] = n
        if n == 1:
            ts = ctx.timer_service()
            # End of a bounded input: the last watermark (+inf) fires this.
            ts.register_event_time_timer(_MAX_TS)
            if self.max_delay_ms is not None:
                ts.register_processing_time_timer(ts.current_processing_time() + self.max_delay_ms)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        yield from self._flush(ctx.get_current_key())

    # -- per batch

    def _detector(self, key: Any, generation: int):
        hit = self._cache.get(key)
        if hit is not None and hit[0] == generation:
            self._cache.move_to_end(key)
            return hit[1]
        if hit is not None:
            hit[1].close()
        snap = self._snapshot.value()
        if snap is not None:
            d = self._wasmad.Detector.restore(bytes(snap), module=self._path)
            self._metrics["restores"] += 1
        else:
            cfg = self.config(key) if callable(self.config) else self.config
            d = self._wasmad.Detector(_detector_config(cfg), module=self._path)
            self._metrics["creates"] += 1
        self._cache[key] = (generation, d)
        while len(self._cache) > self.cache_size:
            _, (_, old) = self._cache.popitem(last=False)
            old.close()
        return d

    def _array_values(self, key: Any, rows: list) -> Any:
        """The (n, width) values of an array value column; every row of a key
        must hold the same number of values. None when the key's width is
        not known yet and every array of the batch is NULL."""
        np = self._np
        vf = self.value_fields[0]
        arrays = [r[vf] for r in rows]
        known = self._width.value()
        widths = sorted({len(a) for a in arrays if a is not None} | ({known} if known else set()))
        if len(widths) > 1 or widths == [0]:
            raise ValueError(
                f"ML_DETECT_ANOMALIES: value column '{self.value_names[0]}' holds "
                f"{' and '.join(map(str, widths))} values in rows of key {key}; every row of a "
                "key must hold the same number of values (the detector's width), at least 1"
            )
        if not widths:
            return None
        width = widths[0]
        if known != width:
            self._width.update(width)
        nan_row = [math.nan] * width
        return np.array(
            [nan_row if a is None else [_value(x) for x in a] for a in arrays], dtype=np.float64
        ).reshape(len(rows), width)

    def _flush(self, key: Any):
        np = self._np
        rows = list(self._rows.get() or ())
        self._rows.clear()
        self._pending.pop(key, None)
        if not rows:
            return
        n = len(rows)
        tf = self.time_field
        times = [time_micros(r[tf]) for r in rows]
        if self.value_array:
            values = self._array_values(key, rows)
            if values is None:  # only NULL arrays so far: missing values, nothing to learn
                yield from self._emit_skipped(rows)
                return
        elif len(self.value_fields) == 1:
            vf = self.value_fields[0]
            values = np.fromiter((_value(r[vf]) for r in rows), dtype=np.float64, count=n)
        else:
            values = np.array(
                [[_value(r[f]) for f in self.value_fields] for r in rows], dtype=np.float64
            ).reshape(n, len(self.value_fields))
        missing_time = [i for i, t in enumerate(times) if t is None]
        if missing_time:  # a NULL time: kept, never learned (status 'skipped')
            values[missing_time] = np.nan
        ts = np.fromiter((0 if t is None else t for t in times), dtype=np.int64, count=n)

        generation = self._generation.value() or 0
        d = self._detector(key, generation)
        try:
            r = d.process(values, ts)  # the one boundary crossing for this batch
        except self._wasmad.InvalidInput as e:
            cols = ",".join(self.value_names)
            width = values.shape[1] if values.ndim == 2 else 1
            raise ValueError(
                f"ML_DETECT_ANOMALIES: value column(s) '{cols}' (key {key}, {width} values per "
                f"row): {e}"
            ) from None

        self._snapshot.update(d.snapshot())
        self._generation.update(generation + 1)
        self._cache[key] = (generation + 1, d)
        self._metrics["flushes"] += 1
        self._metrics["rows"] += n

        forecast = r.forecast.tolist()
        lower = r.lower.tolist()
        upper = r.upper.tolist()
        score = r.score.tolist()
        anomaly = r.is_anomaly.tolist()
        direction = r.direction.tolist()
        status = r.status.tolist()
        severity = r.severity.tolist()
        prob = r.probability.tolist() if r.probability is not None else None
        # NULL unless the row is scored, as in the host (an 'ok' row may
        # still hold NaN, e.g. rcf's forecast: it stays NaN).
        ok = (r.status == "ok").tolist()
        extras = [_extra_rows(r.extras.get(name), ok) for name in self.extras]
        names = self.output_names
        for i, row in enumerate(rows):
            out = Row(
                *row,
                forecast[i] if ok[i] else None,
                lower[i] if ok[i] else None,
                upper[i] if ok[i] else None,
                score[i] if ok[i] else None,
                anomaly[i],
                direction[i],
                status[i],
                severity[i],
                prob[i] if prob is not None and ok[i] else None,
                *(e[i] for e in extras),
            )
            if names is not None:
                out.set_field_names(names)
            yield out

    def _emit_skipped(self, rows: list):
        names = self.output_names
        for row in rows:
            out = Row(
                *row,
                None,
                None,
                None,
                None,
                False,
                None,
                "skipped",
                None,
                None,
                *(None for _ in self.extras),
            )
            if names is not None:
                out.set_field_names(names)
            yield out


def _extra_rows(a: Any, ok: list[bool]) -> list:
    """One extras output as a list per row: NULL where the row is not scored
    (status not 'ok', as the host's attribution) or the detector gives none."""
    if a is None:
        return [None] * len(ok)
    return [row if ok[i] else None for i, row in enumerate(a.tolist())]


def _detector_config(config: Mapping[str, Any] | str) -> str:
    """The config for ``detector.create``: ``partitionBy`` is the operator's
    business (it picks the Flink key), not the detector's."""
    cfg = json.loads(config) if isinstance(config, str) else dict(config)
    if not isinstance(cfg, dict):
        raise DetectorConfigError(f"config must be a JSON object, got {config!r}")
    cfg.pop("partitionBy", None)
    return json.dumps(cfg, separators=(",", ":"))


def _partition_fields(config: Mapping[str, Any]) -> list[str]:
    p = config.get("partitionBy")
    if p is None:
        return []
    if isinstance(p, str):
        return [p]
    if isinstance(p, list) and p and all(isinstance(x, str) for x in p):
        return list(p)
    raise DetectorConfigError(
        f"partitionBy must be a column name or a list of column names, got {p!r}"
    )


def _key_selector(positions: Sequence[int]) -> Callable[[Row], str]:
    positions = list(positions)
    if not positions:
        return lambda row: ""
    # A string key hashes the same in every JVM (a byte[] would not).
    return lambda row: json.dumps([row[i] for i in positions], default=str)


def configure(env: StreamExecutionEnvironment, module: str, python: str | None = None) -> None:
    """Ship what the Python workers need: the ``wasmad`` bindings, this file
    and the component; run them with ``python`` (default: this interpreter,
    right for a local run, whose workers otherwise start whatever ``python``
    is on PATH; on a cluster, the interpreter on the TaskManagers)."""
    env.add_python_file(BINDINGS_SRC)
    env.add_python_file(os.path.abspath(__file__))
    env.add_python_file(find_module(module))
    env.set_python_executable(python or sys.executable)


def detect_anomalies(
    stream: DataStream,
    config: Mapping[str, Any] | str | Callable[[Any], Mapping[str, Any] | str],
    value_fields: str | Sequence[str],
    time_field: str,
    module: str,
    *,
    key_fields: Sequence[str] | None = None,
    key_selector: Callable[[Row], str] | None = None,
    extras: bool | Sequence[str] = False,
    **options: Any,
) -> DataStream:
    """``stream`` (named ``Row`` fields) keyed and scored: every input field,
    then :data:`OUTPUT_COLUMNS`, then the extras columns. Keys come from
    ``key_selector`` (a function of the row returning a string), else
    ``key_fields``, else the config's ``partitionBy``; with none, one model
    sees every row (in one task).

    ``value_fields``: a numeric field, several (a list or ``'cpu,mem'``) for
    a multivariate detector, or one array field of numbers whose elements are
    a row's values (:func:`check_value_columns` checks them). ``extras``:
    False, no extras columns; True, one :data:`EXTRA_TYPE` column per extra output the
    detector gives for this config and width (``attribution`` for ``rcf`` and
    ``robust``; ``rmse``, ``aic`` and, with ``forecastSteps``, ``forecast``
    for ``arima``); or the names of the columns to add (needed with a config
    callable; NULL for a key whose detector gives no such output).

    A plain config (not a callable) is checked here, before the job runs, by
    creating a detector and scoring one empty row of the value columns' width.
    """
    in_type = stream.get_type()
    if isinstance(in_type, ExternalTypeInfo):  # from StreamTableEnvironment.to_data_stream
        in_type = in_type._type_info
        if isinstance(in_type, RowTypeInfo) and any(
            _element_type(t) is not None for t in in_type.get_field_types()
        ):
            # PyFlink 2.3 cannot key a table's stream with an ARRAY column
            # (its ExternalTypeInfo round trip fails): re-type it as plain Rows.
            stream = stream.map(lambda r: r, output_type=in_type).name("rows")
    if not isinstance(in_type, RowTypeInfo):
        raise DetectorConfigError(f"input must be a stream of named Rows, got {in_type}")
    names = list(in_type.get_field_names())
    types = list(in_type.get_field_types())
    fields, value_array = check_value_columns(value_fields, names, types)
    if time_field not in names:
        raise DetectorConfigError(
            f"ML_DETECT_ANOMALIES: no column '{time_field}' in the input (time column); it has "
            f"{', '.join(names)}"
        )
    width = 1 if value_array else len(fields)
    what = f"value column{'s' if len(fields) > 1 else ''} '{','.join(fields)}'"
    found = None if callable(config) else probe_detector(config, width, module, what)
    if extras is True:
        if found is None:
            raise DetectorConfigError(
                "extras=True reads the extras from the config; with a config callable, name "
                "them: extras=['attribution']"
            )
        extra_names = list(found)
    elif extras is False or extras is None:
        extra_names = []
    else:
        extra_names = [extras] if isinstance(extras, str) else list(extras)
    clash = [c for c in [*OUTPUT_COLUMNS, *extra_names] if c in names]
    if clash:
        raise DetectorConfigError(
            f"the input already has column(s) {', '.join(clash)}, which the function adds"
        )
    if key_selector is None:
        if key_fields is None:
            if callable(config):
                raise DetectorConfigError("a config callable needs key_fields or key_selector")
            cfg = json.loads(config) if isinstance(config, str) else dict(config)
            key_fields = _partition_fields(cfg)
        for f in key_fields:
            if f not in names:
                raise DetectorConfigError(
                    f"partitionBy column '{f}' is not in the input; it has {', '.join(names)}"
                )
        key_selector = _key_selector([names.index(f) for f in key_fields])
    out_names = names + list(OUTPUT_COLUMNS) + extra_names
    out_type: TypeInformation = Types.ROW_NAMED(
        out_names, types + list(OUTPUT_TYPES) + [EXTRA_TYPE] * len(extra_names)
    )
    # Rows may arrive without field names (a Row built positionally): index them.
    fn = DetectAnomalies(
        config,
        [names.index(f) for f in fields],
        names.index(time_field),
        module,
        value_array=value_array,
        value_names=fields,
        extras=extra_names,
        **options,
    )
    fn.output_names = out_names
    return (
        stream.key_by(key_selector, key_type=Types.STRING())
        .process(fn, output_type=out_type)
        .name("ML_DETECT_ANOMALIES")
    )


def ml_detect_anomalies(
    t_env: Any,
    table: Any,
    value_columns: str,
    time_column: str,
    config: Mapping[str, Any] | str | None,
    module: str,
    *,
    extras: bool | Sequence[str] = True,
    **options: Any,
) -> Any:
    """The table-valued function: a ``Table`` in, a ``Table`` out (every input
    column, then :data:`OUTPUT_COLUMNS`, then, by default, one ARRAY<DOUBLE>
    column per extra output the detector gives, such as ``attribution``),
    keyed by ``partitionBy``. ``value_columns``: ``'value'``, ``'cpu,mem'``,
    or one ARRAY column. The detector config and the value columns are
    checked here, while planning."""
    cfg = {} if config is None else json.loads(config) if isinstance(config, str) else config
    if not isinstance(cfg, dict):
        raise DetectorConfigError(f"config must be a JSON object, got {config!r}")
    table = _decimals_as_double(table)
    stream = t_env.to_data_stream(table)
    out = detect_anomalies(
        stream, cfg, value_columns, time_column, module, extras=extras, **options
    )
    return t_env.from_data_stream(out)


def _decimals_as_double(table: Any) -> Any:
    """``table`` with its DECIMAL columns cast to DOUBLE: PyFlink's DataStream
    conversion carries DECIMAL(p, s) as a legacy type that the keyed
    operator's planning rejects."""
    from pyflink.table import DataTypes
    from pyflink.table.expressions import col
    from pyflink.table.types import DecimalType

    schema = table.get_schema()
    names = schema.get_field_names()
    decimals = {c for c in names if isinstance(schema.get_field_data_type(c), DecimalType)}
    if not decimals:
        return table
    return table.select(
        *(col(c).cast(DataTypes.DOUBLE()).alias(c) if c in decimals else col(c) for c in names)
    )


# ------------------------------------------------------------------ SQL shape

_CALL = re.compile(r"\bML_DETECT_ANOMALIES\s*\(", re.IGNORECASE)
_VIEWS = itertools.count()  # one temporary view per call, never reused


def _split_call(sql: str, start: int) -> tuple[list[str], int]:
    """The top-level comma-separated arguments of the call whose '(' is at
    ``start``, and the index after its ')'; quotes and nesting respected."""
    args, depth, i, cur = [], 0, start + 1, start + 1
    while i < len(sql):
        c = sql[i]
        if c == "'":
            i += 1
            while i < len(sql):
                if sql[i] == "'":
                    if i + 1 < len(sql) and sql[i + 1] == "'":
                        i += 2
                        continue
                    break
                i += 1
        elif c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                args.append(sql[cur:i].strip())
                return args, i + 1
            depth -= 1
        elif c == "," and depth == 0:
            args.append(sql[cur:i].strip())
            cur = i + 1
        i += 1
    raise DetectorConfigError("ML_DETECT_ANOMALIES(: unbalanced parentheses or quotes")


def _literal(arg: str, what: str) -> str:
    if len(arg) >= 2 and arg[0] == "'" and arg[-1] == "'":
        return arg[1:-1].replace("''", "'")
    raise DetectorConfigError(f"ML_DETECT_ANOMALIES: {what} must be a string literal, got {arg}")


def sql_query(t_env: Any, sql: str, module: str, **options: Any) -> Any:
    """Run one ``SELECT`` in the Rust host's shape on Flink: each
    ``ML_DETECT_ANOMALIES(input, 'value_column', 'time_column' [, 'config'])``
    (``input`` a table/view name or a parenthesised subquery; the value
    column one numeric column, a list ``'cpu,mem'``, or one ARRAY column) becomes the keyed
    operator over ``input``, registered as a temporary view that takes the
    call's place in the statement. Returns the statement's ``Table``."""
    out, pos = [], 0
    for m in _CALL.finditer(sql):
        if m.start() < pos:
            continue
        args, end = _split_call(sql, m.end() - 1)
        if len(args) not in (3, 4):
            raise DetectorConfigError(
                "ML_DETECT_ANOMALIES(input, 'value_column', 'time_column' [, 'config json']) "
                f"takes 3 or 4 arguments, got {len(args)}"
            )
        src = args[0]
        table = t_env.sql_query(src[1:-1]) if src.startswith("(") else t_env.from_path(src)
        value_cols = _literal(args[1], "value_column")
        time_col = _literal(args[2], "time_column")
        config = _literal(args[3], "config") if len(args) == 4 else None
        view = f"__ml_detect_anomalies_{next(_VIEWS)}"
        t_env.create_temporary_view(
            view, ml_detect_anomalies(t_env, table, value_cols, time_col, config, module, **options)
        )
        out.append(sql[pos : m.start()])
        out.append(view)
        pos = end
    out.append(sql[pos:])
    return t_env.sql_query("".join(out))


def split_statements(script: str) -> list[str]:
    """';'-separated statements, '--' comments dropped, quotes respected."""
    stmts, cur, i = [], [], 0
    while i < len(script):
        c = script[i]
        if c == "-" and script.startswith("--", i):
            j = script.find("\n", i)
            i = len(script) if j < 0 else j
            continue
        if c == "'":
            j = i + 1
            while j < len(script):
                if script[j] == "'":
                    if script.startswith("''", j):
                        j += 2
                        continue
                    break
                j += 1
            cur.append(script[i : j + 1])
            i = j + 1
            continue
        if c == ";":
            stmts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
        i += 1
    stmts.append("".join(cur).strip())
    return [s for s in stmts if s]


def make_env(
    parallelism: int, module: str, python: str | None = None, **conf: str
) -> tuple[Any, Any]:
    """A streaming ``StreamExecutionEnvironment`` and ``StreamTableEnvironment``
    with the bindings and component shipped to the workers."""
    from pyflink.common import Configuration
    from pyflink.table import StreamTableEnvironment

    c = Configuration()
    for k, v in conf.items():
        c.set_string(k, v)
    env = StreamExecutionEnvironment.get_execution_environment(c)
    env.set_parallelism(parallelism)
    configure(env, module, python)
    return env, StreamTableEnvironment.create(env)


def _csv_cell(x: Any) -> Any:
    if x is None:
        return ""
    if isinstance(x, bool):
        return "true" if x else "false"
    return x


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Run SQL with ML_DETECT_ANOMALIES on Flink (the statements of a file or "
        "string: DDL is executed, each SELECT printed as CSV)."
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--sql", help="statements separated by ';'")
    src.add_argument("--file", help="a file of statements")
    p.add_argument(
        "--module",
        default=os.environ.get("WASMAD_COMPONENT", "wasmad_detector.wasm"),
        help="the detector component (default $WASMAD_COMPONENT, else wasmad_detector.wasm "
        "in the working directory or on sys.path, as shipped by -pyfs)",
    )
    p.add_argument("--parallelism", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--max-delay-ms", type=int, default=1000)
    p.add_argument("--checkpoint-ms", type=int, default=0, help="checkpoint interval (0: off)")
    p.add_argument(
        "--python",
        help="the Python the workers run (default: this one; on a cluster, the TaskManagers' "
        "interpreter with apache-flink, wasmtime and numpy installed)",
    )
    p.add_argument("--output", help="write the last SELECT's rows here as CSV (default stdout)")
    a = p.parse_args(argv)

    if a.sql is not None:
        script = a.sql
    else:
        with open(a.file) as f:
            script = f.read()
    env, t_env = make_env(a.parallelism, a.module, a.python)
    if a.checkpoint_ms:
        env.enable_checkpointing(a.checkpoint_ms)
    import csv

    for stmt in split_statements(script):
        if not re.match(r"\s*(SELECT|WITH)\b", stmt, re.IGNORECASE):
            t_env.execute_sql(stmt).wait()
            continue
        t0 = time.perf_counter()
        table = sql_query(
            t_env, stmt, a.module, batch_size=a.batch_size, max_delay_ms=a.max_delay_ms
        )
        names = table.get_schema().get_field_names()
        with contextlib.ExitStack() as stack:
            f = stack.enter_context(open(a.output, "w", newline="")) if a.output else sys.stdout
            w = csv.writer(f)
            w.writerow(names)
            rows = 0
            with table.execute().collect() as results:
                for row in results:
                    w.writerow([_csv_cell(x) for x in row])
                    rows += 1
        print(f"-- {rows} rows in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
