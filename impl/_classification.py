"""Classification losses (binary and categorical cross-entropy, on probabilities or logits);
the conventions of ``impl.losses`` apply, and ``impl.losses`` exports them."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._blocked import elementwise, rowwise
from ._common import _as_float, _buf, _diag, _like, _quiet_underflow, _sigmoid_into
from ._loss_common import (
    _BCE_EPS,
    _LOG_FLOOR,
    _log_clamped,
    _pair,
    _samples,
    _scale,
    _upstream,
    _value,
)
from .activations import _sigmoid_grad
from .softmax import (
    _log_softmax,
    _row_sum,
    _scatter_blocks,
    _softmax,
    _softmax_blocks,
    _softmax_into,
)

__all__ = [
    "bce", "bce_backward", "bce_hessian", "bce_hvp",
    "bce_with_logits", "bce_with_logits_backward", "bce_with_logits_hessian",
    "bce_with_logits_hvp",
    "cross_entropy", "cross_entropy_backward", "cross_entropy_hessian", "cross_entropy_hvp",
    "softmax_cross_entropy", "softmax_cross_entropy_backward", "softmax_cross_entropy_hessian",
    "softmax_cross_entropy_hvp",
]


# -- binary cross-entropy on probabilities -----------------------------------------------------
def _bce_curvature(p: np.ndarray, t: np.ndarray, scale: float) -> np.ndarray:
    """(t/p² + (1 − t)/(1 − p)²)·scale (the log clamp is ignored)."""
    h = np.divide(t, p, out=_buf(p))
    h /= p
    u = np.subtract(1, t, out=_buf(p))
    q = np.subtract(1, p, out=_buf(p))
    u /= q
    u /= q
    h += u
    h *= scale
    return h


@_quiet_underflow
def bce(y_pred: np.ndarray, y_true: np.ndarray, reduction: str = "mean") -> np.floating:
    """torch's binary_cross_entropy on probabilities p: per element
    −(t·max(log p, −100) + (1 − t)·max(log(1 − p), −100)), then mean over all elements or sum.
    The clamp at −100 is torch's convention: p = 0 or 1 gives a finite loss."""
    p, t = _pair(y_pred, y_true)
    scale = _scale(reduction, p.size)
    log_p = _log_clamped(p)
    log_q = np.negative(p, out=_buf(p))
    with np.errstate(divide="ignore"):
        np.log1p(log_q, out=log_q)  # log(1 − p)
    np.maximum(log_q, _LOG_FLOOR, out=log_q)
    total = np.vdot(t, log_p) + np.vdot(np.subtract(1, t, out=log_p), log_q)
    return _value(-total, scale, p)


@_quiet_underflow
def bce_backward(grad_out: float | np.ndarray, y_pred: np.ndarray, y_true: np.ndarray,
                 reduction: str = "mean") -> np.ndarray:
    """∂ℓ/∂p = (p − t)/(p(1 − p)), computed as (p − t)/max(p(1 − p), 1e-12) (torch's backward:
    finite at p = 0 or 1; the forward's log clamp is not differentiated);
    dp = g·∂ℓ/∂p/n ("mean") or without /n ("sum")."""
    p, t = _pair(y_pred, y_true)
    c = _upstream(grad_out, p) * _scale(reduction, p.size)

    def formula(out: np.ndarray, p: np.ndarray, t: np.ndarray) -> None:
        den = np.subtract(1, p)
        den *= p
        np.maximum(den, _BCE_EPS, out=den)  # max(p(1 − p), 1e-12)
        np.subtract(p, t, out=out)
        out /= den
        out *= c

    return elementwise(formula, p, t)


@_quiet_underflow
def bce_hessian(y_pred: np.ndarray, y_true: np.ndarray, reduction: str = "mean") -> np.ndarray:
    """H = diag(t/p² + (1 − t)/(1 − p)²)/n ("mean") or without /n ("sum"), the log clamp
    ignored. Shape p.shape + p.shape."""
    p, t = _pair(y_pred, y_true)
    return _diag(_bce_curvature(p, t, _scale(reduction, p.size)))


@_quiet_underflow
def bce_hvp(v: np.ndarray, y_pred: np.ndarray, y_true: np.ndarray,
            reduction: str = "mean") -> np.ndarray:
    """H·v = v ⊙ (t/p² + (1 − t)/(1 − p)²)/n ("mean") or without /n ("sum")."""
    p, t = _pair(y_pred, y_true)
    h = _bce_curvature(p, t, _scale(reduction, p.size))
    h *= _like(v, p, "v")
    return h


