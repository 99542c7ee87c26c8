"""Loading the detector component and calling it, two ways.

``engine="core"`` (the default) runs the core module inside the component
with wasmtime's core API and does the canonical ABI for this world's handful
of functions here, the way jco does for JavaScript: lists cross the boundary
as one memory copy. ``engine="component"`` uses ``wasmtime.component``, which
is exact but lifts and lowers lists element by element (about 20k rows/s for
``process-bytes`` with wasmtime-py 50). The tests replay every vector through
both and compare them byte for byte.
"""

from __future__ import annotations

import math
import os
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import wasmtime
from wasmtime import component as wc

from ._errors import GUEST_ERRORS, CallError, LoadError, WasmadError

#: The ABI version this binding speaks (``abi-version`` of ``wit/detector.wit``).
ABI_VERSION = 2

IFACE = "wasmad:detector/detectors@0.1.0"
ERROR_CASES = ("invalid-config", "invalid-input", "invalid-snapshot")
EPOCH_TICK = 0.005  # seconds

# Core exports of a wit-bindgen guest for `wit/detector.wit`, and their core
# signatures (params, results), all i32.
CORE_EXPORTS: dict[str, tuple[str, int, int]] = {
    "abi-version": (f"{IFACE}#abi-version", 0, 1),
    "describe": (f"{IFACE}#describe", 0, 1),
    "detector.create": (f"{IFACE}#[static]detector.create", 2, 1),
    "detector.restore": (f"{IFACE}#[static]detector.restore", 2, 1),
    "detector.process-bytes": (f"{IFACE}#[method]detector.process-bytes", 3, 1),
    "detector.snapshot": (f"{IFACE}#[method]detector.snapshot", 1, 1),
    "detector.config": (f"{IFACE}#[method]detector.config", 1, 1),
    "detector.key-count": (f"{IFACE}#[method]detector.key-count", 1, 1),
    "detector.drop": (f"{IFACE}#[dtor]detector", 1, 0),
    "cabi_realloc": ("cabi_realloc", 4, 1),
}
RESOURCE_MODULE = f"[export]{IFACE}"

HEADER = struct.Struct("<III")  # n, width, flags (bit 0: keys follow; bit 1: no timestamps, unused here)
OUT_HEADER = struct.Struct("<II")  # n, present bits (1 probability, 2 extras)


@dataclass(frozen=True)
class Limits:
    """Bounds for every call: linear memory and wall-clock time."""

    memory_bytes: int = 2 << 30
    timeout: float | None = 30.0

    def deadline_ticks(self) -> int:
        if self.timeout is None:
            return 1 << 62
        return max(1, math.ceil(self.timeout / EPOCH_TICK))


# ---------------------------------------------------------------- engine

_ENGINE: wasmtime.Engine | None = None
_ENGINE_LOCK = threading.Lock()


