"""The meta-tests check the suite itself (they pass their own --impl to the runs they make)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    target = config.getoption("impl")
    if target == "impl":
        return
    skip = pytest.mark.skip(reason=f"meta-tests check the suite itself, not --impl {target}: "
                                   "run them without --impl")
    for item in items:
        if item.path.parent.name == "meta_tests":
            item.add_marker(skip)
