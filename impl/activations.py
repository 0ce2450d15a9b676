"""Elementwise activations: forward, VJP, full Jacobian and JVP, written in NumPy.

Every op ``f`` comes as four functions:

- ``f(z, ...)``: the forward value, elementwise;
- ``f_backward(grad_out, z, ...)``: the VJP ``g ⊙ f'(z)``;
- ``f_jacobian(z, ...)``: the full Jacobian, shape ``z.shape + z.shape``, ``f'(z)`` on its
  diagonal and 0 elsewhere;
- ``f_jvp(z, tangent, ...)``: the JVP ``tangent ⊙ f'(z)`` (= ``J · tangent``).

Results keep the input's float dtype (integer input is computed in float64). At a kink the
derivative follows torch's convention, stated in each docstring. Underflow to 0 (such as
σ(−1000)) is the intended result: these functions ignore numpy's underflow flag, so they stay
quiet even under ``np.errstate(all="raise")``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._blocked import STREAM
from ._common import (  # noqa: F401  (_buf, _cast, _scaled: shared with the other modules)
    _as_float,
    _buf,
    _cast,
    _deriv,
    _diag,
    _exp_neg_abs,
    _like,
    _quiet_underflow,
    _scaled,
    _sigmoid_into,
    _vjp,
)

__all__ = [
    "identity", "identity_backward", "identity_jacobian", "identity_jvp",
    "relu", "relu_backward", "relu_jacobian", "relu_jvp",
    "leaky_relu", "leaky_relu_backward", "leaky_relu_jacobian", "leaky_relu_jvp",
    "elu", "elu_backward", "elu_jacobian", "elu_jvp",
    "sigmoid", "sigmoid_backward", "sigmoid_jacobian", "sigmoid_jvp",
    "tanh", "tanh_backward", "tanh_jacobian", "tanh_jvp",
    "softplus", "softplus_backward", "softplus_jacobian", "softplus_jvp",
    "silu", "silu_backward", "silu_jacobian", "silu_jvp",
    "gelu", "gelu_backward", "gelu_jacobian", "gelu_jvp",
    "relu6", "relu6_backward", "relu6_jacobian", "relu6_jvp",
    "hardtanh", "hardtanh_backward", "hardtanh_jacobian", "hardtanh_jvp",
]

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_C = 0.044715



def _ndtr(z: np.ndarray) -> np.ndarray:
    """Φ(z), the standard normal CDF (scipy.special.ndtr; imported on first use: scipy.special
    takes 0.3 s to import, and a module without gelu never needs it)."""
    from scipy.special import ndtr

    return ndtr(z)

def _sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) in a new array of z's dtype (stable: see ``_sigmoid_into``), in blocks."""
    return _deriv(_sigmoid_into, z)


def _sigmoid_grad(z: np.ndarray) -> np.ndarray:
    """σ'(z) = σ(z)(1 − σ(z)) in a new array (see ``_sigmoid_d``)."""
    return _deriv(_sigmoid_d, z)


# -- identity ----------------------------------------------------------------------------------
@_quiet_underflow
def identity(z: np.ndarray) -> np.ndarray:
    """f(z) = z (a copy, so the result never aliases the input)."""
    z = _as_float(z)
    return z.copy()


@_quiet_underflow
def identity_backward(grad_out: np.ndarray, z: np.ndarray) -> np.ndarray:
    """f'(z) = 1; dz = g: grad_out itself (no copy; nothing in impl writes into it), or g
    converted to z's dtype."""
    z = _as_float(z)
    return _like(grad_out, z, "grad_out")


@_quiet_underflow
def identity_jacobian(z: np.ndarray) -> np.ndarray:
    """J = I, shape z.shape + z.shape."""
    z = _as_float(z)
    return _diag(np.ones_like(z))


@_quiet_underflow
def identity_jvp(z: np.ndarray, tangent: np.ndarray) -> np.ndarray:
    """J·t = t (a copy)."""
    z = _as_float(z)
    return _like(tangent, z, "tangent").copy()


# -- relu --------------------------------------------------------------------------------------
def _relu_d(out: np.ndarray, z: np.ndarray) -> np.ndarray:
    """relu'(z) = [z > 0] (relu'(0) = 0): the comparison written as 0.0/1.0 into out."""
    return np.greater(z, 0, out=out)


@_quiet_underflow
def relu(z: np.ndarray) -> np.ndarray:
    """relu(z) = max(z, 0)."""
    z = _as_float(z)
    return np.maximum(z, 0)


