"""Helpers for your own test files: ``assert_engine`` and ``assert_function`` run
``check_engine`` / ``check_function`` and fail with the report (every failure printed as code,
with its cause) when something is wrong; they return the report otherwise.

    # test_my_engine.py
    from gradverify.testing import assert_engine, assert_function

    def test_engine():
        assert_engine(Value)                      # micrograd-style scalar engine
        assert_engine(Tensor, examples=20)        # a tensor engine, fewer random graphs

    def test_my_function():
        assert_function(MyFn, x, w, numpy=my_fn_numpy)

Both take the keyword arguments of the function they wrap; ``conventions=True`` (engines)
also fails on a convention difference (relu'(0) ≠ 0).
"""

from __future__ import annotations

from typing import Any

from .custom_backward import FunctionReport, check_function
from .engine import EngineReport, check_engine


class GradverifyFailure(AssertionError):
    """A failed check; ``report`` holds the whole report."""

    def __init__(self, report: Any) -> None:
        super().__init__(str(report))
        self.report = report


def assert_engine(cls: type, ops: Any = None, *, conventions: bool = False,
                  **kwargs: Any) -> EngineReport:
    """``check_engine(cls, ops, **kwargs)``; raise ``GradverifyFailure`` unless it passed."""
    report = check_engine(cls, ops, **kwargs)
    conv = [r for r in report.records if r.outcome == "convention"]
    if not report.passed or (conventions and conv):
        raise GradverifyFailure(report)
    return report


def assert_function(fn: Any, *inputs: Any, **kwargs: Any) -> FunctionReport:
    """``check_function(fn, *inputs, **kwargs)``; raise ``GradverifyFailure`` unless it passed."""
    report = check_function(fn, *inputs, **kwargs)
    if not report.passed:
        raise GradverifyFailure(report)
    return report


__all__ = ["GradverifyFailure", "assert_engine", "assert_function"]
