"""A catalog of real gradient mistakes, each a few lines with one sentence saying what is wrong.

Every entry replaces one function of ``impl``'s API. ``mistakes.<key>`` is importable as a
module that is ``impl`` with that one function swapped in, so the whole suite can be pointed at
it: ``pytest --impl mistakes.tanh_of_square``. ``meta_tests/test_mistakes.py`` proves each one
is caught on exactly the cases of the function it replaces, and ``docs/MISTAKES.md``
(``python -m tools.mistakes_doc``) shows the message the suite prints for it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np

from gradverify.impl import sigmoid, softmax


@dataclass(frozen=True)
class Mistake:
    key: str  # unique name of the mistake
    replaces: str  # the impl function it replaces
    source: str  # where it comes from
    what: str  # one sentence: what the mistake is
    fn: Callable
    #: other impl functions it replaces too (keyword-only: subclasses add positional fields)
    also: tuple[tuple[str, Callable], ...] = field(default=(), kw_only=True)

    @property
    def op(self) -> str:
        for suffix in ("_backward", "_jacobian", "_jvp", "_hessian", "_hvp"):
            if self.replaces.endswith(suffix):
                return self.replaces.removesuffix(suffix)
        return self.replaces

    @property
    def module(self) -> str:
        """The importable name of impl with this mistake (for ``--impl``)."""
        return f"{__name__}.{self.key}"


MISTAKES: list[Mistake] = []


def mistake(replaces: str, source: str, what: str,
            also: tuple[tuple[str, Callable], ...] = ()) -> Callable[[Callable], Callable]:
    def register(fn: Callable) -> Callable:
        MISTAKES.append(Mistake(fn.__name__, replaces, source, what, fn, also=also))
        return fn
    return register


# -- from the seeds --------------------------------------------------------------------------
@mistake("tanh_backward", "seed 004", "The tanh gradient is computed as 1 − tanh(z²) "
         "instead of 1 − tanh(z)².")
def tanh_of_square(grad_out, z):
    return grad_out * (1 - np.tanh(z**2))


@mistake("softmax", "seed 004", "softmax divides by the sum over the whole array instead of "
         "the sum over the class axis.")
def softmax_whole_array(z, axis=-1):
    e = np.exp(z - z.max())
    return e / e.sum()


@mistake("softmax_backward", "seed 004 (its backward)", "The softmax VJP's Σ g·s is summed "
         "over the whole array instead of along the axis.")
def softmax_backward_whole_array(grad_out, z, axis=-1):
    s = softmax(z, axis)
    return s * (grad_out - np.sum(grad_out * s))


@mistake("softmax", "Park, Python Code 1", "softmax hard-codes the axis (Park's code sums over "
         "axis=1, the rows), which is wrong for samples in columns (axis=0).")
def softmax_axis1(z, axis=-1):
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


@mistake("mse_backward", "Park, sec. 1 (a famous course's dZ)", "The gradient of a mean "
         "misses its 1/N: 2(ŷ − y) instead of 2(ŷ − y)/N.")
def mse_missing_mean(grad_out, y_pred, y_true, reduction="mean"):
    return (2 * grad_out * (y_pred - y_true)).astype(y_pred.dtype)


@mistake("l2_backward", "Park, eq. (30)", "Park's cost J = (1/N) Σ ½‖o − y‖² differentiated "
         "without the 1/N: dZ = O − Y.")
def l2_missing_mean(grad_out, y_pred, y_true):
    return (grad_out * (y_pred - y_true)).astype(y_pred.dtype)


@mistake("softmax_cross_entropy_backward", "Park, Theorem 6.1", "δ = o − y is the gradient "
         "for one sample; the mean over N samples needs (o − y)/N.")
def sce_missing_mean(grad_out, logits, y_true, reduction="mean"):
    t = np.eye(logits.shape[-1], dtype=logits.dtype)[y_true] if np.issubdtype(
        np.asarray(y_true).dtype, np.integer) else y_true
    return (grad_out * (softmax(logits) - t)).astype(logits.dtype)


# -- the classics ----------------------------------------------------------------------------
@mistake("dense_backward", "classic", "The weight gradient is transposed: Gᵀ X "
         "(n_out, n_in) instead of Xᵀ G (n_in, n_out).")
def dense_dw_transposed(grad_out, x, w, b):
    return grad_out @ w.T, grad_out.T @ x, grad_out.sum(axis=0)


@mistake("dense_backward", "classic", "The bias gradient is summed over the features "
         "(axis 1) instead of over the samples (axis 0).")
def dense_db_wrong_axis(grad_out, x, w, b):
    return grad_out @ w.T, x.T @ grad_out, grad_out.sum(axis=1)


@mistake("dense_colmajor_backward", "Park, samples in columns", "With samples in columns the "
         "bias gradient is a row sum; summing the columns gives a (1, N) row.")
def colmajor_db_wrong_axis(grad_out, x, w, b):
    return w.T @ grad_out, grad_out @ x.T, grad_out.sum(axis=0, keepdims=True)


@mistake("dense_backward", "classic", "The backward returns (dx, dw) and forgets the bias "
         "gradient.")
def dense_two_gradients(grad_out, x, w, b):
    return grad_out @ w.T, x.T @ grad_out


@mistake("sigmoid_backward", "classic", "The upstream gradient is forgotten: σ(1 − σ) "
         "instead of g ⊙ σ(1 − σ).")
def sigmoid_no_upstream(grad_out, z):
    s = sigmoid(z)
    return s * (1 - s)


@mistake("bce_with_logits_backward", "classic", "A sign error: (y − σ(z))/n instead of "
         "(σ(z) − y)/n.")
def bce_logits_sign(grad_out, logits, y_true, reduction="mean"):
    n = logits.size if reduction == "mean" else 1
    return (grad_out * (y_true - sigmoid(logits)) / n).astype(logits.dtype)


@mistake("mae_backward", "classic", "The residual is taken the other way round: "
         "sign(y − ŷ) instead of sign(ŷ − y).")
def mae_sign(grad_out, y_pred, y_true, reduction="mean"):
    n = y_pred.size if reduction == "mean" else 1
    return (grad_out * np.sign(y_true - y_pred) / n).astype(y_pred.dtype)


@mistake("leaky_relu_backward", "classic", "The negative_slope parameter is ignored "
         "(0.01 hard-coded).")
def leaky_slope_ignored(grad_out, z, negative_slope=0.01):
    return (grad_out * np.where(z > 0, 1.0, 0.01)).astype(z.dtype)


@mistake("elu_backward", "classic", "alpha is ignored: the negative branch's derivative is "
         "exp(z) instead of alpha·exp(z).")
def elu_alpha_ignored(grad_out, z, alpha=1.0):
    return (grad_out * np.where(z > 0, 1.0, np.exp(np.minimum(z, 0)))).astype(z.dtype)


@mistake("huber_backward", "classic", "delta is ignored: the gradient is clipped at ±1 "
         "whatever delta is.")
def huber_delta_ignored(grad_out, y_pred, y_true, delta=1.0, reduction="mean"):
    n = y_pred.size if reduction == "mean" else 1
    return (grad_out * np.clip(y_pred - y_true, -1, 1) / n).astype(y_pred.dtype)


@mistake("gelu_backward", "classic", "approximate is ignored: the exact GELU derivative is "
         "returned for the tanh form too.")
def gelu_approximate_ignored(grad_out, z, approximate="none"):
    from scipy.special import ndtr
    pdf = np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)
    return (grad_out * (ndtr(z) + z * pdf)).astype(z.dtype)


@mistake("sigmoid_backward", "classic", "Computed in float32 and cast back: right to 1e-7, "
         "wrong at float64's precision.")
def sigmoid_in_float32(grad_out, z):
    s = sigmoid(z.astype(np.float32))
    return (grad_out.astype(np.float32) * s * (1 - s)).astype(z.dtype)


@mistake("tanh_backward", "classic", "Returns float32 for float64 input (a float32 "
         "temporary leaks into the result).")
def tanh_returns_float32(grad_out, z):
    return (grad_out * (1 - np.tanh(z) ** 2)).astype(np.float32)


@mistake("softmax_backward", "classic", "softmax treated as elementwise: g ⊙ s(1 − s), the "
         "Jacobian's diagonal only, forgetting the −s sᵀ part.")
def softmax_diagonal_only(grad_out, z, axis=-1):
    s = softmax(z, axis)
    return grad_out * s * (1 - s)


@mistake("log_softmax_backward", "classic", "The normaliser's term is dropped: g instead of "
         "g − softmax(z) Σg.")
def log_softmax_identity(grad_out, z, axis=-1):
    return np.array(grad_out, dtype=z.dtype)


@mistake("silu_backward", "classic", "The product rule is forgotten: silu'(z) = σ(z) instead "
         "of σ(z)(1 + z(1 − σ(z))).")
def silu_no_product_rule(grad_out, z):
    return grad_out * sigmoid(z)


@mistake("bce_backward", "classic", "Only the y·log p term is differentiated: −y/p, "
         "forgetting (1 − y)/(1 − p).")
def bce_half(grad_out, y_pred, y_true, reduction="mean"):
    n = y_pred.size if reduction == "mean" else 1
    return (-grad_out * y_true / y_pred / n).astype(y_pred.dtype)


@mistake("relu_backward", "classic", "The mask is inverted: the gradient passes where z < 0.")
def relu_inverted_mask(grad_out, z):
    return (grad_out * (z < 0)).astype(z.dtype)


@mistake("softplus_backward", "classic", "softplus' taken as σ'(z) = σ(1 − σ) instead of σ(z).")
def softplus_wrong_derivative(grad_out, z):
    s = sigmoid(z)
    return grad_out * s * (1 - s)


@mistake("cross_entropy_backward", "classic", "The targets are dropped: −1/p everywhere "
         "instead of −y/p.")
def cross_entropy_no_targets(grad_out, probs, y_true, reduction="mean"):
    n = probs.shape[0] if probs.ndim > 1 and reduction == "mean" else 1
    return (-grad_out / probs / n).astype(probs.dtype)


@mistake("relu_backward", "classic", "Raises instead of computing (a typo'd name): the case "
         "fails with the function's own message.")
def relu_raises(grad_out, z):
    return grad_out * (z > 0).astype(z.dytpe)


from . import causes, layers_conv, layers_norm  # noqa: E402,F401  (they register themselves)

BY_KEY = {m.key: m for m in MISTAKES}
assert len(BY_KEY) == len(MISTAKES), "mistake names must be unique"
from . import contracts  # noqa: E402,F401  (CONTRACT_MISTAKES: in BY_KEY, not MISTAKES)


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes ``import mistakes.<key>`` give impl with that mistake swapped in."""

    def find_spec(self, fullname, path, target=None):  # type: ignore[no-untyped-def]
        package, _, key = fullname.rpartition(".")
        if package != __name__ or key not in BY_KEY:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec):  # type: ignore[no-untyped-def]
        return None

    def exec_module(self, module: ModuleType) -> None:
        from gradverify import impl
        m = BY_KEY[module.__name__.rpartition(".")[2]]
        module.__dict__.update({k: getattr(impl, k) for k in impl.__all__})
        module.__doc__ = f"impl with one mistake: {m.what}"
        setattr(module, m.replaces, m.fn)
        for name, fn in getattr(m, "also", ()):
            setattr(module, name, fn)


if not any(isinstance(f, _Finder) for f in sys.meta_path):
    sys.meta_path.append(_Finder())
