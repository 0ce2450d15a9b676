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
    variant: str = ""  # the catalog entry's variant the inputs belong to (one-hot targets)


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
            _arr(_BIG, [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]), variant="one_hot"),
    Special("softmax_cross_entropy, logits ±30", "softmax_cross_entropy",
            _arr(_30, [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]), variant="one_hot"),
    Special("bce_with_logits at ±1000", "bce_with_logits", _arr(_BIG, _T)),
    Special("bce_with_logits at ±30", "bce_with_logits", _arr(_30, _T)),
    Special("bce at p = 0 and 1 (targets agree)", "bce",
            _arr(_EDGE_P, [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])),
    Special("bce at p = 0 and 1 (targets disagree)", "bce",
            _arr(_EDGE_P, [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])),
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


# -- max-pooling ties ------------------------------------------------------------------------
@dataclass(frozen=True)
class PoolTie:
    """max_pool2d on one (H, W) image (N = C = 1) whose windows hold tied maxima."""

    label: str
    image: tuple[tuple[float, ...], ...]
    params: dict[str, Any]

    @property
    def x(self) -> np.ndarray:
        return np.asarray(self.image, dtype=np.float64)[None, None]


#: How a window's upstream gradient is spread over its tied maxima: "first" / "last" (all of it
#: to the first / last tied maximum in row-major window order), "split" (evenly), "all" (the
#: full gradient to every tied maximum: weights summing to more than one, no subgradient).
TIE_RULES = ("first", "last", "split", "all")

POOL_TIES: tuple[PoolTie, ...] = (
    PoolTie("two equal maxima in one window", ((1.0, 3.0), (3.0, 0.0)), {"kernel_size": 2}),
    PoolTie("all zeros (a relu's output), 2x2 windows", ((0.0,) * 4, (0.0,) * 4),
            {"kernel_size": 2}),
    PoolTie("repeated maxima, overlapping windows (stride 1)",
            ((5.0, 5.0, 1.0), (5.0, 2.0, 5.0), (0.0, 5.0, 5.0)), {"kernel_size": 2, "stride": 1}),
    PoolTie("all zeros, padded 3x3 windows", ((0.0,) * 3, (0.0,) * 3),
            {"kernel_size": 3, "stride": 1, "padding": 1}),
    PoolTie("ties along a row, 2x3 windows", ((2.0, 1.0, 2.0, 2.0), (0.0, 2.0, 1.0, 0.0)),
            {"kernel_size": (2, 3), "stride": 1}),
)

#: tie label -> {reference: the rule its max_pool2d gradient follows (measured on MEASURED_ON,
#: CPU), "impl": the rule impl declares}. torch's CPU kernel keeps the first maximum (it
#: replaces only on a strictly greater value); jax's reduce_window max transposes to
#: select_and_scatter_add with a >= select, which keeps the first; autograd's np.max splits
#: a tie evenly among the tied elements.
DECLARED_TIES: dict[str, dict[str, str]] = {
    t.label: {"torch": "first", "jax": "first", "autograd": "split", "impl": "first"}
    for t in POOL_TIES
}


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else (int(v[0]), int(v[1]))


def tie_routing(tie: PoolTie, rule: str) -> np.ndarray:
    """Per window, the weights ``rule`` puts on each image element: shape (OH, OW, H, W)."""
    x = tie.x[0, 0]
    k = _pair(tie.params["kernel_size"])
    s = _pair(tie.params.get("stride") or k)
    p = _pair(tie.params.get("padding", 0))
    xp = np.pad(x, ((p[0], p[0]), (p[1], p[1])), constant_values=-np.inf)
    out = ((xp.shape[0] - k[0]) // s[0] + 1, (xp.shape[1] - k[1]) // s[1] + 1)
    win = np.lib.stride_tricks.sliding_window_view(xp, k)[::s[0], ::s[1]][:out[0], :out[1]]
    flat = win.reshape(*out, -1)
    tied = flat == flat.max(axis=-1, keepdims=True)
    if rule == "first":
        weights = np.eye(flat.shape[-1])[tied.argmax(axis=-1)]
    elif rule == "last":
        weights = np.eye(flat.shape[-1])[flat.shape[-1] - 1 - tied[..., ::-1].argmax(axis=-1)]
    elif rule == "split":
        weights = tied / tied.sum(axis=-1, keepdims=True)
    elif rule == "all":
        weights = tied.astype(np.float64)
    else:
        raise ValueError(f"unknown tie rule {rule!r}; one of {TIE_RULES}")
    routing = np.zeros((*out, *xp.shape))
    weights = weights.reshape(*out, *k)
    for i in range(k[0]):  # each kernel offset's elements, for every window at once
        for j in range(k[1]):
            rows = np.arange(out[0]) * s[0] + i
            cols = np.arange(out[1]) * s[1] + j
            routing[np.arange(out[0])[:, None], np.arange(out[1]), rows[:, None], cols] += (
                weights[..., i, j])
    return routing[:, :, p[0]: xp.shape[0] - p[0], p[1]: xp.shape[1] - p[1]]


def tie_cotangent(tie: PoolTie, out_shape: tuple[int, ...]) -> np.ndarray:
    """A cotangent with a different value per window (1, 2, 3, ...), so routing shows."""
    return np.arange(1.0, 1.0 + np.prod(out_shape)).reshape(out_shape)


def tie_gradient(tie: PoolTie, rule: str) -> np.ndarray:
    """The gradient (1, 1, H, W) that ``rule`` gives for ``tie_cotangent``."""
    routing = tie_routing(tie, rule)
    g = tie_cotangent(tie, routing.shape[:2])
    return np.tensordot(g, routing, axes=2)[None, None]


def measure_tie(tie: PoolTie, ref: Any) -> np.ndarray:
    """A reference's max_pool2d gradient (1, 1, H, W) at the tie, for ``tie_cotangent``."""
    out = ref.forward("max_pool2d", [tie.x], tie.params)
    g = tie_cotangent(tie, out.shape)
    return np.asarray(ref.op_vjp("max_pool2d", tie.params, [tie.x], g, (0,))[0])


def classify_tie(tie: PoolTie, grad: np.ndarray) -> str | None:
    """The rule a gradient follows, or None if it follows none of TIE_RULES."""
    for rule in TIE_RULES:
        if np.allclose(grad, tie_gradient(tie, rule), rtol=0, atol=1e-12):
            return rule
    return None


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
