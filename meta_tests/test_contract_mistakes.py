"""The contracts catch what they promise: every contract mistake (``mistakes/contracts.py``)
fails exactly its contract, on its op's cases only, with a diagnosis whose first line names the
contract and the function; impl keeps every contract; and the contracts run with no framework.

Runs ``tests/test_contracts.py`` in-process (``mistakes/check.py``), no reference needed.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from gradverify.contracts import CONTRACTS
from mistakes import MISTAKES
from mistakes.check import ROOT, run_matrix
from mistakes.contracts import CONTRACT_MISTAKES, ContractMistake
from tools.mistakes_doc import CONTRACT_CASES, CONTRACT_TESTS, DOC, failing


def contract_of(test: str) -> tuple[str, str]:
    """(op, contract) of a test id ``test_contract[<op>-<contract>-<dtype>-...]``."""
    inside = test.split("[", 1)[1]
    for contract in CONTRACTS:
        op, sep, _ = inside.partition(f"-{contract}-")
        if sep:
            return op, contract
    raise AssertionError(f"no contract in {test}")


def _masked(text: str) -> str:
    return re.sub(r"\d[\d.e+-]*", "#", text)


@pytest.mark.parametrize("m", CONTRACT_MISTAKES, ids=[m.key for m in CONTRACT_MISTAKES])
def test_contract_mistake_fails_exactly_its_contract(m: ContractMistake) -> None:
    outcome = run_matrix(m.module, m.op, refs=CONTRACT_CASES, path=CONTRACT_TESTS)
    assert outcome.exit_code == pytest.ExitCode.TESTS_FAILED and outcome.failures, (
        f"{m.key} ({m.what}) was not caught (exit {outcome.exit_code})")
    broken = {contract_of(test) for test, _ in outcome.failures}
    assert broken == {(m.op, m.contract)}, f"{m.key} must fail {m.contract} of {m.op} only"
    for test, message in outcome.failures:
        first = message.splitlines()[0]
        assert first.startswith(f"{m.contract}: ") and m.replaces in first, f"{test}: {first}"
        assert "seed 0" in message and "reproduce: pytest" in message, message
        assert "factor" not in message or m.contract != "repeatable", message
    for reason in outcome.skipped:  # another contract may only step aside for a stateful one
        assert "keeps state" in reason or "provides none" in reason, reason
    # docs/MISTAKES.md is current: same first failure, same headline, same failing cases
    test, message = outcome.failures[0]
    doc = DOC.read_text()
    stale = "docs/MISTAKES.md is stale: run python -m tools.mistakes_doc"
    heading = f"## {len(MISTAKES) + CONTRACT_MISTAKES.index(m) + 1}. `{m.key}`"
    assert heading in doc, stale
    start = doc.index(heading)
    entry = doc[start:doc.find("\n## ", start + 1)]
    assert f"First failure: `{test}`" in entry, stale
    assert f"Failing: {failing(outcome)}." in entry, stale
    assert _masked(message.splitlines()[0]) in _masked(entry), stale


def test_the_in_place_mistakes_return_the_right_values() -> None:
    """The in-place ReLU and sigmoid get the values right where the matrix looks (one call,
    arguments never looked at again): only the no_mutation contract catches them."""
    import numpy as np

    from mistakes.contracts import relu_backward_in_place, sigmoid_backward_overwrites_z

    rng = np.random.default_rng(0)
    z, g = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    s = 1 / (1 + np.exp(-z))
    assert np.allclose(relu_backward_in_place(g.copy(), z.copy()), g * (z > 0), rtol=1e-14)
    assert np.allclose(sigmoid_backward_overwrites_z(g.copy(), z.copy()), g * s * (1 - s),
                       rtol=1e-12)


def test_impl_keeps_every_contract() -> None:
    outcome = run_matrix("impl", refs=CONTRACT_CASES, path=CONTRACT_TESTS)
    assert outcome.exit_code == pytest.ExitCode.OK, outcome.failures[:1]
    assert outcome.passed >= 800
    for reason in outcome.skipped:  # only ops with no second function to compare with
        assert reason.startswith("self_consistent: gradverify.impl provides none of"), reason


NO_FRAMEWORK = """
import importlib.abc, sys
tried = []
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "jax", "jaxlib", "autograd"):
            tried.append(name)
            raise ImportError(f"{name} is blocked: a numpy-only environment")
sys.meta_path.insert(0, Block())
for name in [m for m in sys.modules if m.split(".")[0] in ("torch", "jax", "autograd")]:
    del sys.modules[name]
import pytest
code = pytest.main(sys.argv[1:])
print("TRIED", sorted(set(tried)))
sys.exit(code)
"""


def test_contracts_run_without_any_framework() -> None:
    """torch, jax and autograd blocked at import: the contract cases of three ops (selected
    with a marker expression that leaves out every backend) pass, and none tried to import."""
    result = subprocess.run(
        [sys.executable, "-c", NO_FRAMEWORK, str(CONTRACT_TESTS), f"--rootdir={ROOT}", "-p",
         "no:cacheprovider", "-q", "-m", "not torch and not jax and not autograd and not numeric",
         "-k", "[softmax- or [mse- or [dense-"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert "TRIED []" in out, out[-3000:]
    assert re.search(r"\b[1-9]\d* passed", out), out[-3000:]
