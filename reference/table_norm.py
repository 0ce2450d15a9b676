"""Reference table entries: normalization, dropout, embedding, attention, margin loss.

Part of ``reference.table`` (merged into its op tables): the same rules hold, the framework's
own function where it ships one, else the op written in its array API as its users would.

- Dropout is ``x · mask / (1 − p)`` everywhere: ``F.dropout`` draws its own mask.
- jax attention is written in ``jax.numpy``: ``jax.nn.dot_product_attention`` wants the
  (B, T, N, H) layout (a transpose would do), but it requires value's head size to equal the
  key's (no dv ≠ d) and always computes the softmax in float32, also for float64 input
  (``_dot_product_attention_core`` casts the logits), so it cannot back a float64 check.
- jax normalization uses ``jax.nn.standardize(..., algorithm="stable")``: the default
  ``"fast"`` variance E[x²] − E[x]² cancels catastrophically for a small variance.
- Margin-loss labels may arrive as integer-valued floats (``reference.conventions`` passes
  every kink input as float64); each reference casts them to integers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .table_common import OpTable
from .table_common import reduce as _reduce


def _channel(p: Any, ndim: int) -> Any:
    """A (C,) parameter shaped to broadcast along axis 1 of an ndim-array."""
    return p.reshape((-1,) + (1,) * (ndim - 2))


def torch_ops(torch: Any) -> OpTable:
    F = torch.nn.functional

    def batchnorm(x: Any, gamma: Any, beta: Any, eps: float = 1e-5) -> Any:
        return F.batch_norm(x, None, None, gamma, beta, training=True, eps=eps)

    def multi_margin(s: Any, y: Any, margin: float = 1.0, reduction: str = "mean") -> Any:
        return F.multi_margin_loss(s, y.long(), margin=margin, reduction=reduction)

    return {
        "batchnorm": batchnorm,
        "layernorm": lambda x, gamma, beta, eps=1e-5: F.layer_norm(
            x, x.shape[-1:], gamma, beta, eps),
        "groupnorm": lambda x, gamma, beta, num_groups, eps=1e-5: F.group_norm(
            x, num_groups, gamma, beta, eps),
        "dropout": lambda x, mask, p=0.5: x * mask / (1 - p),
        "embedding": lambda ids, weight: F.embedding(ids, weight),
        "attention": lambda q, k, v, mask=None: F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask),
        "multi_margin": multi_margin,
    }


def jax_ops(jax: Any, jnp: Any) -> OpTable:
    standardize = jax.nn.standardize

    def batchnorm(x: Any, gamma: Any, beta: Any, eps: float = 1e-5) -> Any:
        axes = (0, *range(2, x.ndim))
        xhat = standardize(x, axis=axes, epsilon=eps, algorithm="stable")
        return xhat * _channel(gamma, x.ndim) + _channel(beta, x.ndim)

    def layernorm(x: Any, gamma: Any, beta: Any, eps: float = 1e-5) -> Any:
        return standardize(x, axis=-1, epsilon=eps, algorithm="stable") * gamma + beta

    def groupnorm(x: Any, gamma: Any, beta: Any, num_groups: int, eps: float = 1e-5) -> Any:
        grouped = x.reshape(x.shape[0], num_groups, -1)
        xhat = standardize(grouped, axis=-1, epsilon=eps, algorithm="stable").reshape(x.shape)
        return xhat * _channel(gamma, x.ndim) + _channel(beta, x.ndim)

    def attention(q: Any, k: Any, v: Any, mask: Any = None) -> Any:
        s = jnp.matmul(q, jnp.swapaxes(k, -1, -2)) / math.sqrt(q.shape[-1])
        if mask is not None:
            s = jnp.where(mask, s, -jnp.inf)
        return jnp.matmul(jax.nn.softmax(s, axis=-1), v)

    def multi_margin(s: Any, y: Any, margin: float = 1.0, reduction: str = "mean") -> Any:
        c = s.shape[-1]
        s2, y = s.reshape(-1, c), y.reshape(-1).astype(jnp.int32)
        s_y = jnp.take_along_axis(s2, y[:, None], axis=1)
        hinge = jnp.maximum(0.0, margin - s_y + s2)
        hinge = jnp.where(y[:, None] == jnp.arange(c), 0.0, hinge)
        return _reduce(hinge.sum(axis=1) / c, reduction)

    return {
        "batchnorm": batchnorm,
        "layernorm": layernorm,
        "groupnorm": groupnorm,
        "dropout": lambda x, mask, p=0.5: x * mask / (1 - p),
        "embedding": lambda ids, weight: weight[ids],
        "attention": attention,
        "multi_margin": multi_margin,
    }


def autograd_ops(anp: Any, special: Any) -> OpTable:
    def standardize(x: Any, axis: Any, eps: float) -> Any:
        xc = x - anp.mean(x, axis=axis, keepdims=True)
        return xc / anp.sqrt(anp.mean(xc**2, axis=axis, keepdims=True) + eps)

    def batchnorm(x: Any, gamma: Any, beta: Any, eps: float = 1e-5) -> Any:
        xhat = standardize(x, (0, *range(2, x.ndim)), eps)
        return xhat * _channel(gamma, x.ndim) + _channel(beta, x.ndim)

    def groupnorm(x: Any, gamma: Any, beta: Any, num_groups: int, eps: float = 1e-5) -> Any:
        xhat = anp.reshape(standardize(anp.reshape(x, (x.shape[0], num_groups, -1)), -1, eps),
                           x.shape)
        return xhat * _channel(gamma, x.ndim) + _channel(beta, x.ndim)

    def attention(q: Any, k: Any, v: Any, mask: Any = None) -> Any:
        s = anp.matmul(q, anp.swapaxes(k, -1, -2)) / math.sqrt(q.shape[-1])
        if mask is not None:
            s = anp.where(mask, s, -np.inf)
        return anp.matmul(anp.exp(s - special.logsumexp(s, axis=-1, keepdims=True)), v)

    def multi_margin(s: Any, y: Any, margin: float = 1.0, reduction: str = "mean") -> Any:
        c = s.shape[-1]
        s2, y = anp.reshape(s, (-1, c)), np.asarray(y).reshape(-1).astype(int)
        s_y = s2[np.arange(len(y)), y][:, None]
        hinge = anp.where(np.eye(c, dtype=bool)[y], 0.0, anp.maximum(0.0, margin - s_y + s2))
        return _reduce(anp.sum(hinge, axis=1) / c, reduction)

    return {
        "batchnorm": batchnorm,
        "layernorm": lambda x, gamma, beta, eps=1e-5: standardize(x, -1, eps) * gamma + beta,
        "groupnorm": groupnorm,
        "dropout": lambda x, mask, p=0.5: x * mask / (1 - p),
        "embedding": lambda ids, weight: weight[ids],
        "attention": attention,
        "multi_margin": multi_margin,
    }