def _engine() -> wasmtime.Engine:
    """One engine for the process, with epoch interruption and a ticker."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            cfg = wasmtime.Config()
            cfg.epoch_interruption = True
            engine = wasmtime.Engine(cfg)

            def tick() -> None:
                while True:
                    engine.increment_epoch()
                    time.sleep(EPOCH_TICK)

            threading.Thread(target=tick, name="wasmad-epoch", daemon=True).start()
            _ENGINE = engine
        return _ENGINE


# ---------------------------------------------------------------- component binary


def _leb(b: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if i >= len(b):
            raise ValueError("truncated LEB128")
        byte = b[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


def core_modules(component: bytes) -> list[bytes]:
    """The core modules embedded at the top level of a component binary."""
    if component[:4] != b"\0asm":
        raise ValueError("not a WebAssembly binary (no \\0asm magic)")
    if component[4:8] != b"\x0d\x00\x01\x00":
        raise ValueError(
            "a core module, not a component (wrap it with `wasm-tools component new`)"
            if component[4:8] == b"\x01\x00\x00\x00"
            else f"unknown WebAssembly version/layer {component[4:8].hex()}"
        )
    out = []
    i = 8
    while i < len(component):
        section = component[i]
        size, i = _leb(component, i + 1)
        if section == 1:  # core module section
            out.append(component[i : i + size])
        i += size
    return out


# ---------------------------------------------------------------- module


class Module:
    """A compiled detector component, shared by every detector made from it."""

    def __init__(self, path: str, engine_kind: str) -> None:
        if engine_kind not in ("core", "component"):
            raise ValueError(f"engine must be 'core' or 'component', got {engine_kind!r}")
        self.name = path
        self.kind = engine_kind
        self.engine = _engine()
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise LoadError(f"load: module '{path}': cannot read the file: {e}") from None
        self.component: wc.Component | None = None
        self.core: wasmtime.Module | None = None
        if engine_kind == "component":
            self._load_component(data)
        else:
            self._load_core(data)
        probe = self.instantiate(Limits())
        found = probe.abi_version()
        if found != ABI_VERSION:
            raise LoadError(
                f"abi: module '{path}' implements detector ABI version {found}; this binding "
                f"requires version {ABI_VERSION}. Use a component built from wit/detector.wit "
                "of the same release"
            )
        self.describe_json = probe.describe()

    def _load_component(self, data: bytes) -> None:
        try:
            self.component = wc.Component(self.engine, data)
        except wasmtime.WasmtimeError as e:
            raise LoadError(
                f"load: module '{self.name}': not a valid WebAssembly component ({e}); "
                f"expected a component implementing {IFACE}"
            ) from None
        imports = list(self.component.type.imports(self.engine))
        if imports:
            raise LoadError(
                f"link: module '{self.name}': the detector world imports nothing, but this "
                f"component imports: {', '.join(imports)}"
            )

    def _load_core(self, data: bytes) -> None:
        try:
            modules = core_modules(data)
        except ValueError as e:
            raise LoadError(f"load: module '{self.name}': {e}") from None
        wanted = CORE_EXPORTS["detector.process-bytes"][0]
        for m in modules:
            try:
                core = wasmtime.Module(self.engine, m)
            except wasmtime.WasmtimeError:
                continue
            if any(e.name == wanted for e in core.exports):
                self.core = core
                break
        if self.core is None:
            raise LoadError(
                f"link: module '{self.name}': no core module of this component exports "
                f"{wanted!r}; it is not a wit-bindgen detector component (engine='component' "
                "loads any component implementing the contract)"
            )
        exports = {e.name: e.type for e in self.core.exports}
        problems = []
        for name, n_params, n_results in CORE_EXPORTS.values():
            ty = exports.get(name)
            if not isinstance(ty, wasmtime.FuncType):
                problems.append(f"missing function export {name!r}")
            elif len(ty.params) != n_params or len(ty.results) != n_results:
                problems.append(f"{name!r} has an unexpected signature")
        if not isinstance(exports.get("memory"), wasmtime.MemoryType):
            problems.append("missing memory export")
        for imp in self.core.imports:
            if imp.module != RESOURCE_MODULE or imp.name not in (
                "[resource-new]detector",
                "[resource-rep]detector",
                "[resource-drop]detector",
            ):
                problems.append(
                    f"imports {imp.module}#{imp.name} (the detector world imports nothing)"
                )
        if problems:
            raise LoadError(f"link: module '{self.name}': " + "; ".join(problems))

    def instantiate(self, limits: Limits) -> Instance:
        if self.kind == "core":
            return CoreInstance(self, limits)
        return ComponentInstance(self, limits)


_MODULES: dict[tuple[str, str, int, int], Module] = {}
_MODULES_LOCK = threading.Lock()


def load(path: str | os.PathLike[str], engine_kind: str) -> Module:
    """The compiled module for `path`, compiled once per file version."""
    path = os.path.abspath(os.fspath(path))
    try:
        st = os.stat(path)
        key = (path, engine_kind, st.st_mtime_ns, st.st_size)
    except OSError as e:
        raise LoadError(f"load: module '{path}': cannot read the file: {e}") from None
    with _MODULES_LOCK:
        module = _MODULES.get(key)
        if module is None:
            module = Module(path, engine_kind)
            _MODULES[key] = module
        return module


# ---------------------------------------------------------------- instances


class Instance:
    """One store and one instance: holds at most one detector resource."""

    module: Module
    limits: Limits
    store: wasmtime.Store
    poisoned: str | None = None

    def _call(self, function: str, f: Callable[[], Any]) -> Any:
        if self.poisoned is not None:
            raise CallError(
                self.module.name,
                function,
                "trap",
                f"the instance is unusable after an earlier failure ({self.poisoned}); "
                "create or restore a new detector",
            )
        self.store.set_epoch_deadline(self.limits.deadline_ticks())
        try:
            return f()
        except WasmadError:
            raise
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            text = str(e)
            interrupted = (
                isinstance(e, wasmtime.Trap) and e.trap_code == wasmtime.TrapCode.INTERRUPT
            ) or "interrupt" in text
            cause = [line.strip() for line in text.splitlines() if line.strip()]
            if interrupted:
                kind = "timeout"
                message = (
                    f"did not return within the call time limit of {self.limits.timeout} s "
                    "(interrupted)"
                )
            elif any(m in text for m in ("rust_oom", "alloc_error", "rt::cabi_realloc")):
                # The guest's allocator found no memory (memory.grow failed at
                # the store's limit) and aborted: the trap itself is
                # `unreachable`, the backtrace's function names tell why.
                kind = "out-of-memory"
                message = f"exceeded the memory limit of {self.limits.memory_bytes} bytes"
            elif "fuel allocated for hostcalls" in text:
                # wasmtime caps the data one dynamic (wasmtime.component) call
                # may copy; lists go element by element, so this is ~80k rows.
                kind = "trap"
                message = (
                    "the batch is too large for engine='component' (wasmtime's dynamic "
                    "component API copies lists element by element and caps one call at "
                    "about 80k rows); use engine='core' or smaller batches "
                    f"({cause[-1] if cause else text})"
                )
            else:
                kind = "trap"
                message = f"trapped: {cause[-1] if cause else type(e).__name__}"
            self.poisoned = f"{function}: {kind}"
            raise CallError(self.module.name, function, kind, message) from None

    # Implemented per engine.
    def abi_version(self) -> int: ...
    def describe(self) -> str: ...
    def create(self, config: str) -> None: ...
    def restore(self, snapshot: bytes) -> None: ...
    def process(
        self, timestamps: np.ndarray, values: np.ndarray, width: int, keys: np.ndarray | None
    ) -> tuple[np.ndarray, ...]: ...
    def snapshot(self) -> bytes: ...
    def config(self) -> str: ...
    def key_count(self) -> int: ...
    def close(self) -> None: ...


def encoded_size(n: int, width: int, has_keys: bool) -> int:
    return HEADER.size + 8 * n + 8 * n * width + (4 * n if has_keys else 0)


def encode_into(
    dst: np.ndarray, timestamps: np.ndarray, values: np.ndarray, width: int, keys: np.ndarray | None
) -> None:
    """Write a `process-bytes` request into the uint8 array `dst`."""
    n = len(timestamps)
    dst[: HEADER.size] = np.frombuffer(HEADER.pack(n, width, int(keys is not None)), np.uint8)
    at = HEADER.size
    for col in (timestamps, values, keys):
        if col is None:
            continue
        raw = col.reshape(-1).view(np.uint8)
        dst[at : at + raw.size] = raw
        at += raw.size


def decode(buf: np.ndarray, at: int, length: int) -> tuple:
    """Copy the columns of a `process-bytes` answer out of the uint8 array `buf`.

    Returns forecast, lower, upper, score, flags, probability (or None) and
    extras (a dict of name -> float64 array of shape (n, per_row)).
    """
    if length < OUT_HEADER.size:
        raise WasmadError(f"process-bytes returned {length} bytes, fewer than its header")
    end = at + length
    n, present = OUT_HEADER.unpack_from(buf, at)
    has_p, has_x = present & 1, present & 2
    per_row = 41 if has_p else 33
    body = length - OUT_HEADER.size
    if present > 3 or body < n * per_row or (not has_x and body != n * per_row):
        raise WasmadError(
            f"process-bytes returned {length} bytes, which is not the layout of {n} rows "
            f"(present bits {present})"
        )
    at += OUT_HEADER.size
    cols: list = []
    for _ in range(4):
        cols.append(np.frombuffer(buf, dtype="<f8", count=n, offset=at).astype(np.float64))
        at += 8 * n
    cols.append(np.frombuffer(buf, dtype=np.uint8, count=n, offset=at).copy())
    at += n
    if has_p:
        cols.append(np.frombuffer(buf, dtype="<f8", count=n, offset=at).astype(np.float64))
        at += 8 * n
    else:
        cols.append(None)
    extras: dict[str, np.ndarray] = {}
    if has_x:
        def u32() -> int:
            nonlocal at
            if at + 4 > end:
                raise WasmadError("process-bytes answer is truncated in its extras")
            (v,) = struct.unpack_from("<I", buf, at)
            at += 4
            return v

        for _ in range(u32()):
            name_len = u32()
            if at + name_len > end:
                raise WasmadError("process-bytes answer is truncated in an extra's name")
            name = bytes(buf[at : at + name_len]).decode("utf-8")
            at += name_len
            width = u32()
            if at + 8 * n * width > end:
                raise WasmadError(f"process-bytes answer is truncated in extra {name!r}")
            values = np.frombuffer(buf, dtype="<f8", count=n * width, offset=at)
            extras[name] = values.astype(np.float64).reshape(n, width)
            at += 8 * n * width
        if at != end:
            raise WasmadError(f"process-bytes answer has {end - at} unexpected bytes")
    cols.append(extras)
    return tuple(cols)


class CoreInstance(Instance):
    """The component's core module, with the canonical ABI done here."""

    def __init__(self, module: Module, limits: Limits) -> None:
        assert module.core is not None
        self.module = module
        self.limits = limits
        self.store = wasmtime.Store(module.engine)
        self.store.set_limits(memory_size=limits.memory_bytes)
        self.store.set_epoch_deadline(limits.deadline_ticks())
        self.handles: dict[int, int] = {}
        self.next_handle = 1
        self.rep: int | None = None
        i32 = wasmtime.ValType.i32()
        hosts = {
            "[resource-new]detector": (wasmtime.FuncType([i32], [i32]), self._resource_new),
            "[resource-rep]detector": (wasmtime.FuncType([i32], [i32]), self._resource_rep),
            "[resource-drop]detector": (wasmtime.FuncType([i32], []), self._resource_drop),
        }
        imports = []
        for imp in module.core.imports:
            ty, fn = hosts[imp.name or ""]
            imports.append(wasmtime.Func(self.store, ty, fn))
        try:
            instance = wasmtime.Instance(self.store, module.core, imports)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            raise LoadError(f"instantiate: module '{module.name}': {e}") from None
        exports = instance.exports(self.store)
        self.f = {key: exports[name] for key, (name, _, _) in CORE_EXPORTS.items()}
        names = {e.name for e in module.core.exports}
        self.post = {
            key: exports["cabi_post_" + name]
            for key, (name, _, _) in CORE_EXPORTS.items()
            if "cabi_post_" + name in names
        }
        memory = exports["memory"]
        assert isinstance(memory, wasmtime.Memory)
        self.memory = memory

    # Resource intrinsics the guest imports (handles of its own resource).
    def _resource_new(self, rep: int) -> int:
        handle = self.next_handle
        self.next_handle += 1
        self.handles[handle] = rep
        return handle

    def _resource_rep(self, handle: int) -> int:
        if handle not in self.handles:
            raise wasmtime.Trap(f"unknown detector handle {handle}")
        return self.handles[handle]

    def _resource_drop(self, handle: int) -> None:
        rep = self.handles.pop(handle, None)
        if rep is None:
            raise wasmtime.Trap(f"unknown detector handle {handle}")
        self.f["detector.drop"](self.store, rep)

    # Memory.
    def _mem(self) -> np.ndarray:
        return np.frombuffer(self.memory.get_buffer_ptr(self.store), dtype=np.uint8)

    def _alloc(self, size: int, align: int, function: str) -> int:
        """Guest memory for an argument of `function` (the canonical ABI's realloc)."""
        realloc = self.f["cabi_realloc"]
        return int(self._call(function, lambda: realloc(self.store, 0, 0, align, size)))

    def _lower_bytes(self, data: bytes, function: str) -> tuple[int, int]:
        ptr = self._alloc(len(data), 1, function)
        if data:
            self._mem()[ptr : ptr + len(data)] = np.frombuffer(data, np.uint8)
        return ptr, len(data)

    def _read_bytes(self, at: int) -> bytes:
        ptr, length = struct.unpack_from("<II", self._mem(), at)
        return bytes(self._mem()[ptr : ptr + length])

    def _export(self, key: str, *args: int) -> Any:
        """Call a core export and return its raw result (a pointer, often)."""
        return self._call(key, lambda: self.f[key](self.store, *args))

    def _finish(self, key: str, ret: int) -> None:
        post = self.post.get(key)
        if post is not None:
            self._call(key, lambda: post(self.store, ret))

    def _result(self, key: str, ret: int, ok: Callable[[int], Any]) -> Any:
        """Read a `result<T, error>` at `ret`, then run post-return."""
        try:
            mem = self._mem()
            if mem[ret] == 0:
                return ok(ret + 4)
            case = int(mem[ret + 4])
            if mem[ret] != 1 or case >= len(ERROR_CASES):
                raise WasmadError(f"{key} returned an invalid result discriminant")
            message = self._read_bytes(ret + 8).decode("utf-8", errors="replace")
            raise GUEST_ERRORS[ERROR_CASES[case]](message)
        finally:
            self._finish(key, ret)

    def abi_version(self) -> int:
        return int(self._export("abi-version")) & 0xFFFFFFFF

    def describe(self) -> str:
        ret = self._export("describe")
        try:
            return self._read_bytes(ret).decode("utf-8")
        finally:
            self._finish("describe", ret)

    def _own(self, at: int) -> int:
        handle = struct.unpack_from("<I", self._mem(), at)[0]
        return self.handles[handle]

    def create(self, config: str) -> None:
        ptr, length = self._lower_bytes(config.encode("utf-8"), "detector.create")
        ret = self._export("detector.create", ptr, length)
        self.rep = self._result("detector.create", ret, self._own)

    def restore(self, snapshot: bytes) -> None:
        ptr, length = self._lower_bytes(bytes(snapshot), "detector.restore")
        ret = self._export("detector.restore", ptr, length)
        self.rep = self._result("detector.restore", ret, self._own)

    def process(
        self, timestamps: np.ndarray, values: np.ndarray, width: int, keys: np.ndarray | None
    ) -> tuple[np.ndarray, ...]:
        rep = self._self()
        size = encoded_size(len(timestamps), width, keys is not None)
        ptr = self._alloc(size, 1, "detector.process-bytes")
        encode_into(self._mem()[ptr : ptr + size], timestamps, values, width, keys)
        ret = self._export("detector.process-bytes", rep, ptr, size)

        def ok(at: int) -> tuple[np.ndarray, ...]:
            optr, olen = struct.unpack_from("<II", self._mem(), at)
            return decode(self._mem(), optr, olen)

        return self._result("detector.process-bytes", ret, ok)

    def _self(self) -> int:
        if self.rep is None:
            raise WasmadError("the detector is closed")
        return self.rep

    def snapshot(self) -> bytes:
        ret = self._export("detector.snapshot", self._self())
        try:
            return self._read_bytes(ret)
        finally:
            self._finish("detector.snapshot", ret)

    def config(self) -> str:
        ret = self._export("detector.config", self._self())
        try:
            return self._read_bytes(ret).decode("utf-8")
        finally:
            self._finish("detector.config", ret)

    def key_count(self) -> int:
        return int(self._export("detector.key-count", self._self())) & 0xFFFFFFFF

    def close(self) -> None:
        rep, self.rep = self.rep, None
        if rep is not None and self.poisoned is None:
            for handle in [h for h, r in self.handles.items() if r == rep]:
                del self.handles[handle]
            self._export("detector.drop", rep)


