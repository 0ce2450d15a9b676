"""Scaled dot-product attention and its VJP.

out = P V with P = softmax(S) over the keys, S = Q Kᵀ / √d (masked entries −∞), over the last
two axes: q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv), leading (batch, head) axes
broadcast. Results keep the input's dtype.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["attention", "attention_backward"]


def _check(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: Any) -> np.ndarray | None:
    if min(q.ndim, k.ndim, v.ndim) < 2:
        raise ValueError(f"attention: q, k, v need (..., T, d), got {q.shape}, {k.shape}, "
                         f"{v.shape}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"attention: q and k must share d, got q {q.shape}, k {k.shape}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"attention: k and v must share Tk, got k {k.shape}, v {v.shape}")
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise ValueError(f"attention: mask must be boolean (True = attend), got {mask.dtype}")
    try:
        np.broadcast_shapes(mask.shape, q.shape[:-1] + (k.shape[-2],))
    except ValueError:
        raise ValueError(f"attention: mask {mask.shape} does not broadcast to (..., Tq, Tk) = "
                         f"{q.shape[:-1] + (k.shape[-2],)}") from None
    if not mask.any(axis=-1).all() and k.shape[-2]:
        raise ValueError("attention: the mask hides every key from some query (a fully "
                         "masked row has no softmax)")
    return mask


def _probs(q: np.ndarray, k: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """P = softmax(Q Kᵀ/√d) over the last axis, masked entries 0."""
    s = (q @ np.swapaxes(k, -1, -2)) * q.dtype.type(1.0 / math.sqrt(q.shape[-1]))
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    return p


def _sum_to(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """x summed over the axes that broadcasting added to an input of ``shape``."""
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape)
                                      if n == 1 and x.shape[i + lead] != 1)
    return x.sum(axis=axes).reshape(shape) if axes else x


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray,
              mask: np.ndarray | None = None) -> np.ndarray:
    """out = softmax(Q Kᵀ/√d, masked) V: q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv) →
    (..., Tq, dv); mask boolean, broadcastable to (..., Tq, Tk), True = attend."""
    q, k, v = (np.asarray(a) for a in (q, k, v))
    return _probs(q, k, _check(q, k, v, mask)) @ v


def attention_backward(grad_out: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray,
                       mask: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """VJP of attention, G = ∂L/∂out, P the (masked) attention probabilities:

        dV = Pᵀ G,  dP = G Vᵀ,  dS = P ⊙ (dP − rowsum(dP ⊙ P)),
        dQ = dS K / √d,  dK = dSᵀ Q / √d.

    Masked entries have P = 0, so dS = 0 there: no gradient reaches a masked key.
    """
    q, k, v = (np.asarray(a) for a in (q, k, v))
    p = _probs(q, k, _check(q, k, v, mask))
    g = np.asarray(grad_out, dtype=p.dtype)
    if g.shape != p.shape[:-1] + v.shape[-1:]:
        raise ValueError(f"attention_backward: grad_out has shape {g.shape}, expected "
                         f"{p.shape[:-1] + v.shape[-1:]}")
    dv = np.swapaxes(p, -1, -2) @ g
    dp = g @ np.swapaxes(v, -1, -2)
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))
    ds *= ds.dtype.type(1.0 / math.sqrt(q.shape[-1]))
    return (_sum_to(ds @ k, q.shape), _sum_to(np.swapaxes(ds, -1, -2) @ q, k.shape),
            _sum_to(dv, v.shape))
