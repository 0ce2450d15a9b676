"""Losses: scalar forward, gradient w.r.t. the prediction, Hessian and Hessian-vector product.

For a loss ``f(pred, ...)``:

- ``f(pred, ...)`` returns a 0-d value (a NumPy scalar) of the prediction's dtype;
- ``f_backward(grad_out, pred, ...)`` takes the scalar upstream gradient g and returns
  g · ∂L/∂pred, with pred's shape and dtype (targets are not differentiated);
- ``f_hessian(pred, ...)`` is ∂²L/∂pred², shape ``pred.shape + pred.shape``;
- ``f_hvp(v, pred, ...)`` is H·v, shape ``pred.shape``.

``reduction="mean"`` divides by the number of terms n (all elements, or the samples when the
class axis is summed first); ``"sum"`` does not; anything else raises ValueError. A mean over
zero terms is NaN (as torch). Targets are taken in the prediction's dtype.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .activations import _as_float, _buf, _diag, _like, _quiet_underflow, _sigmoid, _sigmoid_grad
from .softmax import _log_softmax, _scatter_blocks, _softmax, _softmax_blocks

__all__ = [
    "sum_of_squares", "sum_of_squares_backward", "sum_of_squares_hessian", "sum_of_squares_hvp",
    "mse", "mse_backward", "mse_hessian", "mse_hvp",
    "l2", "l2_backward", "l2_hessian", "l2_hvp",
    "mae", "mae_backward", "mae_hessian", "mae_hvp",
    "huber", "huber_backward", "huber_hessian", "huber_hvp",
    "bce", "bce_backward", "bce_hessian", "bce_hvp",
    "bce_with_logits", "bce_with_logits_backward", "bce_with_logits_hessian",
    "bce_with_logits_hvp",
    "cross_entropy", "cross_entropy_backward", "cross_entropy_hessian", "cross_entropy_hvp",
    "softmax_cross_entropy", "softmax_cross_entropy_backward", "softmax_cross_entropy_hessian",
    "softmax_cross_entropy_hvp",
]

_LOG_FLOOR = -100.0  # torch's clamp of log in binary_cross_entropy (forward only)
_BCE_EPS = 1e-12  # torch's floor of p(1 − p) in binary_cross_entropy's backward


# -- private helpers ---------------------------------------------------------------------------
def _scale(reduction: str, n: int) -> float:
    """The factor of a reduction over n terms: 1/n for "mean" (NaN for n = 0), 1 for "sum"."""
    if reduction == "mean":
        return 1.0 / n if n else math.nan
    if reduction == "sum":
        return 1.0
    raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def _value(total: Any, scale: float, like: np.ndarray) -> np.floating:
    """The loss as a 0-d NumPy scalar of the prediction's dtype."""
    return like.dtype.type(total * scale)


def _upstream(grad_out: Any, like: np.ndarray) -> np.floating:
    """The scalar upstream gradient g in the prediction's dtype (ValueError unless 0-d)."""
    g = np.asarray(grad_out, dtype=like.dtype)
    if g.ndim:
        raise ValueError(f"grad_out of a loss must be a scalar, got shape {g.shape}")
    return like.dtype.type(g)


def _pair(pred: Any, target: Any, name: str = "y_true") -> tuple[np.ndarray, np.ndarray]:
    """Prediction and target as arrays of the prediction's float dtype, of the same shape."""
    pred = _as_float(pred)
    return pred, _like(target, pred, name)


