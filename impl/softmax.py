"""Softmax and log-softmax along an axis: forward, VJP, full Jacobian and JVP, in NumPy.

s = softmax(z): s_i = e^(z_i − m) / Σ_k e^(z_k − m) with m = max_k z_k (the shift changes
nothing mathematically and keeps exp from overflowing). Within one slice along ``axis``,
∂s_i/∂z_j = s_i(δ_ij − s_j) and ∂(log s)_i/∂z_j = δ_ij − s_j; different slices do not interact.
Masked logits (−inf) get probability 0 as long as their slice holds a finite entry; a slice that
is entirely −inf (or holds +inf or NaN) gives NaN, silently, as in torch and jax.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ._blocked import rowwise
from ._common import _as_float, _buf, _like, _quiet_underflow

__all__ = [
    "softmax", "softmax_backward", "softmax_jacobian", "softmax_jvp",
    "log_softmax", "log_softmax_backward", "log_softmax_jacobian", "log_softmax_jvp",
]


# -- private helpers (shared with losses) ------------------------------------------------------
def _axis(axis: Any, ndim: int) -> int:
    """``axis`` as a non-negative index into ``ndim`` dimensions (AxisError if out of range)."""
    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim)
    return axis % ndim


_SHORT = 16  # rows up to this length are reduced by a loop over their columns


def _row_sum(x: np.ndarray, axis: int, y: np.ndarray | None = None) -> np.ndarray:
    """Σ_k x_k (or Σ_k x_k y_k) along ``axis``, kept as a length-1 axis. Short last axes by a
    loop over the columns (np.sum spends ~2 ns per row on rows of 10; the loop sums each row
    in the same order whatever the number of rows, so blocks give the same bits)."""
    k = x.shape[axis]
    if axis != x.ndim - 1 or not 1 <= k <= _SHORT:
        return np.sum(x if y is None else x * y, axis=axis, keepdims=True)
    cols = x.reshape(-1, k).T  # 1-D column views: ufunc calls on (rows,) arrays, not (rows, 1)
    ycols = None if y is None else y.reshape(-1, k).T
    total = cols[0].copy() if ycols is None else cols[0] * ycols[0]
    for j in range(1, k):
        total += cols[j] if ycols is None else cols[j] * ycols[j]
    return total.reshape(x.shape[:-1] + (1,))


def _row_max(z: np.ndarray, axis: int) -> np.ndarray:
    """max z along ``axis`` (−inf for an empty slice), kept as a length-1 axis; short last
    axes by a loop over the columns (np.max spends ~4 ns per row on rows of 10)."""
    k = z.shape[axis]
    if axis != z.ndim - 1 or not 1 <= k <= _SHORT:
        return np.max(z, axis=axis, keepdims=True, initial=-np.inf)  # initial: empty slices
    cols = z.reshape(-1, k).T
    m = cols[0].copy()
    for j in range(1, k):
        np.maximum(m, cols[j], out=m)
    return m.reshape(z.shape[:-1] + (1,))


def _shifted(z: np.ndarray, axis: int, out: np.ndarray | None = None) -> np.ndarray:
    """z − max(z) along ``axis`` (in ``out``, or a new buffer); a slice whose max is not finite
    is not shifted (so −inf entries stay −inf instead of becoming −inf − (−inf) = NaN)."""
    m = _row_max(z, axis)
    m[~np.isfinite(m)] = 0
    return np.subtract(z, m, out=_buf(z) if out is None else out)


def _softmax_into(out: np.ndarray, z: np.ndarray, axis: int) -> np.ndarray:
    """out = softmax(z) along ``axis``: e^(z − max z) / Σ e^(z − max z)."""
    e = _shifted(z, axis, out)
    np.exp(e, out=e)
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 for an all −inf slice: NaN
        e /= _row_sum(e, axis)
    return e


def _softmax(z: np.ndarray, axis: int) -> np.ndarray:
    """softmax along ``axis`` in a new array of z's dtype (in blocks of rows)."""
    return rowwise(_softmax_into, z, axis=axis)


def _log_softmax(z: np.ndarray, axis: int) -> np.ndarray:
    """log_softmax along ``axis`` (log-sum-exp) in a new buffer of z's dtype."""
    x = _shifted(z, axis)
    lse = np.sum(np.exp(x), axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):  # all −inf slice: −inf − (−inf)
        np.log(lse, out=lse)
        x -= lse
    return x


def _softmax_vjp(out: np.ndarray, v: np.ndarray, z: np.ndarray, axis: int) -> np.ndarray:
    """out = s ⊙ (v − Σ_k s_k v_k) along ``axis``, s = softmax(z): the softmax VJP (v = g)
    and JVP (v = t; J is symmetric), one pass per block of rows."""
    s = _softmax_into(out, z, axis)
    s *= np.subtract(v, _row_sum(v, axis, s))
    return s


def _log_softmax_vjp(out: np.ndarray, g: np.ndarray, z: np.ndarray, axis: int) -> np.ndarray:
    """out = g − s · Σ_k g_k along ``axis``, s = softmax(z)."""
    s = _softmax_into(out, z, axis)
    s *= _row_sum(g, axis)
    return np.subtract(g, s, out=s)


