"""The Python API (``gradverify.check``, ``gradverify.gradcheck``, ``Report``), ops a module
declares, "not supported" (NotImplementedError) and ``python -m gradverify``."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gradverify
from gradverify import impl
from gradverify.report import Summary
from mistakes.check import ROOT, run_matrix

USER = Path(__file__).resolve().parent / "user_modules"
REFS = ("torch", "numeric")
#: these compare with torch (and need two references to agree): skipped without it
NEEDS_TORCH = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="torch is not installed: these checks compare with torch")


def _wrong_sigmoid_backward(g, z):
    return g * impl.sigmoid(z)  # forgets (1 − σ)


@NEEDS_TORCH
def test_dict_target_checks_exactly_its_functions() -> None:
    right = gradverify.check({"sigmoid": impl.sigmoid, "sigmoid_backward": impl.sigmoid_backward},
                             references=REFS)
    assert right.passed and right.failures == []
    assert set(right.verdicts()) == {"sigmoid", "sigmoid_backward"}
    # without sigmoid_jacobian, the Jacobian is assembled from the backward
    assert {r.function for r in right.records if r.check == "jacobian"} == {"sigmoid_backward"}
    wrong = gradverify.check({"sigmoid": impl.sigmoid, "sigmoid_backward": _wrong_sigmoid_backward},
                             references=REFS)
    assert not wrong.passed
    assert {r.function for r in wrong.failures} == {"sigmoid_backward"}
    first = wrong.failures[0]
    assert first.op == "sigmoid" and first.check in ("vjp", "jacobian")
    assert first.verdict == first.diagnosis.splitlines()[0]
    assert "backward pass: sigmoid_backward" in first.diagnosis
    assert "the formula is wrong" in first.diagnosis  # same diagnosis as the matrix


def test_module_and_dotted_name_and_report_views() -> None:
    by_name = gradverify.check("impl", ops=["relu", "mse"], references=REFS)
    by_module = gradverify.check(impl, ops=["relu", "mse"], references=REFS)
    assert by_name.passed and by_module.passed
    assert by_name.totals() == by_module.totals()
    text = str(by_name)
    assert text.splitlines()[0] == "gradverify: impl (seed 0): all provided functions are right"
    assert "  relu_jacobian" in text and "ok (" in text
    md = by_name._repr_markdown_()
    assert "| op | torch | numeric |" in md and "| `mse_backward` | ok (" in md
    data = json.loads(by_name.to_json())
    assert data["passed"] is True and data["totals"]["failed"] == 0
    assert len(data["records"]) == data["totals"]["checks"] == len(by_name.records)


def test_unknown_op_or_reference_is_a_usage_error() -> None:
    with pytest.raises(ValueError, match="unknown op"):
        gradverify.check(impl, ops=["relu", "no_such_op"])
    with pytest.raises(ValueError, match="unknown reference"):
        gradverify.check(impl, ops=["relu"], references=["tensorflow"])
    with pytest.raises(gradverify.api.ImplLoadError, match="no such file"):
        gradverify.check("does/not/exist.py")
    clash = {"relu": impl.relu, "GRADVERIFY_OPS": [{"name": "relu"}]}
    with pytest.raises(ValueError, match=r"declares \['relu'\], which the catalog already has"):
        gradverify.check(clash)
    nothing = gradverify.check({"my_relu": impl.relu})
    assert nothing.records == [] and "nothing checked" in str(nothing)


# -- not supported ------------------------------------------------------------------------------
def _mse_mean_only(y, t, reduction="mean"):
    if reduction != "mean":
        raise NotImplementedError("reduction='sum' is next week's exercise")
    return impl.mse(y, t)


def _mse_backward_mean_only(g, y, t, reduction="mean"):
    if reduction != "mean":
        raise NotImplementedError("reduction='sum' is next week's exercise")
    return impl.mse_backward(g, y, t)


def test_not_implemented_is_not_supported_not_wrong() -> None:
    report = gradverify.check({"mse": _mse_mean_only, "mse_backward": _mse_backward_mean_only},
                              references=REFS)
    assert report.passed
    skipped = [r for r in report.records if r.outcome == "unsupported"]
    assert skipped and all("reduction=sum" in r.case for r in skipped)
    assert {r.verdict for r in skipped} == {
        f"not supported by {__name__}: reduction='sum' is next week's exercise"}
    assert "not supported" in report.summary_line() and report.totals()["failed"] == 0


def test_not_implemented_in_the_matrix_is_a_skip_counted_apart() -> None:
    run = run_matrix(USER / "loss_right.py", refs="numeric",
                     keyword="[mse-numeric-float64-3x4")
    assert run.exit_code == pytest.ExitCode.OK and not run.failures
    assert any(r.startswith("not supported by ") and
               "loss_right: mse_loss implements reduction='mean' only" in r
               for r in run.skipped), run.skipped
    summary = Summary()
    for outcome, reason in (("skipped", "not supported by m: no"), ("skipped", "x not provided"),
                            ("passed", None)):
        summary.add(pytest.TestReport(
            "t", ("t", 0, "t"), {}, outcome, None if reason is None else ("f", 1, reason),
            "call", user_properties=[("op", "mse"), ("reference", "numeric")]))
    assert summary.totals() == {"cases": 3, "passed": 1, "failed": 0, "conventions": 0,
                                "variants": 0, "unsupported": 1, "skipped": 1}
    assert "1 not supported" in summary.table()[2]



def test_the_summary_table_has_one_order_whatever_order_the_reports_arrive_in() -> None:
    """Rows in catalog order, columns contracts then the references: the main job's report
    does not change between runs because xdist's reports arrived in another order."""
    cells = [("tanh", "numeric"), ("relu", "jax"), ("tanh", "contracts"), ("relu", "torch"),
             ("mse", "autograd"), ("tanh", "impl convention")]
    tables = []
    for order in (cells, cells[::-1]):
        summary = Summary()
        for op, ref in order:
            summary.add(pytest.TestReport("t", ("t", 0, "t"), {}, "passed", None, "call",
                                          user_properties=[("op", op), ("reference", ref)]))
        tables.append(summary.table())
    assert tables[0] == tables[1]
    assert tables[0][0] == "| op | contracts | torch | jax | autograd | numeric | impl convention |"
    assert [line.split(" |")[0] for line in tables[0][2:]] == ["| relu", "| tanh", "| mse"]


