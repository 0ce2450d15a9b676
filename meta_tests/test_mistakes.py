"""The catalog of known mistakes: the suite catches every one, on exactly the cases of the
function it replaces, and passes the correct impl.

Each mistake is ``impl`` with one function swapped (``--impl mistakes.<key>``); the matrix for
its op runs against it in-process (``mistakes/check.py``) with torch (finite differences where
torch is missing): ~1 s a mistake, most of it collecting the matrix.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gradverify import reference
from gradverify.catalog import CATALOG
from mistakes import MISTAKES, Mistake
from mistakes.check import ROOT, caught_by, run_matrix
from tools.mistakes_doc import DOC, failing

JACOBIAN_OPS = {spec.name for spec in CATALOG if spec.jacobian}


def _has_torch() -> bool:
    try:
        reference.get("torch")
    except reference.BackendUnavailable:
        return False
    return True


REFS = "torch" if _has_torch() else "numeric"


def uses(m: Mistake) -> set[str]:
    """The matrix tests that call the replaced functions (and only those may fail)."""
    return set().union(*(_uses(name, m.op) for name in (m.replaces, *(n for n, _ in m.also))))


def _uses(replaces: str, op: str) -> set[str]:
    if replaces == op:
        return {"test_forward"}
    if replaces.endswith("_jacobian"):
        return {"test_jacobian"}
    # the Jacobian is assembled from the backward unless the op has <op>_jacobian
    return {"test_vjp"} | (set() if op in JACOBIAN_OPS else {"test_jacobian"})


def _masked(text: str) -> str:
    """A message with its numbers masked (they may differ in the last digits across CPUs)."""
    return re.sub(r"\d[\d.e+-]*", "#", text)


@pytest.mark.parametrize("m", MISTAKES, ids=[m.key for m in MISTAKES])
def test_mistake_is_caught_on_exactly_its_cases(m: Mistake) -> None:
    if REFS == "numeric" and uses(m) == {"test_forward"}:
        pytest.skip("a forward mistake is caught by the frameworks' forward values; finite "
                    "differences differentiate impl's own forward, and no framework is installed")
    outcome = run_matrix(m.module, m.op, refs=REFS)
    assert outcome.exit_code == pytest.ExitCode.TESTS_FAILED and outcome.failures, (
        f"{m.key} ({m.what}) was not caught (exit {outcome.exit_code})")
    others = [test for test, _ in outcome.failures if f"[{m.op}-" not in test]
    assert not others, f"cases of other ops failed: {others}"
    assert outcome.failed_checks <= uses(m), (
        f"{m.replaces} is wrong, but {sorted(outcome.failed_checks - uses(m))} failed too")
    for test, message in outcome.failures:
        assert caught_by(test, message).split(": ")[1] != "other", f"{test}: {message}"
        assert "seed 0" in message or " raised " in message, f"no case context: {message}"
    if REFS != "torch":
        pytest.skip("docs/MISTAKES.md records the torch run; torch is unavailable")
    # docs/MISTAKES.md is current: same first failure, same headline, same failing cases
    test, message = outcome.failures[0]
    doc = DOC.read_text()
    start = doc.index(f"## {MISTAKES.index(m) + 1}. `{m.key}`")
    entry = doc[start:doc.find("\n## ", start + 1)]
    stale = "docs/MISTAKES.md is stale: run python -m tools.mistakes_doc"
    assert f"First failure: `{test}`" in entry, stale
    assert f"Failing: {failing(outcome)}." in entry, stale
    assert _masked(message.splitlines()[0]) in _masked(entry), stale


def test_one_redefined_function_fails_only_its_own_cases() -> None:
    """The worked example (examples/my_grads.py: impl, a correct sigmoid_backward and a
    softmax_cross_entropy_backward without the 1/N) against the whole matrix."""
    outcome = run_matrix(ROOT / "examples" / "my_grads.py", refs=REFS)
    assert outcome.failures, "the deliberate mistake was not caught"
    ops = {test.split("[", 1)[1].split("-", 1)[0] for test, _ in outcome.failures}
    assert ops == {"softmax_cross_entropy"}, ops
    assert outcome.failed_checks <= {"test_vjp", "test_jacobian"}
    assert all("reduction=mean" in test for test, _ in outcome.failures)
    assert outcome.passed > 1000


def test_the_correct_function_passes(tmp_path: Path) -> None:
    """The same module with the mistake corrected passes softmax_cross_entropy's cases (every
    other op passed above), as does every op of every mistake against impl itself
    (tests/test_matrix.py)."""
    module = tmp_path / "fixed_grads.py"
    module.write_text((ROOT / "examples" / "my_grads.py").read_text().replace(
        "return grad_out * (softmax(logits) - y_true)",
        "n = logits.shape[0] if logits.ndim > 1 and reduction == 'mean' else 1\n"
        "    return (grad_out * (softmax(logits) - y_true) / n).astype(logits.dtype)"))
    outcome = run_matrix(module, "softmax_cross_entropy", refs=REFS)
    assert outcome.exit_code == pytest.ExitCode.OK, outcome.failures[:1]
    assert outcome.passed > 50
