"""The catalog of known mistakes: the suite catches every one, and passes the correct impl.

Each mistake (``mistakes/``) is written out as a module that does ``from impl import *`` and
swaps one function in; the matrix for that op (torch and finite differences) runs against it
in-process, and must fail on that op's cases only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import reference
from mistakes import MISTAKES, Mistake
from mistakes.check import run_matrix

try:
    reference.get("torch")
except reference.BackendUnavailable as exc:
    pytest.skip(f"the mistakes meta-tests run the torch cases: {exc}", allow_module_level=True)


@pytest.mark.parametrize("m", MISTAKES, ids=[m.key for m in MISTAKES])
def test_mistake_is_caught(m: Mistake, tmp_path: Path) -> None:
    module = tmp_path / f"mistake_{m.key}.py"
    module.write_text(m.module_source())
    outcome = run_matrix(module, m.op)
    assert outcome.exit_code == pytest.ExitCode.TESTS_FAILED and outcome.failures, (
        f"{m.key} ({m.what}) was not caught (exit {outcome.exit_code})")
    test, message = outcome.failures[0]
    assert f"[{m.op}-" in test, f"a case of another op failed first: {test}"
    assert message.strip(), "the failure must say what is wrong"


@pytest.mark.parametrize("op", ["tanh", "softmax", "mse", "dense"])
def test_correct_impl_passes_the_same_cases(op: str, tmp_path: Path) -> None:
    """The same runs against a module that only re-exports impl pass (the full matrix on impl
    itself is tests/test_matrix.py)."""
    module = tmp_path / "correct.py"
    module.write_text("from impl import *  # noqa: F403\n")
    outcome = run_matrix(module, op)
    assert outcome.exit_code == pytest.ExitCode.OK, f"{op}: {outcome.failures[:2]}"
