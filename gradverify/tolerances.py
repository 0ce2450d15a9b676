"""Allowances: how far a correct formula may be from a reference, per dtype and kind of value.

An element passes when

    |actual − expected| ≤ atol + rtol·|expected| + floor·M,    M = max(m, ‖expected‖∞)

with ``m`` the element's *magnitude of terms* and ‖expected‖∞ the largest magnitude in the
compared array. The reasoning, from how rounding errors grow:

- A value that is a sum of products Σ aₖbₖ (a matmul, a reduction, a chain rule) computed in
  floating point carries an error bounded by γₙ·Σ|aₖbₖ| (Higham, *Accuracy and Stability of
  Numerical Algorithms*, §3.1), and in practice ~√n·u·Σ|aₖbₖ| (rounding errors add like a
  random walk); u is the unit roundoff (2⁻²⁴ in float32, 2⁻⁵³ in float64). The error is
  proportional to the magnitude of the *terms*, not of the result: an element that is small
  because its terms cancel (a dW entry summed over 100 samples, gelu's derivative near its zero
  crossing, s·(g − Σg·s) in softmax's VJP) keeps the error of its terms. A purely elementwise
  rtol wrongly treats it as precise.
- ``m`` is obtained as the terms' magnitude is defined: the same quantity evaluated by the same
  reference on absolute values (|x|, |cotangent|), so that no sign can cancel: for a linear
  layer this is exactly |X|ᵀ|Δ|. It is computed only when an element fails the cheaper bound
  (most cases never need it). ‖expected‖∞ stands in for it otherwise: every element's terms are
  at most as large as the largest terms in the array in the common case, and a normwise bound
  is what summation gives for whole vectors.
- ``floor`` is 256·u for the framework references: the terms are rarely more than a few hundred
  deep here, √n ≤ 32 for the largest reductions in the catalog, times a margin of 8. In float64
  that is 2.8e-14·M: a formula computed in float32 (errors ≈ 6e-8 relative) still fails by a
  factor of several hundred (the mistakes catalog's float32 sigmoid: 811×), and every O(1)
  mistake by about ten orders of magnitude. In float32 it is 1.5e-5·M: float32 cases check
  dtype handling and stability, while float64 cases, which every op also runs, catch wrong
  formulas on every element, small or not.
- ``rtol`` keeps the elementwise part for elements that are large on their own: float64 1e-10
  (~5·10⁵ ulps of headroom, still 500× tighter than float32's ε), float32 1e-5 for values and
  1e-4 for gradients (one or two more roundings through exp/erf/tanh, which libraries implement
  to a few ulps). ``atol`` is for entries whose exact value is 0.

Finite differences (the ``numeric`` reference, always float64) have their own error: truncation
O(h⁴) with h = 1e-4 and rounding ≈ 1.5·ε·|f|/h ≈ 3e-12·|f| relative to the *function value* f,
which for a summed loss is larger than any one gradient entry: rtol 1e-7, atol 1e-9, and a floor
of 1e-8·M. Elements where the stencil crossed a kink are not compared at all (see
``reference.numeric``). In float32 cases the float32 rows apply (the case's own error dominates).

Second derivatives ("hessian") by a framework differentiate its first-derivative formula, whose
float32 rounding (~ε|g|) is then divided by the input's scale (autograd's abs' = x/|x| has
derivative 0 but returns ~ε/|x| ≈ 2e-6 at |x| = 0.05 in float32): float32 atol 1e-5.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .opspec import OpSpec

#: unit roundoff u = ε/2 per dtype
UNIT_ROUNDOFF = {"float32": 2.0**-24, "float64": 2.0**-53}
#: the floor in units of u: √n ≤ 32 for the catalog's reductions, × 8 margin
GROWTH = 256


class Allowance(NamedTuple):
    """|actual − expected| ≤ atol + rtol·|expected| + floor·max(magnitude, ‖expected‖∞)."""

    rtol: float
    atol: float
    floor: float = 0.0

    def bound(self, expected: np.ndarray, magnitude: np.ndarray | None = None) -> np.ndarray:
        """The allowed absolute error of every element of ``expected``."""
        e = np.abs(np.asarray(expected, np.float64))
        finite = np.isfinite(e)
        scale = float(e[finite].max(initial=0.0))
        terms = np.full(e.shape, scale)
        if magnitude is not None:
            m = np.abs(np.asarray(magnitude, np.float64))
            terms = np.maximum(terms, np.where(np.isfinite(m), m, 0.0))
        return self.atol + self.rtol * np.where(finite, e, 0.0) + self.floor * terms


Tol = Allowance  # the name older code imports

_ROWS: dict[tuple[str, str], tuple[float, float]] = {  # (rtol, atol)
    ("float64", "value"): (1e-10, 1e-12),
    ("float64", "grad"): (1e-10, 1e-12),
    ("float64", "hessian"): (1e-10, 1e-12),
    ("float32", "value"): (1e-5, 1e-6),
    ("float32", "grad"): (1e-4, 1e-6),
    ("float32", "hessian"): (1e-4, 1e-5),
}

#: finite differences in float64 cases: (rtol, atol, floor)
NUMERIC: dict[str, Allowance] = {
    "value": Allowance(1e-10, 1e-12, GROWTH * UNIT_ROUNDOFF["float64"]),
    "grad": Allowance(1e-7, 1e-9, 1e-8),
    "hessian": Allowance(1e-7, 1e-9, 1e-8),
}


def tolerance(dtype: str, kind: str, reference: str, spec: OpSpec | None = None) -> Allowance:
    """The allowance for comparing ``kind`` ("value", "grad" or "hessian") of a ``dtype`` case
    with ``reference``."""
    key = f"{dtype}:{kind}"
    if spec is not None and key in spec.tol:
        rtol, atol = spec.tol[key]
        return Allowance(rtol, atol, GROWTH * UNIT_ROUNDOFF.get(dtype, 2.0**-53))
    if reference == "numeric" and dtype == "float64":
        return NUMERIC[kind]
    rtol, atol = _ROWS[(dtype, kind)]
    return Allowance(rtol, atol, GROWTH * UNIT_ROUNDOFF[dtype])
