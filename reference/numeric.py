"""Finite-difference reference: no framework, float64, the project's own ``impl`` forwards.

Derivatives use the fourth-order central stencil
    f'(x) ≈ (f(x − 2h) − 8 f(x − h) + 8 f(x + h) − f(x + 2h)) / (12 h),  h = 1e-4 · max(1, |x|),
whose truncation error is O(h⁴) and rounding error about 1.5 ε |f| / h: roughly 1e-12 relative
for smooth ops away from kinks (the catalog keeps inputs ≥ 0.05 from every kink). Hessians
differentiate the gradient of ``impl`` when the function is an ``impl`` op, otherwise a
finite-difference gradient. Every evaluation is in float64 whatever the case's dtype.

Kinks. Where the five points straddle a kink the stencil is no derivative at all. Each
derivative is therefore also estimated from each side alone, with the second-order one-sided
stencils (3f(x) − 4f(x ∓ h) + f(x ∓ 2h)) / (±2h) (chainer's ``detect_nondifferentiable`` compares
fits on each side the same way). On a smooth function the two differ by (2/3)·h²·f⁽³⁾ ≈ 1e-8·f⁽³⁾;
across a kink by a fraction of the jump of the derivative. Where they differ by more than
1e-3 of their size, plus 64ε|f|/h for the rounding of f's own value (a summed loss is large,
and so is its rounding), plus 1e-6 of the largest derivative computed in the same call (what
tells the jump of a derivative from noise where a gradient is ~0), the entry is returned
as NaN, which ``gradverify.diagnose.check`` reads as "not trusted here": the element is left
out of the comparison with a warning, and the other elements are still compared. (A kink of
f'' alone, such as elu's at 0, leaves f' continuous: the sides agree, and the central value is
off by ~h·Δf''/6 there; the catalog keeps inputs 0.05 away from such points.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from .base import Arrays, Reference, is_float

STEP = 1e-4
EPS = float(np.finfo(np.float64).eps)


def _f64(xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(x, dtype=np.float64) if is_float(x) else np.asarray(x) for x in xs]


def differences(fx: Callable[[float], np.ndarray], h: float) -> tuple[np.ndarray, ...]:
    """(central, left, right, f(0)): the 4th-order central difference of ``fx`` at 0, the
    second-order one-sided ones, from the five points −2h, −h, 0, h, 2h, and the value."""
    m2, m1, f0, p1, p2 = (fx(t * h) for t in (-2, -1, 0, 1, 2))
    central = (m2 - 8 * m1 + 8 * p1 - p2) / (12 * h)
    left = (3 * f0 - 4 * m1 + m2) / (2 * h)
    right = (-3 * f0 + 4 * p1 - p2) / (2 * h)
    return central, left, right, f0


def _stencil(fx: Callable[[float], np.ndarray], h: float) -> tuple[np.ndarray, ...]:
    """(central difference, |left − right|, the gap a smooth function may show): the one-sided
    estimates differ by O(h³) on a smooth function, plus the rounding of the one-sided stencils
    (~8ε|f|/h), and by a fraction of the derivative's jump across a kink."""
    central, left, right, f0 = differences(fx, h)
    with np.errstate(invalid="ignore"):
        gap = np.abs(left - right)
        smooth = 1e-3 * (np.abs(left) + np.abs(right)) + 64 * EPS * np.abs(f0) / h + 1e-12
    return central, gap, smooth


