"""Which framework function backs each op: the one place that says it.

Each builder takes the framework's modules and returns ``{op name: function}``; every
function has ``impl``'s signature (same positional inputs, same keyword parameters), so
a reference can call it exactly as the suite calls ``impl``. Where a framework ships the
op (``torch.nn.functional.softmax``, ``jax.nn.gelu``, ...) that function is used, so the
suite compares a formula with what a framework user really gets; where it ships none
(most losses in jax and all of autograd) the op is written in that framework's own
array API, as its users would.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import table_conv, table_norm
from .table_common import OpTable
from .table_common import reduce as _reduce

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _samples(x: Any) -> int:
    """Number of samples when the class axis is last (1 for a single 1-D sample)."""
    return math.prod(x.shape[:-1]) if x.ndim else 1


def torch_ops(torch: Any) -> OpTable:
    """PyTorch: ``torch.nn.functional`` wherever it has the op."""
    F = torch.nn.functional

    def softmax_cross_entropy(z: Any, t: Any, reduction: str = "mean") -> Any:
        # F.cross_entropy wants the class axis at dim 1 (or a single unbatched sample).
        if z.ndim > 2:
            z = z.movedim(-1, 1)
            t = t if not t.is_floating_point() else t.movedim(-1, 1)
        return F.cross_entropy(z, t, reduction=reduction)

    def cross_entropy(p: Any, t: Any, reduction: str = "mean") -> Any:
        # Cross-entropy on probabilities: nll_loss of log(p), targets as class indices.
        return F.nll_loss(torch.log(p), t.argmax(-1), reduction=reduction)

    return {
        "identity": lambda z: z,
        "relu": F.relu,
        "leaky_relu": lambda z, negative_slope=0.01: F.leaky_relu(z, negative_slope),
        "elu": lambda z, alpha=1.0: F.elu(z, alpha),
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "softplus": F.softplus,
        "silu": F.silu,
        "gelu": lambda z, approximate="none": F.gelu(z, approximate=approximate),
        "relu6": F.relu6,
        "hardtanh": lambda z, min_val=-1.0, max_val=1.0: F.hardtanh(z, min_val, max_val),
        "softmax": lambda z, axis=-1: F.softmax(z, dim=axis),
        "log_softmax": lambda z, axis=-1: F.log_softmax(z, dim=axis),
        "sum_of_squares": lambda y: torch.sum(y**2),
        "mse": lambda y, t, reduction="mean": F.mse_loss(y, t, reduction=reduction),
        "l2": lambda y, t: F.mse_loss(y, t, reduction="sum") / (2 * (y.shape[0] if y.ndim else 1)),
        "mae": lambda y, t, reduction="mean": F.l1_loss(y, t, reduction=reduction),
        "huber": lambda y, t, delta=1.0, reduction="mean": F.huber_loss(
            y, t, reduction=reduction, delta=delta
        ),
        "bce": lambda p, t, reduction="mean": F.binary_cross_entropy(p, t, reduction=reduction),
        "bce_with_logits": lambda z, t, reduction="mean": F.binary_cross_entropy_with_logits(
            z, t, reduction=reduction
        ),
        "cross_entropy": cross_entropy,
        "softmax_cross_entropy": softmax_cross_entropy,
        "dense": lambda x, w, b: F.linear(x, w.T, b),
        "dense_colmajor": lambda x, w, b: F.linear(x.T, w, b[:, 0]).T,
        **table_norm.torch_ops(torch),
        **table_conv.torch_ops(torch),
    }


def jax_ops(jax: Any, jnp: Any) -> OpTable:
    """JAX: ``jax.nn`` for activations; losses in ``jax.numpy`` (jax ships none)."""
    nn = jax.nn

    def hardtanh(z: Any, min_val: float = -1.0, max_val: float = 1.0) -> Any:
        if (min_val, max_val) == (-1.0, 1.0):
            return nn.hard_tanh(z)
        return jnp.clip(z, min_val, max_val)

    def huber(y: Any, t: Any, delta: float = 1.0, reduction: str = "mean") -> Any:
        r = jnp.abs(y - t)
        return _reduce(jnp.where(r < delta, 0.5 * r**2, delta * (r - 0.5 * delta)), reduction)

    def bce(p: Any, t: Any, reduction: str = "mean") -> Any:
        return _reduce(-(t * jnp.log(p) + (1 - t) * jnp.log1p(-p)), reduction)

    def bce_with_logits(z: Any, t: Any, reduction: str = "mean") -> Any:
        return _reduce(-(t * nn.log_sigmoid(z) + (1 - t) * nn.log_sigmoid(-z)), reduction)

    def cross_entropy(p: Any, t: Any, reduction: str = "mean") -> Any:
        per_sample = -jnp.sum(t * jnp.log(p), axis=-1)
        return _reduce(per_sample, reduction)

    def softmax_cross_entropy(z: Any, t: Any, reduction: str = "mean") -> Any:
        logp = nn.log_softmax(z, axis=-1)
        if jnp.issubdtype(t.dtype, jnp.integer):
            per_sample = -jnp.take_along_axis(logp, t[..., None], axis=-1)[..., 0]
        else:
            per_sample = -jnp.sum(t * logp, axis=-1)
        return _reduce(per_sample, reduction)

    return {
        "identity": lambda z: z,
        "relu": nn.relu,
        "leaky_relu": lambda z, negative_slope=0.01: nn.leaky_relu(z, negative_slope),
        "elu": lambda z, alpha=1.0: nn.elu(z, alpha),
        "sigmoid": nn.sigmoid,
        "tanh": jnp.tanh,
        "softplus": nn.softplus,
        "silu": nn.silu,
        "gelu": lambda z, approximate="none": nn.gelu(z, approximate=approximate == "tanh"),
        "relu6": nn.relu6,
        "hardtanh": hardtanh,
        "softmax": lambda z, axis=-1: nn.softmax(z, axis=axis),
        "log_softmax": lambda z, axis=-1: nn.log_softmax(z, axis=axis),
        "sum_of_squares": lambda y: jnp.sum(y**2),
        "mse": lambda y, t, reduction="mean": _reduce((y - t) ** 2, reduction),
        "l2": lambda y, t: 0.5 * jnp.sum((y - t) ** 2) / (y.shape[0] if y.ndim else 1),
        "mae": lambda y, t, reduction="mean": _reduce(jnp.abs(y - t), reduction),
        "huber": huber,
        "bce": bce,
        "bce_with_logits": bce_with_logits,
        "cross_entropy": cross_entropy,
        "softmax_cross_entropy": softmax_cross_entropy,
        "dense": lambda x, w, b: jnp.matmul(x, w) + b,
        "dense_colmajor": lambda x, w, b: jnp.matmul(w, x) + b,
        **table_norm.jax_ops(jax, jnp),
        **table_conv.jax_ops(jax, jnp),
    }


def autograd_ops(anp: Any, special: Any) -> OpTable:
    """HIPS autograd: every op written in ``autograd.numpy`` (autograd ships no nn ops)."""

    def sigmoid(z: Any) -> Any:
        return 0.5 * (anp.tanh(0.5 * z) + 1.0)

    def gelu(z: Any, approximate: str = "none") -> Any:
        if approximate == "tanh":
            return 0.5 * z * (1.0 + anp.tanh(_SQRT_2_OVER_PI * (z + 0.044715 * z**3)))
        return 0.5 * z * (1.0 + special.erf(z / math.sqrt(2.0)))

    def log_softmax(z: Any, axis: int = -1) -> Any:
        return z - special.logsumexp(z, axis=axis, keepdims=True)

    def huber(y: Any, t: Any, delta: float = 1.0, reduction: str = "mean") -> Any:
        r = anp.abs(y - t)
        return _reduce(anp.where(r < delta, 0.5 * r**2, delta * (r - 0.5 * delta)), reduction)

    def softmax_cross_entropy(z: Any, t: Any, reduction: str = "mean") -> Any:
        if np.issubdtype(t.dtype, np.integer):  # labels: one-hot them (not differentiated)
            t = np.eye(z.shape[-1], dtype=z.dtype)[t]
        return _reduce(-anp.sum(t * log_softmax(z), axis=-1), reduction)

    def elu(z: Any, alpha: float = 1.0) -> Any:
        return anp.where(z > 0, z, alpha * (anp.exp(anp.minimum(z, 0.0)) - 1.0))

    return {
        "identity": lambda z: z,
        "relu": lambda z: anp.maximum(z, 0.0),
        "leaky_relu": lambda z, negative_slope=0.01: anp.where(z > 0, z, negative_slope * z),
        "elu": elu,
        "sigmoid": sigmoid,
        "tanh": anp.tanh,
        "softplus": lambda z: anp.logaddexp(0.0, z),
        "silu": lambda z: z * sigmoid(z),
        "gelu": gelu,
        "relu6": lambda z: anp.minimum(anp.maximum(z, 0.0), 6.0),
        "hardtanh": lambda z, min_val=-1.0, max_val=1.0: anp.clip(z, min_val, max_val),
        "softmax": lambda z, axis=-1: anp.exp(log_softmax(z, axis)),
        "log_softmax": log_softmax,
        "sum_of_squares": lambda y: anp.sum(y**2),
        "mse": lambda y, t, reduction="mean": _reduce((y - t) ** 2, reduction),
        "l2": lambda y, t: 0.5 * anp.sum((y - t) ** 2) / (y.shape[0] if y.ndim else 1),
        "mae": lambda y, t, reduction="mean": _reduce(anp.abs(y - t), reduction),
        "huber": huber,
        "bce": lambda p, t, reduction="mean": _reduce(
            -(t * anp.log(p) + (1 - t) * anp.log(1 - p)), reduction
        ),
        "bce_with_logits": lambda z, t, reduction="mean": _reduce(
            anp.logaddexp(0.0, z) - z * t, reduction
        ),
        "cross_entropy": lambda p, t, reduction="mean": _reduce(
            -anp.sum(t * anp.log(p), axis=-1), reduction
        ),
        "softmax_cross_entropy": softmax_cross_entropy,
        "dense": lambda x, w, b: anp.dot(x, w) + b,
        "dense_colmajor": lambda x, w, b: anp.dot(w, x) + b,
        **table_norm.autograd_ops(anp, special),
        **table_conv.autograd_ops(anp, special),
    }