# -- declared ops -------------------------------------------------------------------------------
@NEEDS_TORCH
def test_declared_ops_are_checked_and_supports_honoured() -> None:
    right = gradverify.check(USER / "declared_right.py", references=("torch", "numeric"))
    assert right.passed, str(right)
    ops = {r.op for r in right.records}
    assert {"swish", "scaled_tanh", "mse"} <= ops
    swish_refs = {r.reference for r in right.records if r.op == "swish" and r.outcome == "passed"}
    assert swish_refs == {"torch", "numeric"}  # autograd not asked for, jax not defined
    tanh_refs = {r.reference for r in right.records if r.op == "scaled_tanh"}
    assert tanh_refs == {"numeric"}  # no framework's version: finite differences only
    shapes = {r.case.split("-")[3] for r in right.records
              if r.op == "swish" and r.outcome == "unsupported"}
    assert shapes == {"5"}  # GRADVERIFY_SUPPORTS: 2-D only
    assert right.verdicts()["scaled_tanh_backward"].startswith("ok (")

    wrong = gradverify.check(USER / "declared_wrong.py", references=("torch", "numeric"))
    assert {r.function for r in wrong.failures} == {"swish_backward"}
    assert all("beta=2.0" in r.case for r in wrong.failures)  # β = 1 hides the mistake
    assert "the formula is wrong" in wrong.failures[0].diagnosis


@NEEDS_TORCH
def test_declared_ops_leave_the_references_as_they_were() -> None:
    from gradverify import reference
    gradverify.check(USER / "declared_right.py", ops=["swish"], references=("numeric",))
    assert "swish" not in reference.get("numeric", "cpu").ops
    assert "swish" not in reference.get("torch", "cpu").ops


