"""The object-style adapters (``gradverify.adapters_objects``, re-exported by
``gradverify.adapters``): for each shape a right user module passes every matrix check and a
wrong one (one deliberate mistake) fails on exactly the function with the mistake, caught for
the reason the shape is about; then each adapter's mechanics, and errors raised in a user's
constructor. Torch and finite differences only, to stay fast."""

from __future__ import annotations

import copy
import importlib.util
import traceback
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import gradverify
from gradverify import adapters, impl
from gradverify.adapters import (
    ConstructorError,
    RecordingOptimizer,
    activation,
    dropout_layer,
    elementwise_loss,
    layer_lists,
    loss_layer,
    optimizer_layer,
)

USER = Path(__file__).resolve().parent / "user_modules"
REFS = ("torch", "numeric")
MATRIX = ("forward", "vjp", "jacobian")
NEEDS_TORCH = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="torch is not installed: these checks compare with torch")

#: shape -> (the function the wrong module gets wrong, what one of its failures must say)
SHAPES = {
    "losslayer": ("softmax_cross_entropy_backward", "max abs err"),
    "act": ("elu_backward", "the formula is wrong"),
    "elemloss": ("bce_backward", "the formula is wrong"),
    "optim": ("dense_backward", "wrong shape: got (2, 3), expected (3, 2) (the transpose?)"),
    "lists": ("dense_backward", "Affine.backward replaced grads[1] instead of writing into it"),
    "dropout": ("dropout_backward", "whose expected value is 0"),
}
#: failures a right module may have because impl itself has them (seed 0): the special value
#: "bce at p = 0 and 1 (targets disagree)" fails impl's own bce_backward against torch too
#: (-2.5e11 on both sides, outside an allowance of 25); not the adapter's business
IMPL_TOO = {("bce_backward", "special")}


@pytest.fixture(scope="module")
def reports() -> dict[str, gradverify.Report]:
    return {}