class ComponentInstance(Instance):
    """The component through ``wasmtime.component`` (exact, slow lists)."""

    def __init__(self, module: Module, limits: Limits) -> None:
        assert module.component is not None
        self.module = module
        self.limits = limits
        self.store = wasmtime.Store(module.engine)
        self.store.set_limits(memory_size=limits.memory_bytes)
        self.store.set_epoch_deadline(limits.deadline_ticks())
        try:
            self.instance = wc.Linker(module.engine).instantiate(self.store, module.component)
        except wasmtime.WasmtimeError as e:
            raise LoadError(f"instantiate: module '{module.name}': {e}") from None
        iface = self.instance.get_export_index(self.store, IFACE)
        if iface is None:
            raise LoadError(f"link: module '{module.name}': does not export {IFACE}")
        self.f = {}
        for key, export in {
            "abi-version": "abi-version",
            "describe": "describe",
            "detector.create": "[static]detector.create",
            "detector.restore": "[static]detector.restore",
            "detector.process-bytes": "[method]detector.process-bytes",
            "detector.snapshot": "[method]detector.snapshot",
            "detector.config": "[method]detector.config",
            "detector.key-count": "[method]detector.key-count",
        }.items():
            index = self.instance.get_export_index(self.store, export, iface)
            func = None if index is None else self.instance.get_func(self.store, index)
            if func is None:
                raise LoadError(f"link: module '{module.name}': {IFACE} lacks {export}")
            self.f[key] = func
        self.handle: wc.ResourceAny | None = None

    def _invoke(self, key: str, *args: Any) -> Any:
        value = self._call(key, lambda: self.f[key](self.store, *args))
        if isinstance(value, wc.Variant):  # the `error` case of a result
            raise GUEST_ERRORS[value.tag](value.payload)
        return value

    def _self(self) -> wc.ResourceAny:
        if self.handle is None:
            raise WasmadError("the detector is closed")
        return self.handle

    def abi_version(self) -> int:
        return int(self._invoke("abi-version"))

    def describe(self) -> str:
        return str(self._invoke("describe"))

    def create(self, config: str) -> None:
        self.handle = self._invoke("detector.create", config)

    def restore(self, snapshot: bytes) -> None:
        self.handle = self._invoke("detector.restore", bytes(snapshot))

    def process(
        self, timestamps: np.ndarray, values: np.ndarray, width: int, keys: np.ndarray | None
    ) -> tuple[np.ndarray, ...]:
        request = np.empty(encoded_size(len(timestamps), width, keys is not None), np.uint8)
        encode_into(request, timestamps, values, width, keys)
        out = self._invoke("detector.process-bytes", self._self(), request.tobytes())
        return decode(np.frombuffer(out, np.uint8), 0, len(out))

    def snapshot(self) -> bytes:
        return bytes(self._invoke("detector.snapshot", self._self()))

    def config(self) -> str:
        return str(self._invoke("detector.config", self._self()))

    def key_count(self) -> int:
        return int(self._invoke("detector.key-count", self._self()))

    def close(self) -> None:
        handle, self.handle = self.handle, None
        if handle is not None and self.poisoned is None:
            self._call("detector.drop", lambda: handle.drop(self.store))
