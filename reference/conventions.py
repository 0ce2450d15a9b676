"""Where the frameworks disagree: kinks and special values, declared as data in one place.

A *point* is one input where an op is not differentiable (a kink) or numerically extreme.
``measure(point, reference)`` returns what a reference computes there: for a kink, the
derivative at the marked element (a VJP with cotangent 1); for a special value, the forward
value and the gradient. ``DECLARED`` holds, per kink, the derivative each framework returned
when it was measured (with the framework versions in ``MEASURED_ON``) and the convention
``impl`` declares; a release that changes one makes the suite fail with a message saying so.
``docs/CONVENTIONS.md`` is generated from the same functions (``python -m tools.conventions``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: framework versions the declared values were measured on
MEASURED_ON = {"torch": "2.13.0+cpu", "jax": "0.10.2", "autograd": "1.9.1"}


@dataclass(frozen=True)
class Kink:
    """op's derivative w.r.t. input 0 at element 0 of ``inputs`` (the kink)."""

    label: str  # e.g. "relu'(0)"
    op: str
    inputs: tuple[tuple[float, ...], ...]  # float64 inputs, element 0 of input 0 on the kink
    params: dict[str, Any] = field(default_factory=dict)
    one_sided: tuple[float, float] = (0.0, 0.0)  # (left, right) derivative at the kink
    second: bool = False  # measure the second derivative (a kink of the gradient)

    @property
    def subgradients(self) -> tuple[float, float]:
        return (min(self.one_sided), max(self.one_sided))


def _k(label: str, op: str, z: float, left: float, right: float, **params: Any) -> Kink:
    return Kink(label, op, ((z, 0.5),), params, (left, right))


KINKS: tuple[Kink, ...] = (
    _k("relu'(0)", "relu", 0.0, 0.0, 1.0),
    _k("leaky_relu'(0), slope 0.01", "leaky_relu", 0.0, 0.01, 1.0),
    _k("leaky_relu'(0), slope 0.2", "leaky_relu", 0.0, 0.2, 1.0, negative_slope=0.2),
    _k("elu'(0), alpha 1", "elu", 0.0, 1.0, 1.0),
    _k("elu'(0), alpha 0.5", "elu", 0.0, 0.5, 1.0, alpha=0.5),
    _k("relu6'(0)", "relu6", 0.0, 0.0, 1.0),
    _k("relu6'(6)", "relu6", 6.0, 1.0, 0.0),
    _k("hardtanh'(-1)", "hardtanh", -1.0, 0.0, 1.0),
    _k("hardtanh'(1)", "hardtanh", 1.0, 1.0, 0.0),
    Kink("mae' at a zero residual (abs'(0)), sum", "mae", ((0.3, 1.2), (0.3, 0.1)),
         {"reduction": "sum"}, (-1.0, 1.0)),
    Kink("huber' at r = +delta, sum", "huber", ((1.5, 0.2), (0.5, 0.1)),
         {"reduction": "sum"}, (1.0, 1.0)),
    Kink("huber'' at r = +delta, sum", "huber", ((1.5, 0.2), (0.5, 0.1)),
         {"reduction": "sum"}, (1.0, 0.0), second=True),
    Kink("huber'' at r = -delta, delta 0.5, sum", "huber", ((0.0, 0.2), (0.5, 0.1)),
         {"reduction": "sum", "delta": 0.5}, (0.0, 1.0), second=True),
)