def _module(name: str) -> ModuleType:
    """The user module, imported here: checked in this process (a path would be checked in a
    worker process, ~3 s more each; ``test_through_a_worker_process`` takes that route)."""
    spec = importlib.util.spec_from_file_location(f"obj_{name}", USER / f"obj_{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _report(reports: dict, name: str) -> gradverify.Report:
    if name not in reports:
        reports[name] = gradverify.check(_module(name), references=REFS)
    return reports[name]


def _failed(report: gradverify.Report) -> list:
    return [r for r in report.records if r.outcome == "failed"]


@pytest.mark.parametrize("shape", SHAPES)
@NEEDS_TORCH
def test_right_module_passes(reports, shape: str) -> None:
    report = _report(reports, f"{shape}_right")
    matrix = [r for r in report.records if r.check in MATRIX]
    assert len([r for r in matrix if r.outcome == "passed"]) >= 20, str(report)
    assert {r.outcome for r in matrix} <= {"passed", "unsupported", "skipped"}, str(report)
    others = [r for r in _failed(report) if (r.function, r.check) not in IMPL_TOO]
    assert not others, "\n".join(r.verdict for r in others)


@pytest.mark.parametrize("shape", SHAPES)
@NEEDS_TORCH
def test_wrong_module_fails_on_exactly_its_function(reports, shape: str) -> None:
    function, says = SHAPES[shape]
    report = _report(reports, f"{shape}_wrong")
    failed = [r for r in _failed(report) if (r.function, r.check) not in IMPL_TOO]
    assert {r.function for r in failed} == {function}, str(report)
    assert any(r.check in MATRIX for r in failed)
    assert any(says in r.diagnosis or says in r.verdict for r in failed), failed[0].diagnosis
    right = _report(reports, f"{shape}_right")
    assert len(report.records) == len(right.records)


@NEEDS_TORCH
def test_through_a_worker_process(reports) -> None:
    """By path, the module runs in gradverify's worker process: the same messages come back
    (the worker names the function by impl's name, dense_backward, not Affine.backward)."""
    report = gradverify.check(USER / "obj_lists_wrong.py", references=REFS, ops=["dense"])
    here = _report(reports, "lists_wrong")

    def messages(rep: gradverify.Report) -> set[str]:
        return {r.verdict.split(" raised ", 1)[1] for r in _failed(rep) if r.op == "dense"}

    assert messages(report) == messages(here)
    assert "replaced grads[1] instead of writing into it" in _failed(report)[0].verdict


@NEEDS_TORCH
def test_a_loss_layer_that_ignores_dout_fails_only_where_g_is_not_1(reports) -> None:
    """The Jacobian of a scalar loss is built with g = 1, so only the VJP (random g) and the
    linearity contract can catch it: exactly what today's loss_with_grad would hide."""
    failed = _failed(_report(reports, "losslayer_wrong"))
    matrix = {r.check for r in failed if r.check in MATRIX}
    assert matrix == {"vjp"}, matrix
    assert all("reduction=mean" in r.case for r in failed if r.check == "vjp")


@NEEDS_TORCH
def test_the_ops_parameters_reach_the_constructor(reports) -> None:
    """ELU's mistake (+1 where +alpha) is invisible at the default alpha = 1: every failing
    matrix case is one with alpha=0.5."""
    failed = [r for r in _failed(_report(reports, "act_wrong")) if r.check in MATRIX]
    assert failed and all("alpha=0.5" in r.case for r in failed), [r.case for r in failed]


# -- loss_layer ---------------------------------------------------------------------------------
class _MeanSquare:
    def forward(self, y, t):
        self.r = y - t
        return np.mean(self.r**2)

    def backward(self, dout=1):
        return dout * 2 * self.r / self.r.size


def test_loss_layer_passes_the_cotangent_as_dout() -> None:
    y, t = np.array([1.0, -2.0, 0.5]), np.array([0.0, 1.0, 1.0])
    f, f_backward = loss_layer(_MeanSquare)
    assert f(y, t) == pytest.approx(impl.mse(y, t))
    assert np.allclose(f_backward(np.asarray(2.5), y, t), impl.mse_backward(2.5, y, t))
    assert f.__name__ == "_MeanSquare.forward" and f_backward.__name__ == "_MeanSquare.backward"

    class Keyword(_MeanSquare):
        def backward(self, *, upstream=1):
            return super().backward(upstream)

    _, by_name = loss_layer(Keyword, dout="upstream")
    assert np.allclose(by_name(np.asarray(0.5), y, t), impl.mse_backward(0.5, y, t))


# -- activation ---------------------------------------------------------------------------------
class _Leaky:
    def __init__(self, alpha=0.2):
        self.alpha = alpha

    def __call__(self, x):
        return np.where(x > 0, x, self.alpha * x)

    def gradient(self, x):
        return np.where(x > 0, 1.0, self.alpha)


def test_activation_defaults_give_the_catalogs_values() -> None:
    x = np.array([-2.0, -0.5, 1.5])
    own, _ = activation(_Leaky, params={"negative_slope": "alpha"})
    assert np.allclose(own(x), [-0.4, -0.1, 1.5])  # the constructor's 0.2, not torch's 0.01
    f, f_backward = activation(_Leaky, params={"negative_slope": "alpha"}, defaults="leaky_relu")
    assert np.allclose(f(x), impl.leaky_relu(x))
    g = np.array([1.0, 2.0, 3.0])
    assert np.allclose(f_backward(g, x), impl.leaky_relu_backward(g, x))
    assert np.allclose(f_backward(g, x, negative_slope=0.3), [0.3, 0.6, 3.0])
    with pytest.raises(ValueError, match="impl has no op 'no_such_op'"):
        activation(_Leaky, defaults="no_such_op")[0](x)
    with pytest.raises(ValueError, match="of must be"):
        activation(_Leaky, of="outputs")


# -- elementwise_loss ---------------------------------------------------------------------------
def _half_square(y, p):
    return 0.5 * (y - p) ** 2


def _half_square_grad(y, p):
    return p - y


def test_elementwise_loss_reduces_and_keeps_the_declared_order() -> None:
    rng = np.random.default_rng(1)
    p, t = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    g = np.asarray(1.7)
    l2, l2_backward = elementwise_loss(_half_square, _half_square_grad, order="targets_first",
                                       mean_over="rows")
    assert l2(p, t) == pytest.approx(impl.l2(p, t))
    assert np.allclose(l2_backward(g, p, t), impl.l2_backward(g, p, t))
    mse, mse_backward = elementwise_loss(lambda a, b: 2 * _half_square(a, b),
                                         lambda a, b: 2 * _half_square_grad(a, b),
                                         order="targets_first")
    for reduction in ("mean", "sum"):
        assert mse(p, t, reduction=reduction) == pytest.approx(impl.mse(p, t, reduction))
        assert np.allclose(mse_backward(g, p, t, reduction=reduction),
                           impl.mse_backward(g, p, t, reduction))
    swapped = elementwise_loss(_half_square, _half_square_grad, order="predictions_first",
                               mean_over="rows")[1]
    assert np.allclose(swapped(g, p, t), -impl.l2_backward(g, p, t))  # the order matters
    with pytest.raises(TypeError):
        elementwise_loss(_half_square, _half_square_grad)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="order must be one of"):
        elementwise_loss(_half_square, _half_square_grad, order="targets")
    with pytest.raises(NotImplementedError, match="reduction='none'"):
        mse(p, t, reduction="none")