# -- binary cross-entropy on logits ------------------------------------------------------------
@_quiet_underflow
def bce_with_logits(logits: np.ndarray, y_true: np.ndarray,
                    reduction: str = "mean") -> np.floating:
    """torch's binary_cross_entropy_with_logits: per element
    −(t·log σ(z) + (1 − t)·log(1 − σ(z))) = max(z, 0) − z·t + log1p(exp(−|z|)) (stable, no
    overflow), then mean over all elements or sum."""
    z, t = _pair(logits, y_true)
    scale = _scale(reduction, z.size)
    out = np.maximum(z, 0, out=_buf(z))
    out -= np.multiply(z, t)
    soft = np.abs(z, out=_buf(z))
    np.negative(soft, out=soft)
    np.exp(soft, out=soft)
    np.log1p(soft, out=soft)
    out += soft
    return _value(np.sum(out), scale, z)


@_quiet_underflow
def bce_with_logits_backward(grad_out: float | np.ndarray, logits: np.ndarray,
                             y_true: np.ndarray, reduction: str = "mean") -> np.ndarray:
    """∂ℓ/∂z = σ(z) − t; dz = g·(σ(z) − t)/n ("mean") or without /n ("sum")."""
    z, t = _pair(logits, y_true)
    c = _upstream(grad_out, z) * _scale(reduction, z.size)

    def formula(out: np.ndarray, z: np.ndarray, t: np.ndarray) -> None:
        s = _sigmoid_into(out, z)
        s -= t
        s *= c

    return elementwise(formula, z, t)


@_quiet_underflow
def bce_with_logits_hessian(logits: np.ndarray, y_true: np.ndarray,
                            reduction: str = "mean") -> np.ndarray:
    """H = diag(σ(z)(1 − σ(z)))/n ("mean") or without /n ("sum"); shape z.shape + z.shape."""
    z, _ = _pair(logits, y_true)
    h = _sigmoid_grad(z)
    h *= _scale(reduction, z.size)
    return _diag(h)


@_quiet_underflow
def bce_with_logits_hvp(v: np.ndarray, logits: np.ndarray, y_true: np.ndarray,
                        reduction: str = "mean") -> np.ndarray:
    """H·v = v ⊙ σ(z)(1 − σ(z))/n ("mean") or without /n ("sum")."""
    z, _ = _pair(logits, y_true)
    h = _sigmoid_grad(z)
    h *= _scale(reduction, z.size)
    h *= _like(v, z, "v")
    return h


# -- cross-entropy on probabilities ------------------------------------------------------------
def _ce_inverse(p: np.ndarray, t: np.ndarray, power: int,
                out: np.ndarray | None = None) -> np.ndarray:
    """t/p^power, 0 wherever t = 0 (so p = 0 there gives no NaN); in ``out`` if given.
    Divides by p where t ≠ 0 and by 1 elsewhere (a divide with where= is ~10x slower)."""
    den = np.where(t != 0, p, 1).astype(p.dtype, copy=False)
    out = np.divide(t, den, out=_buf(p) if out is None else out)
    if power == 2:
        out /= den
    return out


@_quiet_underflow
def cross_entropy(probs: np.ndarray, y_true: np.ndarray, reduction: str = "mean") -> np.floating:
    """Class axis last, one-hot or soft targets t: per sample −Σ_c t_c·max(log p_c, −100)
    (the log clamped at −100 as in torch's BCE, so p = 0 where t = 0 gives no NaN);
    "mean" divides by the N = prod(probs.shape[:-1]) samples (1 for a 1-D input), "sum" not."""
    p, t = _pair(probs, y_true)
    scale = _scale(reduction, _samples(p))
    return _value(-np.vdot(t, _log_clamped(p)), scale, p)


@_quiet_underflow
def cross_entropy_backward(grad_out: float | np.ndarray, probs: np.ndarray, y_true: np.ndarray,
                           reduction: str = "mean") -> np.ndarray:
    """∂L/∂p = −t/p, 0 where t = 0 (the forward's log clamp is not differentiated);
    dp = −g·t/p/N ("mean") or without /N ("sum")."""
    p, t = _pair(probs, y_true)
    c = _upstream(grad_out, p) * _scale(reduction, _samples(p))

    def formula(out: np.ndarray, p: np.ndarray, t: np.ndarray) -> None:
        _ce_inverse(p, t, 1, out)
        out *= -c

    return elementwise(formula, p, t)


@_quiet_underflow
def cross_entropy_hessian(probs: np.ndarray, y_true: np.ndarray,
                          reduction: str = "mean") -> np.ndarray:
    """H = diag(t/p²)/N ("mean") or diag(t/p²) ("sum"), 0 where t = 0; shape p.shape * 2."""
    p, t = _pair(probs, y_true)
    h = _ce_inverse(p, t, 2)
    h *= _scale(reduction, _samples(p))
    return _diag(h)