#: kink label -> {reference: derivative it returns there (measured on MEASURED_ON), "impl": the
#: convention impl declares}. Finite differences are not declared: a central difference at a
#: kink is the mean of the one-sided derivatives, and the suite checks exactly that.
DECLARED: dict[str, dict[str, float]] = {
    "relu'(0)": {"torch": 0.0, "jax": 0.0, "autograd": 0.5, "impl": 0.0},
    "leaky_relu'(0), slope 0.01": {"torch": 0.01, "jax": 1.0, "autograd": 0.01, "impl": 0.01},
    "leaky_relu'(0), slope 0.2": {"torch": 0.2, "jax": 1.0, "autograd": 0.2, "impl": 0.2},
    "elu'(0), alpha 1": {"torch": 1.0, "jax": 1.0, "autograd": 0.5, "impl": 1.0},
    "elu'(0), alpha 0.5": {"torch": 0.5, "jax": 0.5, "autograd": 0.25, "impl": 0.5},
    "relu6'(0)": {"torch": 0.0, "jax": 0.0, "autograd": 0.5, "impl": 0.0},
    "relu6'(6)": {"torch": 0.0, "jax": 0.0, "autograd": 0.5, "impl": 0.0},
    "hardtanh'(-1)": {"torch": 0.0, "jax": 1.0, "autograd": 0.0, "impl": 0.0},
    "hardtanh'(1)": {"torch": 0.0, "jax": 1.0, "autograd": 0.0, "impl": 0.0},
    "mae' at a zero residual (abs'(0)), sum": {"torch": 0.0, "jax": 1.0, "autograd": 0.0,
                                               "impl": 0.0},
    "huber' at r = +delta, sum": {"torch": 1.0, "jax": 1.0, "autograd": 1.0, "impl": 1.0},
    "huber'' at r = +delta, sum": {"torch": 1.0, "jax": 0.0, "autograd": 0.0, "impl": 0.0},
    "huber'' at r = -delta, delta 0.5, sum": {"torch": 1.0, "jax": 0.0, "autograd": 0.0,
                                              "impl": 0.0},
}

#: why a framework returns what it does at a kink (shown in docs/CONVENTIONS.md)
WHY: dict[str, str] = {
    "autograd": "autograd's np.maximum/np.minimum split the gradient of a tie in half; "
                "our autograd elu guards exp with np.minimum(z, 0), which ties at 0",
    "jax": "jax.nn.leaky_relu and hard_tanh use jnp.where(x >= ...), putting the kink on the "
           "linear side; jnp.abs'(0) = 1 (sign taken as +1)",
    "torch": "torch's huber double backward counts |r| = delta as inside (|r| <= delta)",
}


def measure_kink(kink: Kink, ref: Any) -> float:
    """The derivative a reference (``reference.get(name)``) returns at the kink."""
    inputs = [np.asarray(x, dtype=np.float64) for x in kink.inputs]
    if kink.second:
        h = ref.op_hessian(kink.op, kink.params, inputs)
        return float(np.asarray(h).reshape(inputs[0].size, inputs[0].size)[0, 0])
    out = ref.forward(kink.op, inputs, kink.params)
    grads = ref.op_vjp(kink.op, kink.params, inputs, np.ones(np.shape(out)), (0,))
    return float(np.asarray(grads[0]).reshape(-1)[0])


def measure_impl_kink(kink: Kink, module: Any) -> float:
    """The derivative the module under test (impl's API) returns at the kink."""
    inputs = [np.asarray(x, dtype=np.float64) for x in kink.inputs]
    if kink.second:
        h = getattr(module, f"{kink.op}_hessian")(*inputs, **kink.params)
        return float(np.asarray(h).reshape(inputs[0].size, inputs[0].size)[0, 0])
    out = getattr(module, kink.op)(*inputs, **kink.params)
    g = getattr(module, f"{kink.op}_backward")(np.ones(np.shape(out)), *inputs, **kink.params)
    return float(np.asarray(g).reshape(-1)[0])


# -- special values ------------------------------------------------------------------------
@dataclass(frozen=True)
class Special:
    """An op at numerically extreme inputs: forward value and gradient w.r.t. input 0."""

    label: str
    op: str
    make: Callable[[], tuple[np.ndarray, ...]]
    params: dict[str, Any] = field(default_factory=dict)
    dtype: str = "float64"


def _arr(*xs: Any, dtype: str = "float64") -> Callable[[], tuple[np.ndarray, ...]]:
    return lambda: tuple(np.asarray(x, dtype=dtype) for x in xs)