# -- gradcheck ----------------------------------------------------------------------------------
def swish(x, beta=1.0):
    return x / (1 + np.exp(-beta * x))


def swish_backward(g, x, beta=1.0):
    s = 1 / (1 + np.exp(-beta * x))
    return g * (s + beta * x * s * (1 - s))


def swish_backward_wrong(g, x, beta=1.0):
    s = 1 / (1 + np.exp(-beta * x))
    return g * s * (1 + x * (1 - s))  # β dropped from the second term


def swish_torch(x, beta=1.0):
    import torch

    return x * torch.sigmoid(beta * x)


@NEEDS_TORCH
def test_gradcheck_passes_a_right_backward_and_catches_a_wrong_one() -> None:
    x = np.random.default_rng(1).standard_normal((3, 4))
    right = gradverify.gradcheck(swish, swish_backward, x, beta=1.5, torch=swish_torch)
    assert right.passed, str(right)
    assert {(r.check, r.reference) for r in right.records} == {
        ("forward", "torch"), ("vjp", "torch"), ("jacobian", "torch"), ("vjp", "numeric"),
        ("jacobian", "numeric")}
    wrong = gradverify.gradcheck(swish, swish_backward_wrong, x, beta=1.5, torch=swish_torch)
    assert not wrong.passed
    assert {r.function for r in wrong.failures} == {"swish_backward"}
    assert {r.reference for r in wrong.failures} == {"torch", "numeric"}
    assert "float64" in wrong.failures[0].diagnosis


def test_gradcheck_leaves_kinks_out_with_the_reason() -> None:
    def hinge(x, y):
        return np.maximum(0, 1 - x * y).sum()

    def hinge_backward(g, x, y):
        return g * np.where(1 - x * y > 0, -y, 0.0)

    x, y = np.array([0.5, 1.0, -2.0, 3.0]), np.array([1.0, 1.0, 1.0, -1.0])  # x[1]·y[1] = 1
    report = gradverify.gradcheck(hinge, hinge_backward, x, y)
    assert report.passed, str(report)
    notes = [n for r in report.records for n in r.notes]
    assert notes and all("1 of 4 element(s) left out" in n for n in notes)
    assert "crossed a kink" in notes[0]


def test_gradcheck_several_inputs_and_a_wrong_number_of_gradients() -> None:
    def bilinear(x, w):
        return x @ w

    x, w = np.ones((2, 3)), np.arange(12.0).reshape(3, 4)
    ok = gradverify.gradcheck(bilinear, lambda g, x, w: (g @ w.T, x.T @ g), x, w, argnums=(0, 1))
    assert ok.passed, str(ok)
    bad = gradverify.gradcheck(bilinear, lambda g, x, w: g @ w.T, x, w, argnums=(0, 1))
    assert "returned 1 gradient(s), expected a tuple of 2 arrays" in bad.failures[0].verdict


# -- python -m gradverify -----------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gradverify", *args, "--references", "numeric"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


@pytest.mark.parametrize("name,code", [("deriv_right", 0), ("deriv_wrong", 1)])
def test_cli_exit_code(name: str, code: int) -> None:
    out = _cli(str(USER / f"{name}.py"), "--ops", "tanh", "sigmoid")
    assert out.returncode == code, out.stdout + out.stderr
    verdict = next(line for line in out.stdout.splitlines() if "tanh_backward" in line)
    assert verdict.split()[1] == ("wrong" if code else "ok"), out.stdout


def test_cli_usage_error() -> None:
    out = _cli("no/such/file.py")
    assert out.returncode == 2
    assert out.stderr.strip() == "gradverify: error: no/such/file.py: no such file"


def test_import_stays_light() -> None:
    code = ("import sys, gradverify; heavy = {'torch', 'jax', 'autograd', 'pytest', 'tests'}; "
            "print(sorted(heavy & set(sys.modules)), gradverify.OpSpec.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert out.stdout.split() == ["[]", "OpSpec"], out.stderr