def _mark(results: Sequence[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    """The central differences, NaN where the one-sided ones disagree by more than a smooth
    function allows plus 1e-6 of the largest derivative in all of ``results`` (the scale that
    tells a derivative's jump from rounding noise)."""
    scale = max((float(np.nanmax(np.abs(c), initial=0.0)) for c, _, _ in results), default=0.0)
    with np.errstate(invalid="ignore"):
        return tuple(np.where(gap > smooth + 1e-6 * scale, np.nan, c) for c, gap, smooth in results)


class NumericReference(Reference):
    name = "numeric"

    def __init__(self, device: str = "cpu", step: float = STEP) -> None:
        if device != "cpu":
            raise RuntimeError("finite differences run on the CPU only")
        from gradverify import impl
        self.version = f"central differences, 4th order, h = {step:g}·max(1, |x|)"
        self.step = step
        self.ops = {n: getattr(impl, n) for n in impl.__all__ if hasattr(impl, n + "_backward")}
        self._grad_of = {getattr(impl, n): getattr(impl, n + "_backward") for n in self.ops}

    def call(self, f: Callable, inputs: Sequence[np.ndarray]) -> np.ndarray:
        return np.asarray(f(*_f64(inputs)))

    def _jac(self, f: Callable, args: list[np.ndarray], i: int) -> tuple[np.ndarray, ...]:
        """(Jacobian, gaps, smooth gaps) of f w.r.t. args[i], element by element."""
        x = args[i]
        out_shape = np.shape(f(*args))
        parts = [np.empty(out_shape + x.shape) for _ in range(3)]
        cols = [p.reshape(out_shape + (x.size,)) for p in parts]
        flat = x.reshape(-1)  # a view: perturb one element at a time, then restore it

        for k in range(x.size):
            x0 = flat[k]

            def fx(t: float, k: int = k, x0: Any = x0) -> np.ndarray:
                flat[k] = x0 + t
                return np.asarray(f(*args), dtype=np.float64)

            for col, value in zip(cols, _stencil(fx, self.step * max(1.0, abs(x0)))):
                col[..., k] = value
            flat[k] = x0
        return tuple(parts)

    def jacobian(self, f: Callable, inputs: Sequence[np.ndarray],
                 argnums: Sequence[int]) -> Arrays:
        # C order: _jac perturbs elements through a flat view (a transposed input would copy)
        args = [np.array(x, copy=True, order="C") for x in _f64(inputs)]
        return _mark([self._jac(f, args, i) for i in argnums])

    def vjp(self, f: Callable, inputs: Sequence[np.ndarray], cotangent: np.ndarray,
            argnums: Sequence[int]) -> Arrays:
        cot = np.asarray(cotangent, dtype=np.float64)
        jacs = self.jacobian(f, inputs, argnums)
        return tuple(np.tensordot(cot, j, axes=cot.ndim) for j in jacs)

    def jvp(self, f: Callable, inputs: Sequence[np.ndarray], tangent: np.ndarray,
            argnum: int = 0) -> np.ndarray:
        args = _f64(inputs)
        x, v = args[argnum], np.asarray(tangent, dtype=np.float64)
        scale = max(1.0, float(np.max(np.abs(x), initial=0.0)))
        size = float(np.max(np.abs(v), initial=0.0)) or 1.0

        def fv(t: float) -> np.ndarray:
            args[argnum] = x + t * v
            return np.asarray(f(*args), dtype=np.float64)

        return _mark([_stencil(fv, self.step * scale / size)])[0]

    def _gradient(self, f: Callable) -> Callable:
        """The gradient of a scalar f: impl's own formula for an impl op, else FD."""
        base = f.func if isinstance(f, partial) else f
        if base in self._grad_of:
            kw = f.keywords if isinstance(f, partial) else {}
            return partial(self._grad_of[base], 1.0, **kw)

        def fd_grad(*args: np.ndarray) -> np.ndarray:
            return self.vjp(f, args, np.asarray(1.0), [0])[0]

        return fd_grad

    def hessian(self, f: Callable, inputs: Sequence[np.ndarray], argnum: int = 0) -> np.ndarray:
        if argnum != 0:
            raise NotImplementedError("numeric Hessians differentiate the first input")
        args = [np.array(x, copy=True, order="C") for x in _f64(inputs)]
        return _mark([self._jac(self._gradient(f), args, 0)])[0]

    def hvp(self, f: Callable, inputs: Sequence[np.ndarray], v: np.ndarray,
            argnum: int = 0) -> np.ndarray:
        if argnum != 0:
            raise NotImplementedError("numeric Hessians differentiate the first input")
        return self.jvp(self._gradient(f), inputs, v, 0)
