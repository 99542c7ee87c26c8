"""The exceptions raised by :mod:`wasmad`, one class per kind of failure."""

from __future__ import annotations


class WasmadError(Exception):
    """Base class of every error raised by wasmad."""


class GuestError(WasmadError, ValueError):
    """The detector returned one of the typed errors of ``wit/detector.wit``.

    ``message`` is the guest's own message: it says what was wrong and what is
    accepted.
    """

    #: The WIT ``error`` case this class stands for.
    case = ""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidConfig(GuestError):
    """The config is malformed, names an unknown algorithm or key, or holds an
    out-of-range value (``invalid-config``)."""

    case = "invalid-config"


class InvalidInput(GuestError):
    """A batch is malformed: column lengths disagree, bad width, a key id that
    is not dense (``invalid-input``)."""

    case = "invalid-input"


class InvalidSnapshot(GuestError):
    """Snapshot bytes are truncated, corrupt, or of an unknown envelope version
    (``invalid-snapshot``)."""

    case = "invalid-snapshot"


GUEST_ERRORS = {cls.case: cls for cls in (InvalidConfig, InvalidInput, InvalidSnapshot)}


class LoadError(WasmadError):
    """The module cannot be read, is not a detector component, or implements
    another ABI version."""


class CallError(WasmadError, RuntimeError):
    """A call into the component trapped or ran out of time.

    ``kind`` is ``"timeout"``, ``"out-of-memory"`` or ``"trap"``; ``function`` names the WIT
    function. A detector whose call failed this way is unusable afterwards
    (its instance may be in any state); create or restore a new one.
    """

    def __init__(self, module: str, function: str, kind: str, message: str) -> None:
        super().__init__(f"call: module '{module}' failed in {function}: {message}")
        self.module = module
        self.function = function
        self.kind = kind
