"""Untrusted modules never take the tool down (gradverify.isolate, gradverify.loader).

Each hostile module in meta_tests/hostile/ breaks some functions in one way (a hang, an exit,
a crash, a patch of NumPy, odd returns, a module ``__getattr__``, files that shadow the suite's
imports); each test asserts the verdict of the broken functions, the verdicts of the others,
the exit status where it runs the CLI, and a bound on the wall time. Finite differences only
(``numeric``): no framework needed, and fast.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import gradverify
from gradverify import isolate
from gradverify.loader import ImplLoadError

HOSTILE = Path(__file__).resolve().parent / "hostile"
ROOT = HOSTILE.parent.parent
REFS = ["numeric"]


def _check(name: str, limit: float, **kw):
    start = time.perf_counter()
    report = gradverify.check(str(HOSTILE / name), references=REFS, timeout=1.0, **kw)
    seconds = time.perf_counter() - start
    assert seconds < limit, f"{name} took {seconds:.1f} s"
    return report.verdicts()


def _ok(verdicts: dict[str, str], *names: str) -> None:
    for n in names:
        assert verdicts[n].startswith("ok ("), (n, verdicts[n])


def _cli(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gradverify", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120, env=env)


def test_a_hang_fails_its_function_after_the_timeout_and_the_rest_is_checked() -> None:
    v = _check("hang.py", limit=40)
    assert v["sigmoid_backward"].endswith(": sigmoid_backward did not return within 1 s")
    assert v["tanh_backward"].endswith(": tanh_backward did not return within 1 s")
    assert v["sigmoid_backward"].startswith("wrong (")
    _ok(v, "relu", "relu_backward")


def test_every_way_of_exiting_is_a_verdict() -> None:
    v = _check("exits.py", limit=40)
    assert v["sigmoid_backward"].endswith("sigmoid_backward called sys.exit(3)")
    assert v["tanh_backward"].endswith("tanh_backward ended the process with exit code 0 "
                                       "(os._exit?)")
    assert v["softplus_backward"].endswith("softplus_backward raised KeyboardInterrupt")
    assert v["elu_backward"].endswith("elu_backward called sys.exit()")
    _ok(v, "relu", "relu_backward")


def test_crashes_are_verdicts_and_the_cli_reports_them() -> None:
    start = time.perf_counter()
    out = _cli(str(HOSTILE / "crash.py"), "--references", "numeric", "--timeout", "1")
    assert time.perf_counter() - start < 60
    assert out.returncode == 1, out.stderr
    lines = {ln.split()[0]: ln for ln in out.stdout.splitlines() if ln.startswith("  ")}
    assert lines["sigmoid_backward"].endswith("sigmoid_backward crashed with SIGSEGV")
    assert lines["tanh_backward"].endswith("tanh_backward crashed with SIGSEGV")
    assert " ok (" in lines["relu"] and " ok (" in lines["relu_backward"]


def _cache_of(target: str, where: Path, isolated: bool = True) -> tuple[dict, dict[str, bytes]]:
    code = ("import gradverify, json, sys; r = gradverify.check(sys.argv[1], ops=['sigmoid', "
            f"'relu'], references=['numeric'], isolate={isolated}); print(json.dumps("
            "r.verdicts()))")
    env = {**os.environ, "GRADVERIFY_CACHE": str(where)}
    out = subprocess.run([sys.executable, "-c", code, target], capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    files = {str(p.relative_to(where)): p.read_bytes() for p in where.rglob("*") if p.is_file()}
    return json.loads(out.stdout.splitlines()[-1]), files


def test_a_numpy_patch_changes_no_other_verdict_and_no_cache_entry(tmp_path: Path) -> None:
    hostile, hostile_cache = _cache_of(str(HOSTILE / "patcher.py"), tmp_path / "hostile")
    clean, clean_cache = _cache_of("impl", tmp_path / "clean")
    _ok(hostile, "sigmoid", "sigmoid_backward", "relu", "relu_backward")
    # every entry the hostile run stored is the clean run's, byte for byte (impl has more
    # functions, so more entries)
    assert hostile_cache and all(clean_cache.get(k) == v for k, v in hostile_cache.items())
    # the test has teeth: in-process, relu_backward's patch reaches the finite differences
    inproc, inproc_cache = _cache_of(str(HOSTILE / "patcher.py"), tmp_path / "in", False)
    assert any(clean_cache.get(k) != v for k, v in inproc_cache.items())
    assert not inproc["sigmoid_backward"].startswith("ok")


def test_odd_returns_get_a_verdict_naming_the_function() -> None:
    v = _check("odd_returns.py", limit=40)
    assert "sigmoid_backward gradient 0 (input 0) vs numeric: returned None" in \
        v["sigmoid_backward"]
    assert "tanh_backward gradient 0 (input 0) vs numeric: wrong shape: got (), expected" in \
        v["tanh_backward"]
    assert "wrong dtype: got complex128" in v["softplus_backward"]
    assert "dense_backward returned 2 gradient(s), expected a tuple of 3 arrays" in \
        v["dense_backward"]
    assert "elu_backward raised Unbuildable: <Unbuildable whose str() raised>" in \
        v["elu_backward"]
    for fn in ("sigmoid", "tanh", "elu"):  # a list, a generator, an object array
        assert v[fn].startswith("wrong (") and fn in v[fn], v[fn]
    _ok(v, "relu", "relu_backward", "dense")


@pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("torch", "jax")),
                    reason="torch and jax are needed to return their arrays")
def test_torch_and_jax_arrays_are_named() -> None:
    start = time.perf_counter()
    v = gradverify.check(str(HOSTILE / "frameworks.py"), references=["torch"], timeout=20,
                         ops=["sigmoid", "relu"]).verdicts()
    assert time.perf_counter() - start < 90
    assert "sigmoid vs torch: returned torch.Tensor, expected a numpy array" in v["sigmoid"]
    assert "returned jaxlib" in v["sigmoid_backward"] and "expected a numpy array" in \
        v["sigmoid_backward"]
    _ok(v, "relu", "relu_backward")


def test_a_module_getattr_is_checked_by_what_it_gives() -> None:
    v = _check("getattr_module.py", limit=30)
    assert v["sigmoid_backward"].endswith("getting sigmoid_backward from the module raised "
                                          "RuntimeError: no sigmoid_backward today")
    assert "tanh_backward gradient 0 (input 0) vs numeric: returned None" in v["tanh_backward"]
    _ok(v, "relu", "relu_backward")


def test_shadowing_files_and_a_module_named_impl(tmp_path: Path) -> None:
    v = _check("shadow/my_grads.py", limit=30)
    _ok(v, "relu", "relu_backward")
    v = _check("shadow/impl.py", limit=30)  # the student's impl.py, not the suite's
    _ok(v, "sigmoid")
    assert v["sigmoid_backward"].startswith("wrong (")
    assert set(v) == {"sigmoid", "sigmoid_backward"}
    # from inside the folder: the console script, and ``python -m gradverify`` (which puts
    # the folder first on sys.path: gradverify.__main__ moves it last before importing numpy)
    script = shutil.which("gradverify")
    for command in ([script] if script else [], [sys.executable, "-m", "gradverify"]):
        if not command:
            continue
        out = subprocess.run([*command, "my_grads.py", "--references", "numeric", "--ops",
                              "relu"], capture_output=True, text=True, cwd=HOSTILE / "shadow",
                             timeout=120)
        assert out.returncode == 0, out.stderr
        assert "all provided functions are right" in out.stdout
    folder = str(HOSTILE / "shadow")
    try:  # in-process: the folder goes last on sys.path, so the suite's imports are unharmed
        in_process = gradverify.check(str(HOSTILE / "shadow" / "my_grads.py"), references=REFS,
                                      isolate=False, ops=["relu"])
        assert sys.path[-1] == folder and in_process.passed
        assert "shadow" not in (importlib.import_module("random").__file__ or "")
    finally:
        if folder in sys.path:
            sys.path.remove(folder)


def test_paths_that_are_no_module_give_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "broken.py").write_text("def relu(x:\n")
    cases = {str(tmp_path / "folder"): "a folder, not a module",
             str(tmp_path / "missing.py"): "no such file",
             str(tmp_path / "broken.py"): "SyntaxError: '(' was never closed (broken.py, line 1)"}
    for target, says in cases.items():
        with pytest.raises(ImplLoadError) as info:
            gradverify.check(target, references=REFS)
        assert says in str(info.value) and "--impl" not in str(info.value)
        assert "\n" not in str(info.value)
    out = _cli(str(tmp_path / "broken.py"))
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().startswith("gradverify: error: ") and \
        len(out.stderr.strip().splitlines()) == 1


def test_a_notebook_is_checked_by_its_code_cells(tmp_path: Path) -> None:
    cells = [{"cell_type": "markdown", "source": ["# my gradients"]},
             {"cell_type": "code", "source": ["%matplotlib inline\n", "import nothing_such"]},
             {"cell_type": "code", "source": ["!pip install nothing\n"]},
             {"cell_type": "code", "source": ["import numpy as np\n", "def relu(x):\n",
                                              "    return np.maximum(x, 0)\n"]},
             {"cell_type": "code", "source": "def relu_backward(g, x):\n    return g * (x < 0)\n"}]
    nb = tmp_path / "grads.ipynb"
    nb.write_text(json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5,
                              "metadata": {}}))
    v = gradverify.check(str(nb), references=REFS).verdicts()
    _ok(v, "relu")
    assert v["relu_backward"].startswith("wrong (")


def test_contracts_see_in_place_writes_and_layouts_through_the_worker(tmp_path: Path) -> None:
    mod = tmp_path / "inplace.py"
    mod.write_text("import numpy as np\nfrom impl import relu\n"
                   "def relu_backward(g, x):\n    g *= (x > 0)\n    return g\n")
    v = gradverify.check(str(mod), references=REFS).verdicts()
    assert "relu_backward writes into its argument g (read-only here)" in v["relu_backward"]
    assert "inplace.py:4: g *= (x > 0)" in v["relu_backward"]


def test_a_call_writes_back_its_in_place_changes_and_views_keep_their_layout() -> None:
    module = isolate.open_isolated(str(HOSTILE / "shadow" / "my_grads.py"), ["relu"])
    try:
        x = np.arange(12.0).reshape(3, 4).T  # a transposed view
        assert np.array_equal(module.relu(x), np.maximum(x, 0))
        frozen = np.ones(3)
        frozen.setflags(write=False)
        assert np.array_equal(module.relu(frozen), frozen)
    finally:
        module.close()
    assert module.gradverify_worker.process is None  # closed: no process left behind


@pytest.mark.parametrize("module,broken,says", [
    ("hang.py", {"sigmoid", "tanh"}, "did not return within 1 s"),
    ("exits.py", None, "called sys.exit"),
], ids=["hang", "exits"])
def test_pytest_impl_isolate_fails_the_broken_cases_and_runs_the_rest(module, broken,
                                                                       says) -> None:
    """``pytest --impl --isolate``: the hostile functions' cases fail with the cause, the
    others pass, the run ends (one timeout per hanging function, not one per case)."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "pytest", "tests/test_matrix.py", "-q", "-rf",
                          "-p", "no:cacheprovider", "-p", "no:xdist",
                          f"--impl={HOSTILE / module}", "--isolate", "--call-timeout", "1",
                          "-m", "numeric", "-k", "3x4"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    seconds = time.perf_counter() - start
    assert out.returncode == 1, out.stdout[-3000:] + out.stderr[-2000:]
    failed = [line for line in out.stdout.splitlines() if line.startswith("FAILED ")]
    assert failed and " passed" in out.stdout.splitlines()[-1], out.stdout[-3000:]
    assert says in out.stdout
    if broken is not None:
        ops = {line.split("[")[1].split("-")[0] for line in failed}
        assert ops == broken, failed
        assert all("test_vjp[" in line for line in failed), failed
    assert "Traceback" not in out.stdout and "INTERNALERROR" not in out.stdout
    assert seconds < 90, f"{seconds:.0f} s"