# -- optimizer_layer ----------------------------------------------------------------------------
class _Dense:
    def __init__(self, n_units, input_shape=None):
        self.n_units, self.input_shape, self.seen = n_units, input_shape, None

    def initialize(self, optimizer):
        self.W = np.zeros((self.input_shape[0], self.n_units))
        self.w0 = np.zeros((1, self.n_units))
        self.W_opt, self.w0_opt = copy.copy(optimizer), copy.copy(optimizer)

    def forward_pass(self, X, training=True):
        self.X = X
        return X @ self.W + self.w0

    def backward_pass(self, accum_grad):
        W = self.W
        self.w0 = self.w0_opt.update(self.w0, accum_grad.sum(axis=0, keepdims=True))
        self.W = self.W_opt.update(self.W, self.X.T @ accum_grad)  # in the other order
        return accum_grad @ W.T

    def output_shape(self):
        return (self.n_units,)


def _dense_case():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    return rng.standard_normal((4, 2)), x, w, b


def _make(cls):
    return lambda W, w0, **kw: cls(W.shape[1], **kw)


def test_optimizer_layer_collects_what_the_optimizer_is_handed() -> None:
    g, x, w, b = _dense_case()
    f, f_backward = optimizer_layer(_make(_Dense), ("W", "w0"))
    assert np.allclose(f(x, w, b), impl.dense(x, w, b))
    for got, want in zip(f_backward(g, x, w, b), impl.dense_backward(g, x, w, b), strict=True):
        assert got.shape == want.shape and np.allclose(got, want)  # w0's (1, 2) back to (2,)

    class UpdatedWeights(_Dense):  # dx from the weights after the step: wrong
        def backward_pass(self, accum_grad):
            super().backward_pass(accum_grad)
            return accum_grad @ self.W.T

    dx = optimizer_layer(_make(UpdatedWeights), ("W", "w0"))[1](g, x, w, b)[0]
    assert not np.allclose(dx, impl.dense_backward(g, x, w, b)[0])

    class Forgets(_Dense):
        def backward_pass(self, accum_grad):
            return accum_grad @ self.W.T

    with pytest.raises(ValueError, match=r"handed 0 gradient\(s\) for 2 parameter\(s\)"):
        optimizer_layer(_make(Forgets), ("W", "w0"))[1](g, x, w, b)

    class Misreports(_Dense):
        def output_shape(self):
            return (self.input_shape[0],)

    with pytest.raises(ValueError, match=r"output_shape\(\) is \(3,\), but forward_pass"):
        optimizer_layer(_make(Misreports), ("W", "w0"))[0](x, w, b)


def test_recording_optimizer_copies_share_the_record() -> None:
    opt = RecordingOptimizer()
    w, grad = np.ones(3), np.arange(3.0)
    stepped = copy.copy(opt).update(w, grad)
    assert np.array_equal(stepped, w - grad) and stepped is not w
    assert len(opt.log) == 1 and opt.log[0][0] == id(w) and np.array_equal(opt.log[0][1], grad)
    assert RecordingOptimizer(step=False).update(w, grad) is w
    assert RecordingOptimizer("step").step(w, grad.reshape(3, 1)) is w  # shapes differ: as is
    with pytest.raises(AttributeError):
        _ = RecordingOptimizer().step  # only the method it was given


# -- layer_lists --------------------------------------------------------------------------------
def test_layer_lists_follows_the_params_list_by_identity() -> None:
    class Reversed:  # params kept as [b, W]
        def __init__(self, W, b):
            self.params = [b, W]
            self.grads = [np.zeros_like(b), np.zeros_like(W)]

        def forward(self, x):
            b, W = self.params
            self.x = x
            return x @ W + b

        def backward(self, dout):
            b, W = self.params
            self.grads[0][...] = dout.sum(axis=0)
            self.grads[1][...] = self.x.T @ dout
            return dout @ W.T

    g, x, w, b = _dense_case()
    got = layer_lists(Reversed)[1](g, x, w, b)
    for a, e in zip(got, impl.dense_backward(g, x, w, b), strict=True):
        assert a.shape == e.shape and np.allclose(a, e)