@_quiet_underflow
def relu_backward(grad_out: np.ndarray, z: np.ndarray) -> np.ndarray:
    """relu'(z) = 1 if z > 0 else 0 (relu'(0) = 0, as torch and jax); dz = g ⊙ [z > 0]."""
    z = _as_float(z)
    return _vjp(_relu_d, _like(grad_out, z, "grad_out"), z, STREAM)


@_quiet_underflow
def relu_jacobian(z: np.ndarray) -> np.ndarray:
    """J = diag([z > 0]) (relu'(0) = 0), shape z.shape + z.shape."""
    z = _as_float(z)
    return _diag(_deriv(_relu_d, z))


@_quiet_underflow
def relu_jvp(z: np.ndarray, tangent: np.ndarray) -> np.ndarray:
    """J·t = t ⊙ [z > 0] (relu'(0) = 0)."""
    z = _as_float(z)
    return _vjp(_relu_d, _like(tangent, z, "tangent"), z, STREAM)


# -- leaky_relu --------------------------------------------------------------------------------
def _leaky_relu_d(out: np.ndarray, z: np.ndarray, negative_slope: float) -> np.ndarray:
    """f'(z) = slope + (1 − slope)·[z > 0]: arithmetic on the mask, not np.where/copyto (20x
    slower on random masks); the slope at z = 0 (torch)."""
    np.greater(z, 0, out=out)
    out *= z.dtype.type(1 - negative_slope)
    out += z.dtype.type(negative_slope)
    return out


