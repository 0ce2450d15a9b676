"""Run the verification matrix against a module, in this process, and collect its failures.

Used by the meta-tests and by ``tools/mistakes_doc.py``. ``pytest.main`` runs in-process: a
subprocess per mistake would import torch and jax again each time (~5 s), and pytester's
in-process runner unloads the modules a run imported (torch cannot be imported twice in one
process). A run collects only its op's cases (``--op``) and skips pytest's unraisable-exception
plugin, whose two ``gc.collect()`` calls at the end of a session cost ~0.6 s in a process that
holds torch and jax: ~0.3 s a run instead of ~1.5 s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MATRIX = ROOT / "tests" / "test_matrix.py"


@dataclass(eq=False)  # a plugin: pytest keeps plugins in sets
class _Collect:
    failed: list[pytest.TestReport] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    passed: int = 0

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.failed.append(report)
        elif report.skipped and isinstance(report.longrepr, tuple):
            self.skipped.append(report.longrepr[2].removeprefix("Skipped: "))
        elif report.passed and report.when == "call":
            self.passed += 1


@dataclass
class Outcome:
    exit_code: int
    failures: list[tuple[str, str]]  # (test id, failure message), in run order
    passed: int
    skipped: list[str]  # skip reasons

    @property
    def first(self) -> tuple[str, str] | None:
        return self.failures[0] if self.failures else None

    @property
    def failed_checks(self) -> set[str]:
        """The test functions that failed: test_forward, test_vjp, test_jacobian."""
        return {test.split("[", 1)[0] for test, _ in self.failures}


CHECKS = {"test_forward": "forward pass", "test_vjp": "backward pass (VJP)",
          "test_jacobian": "Jacobian"}
KINDS = (("wrong shape", "wrong shape"), ("wrong dtype", "wrong dtype"),
         ("non-finite", "NaN or inf"), ("gradient(s), expected", "wrong number of gradients"),
         (" raised ", "the function raised"), ("returned None", "returned None"),
         ("max abs err", "value"))


def caught_by(test: str, message: str) -> str:
    """Which check a failure comes from and what it found, e.g. 'backward pass (VJP): value'."""
    check = CHECKS.get(test.split("[", 1)[0], test.split("[", 1)[0])
    first = message.splitlines()[0] if message else ""
    kind = next((says for label, says in KINDS if label in first), "other")
    return f"{check}: {kind}"


def run_matrix(target: str | Path, op: str | None = None, refs: str = "torch or numeric",
               maxfail: int | None = None, path: Path = MATRIX, keyword: str = "") -> Outcome:
    """The cases of ``op`` (all ops when None; or those selected by the -k expression
    ``keyword``) in ``path`` against ``--impl target``, with the references selected by the
    marker expression ``refs``."""
    collect = _Collect()
    args = [str(path), f"--rootdir={ROOT}", "-p", "no:cacheprovider", "-p",
            "no:unraisableexception", f"--impl={target}", "-m", refs, "-q", "--no-header"]
    if op is not None:
        args.append(f"--op={op}")
    if keyword:
        args += ["-k", keyword]
    if maxfail is not None:
        args.append(f"--maxfail={maxfail}")
    code = pytest.main(args, plugins=[collect])
    failures = [(r.nodeid.split("::")[-1], r.longreprtext) for r in collect.failed]
    return Outcome(int(code), failures, collect.passed, collect.skipped)