# -- dropout_layer ------------------------------------------------------------------------------
class _KeepBelow:
    """CS231n style: p is the keep probability, mask = (rand < p) / p (inverted)."""

    def __init__(self, p=0.5):
        self.p = p

    def forward(self, x):
        self.mask = (np.random.rand(*x.shape) < self.p) / self.p
        return x * self.mask.astype(x.dtype)

    def backward(self, dout):
        return dout * self.mask.astype(dout.dtype)


@NEEDS_TORCH
def test_dropout_layer_with_a_keep_probability_passes() -> None:
    f, f_backward = dropout_layer(_KeepBelow, keep="below",
                                  params=lambda kw: {"p": 1 - kw["p"]})
    report = gradverify.check({"dropout": f, "dropout_backward": f_backward}, references=REFS)
    assert report.passed and report.totals()["passed"] >= 30, str(report)


def test_dropout_layer_fixes_the_draws_and_restores_numpy() -> None:
    rand = np.random.rand
    x, mask = np.arange(1.0, 7.0).reshape(2, 3), np.array([[1, 0, 1], [0, 0, 1]], float)
    f, _ = dropout_layer(_KeepBelow, keep="below", params=lambda kw: {"p": 1 - kw["p"]})
    assert np.allclose(f(x, mask, p=0.2), impl.dropout(x, mask, p=0.2))

    class OtherShape(_KeepBelow):
        def forward(self, x):
            np.random.rand(3)
            return x

    with pytest.raises(ValueError, match=r"drew random numbers of shape \(3,\)"):
        dropout_layer(OtherShape)[0](x, mask)
    assert np.random.rand is rand

    class Binomial:  # nnfs style: rate is the keep probability, results left on the layer
        def __init__(self, rate):
            self.rate = 1 - rate

        def forward(self, inputs):
            self.mask = np.random.binomial(1, self.rate, size=inputs.shape) / self.rate
            self.output = inputs * self.mask

        def backward(self, dvalues):
            self.dinputs = dvalues * self.mask

    f, f_backward = dropout_layer(Binomial, out="output", dx="dinputs",
                                  params={"p": "rate"})
    g = x[::-1].copy()
    assert np.allclose(f(x, mask), impl.dropout(x, mask))
    assert np.allclose(f_backward(g, x, mask, p=0.2), impl.dropout_backward(g, x, mask, p=0.2))
    with pytest.raises(ValueError, match="keep must be"):
        dropout_layer(_KeepBelow, keep="under")


# -- constructors -------------------------------------------------------------------------------
class Dense:
    def __init__(self, W, b):
        if b.ndim != 2:
            raise ValueError(f"b must be (1, n_out), got {b.shape}")
        self.W, self.b = W, b


def test_an_error_in_the_users_constructor_is_named_as_such() -> None:
    _, x, w, b = _dense_case()
    f, _ = adapters.layer(Dense, grads=("dW", "db"))
    with pytest.raises(ConstructorError) as info:
        f(x, w, b)
    assert str(info.value) == ("Dense(float64[3, 2], float64[2]) raised ValueError in its "
                               "constructor: b must be (1, n_out), got (2,)")
    assert isinstance(info.value.__cause__, ValueError)
    last = traceback.extract_tb(info.value.__traceback__)[-1]
    assert last.name == "__init__" and last.filename == __file__  # the user's line

    class Unsupported:
        def __init__(self, alpha):
            raise NotImplementedError("alpha != 1")

    with pytest.raises(NotImplementedError, match="alpha != 1"):
        activation(Unsupported, defaults="elu")[0](x)


@NEEDS_TORCH
def test_a_constructor_error_in_a_report() -> None:
    f, f_backward = adapters.layer(Dense, grads=("dW", "db"))
    report = gradverify.check({"dense": f, "dense_backward": f_backward}, references=("torch",),
                              ops=["dense"])
    verdicts = {r.verdict for r in _failed(report) if r.check in MATRIX}
    assert verdicts and all("raised ConstructorError: Dense(" in v and
                            "raised ValueError in its constructor: b must be (1, n_out)" in v
                            for v in verdicts), verdicts
