"""Private helpers of the losses: reductions, the upstream scalar, input pairs."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._common import _as_float, _buf, _diag, _like

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


def _scaled_residual(out: np.ndarray, y: np.ndarray, t: np.ndarray, c: Any) -> np.ndarray:
    """out = c·(y − t)."""
    r = np.subtract(y, t, out=out)
    r *= c
    return r


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
