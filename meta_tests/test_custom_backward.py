"""``gradverify.check_function`` on the custom backward passes of
examples/engines/custom_functions.py: the correct ones pass in float32 and float64 against
autodiff of their own forward (and jax/autograd from the NumPy version), each wrong one is
caught by the check that names its mistake, and the report reads as the others."""

from __future__ import annotations

import json

import numpy as np
import pytest

import gradverify
from examples.engines.mistakes import ENGINE_MISTAKES, B, W, X, first_failure
from gradverify.testing import GradverifyFailure, assert_function

torch = pytest.importorskip("torch", reason="the torch.autograd.Function cases need torch")
jax = pytest.importorskip("jax", reason="the jax.custom_vjp cases need jax")
from examples.engines import custom_functions as cf  # noqa: E402

FUNCTION_MISTAKES = ENGINE_MISTAKES[5:]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def test_correct_torch_functions_pass_in_both_dtypes() -> None:
    report = gradverify.check_function(cf.Swish, X, 1.5, numpy=cf.swish_numpy)
    assert report.passed, str(report)
    vjp = {(r.reference, r.case) for r in report.records if r.check == "vjp"}
    assert vjp == {(ref, d) for ref in ("torch", "jax", "autograd")
                   for d in ("float32", "float64")}
    checks = {r.check for r in report.records}
    assert {"gradients", "linear", "in-place"} <= checks
    affine = gradverify.check_function(cf.Affine, X, W, B, double_backward=True)
    assert affine.passed and sum(r.check == "double backward" for r in affine.records) == 6


def test_ignores_grad_output_is_named() -> None:
    report = gradverify.check_function(cf.SwishIgnoresGrad, X, 1.5)
    lin = [r for r in report.failures if r.check == "linear"]
    assert {r.case for r in lin} == {"float32", "float64"}
    assert lin[0].verdict.startswith("ignores grad_output: the gradient of `x`")


def test_missing_term_is_a_wrong_value_with_the_expected_derivative() -> None:
    report = gradverify.check_function(cf.SwishMissingTerm, X, 1.5, numpy=cf.swish_numpy,
                                       dtypes=("float64",))
    assert {r.check for r in report.failures} == {"vjp"}  # linear, right structure
    rec = first_failure(report, "vjp")
    assert "disagrees with autodiff of its forward" in rec.verdict
    idx = tuple(int(i) for i in rec.diagnosis.split("worst element [")[1].split("]")[0]
                .split(", "))
    s = _sigmoid(1.5 * X)
    g = np.random.default_rng(0).standard_normal(X.shape)  # the check's cotangent (seed 0)
    right, wrong = g * (s + 1.5 * X * s * (1 - s)), g * s
    assert f"expected {gradverify.diagnose.fmt(right[idx])}" in rec.diagnosis
    assert f"actual {gradverify.diagnose.fmt(wrong[idx])}" in rec.diagnosis
    assert {r.reference for r in report.failures} == {"torch", "jax", "autograd"}


def test_wrong_none_patterns() -> None:
    report = gradverify.check_function(cf.AffineNoBiasGrad, X, W, B)
    assert [r.verdict for r in report.failures][0].startswith(
        "wrong None pattern: returns None for b, which require(s) a gradient")

    class BetaGrad(cf.Swish):  # a gradient for beta, a Python float
        @staticmethod
        def backward(ctx, g):  # type: ignore[override]
            x, s = ctx.saved_tensors
            return g * (s + ctx.beta * x * s * (1 - s)), torch.ones(())

    rec = first_failure(gradverify.check_function(BetaGrad, X, 1.5), "gradients")
    assert "wrong None pattern" in rec.verdict and "position 2" in rec.verdict


def test_in_place_write_to_a_saved_tensor() -> None:
    class Square(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x.mul_(2)  # right value, but x is overwritten

    report = gradverify.check_function(Square, X)
    assert [r.check for r in report.failures] == ["in-place", "in-place"]
    assert "writes into a saved tensor in place" in report.failures[0].verdict


def test_double_backward_through_a_saved_constant() -> None:
    report = gradverify.check_function(cf.Swish, X, 1.5, double_backward=True)
    dbl = [r for r in report.failures if r.check == "double backward"]
    assert len(dbl) == 2 and "a tensor saved in forward is a constant" in dbl[0].diagnosis


def test_jax_custom_rules() -> None:
    good = gradverify.check_function(cf.swish_vjp, X, numpy=cf.swish_numpy,
                                     double_backward=True)
    assert good.passed and {r.reference for r in good.records} == {"jax", "autograd"}
    jvp = gradverify.check_function(cf.softplus_jvp, X)
    assert jvp.passed and any(r.check == "jvp" for r in jvp.records)
    ignores = gradverify.check_function(cf.swish_vjp_ignores_cotangent, X)
    assert first_failure(ignores, "linear").verdict.startswith("ignores grad_output")
    missing = gradverify.check_function(cf.swish_vjp_missing_term, X)
    assert {r.check for r in missing.failures} == {"vjp"}


@pytest.mark.parametrize("m", FUNCTION_MISTAKES, ids=[m.key for m in FUNCTION_MISTAKES])
def test_function_mistake_rows_are_caught(m) -> None:
    rec = first_failure(m.run(), m.check)
    assert rec is not None and m.cause in rec.verdict


def test_report_and_testing_helpers() -> None:
    report = gradverify.check_function(cf.SwishIgnoresGrad, X, 1.5, dtypes=("float64",))
    data = json.loads(report.to_json())
    assert data["passed"] is False and data["totals"]["failed"] == 2
    assert "FAILED [linear float64, torch] ignores grad_output" in str(report)
    assert "**failed**" in report._repr_markdown_()
    with pytest.raises(GradverifyFailure, match="ignores grad_output"):
        assert_function(cf.SwishIgnoresGrad, X, 1.5)
    assert assert_function(cf.Affine, X, W, B).passed
    with pytest.raises(TypeError, match="torch.autograd.Function"):
        gradverify.check_function(np.tanh, X)