def test_a_module_that_puts_its_folder_first_does_not_shadow_the_suites_later_imports(
        tmp_path: Path) -> None:
    """A worker given its module at once imports the contracts' machinery after loading it
    (isolate_worker.PRELOAD, off the critical path); a module that put its own folder first
    on sys.path, beside a difflib.py that breaks, still gets its contracts and its
    did-you-mean (difflib is first imported then, with the worker's boot path)."""
    (tmp_path / "difflib.py").write_text("raise ImportError('the student difflib')\n")
    (tmp_path / "mine.py").write_text(
        "import os\nimport sys\n\nsys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))"
        "\nfrom gradverify.impl import sigmoid, sigmoid_backward  # noqa: E402,F401\n\n\n"
        "def sigmoid_backwrd(g, z):\n    return g\n")
    out = subprocess.run([sys.executable, "-m", "gradverify", str(tmp_path / "mine.py"),
                          "--references", "numeric"], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 1, out.stdout[-2000:] + out.stderr[-2000:]  # the typo: exit 1
    assert "sigmoid_backwrd" in out.stdout and "did you mean sigmoid_backward" in out.stdout, \
        out.stdout[-2000:]
    assert "sigmoid_backward  ok (" in out.stdout, out.stdout[-2000:]
    assert "student difflib" not in out.stdout + out.stderr


def test_a_function_over_the_memory_limit_fails_with_memoryerror_and_the_rest_is_checked(
        ) -> None:
    """The worker's address space is limited (RLIMIT_AS, here GRADVERIFY_MEMORY_MB=1024): an
    allocation over it, at once or growing, is a MemoryError in that function's verdict, not
    a machine driven into swap or the OOM killer; relu is checked as usual."""
    start = time.perf_counter()
    out = _cli(str(HOSTILE / "memory.py"), "--references", "numeric",
               env={**os.environ, "GRADVERIFY_MEMORY_MB": "1024"})
    assert time.perf_counter() - start < 60
    assert out.returncode == 1, out.stdout[-2000:] + out.stderr[-2000:]
    lines = {ln.split()[0]: ln for ln in out.stdout.splitlines() if ln.startswith("  ")}
    assert "MemoryError" in lines["sigmoid_backward"], lines
    assert "MemoryError" in lines["tanh_backward"], lines
    assert " ok (" in lines["relu"] and " ok (" in lines["relu_backward"], lines


def test_numpy_error_state_around_a_call_reaches_the_worker(tmp_path: Path) -> None:
    """``with np.errstate(...)`` around a call of an isolated function holds in the worker as
    it would here: ignored overflow warns nothing (the special values check calls the module
    so), ``over="raise"`` raises FloatingPointError, the default warns (relayed)."""
    import warnings

    (tmp_path / "big.py").write_text("import numpy as np\n\n\ndef relu(x):\n"
                                     "    return np.exp(x)\n")
    module = isolate.open_isolated(str(tmp_path / "big.py"), ["relu"])
    x = np.array([1000.0])
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with np.errstate(over="ignore"):
                assert module.relu(x)[0] == np.inf
            assert caught == []
            module.relu(x)
            assert [str(w.message) for w in caught] == ["overflow encountered in exp"]
        with np.errstate(over="raise"), pytest.raises(FloatingPointError, match="overflow"):
            module.relu(x)
    finally:
        module.close()


def _contract_outcomes(module: str, *extra: str) -> dict[str, str]:
    out = subprocess.run([sys.executable, "-m", "pytest", "tests/test_contracts.py", "-q", "-rA",
                          "-p", "no:cacheprovider", "-p", "no:xdist", f"--impl={HOSTILE / module}",
                          "-k", "3x4", *extra], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert "INTERNALERROR" not in out.stdout, out.stdout[-3000:]
    return {line.split()[1]: line.split()[0] for line in out.stdout.splitlines()
            if line.startswith(("PASSED ", "FAILED ", "XFAIL "))}


@pytest.mark.parametrize("module", ["odd_returns.py", "exits.py"])
def test_pytest_isolate_runs_each_contract_in_the_worker_with_in_process_outcomes(
        module: str) -> None:
    """``pytest --impl --isolate``: a contract test runs in the worker (one round trip:
    isolate_contracts.run_one), on the module's real returns, so each contract's outcome is
    the one it has in-process (odd returns: a generator, a 0-d array, an object array); one
    that kills the worker (``os._exit``) runs again through the proxies, which name the
    function. exits.py in-process would end the run: its outcomes are those of the proxies'
    path, as before run_one (the exiting functions' contracts fail, relu's pass)."""
    isolated = _contract_outcomes(module, "--isolate", "--call-timeout", "1")
    assert isolated, "no contract ran"
    if module == "exits.py":
        assert {t for t, o in isolated.items() if o == "PASSED"} == \
            {t for t in isolated if "[relu-" in t}, isolated
        return
    assert isolated == _contract_outcomes(module)
