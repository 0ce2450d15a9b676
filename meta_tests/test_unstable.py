"""The extreme-value cases catch formulas that overflow at the edges; impl passes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gradverify import reference

pytest_plugins = ["pytester"]

try:
    reference.get("torch")
except reference.BackendUnavailable as exc:
    pytest.skip(f"the extreme-value cases are compared with torch: {exc}",
                allow_module_level=True)
ROOT = Path(__file__).resolve().parent.parent


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        str(ROOT / "tests" / "test_extremes.py"), f"--rootdir={ROOT}", "-p", "no:cacheprovider",
        "-q", "-m", "torch", *args)


def test_unstable_formulas_fail_the_extreme_cases(pytester: pytest.Pytester) -> None:
    result = _run(pytester, f"--impl={ROOT / 'meta_tests' / 'unstable_impl.py'}")
    failed = {line.split("[", 1)[1].split("-", 1)[0] for line in result.outlines
              if line.startswith("FAILED")}
    assert failed == {"softmax", "bce_with_logits"}, result.stdout.str()[-3000:]


def test_impl_passes_the_extreme_cases(pytester: pytest.Pytester) -> None:
    result = _run(pytester)
    assert result.ret == 0, result.stdout.str()[-3000:]
    assert result.parseoutcomes().get("passed", 0) > 0
