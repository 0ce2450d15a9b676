"""``--impl`` end to end: bad modules get a clear message and the run goes on where it can.

Runs in-process (``mistakes/check.py``); finite differences only, so no framework is needed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mistakes.check import ROOT, run_matrix

HERE = Path(__file__).resolve().parent

#: op -> what every failing case of it must say (meta_tests/bad_impl.py breaks one function each)
BROKEN = {
    "tanh": "tanh_backward raised ValueError: my tanh is not ready",
    "sigmoid": "wrong shape: got (12,), expected (3, 4)",
    "relu": "wrong dtype: got float16, expected float64",
    "elu": "wrong dtype: got float32, expected float64",
    "dense": "dense_backward returned 2 gradient(s), expected a tuple of 3 arrays",
    "softplus": "non-finite value(s) where the reference is finite",
    "silu": "non-finite value(s) where the reference is finite",
    "identity": "returned None",
    "gelu": "gelu_backward raised TypeError: gelu_backward() got an unexpected keyword argument "
            "'approximate'",
}


@pytest.fixture(scope="module")
def bad_run():
    ops = [*BROKEN, "leaky_relu"]  # leaky_relu is impl's own: it must still pass
    keyword = " or ".join(f"[{op}-numeric-float64-{'5x3to2' if op == 'dense' else '3x4'}"
                          for op in ops)
    return run_matrix(HERE / "bad_impl.py", refs="numeric", keyword=keyword)


@pytest.mark.parametrize("op", BROKEN)
def test_each_broken_function_is_reported_as_what_it_is(bad_run, op: str) -> None:
    mine = [(test, msg) for test, msg in bad_run.failures if f"[{op}-" in test]
    assert mine, f"no case of {op} failed"
    for test, message in mine:
        assert BROKEN[op] in message, f"{test}:\n{message}"
        assert "max abs err" not in message, "structure must be reported before values"
        assert "Traceback" not in message and "INTERNALERROR" not in message


def test_the_run_goes_on_past_broken_functions(bad_run) -> None:
    assert bad_run.exit_code == pytest.ExitCode.TESTS_FAILED
    assert not [t for t, _ in bad_run.failures if "[leaky_relu-" in t]
    assert bad_run.passed >= 3  # leaky_relu's forward, VJP and Jacobian


def test_missing_ops_are_listed_once_and_not_collected(capsys) -> None:
    """A partial module's missing ops are one header line, not thousands of skips; a missing
    function of a provided op (sigmoid_jacobian) is still a skip with its reason."""
    code = pytest.main([str(ROOT / "tests" / "test_matrix.py"), f"--rootdir={ROOT}", "-p",
                        "no:cacheprovider", f"--impl={HERE / 'partial_impl.py'}", "-m", "numeric",
                        "-k", "[sigmoid-numeric-float64-3x4 or [relu-numeric-float64-3x4",
                        "-rs"])
    out = capsys.readouterr().out
    assert code == pytest.ExitCode.OK, out[-2000:]
    assert "implementation under test: partial_impl" in out and "provides 1 of" in out
    header = next(line for line in out.splitlines() if line.startswith("implementation under"))
    assert "not provided, not collected: identity, relu, leaky_relu" in header
    assert "[relu-" not in out
    assert "sigmoid_jacobian not provided by partial_impl" in out
    assert "1 passed, 1 skipped" in out  # sigmoid's VJP; its Jacobian is not provided


@pytest.mark.parametrize("source,says", [
    (None, "no such file"),
    ("import numpy\nraise RuntimeError('boom in my module')\n",
     "importing it failed: RuntimeError: boom in my module"),
    ("def f(:\n", "importing it failed: SyntaxError"),
    ("import not_a_module_anywhere\n",
     "importing it failed: ModuleNotFoundError: No module named 'not_a_module_anywhere'"),
], ids=["missing", "raises", "syntax", "imports-missing"])
def test_a_module_that_cannot_load_is_a_usage_error(tmp_path, capsys, source, says) -> None:
    path = tmp_path / "my_grads.py"
    if source is not None:
        path.write_text(source)
    code = pytest.main([str(ROOT / "tests" / "test_matrix.py"), f"--rootdir={ROOT}",
                        "-p", "no:cacheprovider", f"--impl={path}"])
    out, err = capsys.readouterr()
    assert code == pytest.ExitCode.USAGE_ERROR
    assert f"ERROR: --impl {path}: {says}" in err
    assert "INTERNALERROR" not in out + err and "Traceback" not in out + err


def test_a_dotted_name_that_does_not_import_is_a_usage_error(capsys) -> None:
    code = pytest.main([str(ROOT / "tests" / "test_matrix.py"), f"--rootdir={ROOT}",
                        "-p", "no:cacheprovider", "--impl=my_pkg.my_grads"])
    _, err = capsys.readouterr()
    assert code == pytest.ExitCode.USAGE_ERROR
    assert "--impl my_pkg.my_grads: importing it failed: ModuleNotFoundError" in err
