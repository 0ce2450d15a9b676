"""Private helpers shared by impl's modules: input conversion, buffers, diagonal Jacobians, and
the blocked VJP/JVP of an elementwise derivative (see ``_blocked``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from ._blocked import BLOCK, elementwise

_F = TypeVar("_F", bound=Callable[..., Any])


def _quiet_underflow(func: _F) -> _F:
    """Run ``func`` with numpy's underflow flag ignored (a fresh errstate per call)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(under="ignore"):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _as_float(x: Any) -> np.ndarray:
    """``x`` as an array; float dtypes are kept, integer and bool input become float64."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.inexact):
        x = x.astype(np.float64)
    return x


def _like(v: Any, z: np.ndarray, name: str) -> np.ndarray:
    """``v`` as an array with ``z``'s dtype (no copy if it has it), checked to have z's shape."""
    v = np.asarray(v, dtype=z.dtype)
    if v.shape != z.shape:
        raise ValueError(f"{name} has shape {v.shape}, expected {z.shape} (the input's shape)")
    return v


def _buf(z: np.ndarray) -> np.ndarray:
    """A fresh, writable array with ``z``'s shape, dtype and layout (an array even if 0-d)."""
    return np.empty_like(z)


def _cast(x: Any, dtype: np.dtype) -> Any:
    """``x`` in ``dtype`` (scipy ufuncs have no float16 loop); no copy when it already is."""
    return x if x.dtype == dtype else x.astype(dtype)


def _diag(d: np.ndarray) -> np.ndarray:
    """The Jacobian of an elementwise map with derivative ``d``: shape ``d.shape * 2``."""
    n = d.size
    jac = np.zeros((n, n), dtype=d.dtype)
    jac.reshape(-1)[:: n + 1] = np.reshape(d, -1)  # the flat diagonal: stride n + 1
    return jac.reshape(d.shape * 2)


def _scaled(d: Any, v: np.ndarray) -> Any:
    """``d ⊙ v`` in ``d``'s own buffer (``d`` is owned by the caller; a 0-d ``d`` rebinds)."""
    d *= v
    return d


def _exp_neg_abs(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """e = exp(−|z|) ∈ (0, 1]: the one exponential of the stable sigmoid forms."""
    e = np.abs(z, out=out)
    np.negative(e, out=e)
    return np.exp(e, out=e)


def _sigmoid_into(out: np.ndarray, z: np.ndarray) -> np.ndarray:
    """out = σ(z) = 1/(1 + e^−z); for z ≪ 0, e^−z overflows to inf and σ = 0, its limit
    (the overflow is expected and not reported)."""
    s = np.negative(z, out=out)
    with np.errstate(over="ignore"):
        np.exp(s, out=s)
    s += 1
    return np.divide(1, s, out=s)


Derivative = Callable[..., Any]  # deriv(out, z, **params): writes f'(z) into out


def _deriv(deriv: Derivative, z: np.ndarray, **params: Any) -> np.ndarray:
    """f'(z) in a new array, evaluated in blocks."""
    return elementwise(lambda out, z: deriv(out, z, **params), z)


def _vjp(deriv: Derivative, v: np.ndarray, z: np.ndarray, block: int = BLOCK,
         **params: Any) -> np.ndarray:
    """v ⊙ f'(z) (the VJP with v = g, the JVP with v = t), in blocks: f'(z), then ⊙ v."""
    def formula(out: np.ndarray, v: np.ndarray, z: np.ndarray) -> None:
        deriv(out, z, **params)
        out *= v

    return elementwise(formula, v, z, block=block)
