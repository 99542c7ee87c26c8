"""Shared fixtures: the component under test and the parity vectors.

The component path comes from ``WASMAD_COMPONENT`` (``scripts/test-bindings.sh``
sets it); without it, the path that script writes is used:
``$CARGO_TARGET_DIR/bindings/wasmad_detector.wasm``, with the same default
build directory as ``scripts/env.sh``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
VECTORS = REPO / "tests" / "vectors"


def _default_target() -> Path:
    if os.environ.get("CARGO_TARGET_DIR"):
        return Path(os.environ["CARGO_TARGET_DIR"])
    if os.path.isdir("/work/target") and os.access("/work/target", os.W_OK):
        return Path("/work/target")
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "wasmad" / "target"


COMPONENT = Path(
    os.environ.get("WASMAD_COMPONENT") or _default_target() / "bindings" / "wasmad_detector.wasm"
)


@pytest.fixture(scope="session")
def component() -> str:
    if not COMPONENT.is_file():
        pytest.fail(
            f"no component at {COMPONENT}: run scripts/test-bindings.sh, or set "
            "WASMAD_COMPONENT to a file written by `wasmad export-component PATH`"
        )
    return str(COMPONENT)


def vector_files() -> list[Path]:
    return sorted(VECTORS.glob("*.json"))


def load_vector(path: Path) -> dict:
    with open(path) as f:
        return json.load(f)


#: Lines the throughput tests report at the end of the run.
THROUGHPUT: list[str] = []


def pytest_terminal_summary(terminalreporter) -> None:
    for line in THROUGHPUT:
        terminalreporter.write_line(line)
