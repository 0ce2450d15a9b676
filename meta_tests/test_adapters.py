"""The adapters (``gradverify.adapters``): for each of the five shapes of gradient code, a right
user module passes every check, and a wrong one (one deliberate mistake) fails on exactly the
function with the mistake. Torch and finite differences only, to stay fast."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import gradverify
from gradverify import adapters

USER = Path(__file__).resolve().parent / "user_modules"
REFS = ("torch", "numeric")
#: these compare with torch (and need two references to agree): skipped without it
NEEDS_TORCH = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="torch is not installed: these checks compare with torch")

#: shape -> (the function the wrong module gets wrong, what its first failure must say)
SHAPES = {
    "cache": ("dense_backward", "wrong shape: got (2, 3), expected (3, 2) (the transpose?)"),
    "layer": ("dense_backward", "a mean where a sum is expected?"),
    "attrs": ("sigmoid_backward", "the formula is wrong"),
    "deriv": ("tanh_backward", "the formula is wrong"),
    "loss": ("softmax_cross_entropy_backward", "a missing 1/3 (the mean's 1/N?)"),
}


@pytest.fixture(scope="module")
def reports() -> dict[str, gradverify.Report]:
    return {}


def _report(reports: dict, name: str) -> gradverify.Report:
    if name not in reports:
        reports[name] = gradverify.check(USER / f"{name}.py", references=REFS)
    return reports[name]


@pytest.mark.parametrize("shape", SHAPES)
@NEEDS_TORCH
def test_right_module_passes(reports, shape: str) -> None:
    report = _report(reports, f"{shape}_right")
    assert report.passed, str(report)
    counts = report.totals()
    assert counts["passed"] >= 90 and counts["failed"] == 0
    assert all(v.startswith("ok (") for v in report.verdicts().values()), str(report)


@pytest.mark.parametrize("shape", SHAPES)
@NEEDS_TORCH
def test_wrong_module_fails_on_exactly_its_function(reports, shape: str) -> None:
    function, says = SHAPES[shape]
    report = _report(reports, f"{shape}_wrong")
    assert not report.passed
    assert {r.function for r in report.failures} == {function}, str(report)
    verdicts = report.verdicts()
    assert verdicts[function].startswith("wrong (")
    assert all(v.startswith("ok (") for f, v in verdicts.items() if f != function)
    assert any(says in r.diagnosis for r in report.failures), report.failures[0].diagnosis
    # the wrong module's other functions pass exactly the checks the right module's pass
    right = _report(reports, f"{shape}_right")
    assert len(report.records) == len(right.records)


@NEEDS_TORCH
def test_fixed_parameter_is_not_supported_not_wrong(reports) -> None:
    report = _report(reports, "loss_right")
    unsupported = [r for r in report.records if r.outcome == "unsupported"]
    assert unsupported and report.passed
    # the module is loss_right (impl_under_test_loss_right when another test loaded it first)
    reasons = {r.verdict.split(": ", 1)[1] for r in unsupported if r.op == "mse"}
    assert reasons == {"mse_loss implements reduction='mean' only; the case uses "
                       "reduction='sum'"}
    declared = {r.verdict for r in unsupported if r.op.startswith("softmax_cross_entropy[one")}
    assert len(declared) == 1 and declared.pop().endswith(
        "loss_right: variant='one_hot' (it supports variant in ['int_labels'])")
    assert all(r.verdict.startswith("not supported by ") for r in unsupported)
    assert "not supported" in str(report)
    assert f"{len(unsupported)} not supported" in report.summary_line()


# -- parameters ---------------------------------------------------------------------------------
def test_cache_pair_maps_parameters() -> None:
    seen = []

    def fwd(x, w, hp):
        seen.append(hp)
        return x * hp["scale"], (x, hp)

    def bwd(dout, cache):
        return dout * cache[1]["scale"]

    f, f_backward = adapters.cache_pair(fwd, bwd, params={"factor": "scale"}, pack="hp",
                                        extra={"mode": "train"}, order=(0, 1))
    x = np.arange(3.0)
    assert np.array_equal(f(x, None, factor=2.0), 2 * x)
    assert seen[-1] == {"scale": 2.0, "mode": "train"}
    assert f.__name__ == "fwd" and f_backward.__name__ == "bwd"
    assert f.__module__ == __name__


def test_cache_pair_reorders_inputs_and_gradients() -> None:
    def fwd(x, beta, gamma):  # the user's order; impl's is (x, gamma, beta)
        return gamma * x + beta, (x, gamma)

    def bwd(dout, cache):
        x, gamma = cache
        return dout * gamma, dout.copy(), dout * x  # (dx, dbeta, dgamma)

    f, f_backward = adapters.cache_pair(fwd, bwd, order=(0, 2, 1))
    x, gamma, beta = np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array([5.0, 6.0])
    assert np.array_equal(f(x, gamma, beta), gamma * x + beta)
    dx, dgamma, dbeta = f_backward(np.ones(2), x, gamma, beta)
    assert np.array_equal(dx, gamma) and np.array_equal(dgamma, x)
    assert np.array_equal(dbeta, np.ones(2))


def test_layer_reads_a_grads_list_filled_in_place() -> None:
    class Scale:
        def __init__(self, w):
            self.w, self.grads = w, [np.zeros_like(w)]

        def forward(self, x):
            self.x = x
            return x * self.w

        def backward(self, dout):
            self.grads[0] += (dout * self.x).sum(axis=0)
            return dout * self.w

    f, f_backward = adapters.layer(Scale, grads=lambda obj: obj.grads)
    x, w = np.ones((2, 3)), np.arange(3.0)
    for _ in range(2):  # a fresh object per call: nothing accumulates between calls
        dx, dw = f_backward(np.ones((2, 3)), x, w)
        assert np.array_equal(dw, [2.0, 2.0, 2.0]) and np.array_equal(dx, np.tile(w, (2, 1)))
    assert f.__name__ == "Scale.forward"


# -- layouts ------------------------------------------------------------------------------------
def _dense_columns(x, w, b):
    """A user's dense layer with samples in columns: Z = W X + b, X (D, N), W (M, D)."""
    return w @ x + b[:, None]


