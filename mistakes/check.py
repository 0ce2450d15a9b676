"""Run the verification matrix of one op against a module, in this process.

Used by the meta-tests and by ``tools/mistakes_doc.py``. ``pytest.main`` runs in-process (a
subprocess per mistake would import torch and jax again each time, ~5 s); pytester's
in-process runner is not used because it unloads the modules a run imported, and torch cannot
be imported twice in one process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class _Failures:
    reports: list[pytest.TestReport] = field(default_factory=list)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.reports.append(report)


@dataclass
class Outcome:
    exit_code: int
    failures: list[tuple[str, str]]  # (test id, failure message)

    @property
    def first(self) -> tuple[str, str] | None:
        return self.failures[0] if self.failures else None


def run_matrix(module: Path, op: str, refs: str = "torch or numeric",
               maxfail: int = 1) -> Outcome:
    """The forward/VJP/Jacobian cases of ``op`` against ``module`` with the given references,
    stopping at the ``maxfail``-th failure (the first one is what a user reads first)."""
    collect = _Failures()
    code = pytest.main([str(ROOT / "tests" / "test_matrix.py"), f"--rootdir={ROOT}",
                        "-p", "no:cacheprovider", f"--impl={module}", "-k", f"[{op}-",
                        "-m", refs, "-q", "--no-header", f"--maxfail={maxfail}"],
                       plugins=[collect])
    failures = [(r.nodeid.split("::")[-1], r.longreprtext) for r in collect.reports]
    return Outcome(int(code), failures)
