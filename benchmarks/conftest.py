"""Benchmarks are not part of the default test run (testpaths = tests, meta_tests).

Run them with ``python -m tools.bench`` (JSON, Markdown report and plots under reports/) or
``python -m pytest benchmarks`` directly. ``--bench-quick`` keeps sizes ≤ 10⁴ (a smoke run).
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--bench-quick", action="store_true", help="benchmark sizes ≤ 1e4 only")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--bench-quick"):
        return
    skip = pytest.mark.skip(reason="--bench-quick: sizes above 1e4 are not run")
    for item in items:
        size = getattr(item, "callspec", None) and item.callspec.params.get("size")
        if size and size > 10_000:
            item.add_marker(skip)