def _dense_columns_backward(g, x, w, b):
    return w.T @ g, g @ x.T, g.sum(axis=1)


def _dense_columns_wrong(g, x, w, b):
    return w.T @ g, x @ g.T, g.sum(axis=1)  # dW transposed


@pytest.mark.parametrize("backward,ok", [(_dense_columns_backward, True),
                                         (_dense_columns_wrong, False)])
def test_samples_in_columns_checks_against_the_catalogs_rows(backward, ok: bool) -> None:
    f, f_backward = adapters.samples_in_columns((_dense_columns, backward), inputs=(0, 1))
    report = gradverify.check({"dense": f, "dense_backward": f_backward}, references=REFS)
    assert report.passed is ok, str(report)
    if not ok:
        assert {r.function for r in report.failures} == {"dense_backward"}
        assert "(the transpose?)" in report.failures[0].verdict


def test_channels_last_and_time_major_round_trip() -> None:
    rng = np.random.default_rng(0)
    c = rng.standard_normal(3)

    def nhwc(x):  # per-channel scale on the last axis, then a square
        return (x * c) ** 2

    def nhwc_backward(g, x):
        return 2 * g * (x * c) * c

    f, f_backward = adapters.channels_last((nhwc, nhwc_backward))
    x = rng.standard_normal((2, 3, 4, 5))  # N, C, H, W
    assert np.allclose(f(x), (x * c[:, None, None]) ** 2)
    assert gradverify.gradcheck(f, f_backward, x[:1, :, :2, :2]).passed

    def tnd(x):  # a running sum over time, axis 0 of (T, N, D)
        return np.cumsum(x, axis=0)

    def tnd_backward(g, x):
        return np.cumsum(g[::-1], axis=0)[::-1]

    f, f_backward = adapters.time_major((tnd, tnd_backward))
    x = rng.standard_normal((2, 4, 3))  # N, T, D
    assert np.allclose(f(x), np.cumsum(x, axis=1))
    report = gradverify.gradcheck(f, f_backward, x)
    assert report.passed and report.totals()["passed"] == 2  # VJP and Jacobian