_BIG = [[-1000.0, 0.0, 1000.0], [1000.0, 999.0, -1000.0]]
_30 = [[-30.0, 0.0, 30.0], [30.0, 29.0, -30.0]]
_MASKED = [[0.5, -np.inf, 1.0], [-np.inf, -np.inf, -np.inf]]
_EDGE_P = [[0.0, 1.0, 0.5], [1.0, 0.0, 0.5]]
_T = [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]

SPECIALS: tuple[Special, ...] = (
    *(Special(f"{op} at ±1000", op, _arr(_BIG)) for op in
      ("softmax", "log_softmax", "sigmoid", "softplus", "silu", "tanh")),
    *(Special(f"{op} at ±30", op, _arr(_30)) for op in
      ("softmax", "log_softmax", "sigmoid", "softplus", "silu", "tanh")),
    Special("softmax_cross_entropy, logits ±1000", "softmax_cross_entropy",
            _arr(_BIG, [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])),
    Special("softmax_cross_entropy, logits ±30", "softmax_cross_entropy",
            _arr(_30, [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])),
    Special("bce_with_logits at ±1000", "bce_with_logits", _arr(_BIG, _T)),
    Special("bce_with_logits at ±30", "bce_with_logits", _arr(_30, _T)),
    Special("bce at p = 0 and 1 (targets agree)", "bce",
            _arr(_EDGE_P, [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])),
    Special("bce at p = 0 and 1 (targets disagree)", "bce", _arr(_EDGE_P, _T)),
    Special("cross_entropy at p = 0 where the target is 0", "cross_entropy",
            _arr([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])),
    Special("cross_entropy at p = 0 where the target is 1", "cross_entropy",
            _arr([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])),
    Special("softmax with -inf masked logits and a fully masked row", "softmax", _arr(_MASKED)),
    Special("log_softmax with -inf masked logits", "log_softmax", _arr(_MASKED[:1])),
    Special("float32 sigmoid/softplus near exp overflow (±88.7)", "softplus",
            _arr([[-88.7, 88.7, 89.0]], dtype="float32"), dtype="float32"),
    Special("float32 sigmoid near exp overflow (±88.7)", "sigmoid",
            _arr([[-88.7, 88.7, 89.0]], dtype="float32"), dtype="float32"),
    Special("float32 softmax of logits near float32 max", "softmax",
            _arr([[3.0e38, 1.0e38, -3.0e38]], dtype="float32"), dtype="float32"),
)


def cotangent_for(out: np.ndarray) -> np.ndarray:
    """A fixed, not-all-ones cotangent: 1, 2, 3, ... over the output (or 1.5 for a scalar)."""
    if np.ndim(out) == 0:
        return np.asarray(1.5, dtype=out.dtype)
    return (np.arange(np.size(out)).reshape(np.shape(out)) % 3 + 1).astype(out.dtype)


def measure_special(sp: Special, ref: Any) -> tuple[np.ndarray, np.ndarray]:
    """(forward value, VJP w.r.t. input 0) of a reference at a special point."""
    inputs = list(sp.make())
    with np.errstate(all="ignore"):
        out = np.asarray(ref.forward(sp.op, inputs, sp.params))
        grad = ref.op_vjp(sp.op, sp.params, inputs, cotangent_for(out), (0,))[0]
    return out, np.asarray(grad)


def measure_impl_special(sp: Special, module: Any) -> tuple[np.ndarray, np.ndarray]:
    inputs = list(sp.make())
    with np.errstate(all="ignore"):
        out = np.asarray(getattr(module, sp.op)(*inputs, **sp.params))
        grad = getattr(module, f"{sp.op}_backward")(cotangent_for(out), *inputs, **sp.params)
    return out, np.asarray(grad)


