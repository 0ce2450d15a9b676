"""Benchmarks are not part of the default test run (testpaths = tests, meta_tests).

Run them with ``python -m tools.bench`` (JSON, Markdown report and plots under reports/) or
``python -m pytest benchmarks`` directly. ``--bench-quick`` keeps sizes ≤ 10⁴ (a smoke run);
``--bench-sizes 1e6,1e7`` keeps the VJP sizes listed. The threads every contender uses are
recorded in the JSON's ``machine_info.threads``.
"""

from __future__ import annotations

import os

import pytest

# jax's compiled code at XLA's usual optimization (the suite's jax reference otherwise trades
# run time for compile time: reference/jax_ref.py, FAST_COMPILE)
os.environ["GRADVERIFY_JAX_FAST_COMPILE"] = "0"

from .frameworks import thread_counts


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--bench-quick", action="store_true", help="benchmark sizes ≤ 1e4 only")
    parser.addoption("--bench-sizes", default="", help="comma-separated VJP sizes to keep "
                     "(e.g. 1e6,1e7); the layer benchmarks are not affected")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    quick = config.getoption("--bench-quick")
    keep = {int(float(s)) for s in config.getoption("--bench-sizes").split(",") if s}
    for item in items:
        size = getattr(item, "callspec", None) and item.callspec.params.get("size")
        if not size or "test_backward" not in item.name:
            if quick and size and size > 10_000:
                item.add_marker(pytest.mark.skip(reason="--bench-quick: sizes above 1e4"))
            continue
        if quick and size > 10_000:
            item.add_marker(pytest.mark.skip(reason="--bench-quick: sizes above 1e4"))
        elif keep and size not in keep:
            item.add_marker(pytest.mark.skip(reason=f"--bench-sizes: {size:.0e} not selected"))


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    machine_info["threads"] = thread_counts()
