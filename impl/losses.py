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

import numpy as np

from . import _classification
from ._blocked import STREAM, elementwise
from ._classification import *  # noqa: F403  (bce, bce_with_logits, cross_entropy, ...)
from ._common import _as_float, _buf, _diag, _like, _quiet_underflow
from ._loss_common import (
    _const_hessian,
    _pair,
    _residual,
    _rows,
    _scale,
    _scaled_residual,
    _upstream,
    _value,
)

__all__ = [
    "sum_of_squares", "sum_of_squares_backward", "sum_of_squares_hessian", "sum_of_squares_hvp",
    "mse", "mse_backward", "mse_hessian", "mse_hvp",
    "l2", "l2_backward", "l2_hessian", "l2_hvp",
    "mae", "mae_backward", "mae_hessian", "mae_hvp",
    "huber", "huber_backward", "huber_hessian", "huber_hvp",
    *_classification.__all__,
]


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
    c = 2 * _upstream(grad_out, y)
    return elementwise(lambda out, y: np.multiply(y, c, out=out), y, block=STREAM)


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
    return elementwise(lambda out, y, t: _scaled_residual(out, y, t, c), y, t, block=STREAM)


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
    return elementwise(lambda out, y, t: _scaled_residual(out, y, t, c), y, t, block=STREAM)


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

    def formula(out: np.ndarray, y: np.ndarray, t: np.ndarray) -> None:
        np.sign(np.subtract(y, t), out=out)  # sign(y − t); np.sign in place is ~20x slower
        out *= c

    return elementwise(formula, y, t)


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

    def formula(out: np.ndarray, y: np.ndarray, t: np.ndarray) -> None:
        np.clip(np.subtract(y, t, out=out), -d, d, out=out)  # clip(r, −delta, delta)
        out *= c

    return elementwise(formula, y, t, block=STREAM)


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