def _log_softmax_jvp(out: np.ndarray, t: np.ndarray, z: np.ndarray, axis: int) -> np.ndarray:
    """out = t − Σ_k s_k t_k along ``axis``, s = softmax(z)."""
    s = _softmax_into(out, z, axis)
    return np.subtract(t, _row_sum(s, axis, t), out=s)


def _softmax_blocks(s_last: np.ndarray) -> np.ndarray:
    """Per-slice blocks diag(s) − s sᵀ, shape (..., k, k), for s with its class axis last."""
    blocks = s_last[..., :, None] * s_last[..., None, :]
    np.negative(blocks, out=blocks)
    idx = np.arange(s_last.shape[-1])
    blocks[..., idx, idx] += s_last
    return blocks


def _scatter_blocks(blocks: np.ndarray, shape: tuple[int, ...], axis: int) -> np.ndarray:
    """The full Jacobian (shape ``shape + shape``) of a map acting on slices along ``axis``.

    ``blocks[..., i, j] = ∂out_i/∂in_j`` within one slice; its leading axes are ``shape``
    without ``axis``. Entries between different slices are 0. Vectorized: one fancy-index
    assignment with broadcast index arrays (the loop is over dimensions, not elements).
    """
    nd, k = len(shape), shape[axis]
    others = [d for d in range(nd) if d != axis]
    m = len(others)
    jac = np.zeros(shape + shape, dtype=blocks.dtype)
    out_idx: list[Any] = [None] * nd
    in_idx: list[Any] = [None] * nd
    for p, d in enumerate(others):  # the same slice index on both halves
        dims = [1] * (m + 2)
        dims[p] = shape[d]
        out_idx[d] = in_idx[d] = np.arange(shape[d]).reshape(dims)
    out_idx[axis] = np.arange(k).reshape([1] * m + [k, 1])  # i
    in_idx[axis] = np.arange(k).reshape([1] * m + [1, k])  # j
    jac[tuple(out_idx) + tuple(in_idx)] = blocks
    return jac


# -- softmax -----------------------------------------------------------------------------------
@_quiet_underflow
def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """s = softmax(z)_i = e^(z_i − max z) / Σ_k e^(z_k − max z) along ``axis`` (max-shifted)."""
    z = _as_float(z)
    return _softmax(z, _axis(axis, z.ndim))


@_quiet_underflow
def softmax_backward(grad_out: np.ndarray, z: np.ndarray, axis: int = -1) -> np.ndarray:
    """dz = (g − Σ_k g_k s_k) ⊙ s along ``axis`` (seed 001), without forming the Jacobian."""
    z = _as_float(z)
    axis = _axis(axis, z.ndim)
    return rowwise(_softmax_vjp, _like(grad_out, z, "grad_out"), z, axis=axis)


@_quiet_underflow
def softmax_jacobian(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """∂s_i/∂z_j = s_i(δ_ij − s_j) within a slice (diag(s) − s sᵀ), 0 across slices;
    shape z.shape + z.shape."""
    z = _as_float(z)
    axis = _axis(axis, z.ndim)
    s = np.moveaxis(_softmax(z, axis), axis, -1)
    return _scatter_blocks(_softmax_blocks(s), z.shape, axis)


@_quiet_underflow
def softmax_jvp(z: np.ndarray, tangent: np.ndarray, axis: int = -1) -> np.ndarray:
    """J·t = s ⊙ (t − Σ_k s_k t_k) along ``axis`` (J is symmetric: the VJP's formula)."""
    z = _as_float(z)
    axis = _axis(axis, z.ndim)
    return rowwise(_softmax_vjp, _like(tangent, z, "tangent"), z, axis=axis)


# -- log_softmax -------------------------------------------------------------------------------
@_quiet_underflow
def log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """log_softmax(z) = z − m − log Σ_k e^(z_k − m), m = max z along ``axis`` (log-sum-exp)."""
    z = _as_float(z)
    return _log_softmax(z, _axis(axis, z.ndim))


@_quiet_underflow
def log_softmax_backward(grad_out: np.ndarray, z: np.ndarray, axis: int = -1) -> np.ndarray:
    """dz = g − s · Σ_k g_k along ``axis``, s = softmax(z)."""
    z = _as_float(z)
    axis = _axis(axis, z.ndim)
    return rowwise(_log_softmax_vjp, _like(grad_out, z, "grad_out"), z, axis=axis)


@_quiet_underflow
def log_softmax_jacobian(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """∂(log s)_i/∂z_j = δ_ij − s_j within a slice, 0 across slices; shape z.shape + z.shape."""
    z = _as_float(z)
    axis = _axis(axis, z.ndim)
    s = np.moveaxis(_softmax(z, axis), axis, -1)
    k = s.shape[-1]
    blocks = np.subtract(np.eye(k, dtype=s.dtype), s[..., None, :])  # (..., k, k)
    return _scatter_blocks(blocks, z.shape, axis)


@_quiet_underflow
def log_softmax_jvp(z: np.ndarray, tangent: np.ndarray, axis: int = -1) -> np.ndarray:
    """J·t = t − Σ_k s_k t_k along ``axis``, s = softmax(z)."""
    z = _as_float(z)
    axis = _axis(axis, z.ndim)
    return rowwise(_log_softmax_jvp, _like(tangent, z, "tangent"), z, axis=axis)