@_quiet_underflow
def leaky_relu(z: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    """leaky_relu(z) = z if z > 0 else negative_slope·z."""
    z = _as_float(z)
    out = np.multiply(z, z.dtype.type(negative_slope), out=_buf(z))
    # max(z, slope·z) for slope ≤ 1 (min for slope > 1): z where z > 0, slope·z elsewhere
    return (np.maximum if negative_slope <= 1 else np.minimum)(out, z, out=out)


@_quiet_underflow
def leaky_relu_backward(grad_out: np.ndarray, z: np.ndarray,
                        negative_slope: float = 0.01) -> np.ndarray:
    """f'(z) = 1 if z > 0 else negative_slope (f'(0) = negative_slope, torch's); dz = g ⊙ f'(z)."""
    z = _as_float(z)
    return _vjp(_leaky_relu_d, _like(grad_out, z, "grad_out"), z, STREAM,
                negative_slope=negative_slope)


@_quiet_underflow
def leaky_relu_jacobian(z: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    """J = diag(1 if z > 0 else negative_slope) (f'(0) = negative_slope), shape z.shape * 2."""
    z = _as_float(z)
    return _diag(_deriv(_leaky_relu_d, z, negative_slope=negative_slope))


@_quiet_underflow
def leaky_relu_jvp(z: np.ndarray, tangent: np.ndarray,
                   negative_slope: float = 0.01) -> np.ndarray:
    """J·t = t ⊙ (1 if z > 0 else negative_slope) (f'(0) = negative_slope)."""
    z = _as_float(z)
    return _vjp(_leaky_relu_d, _like(tangent, z, "tangent"), z, STREAM,
                negative_slope=negative_slope)


# -- elu ---------------------------------------------------------------------------------------
def _elu_d(out: np.ndarray, z: np.ndarray, alpha: float) -> np.ndarray:
    """elu'(z) = alpha·exp(min(z, 0)) + (1 − alpha)·[z > 0] (exp never sees a positive
    argument: no overflow); z = 0 takes the left branch: alpha (torch, jax)."""
    d = np.minimum(z, 0, out=out)
    np.exp(d, out=d)
    d *= z.dtype.type(alpha)
    d += np.greater(z, 0) * z.dtype.type(1 - alpha)
    return d


@_quiet_underflow
def elu(z: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """elu(z) = z if z > 0 else alpha·(exp(z) − 1) (computed with expm1)."""
    z = _as_float(z)
    out = np.minimum(z, 0, out=_buf(z))
    np.expm1(out, out=out)
    out *= z.dtype.type(alpha)  # 0 where z > 0: adding max(z, 0) gives z there
    out += np.maximum(z, 0)
    return out


@_quiet_underflow
def elu_backward(grad_out: np.ndarray, z: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """elu'(z) = 1 if z > 0 else alpha·exp(z) (elu'(0) = alpha, torch and jax); dz = g ⊙ elu'(z)."""
    z = _as_float(z)
    return _vjp(_elu_d, _like(grad_out, z, "grad_out"), z, alpha=alpha)


@_quiet_underflow
def elu_jacobian(z: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """J = diag(1 if z > 0 else alpha·exp(z)) (elu'(0) = alpha), shape z.shape * 2."""
    z = _as_float(z)
    return _diag(_deriv(_elu_d, z, alpha=alpha))


@_quiet_underflow
def elu_jvp(z: np.ndarray, tangent: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """J·t = t ⊙ (1 if z > 0 else alpha·exp(z)) (elu'(0) = alpha)."""
    z = _as_float(z)
    return _vjp(_elu_d, _like(tangent, z, "tangent"), z, alpha=alpha)


# -- sigmoid -----------------------------------------------------------------------------------
def _sigmoid_d(out: np.ndarray, z: np.ndarray) -> np.ndarray:
    """σ'(z) = σ(z)(1 − σ(z)) = e/(1 + e)² with e = exp(−|z|) (the same for z and −z, no
    overflow, no cancellation in 1 − σ)."""
    e = _exp_neg_abs(z, out=out)
    return np.divide(e, np.square(1 + e), out=out)


@_quiet_underflow
def sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) = 1 / (1 + exp(−z)), stable for any z: e/(1 + e) for z < 0, e = exp(−|z|)."""
    z = _as_float(z)
    return _sigmoid(z)


@_quiet_underflow
def sigmoid_backward(grad_out: np.ndarray, z: np.ndarray) -> np.ndarray:
    """σ'(z) = σ(z)(1 − σ(z)) = e/(1 + e)², e = exp(−|z|); dz = g ⊙ σ ⊙ (1 − σ)."""
    z = _as_float(z)
    return _vjp(_sigmoid_d, _like(grad_out, z, "grad_out"), z)


@_quiet_underflow
def sigmoid_jacobian(z: np.ndarray) -> np.ndarray:
    """J = diag(σ(z)(1 − σ(z))), shape z.shape + z.shape."""
    z = _as_float(z)
    return _diag(_deriv(_sigmoid_d, z))


@_quiet_underflow
def sigmoid_jvp(z: np.ndarray, tangent: np.ndarray) -> np.ndarray:
    """J·t = t ⊙ σ(z)(1 − σ(z))."""
    z = _as_float(z)
    return _vjp(_sigmoid_d, _like(tangent, z, "tangent"), z)


# -- tanh --------------------------------------------------------------------------------------
def _tanh_d(out: np.ndarray, z: np.ndarray) -> np.ndarray:
    """tanh'(z) = 1 − tanh²(z)."""
    t = np.tanh(z, out=out)
    return np.subtract(1, np.square(t, out=t), out=t)


@_quiet_underflow
def tanh(z: np.ndarray) -> np.ndarray:
    """tanh(z) = (e^z − e^−z) / (e^z + e^−z) (np.tanh)."""
    z = _as_float(z)
    return np.tanh(z)


@_quiet_underflow
def tanh_backward(grad_out: np.ndarray, z: np.ndarray) -> np.ndarray:
    """tanh'(z) = 1 − tanh²(z); dz = g ⊙ (1 − tanh²(z))."""
    z = _as_float(z)
    return _vjp(_tanh_d, _like(grad_out, z, "grad_out"), z)


@_quiet_underflow
def tanh_jacobian(z: np.ndarray) -> np.ndarray:
    """J = diag(1 − tanh²(z)), shape z.shape + z.shape."""
    z = _as_float(z)
    return _diag(_deriv(_tanh_d, z))


@_quiet_underflow
def tanh_jvp(z: np.ndarray, tangent: np.ndarray) -> np.ndarray:
    """J·t = t ⊙ (1 − tanh²(z))."""
    z = _as_float(z)
    return _vjp(_tanh_d, _like(tangent, z, "tangent"), z)


# -- softplus ----------------------------------------------------------------------------------
@_quiet_underflow
def softplus(z: np.ndarray) -> np.ndarray:
    """softplus(z) = log(1 + e^z) = max(z, 0) + log1p(e^−|z|), stable (np.logaddexp(0, z)).

    Exact for every z (torch returns z itself above its threshold z > 20).
    """
    z = _as_float(z)
    return np.logaddexp(0, z)


@_quiet_underflow
def softplus_backward(grad_out: np.ndarray, z: np.ndarray) -> np.ndarray:
    """softplus'(z) = σ(z); dz = g ⊙ σ(z)."""
    z = _as_float(z)
    return _vjp(_sigmoid_into, _like(grad_out, z, "grad_out"), z)


@_quiet_underflow
def softplus_jacobian(z: np.ndarray) -> np.ndarray:
    """J = diag(σ(z)), shape z.shape + z.shape."""
    z = _as_float(z)
    return _diag(_sigmoid(z))


@_quiet_underflow
def softplus_jvp(z: np.ndarray, tangent: np.ndarray) -> np.ndarray:
    """J·t = t ⊙ σ(z)."""
    z = _as_float(z)
    return _vjp(_sigmoid_into, _like(tangent, z, "tangent"), z)


# -- silu --------------------------------------------------------------------------------------
def _silu_d(out: np.ndarray, z: np.ndarray) -> np.ndarray:
    """silu'(z) = σ(z)(1 + z(1 − σ(z)))."""
    s = _sigmoid_into(out, z)
    d = 1 - s
    d *= z
    d += 1
    s *= d
    return s


@_quiet_underflow
def silu(z: np.ndarray) -> np.ndarray:
    """silu(z) = z·σ(z)."""
    z = _as_float(z)
    return _scaled(_sigmoid(z), z)


@_quiet_underflow
def silu_backward(grad_out: np.ndarray, z: np.ndarray) -> np.ndarray:
    """silu'(z) = σ(z)(1 + z(1 − σ(z))); dz = g ⊙ silu'(z)."""
    z = _as_float(z)
    return _vjp(_silu_d, _like(grad_out, z, "grad_out"), z)


@_quiet_underflow
def silu_jacobian(z: np.ndarray) -> np.ndarray:
    """J = diag(σ(z)(1 + z(1 − σ(z)))), shape z.shape + z.shape."""
    z = _as_float(z)
    return _diag(_deriv(_silu_d, z))


@_quiet_underflow
def silu_jvp(z: np.ndarray, tangent: np.ndarray) -> np.ndarray:
    """J·t = t ⊙ σ(z)(1 + z(1 − σ(z)))."""
    z = _as_float(z)
    return _vjp(_silu_d, _like(tangent, z, "tangent"), z)


# -- gelu --------------------------------------------------------------------------------------
def _check_approximate(approximate: str) -> None:
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")


def _gelu_d(out: np.ndarray, z: np.ndarray, approximate: str) -> np.ndarray:
    """gelu'(z) = Φ(z) + z·φ(z), φ(z) = exp(−z²/2)/√(2π) ("none"); "tanh": with
    u = k(z + c z³), t = tanh(u): ½(1 + t) + ½ z (1 − t²) k (1 + 3c z²)."""
    if approximate == "none":
        d = np.square(z, out=out)
        d *= -0.5
        np.exp(d, out=d)
        d *= _INV_SQRT_2PI
        d *= z
        d += _cast(_ndtr(z), z.dtype)
        return d
    z2 = np.square(z)
    t = np.multiply(z2, _GELU_C, out=out)
    t += 1
    t *= z
    t *= _SQRT_2_OVER_PI
    np.tanh(t, out=t)
    z2 *= 3 * _GELU_C  # z2 becomes ½ z u'(z) = ½ z k (1 + 3c z²)
    z2 += 1
    z2 *= 0.5 * _SQRT_2_OVER_PI
    z2 *= z
    sech2 = np.square(t)
    np.subtract(1, sech2, out=sech2)
    sech2 *= z2
    t += 1
    t *= 0.5
    t += sech2
    return t


@_quiet_underflow
def gelu(z: np.ndarray, approximate: str = "none") -> np.ndarray:
    """gelu(z) = z·Φ(z) ("none", exact; Φ the standard normal CDF, scipy.special.ndtr), or
    ½·z·(1 + tanh(√(2/π)(z + 0.044715 z³))) ("tanh"). Any other ``approximate``: ValueError.
    """
    _check_approximate(approximate)
    z = _as_float(z)
    if approximate == "none":
        out = np.multiply(z, _cast(_ndtr(z), z.dtype), out=_buf(z))
        return out
    out = np.multiply(z, z, out=_buf(z))
    out *= _GELU_C
    out += 1
    out *= z
    out *= _SQRT_2_OVER_PI
    np.tanh(out, out=out)
    out += 1
    out *= z
    out *= 0.5
    return out


@_quiet_underflow
def gelu_backward(grad_out: np.ndarray, z: np.ndarray, approximate: str = "none") -> np.ndarray:
    """gelu'(z) = Φ(z) + z·φ(z) ("none"), or, with u = √(2/π)(z + 0.044715 z³),
    ½(1 + tanh u) + ½ z (1 − tanh² u)·√(2/π)(1 + 3·0.044715 z²) ("tanh"); dz = g ⊙ gelu'(z).
    """
    _check_approximate(approximate)
    z = _as_float(z)
    return _vjp(_gelu_d, _like(grad_out, z, "grad_out"), z, approximate=approximate)


@_quiet_underflow
def gelu_jacobian(z: np.ndarray, approximate: str = "none") -> np.ndarray:
    """J = diag(gelu'(z)) (see gelu_backward for gelu'), shape z.shape + z.shape."""
    _check_approximate(approximate)
    z = _as_float(z)
    return _diag(_deriv(_gelu_d, z, approximate=approximate))


@_quiet_underflow
def gelu_jvp(z: np.ndarray, tangent: np.ndarray, approximate: str = "none") -> np.ndarray:
    """J·t = t ⊙ gelu'(z) (see gelu_backward for gelu')."""
    _check_approximate(approximate)
    z = _as_float(z)
    return _vjp(_gelu_d, _like(tangent, z, "tangent"), z, approximate=approximate)


# -- relu6 -------------------------------------------------------------------------------------
def _relu6_d(out: np.ndarray, z: np.ndarray) -> np.ndarray:
    """relu6'(z) = [0 < z < 6] (0 at both kinks), written as 0.0/1.0 into out."""
    return np.logical_and(z > 0, z < 6, out=out)


@_quiet_underflow
def relu6(z: np.ndarray) -> np.ndarray:
    """relu6(z) = min(max(z, 0), 6)."""
    z = _as_float(z)
    return np.clip(z, 0, 6)


@_quiet_underflow
def relu6_backward(grad_out: np.ndarray, z: np.ndarray) -> np.ndarray:
    """relu6'(z) = 1 on (0, 6), 0 elsewhere (0 at both kinks z = 0 and z = 6, torch's);
    dz = g ⊙ [0 < z < 6].
    """
    z = _as_float(z)
    return _vjp(_relu6_d, _like(grad_out, z, "grad_out"), z, STREAM)


@_quiet_underflow
def relu6_jacobian(z: np.ndarray) -> np.ndarray:
    """J = diag([0 < z < 6]) (0 at the kinks z = 0 and z = 6), shape z.shape + z.shape."""
    z = _as_float(z)
    return _diag(_deriv(_relu6_d, z))


@_quiet_underflow
def relu6_jvp(z: np.ndarray, tangent: np.ndarray) -> np.ndarray:
    """J·t = t ⊙ [0 < z < 6] (0 at the kinks z = 0 and z = 6)."""
    z = _as_float(z)
    return _vjp(_relu6_d, _like(tangent, z, "tangent"), z, STREAM)


# -- hardtanh ----------------------------------------------------------------------------------
def _hardtanh_bounds(z: np.ndarray, min_val: float, max_val: float) -> tuple[Any, Any]:
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
    return z.dtype.type(min_val), z.dtype.type(max_val)


def _hardtanh_d(out: np.ndarray, z: np.ndarray, min_val: float, max_val: float) -> np.ndarray:
    """f'(z) = [min_val < z < max_val] (0 at both kinks), written as 0.0/1.0 into out."""
    lo, hi = _hardtanh_bounds(z, min_val, max_val)
    return np.logical_and(z > lo, z < hi, out=out)


@_quiet_underflow
def hardtanh(z: np.ndarray, min_val: float = -1.0, max_val: float = 1.0) -> np.ndarray:
    """hardtanh(z) = min(max(z, min_val), max_val) (min_val > max_val: ValueError)."""
    z = _as_float(z)
    lo, hi = _hardtanh_bounds(z, min_val, max_val)
    return np.clip(z, lo, hi)


@_quiet_underflow
def hardtanh_backward(grad_out: np.ndarray, z: np.ndarray, min_val: float = -1.0,
                      max_val: float = 1.0) -> np.ndarray:
    """f'(z) = 1 strictly inside (min_val, max_val), 0 elsewhere (0 at both kinks, torch's);
    dz = g ⊙ [min_val < z < max_val].
    """
    z = _as_float(z)
    return _vjp(_hardtanh_d, _like(grad_out, z, "grad_out"), z, STREAM, min_val=min_val,
                max_val=max_val)


@_quiet_underflow
def hardtanh_jacobian(z: np.ndarray, min_val: float = -1.0, max_val: float = 1.0) -> np.ndarray:
    """J = diag([min_val < z < max_val]) (0 at both kinks), shape z.shape + z.shape."""
    z = _as_float(z)
    return _diag(_deriv(_hardtanh_d, z, min_val=min_val, max_val=max_val))


@_quiet_underflow
def hardtanh_jvp(z: np.ndarray, tangent: np.ndarray, min_val: float = -1.0,
                 max_val: float = 1.0) -> np.ndarray:
    """J·t = t ⊙ [min_val < z < max_val] (0 at both kinks)."""
    z = _as_float(z)
    return _vjp(_hardtanh_d, _like(tangent, z, "tangent"), z, STREAM, min_val=min_val,
                max_val=max_val)