# -- the multiclass margin loss's hinge (issue 11) ---------------------------------------------
# max(0, margin − s_y + s_j) at 0: torch's multi_margin_loss counts a margin as active only when
# z > 0; jnp.maximum and autograd's np.maximum split a tie's gradient in half. Scores (C,) = one
# sample of C = 2 classes, label 1 (a float: every kink input is float64), margin 1, sum.
KINKS += (
    Kink("multi_margin' at the hinge, w.r.t. s_j (j ≠ y), sum", "multi_margin",
         ((0.5, 1.5), (1.0,)), {"reduction": "sum"}, (0.0, 0.5)),
    Kink("multi_margin' at the hinge, w.r.t. s_y, sum", "multi_margin",
         ((1.5, 0.5), (0.0,)), {"reduction": "sum"}, (-0.5, 0.0)),
)
DECLARED.update({
    "multi_margin' at the hinge, w.r.t. s_j (j ≠ y), sum": {"torch": 0.0, "jax": 0.25,
                                                            "autograd": 0.25, "impl": 0.0},
    "multi_margin' at the hinge, w.r.t. s_y, sum": {"torch": 0.0, "jax": -0.25,
                                                   "autograd": -0.25, "impl": 0.0},
})


# -- defaults that differ between frameworks (issue 11), rendered into docs/CONVENTIONS.md ----
@dataclass(frozen=True)
class Default:
    """A default of one op as each framework ships it, and how it was measured."""

    name: str
    values: dict[str, str]  # framework (or library) -> its default, as text
    how: str


DEFAULTS: tuple[Default, ...] = (
    Default("layer norm eps",
            {"torch": "1e-5 (F.layer_norm, nn.LayerNorm)", "jax": "1e-5 (jax.nn.standardize)",
             "flax": "1e-6 (flax.linen.LayerNorm)"},
            "inspect.signature / module attribute; flax from its API reference (not installed)"),
    Default("batch norm eps, momentum",
            {"torch": "eps 1e-5, momentum 0.1 (weight of the new batch statistic)",
             "flax": "epsilon 1e-5, momentum 0.99 (weight of the old running average)"},
            "inspect.signature of F.batch_norm, nn.BatchNorm1d(3).momentum; flax API reference"),
    Default("batch norm running variance",
            {"torch": "unbiased (N − 1) in running_var, biased (N) to normalize the batch"},
            "F.batch_norm(x, rm, rv, training=True, momentum=1.0): rv == x.var(0, unbiased=True)"),
    Default("group norm eps, groups",
            {"torch": "eps 1e-5, num_groups required", "flax": "epsilon 1e-6, num_groups 32"},
            "inspect.signature of F.group_norm; flax.linen.GroupNorm API reference"),
    Default("variance algorithm",
            {"torch": "two-pass mean((x − μ)²)", "jax": "jax.nn.standardize algorithm='fast': "
             "E[x²] − E[x]², clipped at 0 (3.7e-3 error in x̂ for float32 x = 1 ± 1e-3, "
             "'stable' 2.5e-5)", "flax": "use_fast_variance=True (flax.nnx normalization)"},
            "jax.nn.standardize on float32 rows 1 + 1e-3·N(0, 1) against float64"),
    Default("attention scale",
            {"torch": "1/√E, E = q.size(-1) (F.scaled_dot_product_attention)",
             "jax": "1/√H, H = head size (jax.nn.dot_product_attention)"},
            "output against softmax(q kᵀ/√d) v in float64: equal to 2e-16 (torch)"),
    Default("attention precision and shapes",
            {"torch": "the input's dtype; dv ≠ d allowed",
             "jax": "jax.nn.dot_product_attention: softmax always in float32 (float64 input: "
                    "1.1e-7 error), value must have key's shape (dv = d), layout (B, T, N, H)"},
            "float64 (2, 3, 4, 5) inputs against a float64 NumPy softmax; dv = 3 raises "
            "ValueError 'value shape should be ...'"),
    Default("dropout p",
            {"torch": "p 0.5, training=True in F.dropout (nn.Dropout follows module.train())",
             "flax": "rate required (no default)"},
            "inspect.signature of F.dropout, nn.Dropout().p; flax API reference"),
    Default("multi-class margin loss",
            {"torch": "p 1, margin 1.0, reduction 'mean', sum over j ≠ y divided by C"},
            "inspect.signature of F.multi_margin_loss; the /C checked against impl"),
)
