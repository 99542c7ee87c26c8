"""The throughput line the tests report at the end of the run."""

from __future__ import annotations

import pytest

_LINES: list[str] = []


@pytest.fixture(scope="session")
def report() -> list[str]:
    return _LINES


def pytest_terminal_summary(terminalreporter) -> None:
    for line in _LINES:
        terminalreporter.write_line(line)
