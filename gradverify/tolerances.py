"""Tolerances: one table, per dtype and per kind of comparison, with the reasons.

A comparison passes where |actual − expected| ≤ atol + rtol·|expected| element by element
(numpy.testing.assert_allclose's rule).

float64 against a framework: both sides are the same math in IEEE double, differing only in
the order of a handful of roundings, so agreement is within a few ulps (ε = 2.2e-16). rtol 1e-10
leaves room for ~10⁵ ulps of cancellation (softmax's g − Σ g·s, log-sum-exp) and is still
~500× tighter than float32's ε = 1.2e-7: a formula computed in float32 and cast back to float64
fails it. atol is for entries whose exact value is 0 (off-diagonal Jacobian entries, the
gradient of a saturated unit).

float32: a single op rounds to ~1 ulp (6e-8 relative), a reduction over n terms to ~n ulps;
forward values get 1e-5, gradients (one more op) 1e-4, atol 1e-6 for values near zero.

Finite differences (the ``numeric`` reference, always float64) are limited by the stencil:
truncation O(h⁴) with h = 1e-4 and rounding ~1.5ε|f|/h ≈ 3e-12·|f|; 1e-7 holds a 1e4 margin
for curvature. In float32 cases the float32 rows apply (the case's own error dominates).
Hessians from finite differences of a gradient carry the same error as a gradient.

Second derivatives ("hessian": Hessians and HVPs) by a framework differentiate its first-
derivative formula, whose float32 rounding (~ε|g|) is then divided by the input's scale: e.g.
autograd's abs' = x/|x| has derivative 0, but in float32 it returns ~ε/|x| ≈ 2e-6 at |x| = 0.05.
float32 Hessians get atol 1e-5; float64 keeps the gradient row.
"""

from __future__ import annotations

from .catalog import OpSpec

Tol = tuple[float, float]  # (rtol, atol)

TOLERANCES: dict[tuple[str, str], Tol] = {
    ("float64", "value"): (1e-10, 1e-12),
    ("float64", "grad"): (1e-10, 1e-12),
    ("float32", "value"): (1e-5, 1e-6),
    ("float32", "grad"): (1e-4, 1e-6),
    ("float64", "hessian"): (1e-10, 1e-12),
    ("float32", "hessian"): (1e-4, 1e-5),
}

#: finite differences: used instead of the float64 rows when the reference is ``numeric``
NUMERIC: dict[str, Tol] = {"value": (1e-10, 1e-12), "grad": (1e-7, 1e-9), "hessian": (1e-7, 1e-9)}


def tolerance(dtype: str, kind: str, reference: str, spec: OpSpec | None = None) -> Tol:
    """(rtol, atol) for comparing ``kind`` ("value", "grad" or "hessian") of a case."""
    key = f"{dtype}:{kind}"
    if spec is not None and key in spec.tol:
        return spec.tol[key]
    if reference == "numeric" and dtype == "float64":
        return NUMERIC[kind]
    return TOLERANCES[(dtype, kind)]