def _residual(y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
    """r = y_pred − y_true in a new buffer."""
    return np.subtract(y_pred, y_true, out=_buf(y_pred))


def _rows(x: np.ndarray) -> int:
    """N of Park's cost: the number of rows (samples in rows); 1 for a 0-d input."""
    return x.shape[0] if x.ndim else 1


def _samples(x: np.ndarray) -> int:
    """Samples when the class axis is last: prod(shape[:-1]); 1 for a single 1-D sample."""
    if x.ndim == 0:
        raise ValueError("expected at least 1 dimension (the class axis is last), got a 0-d input")
    return math.prod(x.shape[:-1])


def _const_hessian(like: np.ndarray, c: float) -> np.ndarray:
    """c·I, shape like.shape + like.shape."""
    return _diag(np.full_like(like, c))


def _log_clamped(p: np.ndarray) -> np.ndarray:
    """max(log p, −100) in a new buffer (torch's convention: p = 0 gives −100, not −inf)."""
    with np.errstate(divide="ignore"):
        out = np.log(p, out=_buf(p))
    return np.maximum(out, _LOG_FLOOR, out=out)


# -- sum of squares (seed 000) -----------------------------------------------------------------
@_quiet_underflow
def sum_of_squares(y_pred: np.ndarray) -> np.floating:
    """L = Σ y²."""
    y = _as_float(y_pred)
    return _value(np.vdot(y, y), 1.0, y)


@_quiet_underflow
def sum_of_squares_backward(grad_out: float | np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """∂L/∂y = 2y; dy = 2·g·y."""
    y = _as_float(y_pred)
    return np.multiply(y, 2 * _upstream(grad_out, y), out=_buf(y))


@_quiet_underflow
def sum_of_squares_hessian(y_pred: np.ndarray) -> np.ndarray:
    """H = 2I, shape y.shape + y.shape."""
    return _const_hessian(_as_float(y_pred), 2)


@_quiet_underflow
def sum_of_squares_hvp(v: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """H·v = 2v."""
    y = _as_float(y_pred)
    return np.multiply(_like(v, y, "v"), 2, out=_buf(y))


# -- mean squared error ------------------------------------------------------------------------
@_quiet_underflow
def mse(y_pred: np.ndarray, y_true: np.ndarray, reduction: str = "mean") -> np.floating:
    """L = (1/n) Σ (y − t)² over all n elements ("mean", torch's mse_loss) or Σ (y − t)²
    ("sum")."""
    y, t = _pair(y_pred, y_true)
    scale = _scale(reduction, y.size)
    r = _residual(y, t)
    return _value(np.vdot(r, r), scale, y)


@_quiet_underflow
def mse_backward(grad_out: float | np.ndarray, y_pred: np.ndarray, y_true: np.ndarray,
                 reduction: str = "mean") -> np.ndarray:
    """∂L/∂y = 2(y − t)/n ("mean") or 2(y − t) ("sum"); dy = g·∂L/∂y."""
    y, t = _pair(y_pred, y_true)
    c = 2 * _upstream(grad_out, y) * _scale(reduction, y.size)
    r = _residual(y, t)
    r *= c
    return r


@_quiet_underflow
def mse_hessian(y_pred: np.ndarray, y_true: np.ndarray, reduction: str = "mean") -> np.ndarray:
    """H = 2I/n ("mean") or 2I ("sum"), shape y.shape + y.shape."""
    y, _ = _pair(y_pred, y_true)
    return _const_hessian(y, 2 * _scale(reduction, y.size))


@_quiet_underflow
def mse_hvp(v: np.ndarray, y_pred: np.ndarray, y_true: np.ndarray,
            reduction: str = "mean") -> np.ndarray:
    """H·v = 2v/n ("mean") or 2v ("sum")."""
    y, _ = _pair(y_pred, y_true)
    return np.multiply(_like(v, y, "v"), 2 * _scale(reduction, y.size), out=_buf(y))


# -- L2 cost, samples in rows (Park) ----------------------------------------------------------
@_quiet_underflow
def l2(y_pred: np.ndarray, y_true: np.ndarray) -> np.floating:
    """L = (1/N) Σ_k ½‖o_k − y_k‖², samples in rows: N = y_pred.shape[0] (1 for a 0-d input)."""
    y, t = _pair(y_pred, y_true)
    r = _residual(y, t)
    return _value(np.vdot(r, r), 0.5 * _scale("mean", _rows(y)), y)


@_quiet_underflow
def l2_backward(grad_out: float | np.ndarray, y_pred: np.ndarray,
                y_true: np.ndarray) -> np.ndarray:
    """∂L/∂o = (o − y)/N (Park, Theorem 6.1: δ = o − y); do = g·(o − y)/N."""
    y, t = _pair(y_pred, y_true)
    c = _upstream(grad_out, y) * _scale("mean", _rows(y))
    r = _residual(y, t)
    r *= c
    return r


@_quiet_underflow
def l2_hessian(y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
    """H = I/N, shape y.shape + y.shape."""
    y, _ = _pair(y_pred, y_true)
    return _const_hessian(y, _scale("mean", _rows(y)))


@_quiet_underflow
def l2_hvp(v: np.ndarray, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
    """H·v = v/N."""
    y, _ = _pair(y_pred, y_true)
    return np.multiply(_like(v, y, "v"), _scale("mean", _rows(y)), out=_buf(y))


# -- mean absolute error -----------------------------------------------------------------------
@_quiet_underflow
def mae(y_pred: np.ndarray, y_true: np.ndarray, reduction: str = "mean") -> np.floating:
    """L = (1/n) Σ |y − t| ("mean", torch's l1_loss) or Σ |y − t| ("sum")."""
    y, t = _pair(y_pred, y_true)
    scale = _scale(reduction, y.size)
    r = _residual(y, t)
    return _value(np.sum(np.abs(r, out=r)), scale, y)


@_quiet_underflow
def mae_backward(grad_out: float | np.ndarray, y_pred: np.ndarray, y_true: np.ndarray,
                 reduction: str = "mean") -> np.ndarray:
    """∂L/∂y = sign(y − t)/n ("mean") or sign(y − t) ("sum"), with sign(0) = 0 (mae'(0) = 0,
    as torch); dy = g·∂L/∂y."""
    y, t = _pair(y_pred, y_true)
    c = _upstream(grad_out, y) * _scale(reduction, y.size)
    r = _residual(y, t)
    np.sign(r, out=r)
    r *= c
    return r


@_quiet_underflow
def mae_hessian(y_pred: np.ndarray, y_true: np.ndarray, reduction: str = "mean") -> np.ndarray:
    """H = 0 (the kink r = 0 has no curvature by convention), shape y.shape + y.shape."""
    y, _ = _pair(y_pred, y_true)
    _scale(reduction, y.size)
    return np.zeros(y.shape * 2, dtype=y.dtype)


@_quiet_underflow
def mae_hvp(v: np.ndarray, y_pred: np.ndarray, y_true: np.ndarray,
            reduction: str = "mean") -> np.ndarray:
    """H·v = 0."""
    y, _ = _pair(y_pred, y_true)
    _like(v, y, "v")
    _scale(reduction, y.size)
    return np.zeros_like(y)


# -- huber -------------------------------------------------------------------------------------
def _delta(delta: float, like: np.ndarray) -> np.floating:
    if not delta > 0:
        raise ValueError(f"huber: delta must be positive, got {delta!r}")
    return like.dtype.type(delta)


def _huber_curvature(y: np.ndarray, t: np.ndarray, delta: float, scale: float) -> np.ndarray:
    """[|r| < delta]·scale (0 at |r| = delta: torch's branch)."""
    r = _residual(y, t)
    h = (np.abs(r, out=r) < _delta(delta, y)).astype(y.dtype)
    h *= scale
    return h


@_quiet_underflow
def huber(y_pred: np.ndarray, y_true: np.ndarray, delta: float = 1.0,
          reduction: str = "mean") -> np.floating:
    """torch's huber_loss: per element ½r² if |r| < delta else delta(|r| − ½delta), r = y − t,
    then mean or sum. Computed as Σ q(|r| − ½q) with q = min(|r|, delta) (one formula for both
    branches): Σ q|r| − ½ Σ q²."""
    y, t = _pair(y_pred, y_true)
    scale = _scale(reduction, y.size)
    a = _residual(y, t)
    np.abs(a, out=a)
    q = np.minimum(a, _delta(delta, y))
    return _value(np.vdot(q, a) - 0.5 * np.vdot(q, q), scale, y)


@_quiet_underflow
def huber_backward(grad_out: float | np.ndarray, y_pred: np.ndarray, y_true: np.ndarray,
                   delta: float = 1.0, reduction: str = "mean") -> np.ndarray:
    """∂ℓ/∂y = r if |r| < delta else delta·sign(r) = clip(r, −delta, delta) (continuous at
    |r| = delta); dy = g·clip(r, −delta, delta)/n ("mean") or without /n ("sum")."""
    y, t = _pair(y_pred, y_true)
    c = _upstream(grad_out, y) * _scale(reduction, y.size)
    d = _delta(delta, y)
    r = _residual(y, t)
    np.clip(r, -d, d, out=r)
    r *= c
    return r


@_quiet_underflow
def huber_hessian(y_pred: np.ndarray, y_true: np.ndarray, delta: float = 1.0,
                  reduction: str = "mean") -> np.ndarray:
    """H = diag([|r| < delta])/n ("mean") or diag([|r| < delta]) ("sum"); convention at
    |r| = delta: 0 (torch's branch). Shape y.shape + y.shape."""
    y, t = _pair(y_pred, y_true)
    return _diag(_huber_curvature(y, t, delta, _scale(reduction, y.size)))


@_quiet_underflow
def huber_hvp(v: np.ndarray, y_pred: np.ndarray, y_true: np.ndarray, delta: float = 1.0,
              reduction: str = "mean") -> np.ndarray:
    """H·v = v ⊙ [|r| < delta]/n ("mean") or v ⊙ [|r| < delta] ("sum") (0 at |r| = delta)."""
    y, t = _pair(y_pred, y_true)
    h = _huber_curvature(y, t, delta, _scale(reduction, y.size))
    h *= _like(v, y, "v")
    return h


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
    den = np.subtract(1, p, out=_buf(p))
    den *= p
    np.maximum(den, _BCE_EPS, out=den)
    r = _residual(p, t)
    r /= den
    r *= c
    return r


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
    s = _sigmoid(z)
    s -= t
    s *= c
    return s


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
def _ce_inverse(p: np.ndarray, t: np.ndarray, power: int) -> np.ndarray:
    """t/p^power, 0 wherever t = 0 (so p = 0 there gives no NaN)."""
    out = np.zeros_like(p)
    nz = t != 0
    np.divide(t, p, out=out, where=nz)
    if power == 2:
        np.divide(out, p, out=out, where=nz)
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
    out = _ce_inverse(p, t, 1)
    out *= -c
    return out


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
    return 1 if labels else np.sum(t, axis=-1, keepdims=True)


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
    s = _softmax(z, z.ndim - 1)
    if labels:
        idx = y[..., None]
        np.put_along_axis(s, idx, np.take_along_axis(s, idx, axis=-1) - 1, axis=-1)
    else:
        s *= _target_mass(y, labels)
        s -= y
    s *= c
    return s


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
