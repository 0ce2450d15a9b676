"""``--op``: only the named ops' cases run, the others' matrix cases are never built, and an
unknown name is a usage error that lists the catalog's ops; and XLA's compile-time flags
leave a flag the user set alone."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from gradverify import checks
from gradverify.cases import all_cases
from gradverify.reference import jax_ref
from mistakes.check import MATRIX, ROOT


class _Items:
    def __init__(self) -> None:
        self.ids: list[str] = []

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.ids = [item.nodeid.split("::")[-1] for item in session.items]


def _collect(*args: str, path: Path = MATRIX) -> list[str]:
    items = _Items()
    code = pytest.main([str(path), f"--rootdir={ROOT}", "-p", "no:cacheprovider", "-p",
                        "no:unraisableexception", "--co", "-q", *args], plugins=[items])
    assert code in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
    return items.ids


def test_only_the_named_ops_cases_are_collected() -> None:
    ids = _collect("--op", "softmax,tanh", "--op", "mse")
    ops = {test.split("[", 1)[1].split("-", 1)[0] for test in ids}
    assert ops == {"softmax", "tanh", "mse"}
    # as many as the catalog has: forward on 3 frameworks, VJP on all 4 references, Jacobian
    # on all 4 where it applies
    cases = [c for c in all_cases() if c.spec.name in ops]
    jacobian = sum(checks.applies("jacobian", c) for c in cases)
    expected = {"test_forward": 3 * len(cases), "test_vjp": 4 * len(cases),
                "test_jacobian": 4 * jacobian}
    assert Counter(test.split("[", 1)[0] for test in ids) == expected


def test_tests_of_no_named_op_are_deselected() -> None:
    assert _collect(path=ROOT / "tests" / "test_mlp.py") != []  # networks: several ops
    assert _collect("--op", "softmax", path=ROOT / "tests" / "test_mlp.py") == []
    kinks = _collect("--op", "relu", path=ROOT / "tests" / "test_kinks.py")
    assert kinks and all("[relu-" in test for test in kinks), kinks


def test_an_unknown_op_is_a_usage_error_with_suggestions(capsys: pytest.CaptureFixture) -> None:
    code = pytest.main([str(MATRIX), f"--rootdir={ROOT}", "--co", "-q", "--op", "sofmax",
                        "-p", "no:cacheprovider", "-p", "no:unraisableexception"])
    assert code == pytest.ExitCode.USAGE_ERROR
    err = capsys.readouterr().err
    assert "--op: no such op in the catalog: 'sofmax' (did you mean softmax" in err


def test_xla_flags_keep_what_the_user_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRADVERIFY_JAX_FAST_COMPILE", raising=False)
    monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=2")
    jax_ref.configure_xla()
    flags = os.environ["XLA_FLAGS"].split()
    assert "--xla_backend_optimization_level=2" in flags
    assert "--xla_backend_optimization_level=0" not in flags
    assert "--xla_cpu_use_fusion_emitters=false" in flags
    jax_ref.configure_xla()  # idempotent
    assert os.environ["XLA_FLAGS"].split() == flags
    monkeypatch.setenv("XLA_FLAGS", "")
    monkeypatch.setenv("GRADVERIFY_JAX_FAST_COMPILE", "0")  # the benchmarks: XLA as usual
    jax_ref.configure_xla()
    assert os.environ["XLA_FLAGS"] == ""