@_quiet_underflow
def cross_entropy_hvp(v: np.ndarray, probs: np.ndarray, y_true: np.ndarray,
                      reduction: str = "mean") -> np.ndarray:
    """H·v = v ⊙ t/p²/N ("mean") or v ⊙ t/p² ("sum"), 0 where t = 0."""
    p, t = _pair(probs, y_true)
    h = _ce_inverse(p, t, 2)
    h *= _scale(reduction, _samples(p))
    h *= _like(v, p, "v")
    return h


# -- softmax cross-entropy on logits -----------------------------------------------------------
def _targets(logits: Any, y_true: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """(z, targets, is_labels): integer labels of shape z.shape[:-1] (checked in [0, k)), or
    one-hot/soft targets of z's shape and dtype."""
    z = _as_float(logits)
    _samples(z)
    y = np.asarray(y_true)
    if not np.issubdtype(y.dtype, np.integer):
        return z, _like(y, z, "y_true"), False
    k = z.shape[-1]
    if y.shape != z.shape[:-1]:
        raise ValueError(f"integer labels must have shape {z.shape[:-1]} (logits.shape[:-1]), "
                         f"got {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"integer labels must lie in [0, {k}), got values in "
                         f"[{y.min()}, {y.max()}]")
    return z, y, True


def _target_mass(t: np.ndarray, labels: bool) -> Any:
    """Σ_c t_c per sample (keepdims); 1 for labels. The gradient is (Σt)·softmax − t."""
    return 1 if labels else _row_sum(t, t.ndim - 1)


@_quiet_underflow
def softmax_cross_entropy(logits: np.ndarray, y_true: np.ndarray,
                          reduction: str = "mean") -> np.floating:
    """Class axis last: per sample −Σ_c t_c·log_softmax(z)_c (log-sum-exp, stable), t one-hot
    or soft (z's shape), or integer labels y (shape z.shape[:-1]: −log_softmax(z)_y);
    "mean" divides by the N = prod(z.shape[:-1]) samples, "sum" not (torch's cross_entropy)."""
    z, y, labels = _targets(logits, y_true)
    scale = _scale(reduction, _samples(z))
    log_p = _log_softmax(z, z.ndim - 1)
    if labels:
        total = np.sum(np.take_along_axis(log_p, y[..., None], axis=-1))
    else:
        total = np.vdot(y, log_p)
    return _value(-total, scale, z)


@_quiet_underflow
def softmax_cross_entropy_backward(grad_out: float | np.ndarray, logits: np.ndarray,
                                   y_true: np.ndarray, reduction: str = "mean") -> np.ndarray:
    """∂L/∂z = softmax(z)·Σ_c t_c − t per sample, = softmax(z) − onehot when the targets sum
    to 1 (always for labels; Park, Theorem 6.1: δ = o − y); dz = g·∂L/∂z/N ("mean") or
    without /N ("sum")."""
    z, y, labels = _targets(logits, y_true)
    c = _upstream(grad_out, z) * _scale(reduction, _samples(z))

    def formula(out: np.ndarray, z: np.ndarray, y: np.ndarray, axis: int) -> None:
        s = _softmax_into(out, z, axis)
        if labels:  # y: the labels as (..., 1)
            np.put_along_axis(s, y, np.take_along_axis(s, y, axis=-1) - 1, axis=-1)
        else:
            s *= _target_mass(y, labels)
            s -= y
        s *= c

    return rowwise(formula, z, y[..., None] if labels else y, axis=z.ndim - 1)


@_quiet_underflow
def softmax_cross_entropy_hessian(logits: np.ndarray, y_true: np.ndarray,
                                  reduction: str = "mean") -> np.ndarray:
    """Block diagonal across samples: per sample (Σ_c t_c)·(diag(p) − p pᵀ)/N ("mean") or
    without /N ("sum"), p = softmax(z); (diag(p) − p pᵀ)/N for labels or targets summing to 1.
    Shape z.shape + z.shape."""
    z, y, labels = _targets(logits, y_true)
    scale = _scale(reduction, _samples(z))
    blocks = _softmax_blocks(_softmax(z, z.ndim - 1))
    w = np.multiply(_target_mass(y, labels), scale, dtype=z.dtype)
    blocks *= w[..., None]
    return _scatter_blocks(blocks, z.shape, z.ndim - 1)


@_quiet_underflow
def softmax_cross_entropy_hvp(v: np.ndarray, logits: np.ndarray, y_true: np.ndarray,
                              reduction: str = "mean") -> np.ndarray:
    """H·v per sample: (Σ_c t_c)·(p ⊙ v − p (p·v))/N ("mean") or without /N ("sum")."""
    z, y, labels = _targets(logits, y_true)
    scale = _scale(reduction, _samples(z))
    p = _softmax(z, z.ndim - 1)
    out = np.multiply(p, _like(v, z, "v"), out=_buf(z))
    pv = np.sum(out, axis=-1, keepdims=True)
    p *= pv
    out -= p
    out *= np.multiply(_target_mass(y, labels), scale, dtype=z.dtype)
    return out
