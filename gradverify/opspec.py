"""``OpSpec``, the declaration of one op, and the input domains that catalog entries draw from.

An ``OpSpec`` says how to draw the op's inputs (their domains), which inputs are
differentiable, the shapes and parameter sets to test, where its kinks are, how many outputs it
has, and whether ``impl`` has a closed-form Jacobian.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Shape = tuple[int, ...]
Maker = Callable[[np.random.Generator, Shape, np.dtype, dict], tuple[np.ndarray, ...]]

DTYPES = ("float32", "float64")
KINK_MARGIN = 0.05  # random inputs stay this far from a kink (finite differences use h ≤ 2e-4)


@dataclass(frozen=True)
class OpSpec:
    name: str  # the function's name in impl (and in reference.table)
    kind: str  # "elementwise" | "axis" | "loss" | "layer" | "norm" | "conv" | "recurrent" ...
    make: Maker  # draws the inputs: (rng, shape, dtype, params) -> inputs
    shapes: tuple[Shape, ...]
    params: tuple[dict[str, Any], ...] = ({},)
    argnums: tuple[int, ...] = (0,)  # differentiable inputs
    jacobian: bool = False  # impl defines <name>_jacobian
    kinks: tuple[float, ...] = ()  # non-differentiable points (of the input, or the residual)
    variant: str = ""  # a named input domain (e.g. integer labels), shown in the test id
    tol: dict[str, tuple[float, float]] = field(default_factory=dict)  # per-op overrides

    outputs: int = 1  # > 1: the forward returns a tuple, the backward takes a tuple of cotangents
    shape_id: Callable[[Shape], str] | None = None  # how the test id spells a shape
    input_size: Callable[[Shape], int] | None = None  # elements of all inputs (default ∏ shape)
    variants: tuple[Any, ...] = ()  # known other definitions (gradverify.variants.Variant)

    @property
    def label(self) -> str:
        return f"{self.name}[{self.variant}]" if self.variant else self.name

    def size(self, shape: Shape) -> int:
        """Input elements of a case of this shape (full Jacobians are built for small ones)."""
        return self.input_size(shape) if self.input_size else math.prod(shape)

    def spell(self, shape: Shape) -> str:
        """The shape as the test id writes it, e.g. ``3x4`` or ``2x3x4x5-k3x2``."""
        if self.shape_id:
            return self.shape_id(shape)
        return "x".join(map(str, shape)) or "scalar"


# -- domains -------------------------------------------------------------------------------
def normal(rng: np.random.Generator, shape: Shape, dtype: Any, scale: float = 1.0) -> np.ndarray:
    return (scale * rng.standard_normal(shape)).astype(dtype)


def uniform(rng: np.random.Generator, shape: Shape, dtype: Any, lo: float, hi: float) -> np.ndarray:
    return rng.uniform(lo, hi, shape).astype(dtype)


def away_from(x: np.ndarray, kinks: tuple[float, ...], margin: float = KINK_MARGIN) -> np.ndarray:
    """Push every value closer than ``margin`` to a kink out to kink ± margin."""
    x = x.copy()
    for k in kinks:
        near = np.abs(x - k) < margin
        x[near] = (k + np.where(x[near] >= k, margin, -margin)).astype(x.dtype)
    return x


def one_hot(rng: np.random.Generator, shape: Shape, dtype: Any) -> np.ndarray:
    labels = rng.integers(0, shape[-1], shape[:-1])
    return np.eye(shape[-1], dtype=dtype)[labels]


def softmax_rows(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(x.dtype)


def residual_target(y: np.ndarray, r: np.ndarray) -> np.ndarray:
    """The target t with y − t = r (so the residual's domain is what we control)."""
    return (y - r).astype(y.dtype)


