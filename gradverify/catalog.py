"""The catalog: every op declared once.

An ``OpSpec`` says how to draw the op's inputs (their domains), which inputs are
differentiable, the shapes and parameter sets to test, where its kinks are, and whether
``impl`` has a closed-form Jacobian. The generic tests in ``tests/`` run op × reference ×
dtype × shape × parameters from this list; adding an op means one entry here and its
functions in ``impl`` (and one line per framework in ``reference/table.py``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import catalog_conv, catalog_norm, variants
from .opspec import (  # noqa: F401  (re-exported: the catalog's vocabulary)
    DTYPES,
    KINK_MARGIN,
    Maker,
    OpSpec,
    Shape,
    away_from,
    normal,
    one_hot,
    residual_target,
    softmax_rows,
    uniform,
)


# -- makers --------------------------------------------------------------------------------
def activation(scale: float = 2.0, kinks: tuple[float, ...] = (), lo: float | None = None,
               hi: float | None = None) -> Maker:
    def make(rng, shape, dtype, params):
        if lo is not None and hi is not None:
            z = uniform(rng, shape, dtype, lo, hi)
        else:
            z = normal(rng, shape, dtype, scale)
        return (away_from(z, kinks),)

    return make


def hardtanh_inputs(rng, shape, dtype, params):
    lo, hi = params.get("min_val", -1.0), params.get("max_val", 1.0)
    z = uniform(rng, shape, dtype, lo - 1.5, hi + 1.5)
    return (away_from(z, (lo, hi)),)


def regression(rng, shape, dtype, params):
    return normal(rng, shape, dtype), normal(rng, shape, dtype)


def mae_inputs(rng, shape, dtype, params):
    y = normal(rng, shape, dtype)
    return y, residual_target(y, away_from(normal(rng, shape, dtype), (0.0,)))


def huber_inputs(rng, shape, dtype, params):
    """Residuals alternate inside (|r| < δ) and outside (|r| > δ), never within 5% of δ."""
    delta = params.get("delta", 1.0)
    inside = rng.uniform(0.1, 0.95, shape) * delta
    outside = rng.uniform(1.05, 3.0, shape) * delta
    pick = (np.arange(int(np.prod(shape))).reshape(shape) % 2).astype(bool)
    r = np.where(pick, outside, inside) * rng.choice([-1.0, 1.0], shape)
    y = normal(rng, shape, dtype)
    return y, residual_target(y, r.astype(dtype))


def probabilities(rng, shape, dtype, params):
    return uniform(rng, shape, dtype, 0.05, 0.95), uniform(rng, shape, dtype, 0.0, 1.0)


def logits_soft_targets(rng, shape, dtype, params):
    return normal(rng, shape, dtype, 3.0), uniform(rng, shape, dtype, 0.0, 1.0)


def probs_one_hot(rng, shape, dtype, params):
    """Rows of probabilities summing to 1, each ≥ 0.05 (finite differences step 2e-4)."""
    p = softmax_rows(normal(rng, shape, dtype, 2.0)) * (1 - 0.05 * shape[-1]) + 0.05
    return p.astype(dtype), one_hot(rng, shape, dtype)


def logits_one_hot(rng, shape, dtype, params):
    return normal(rng, shape, dtype, 2.0), one_hot(rng, shape, dtype)


def logits_labels(rng, shape, dtype, params):
    return normal(rng, shape, dtype, 2.0), rng.integers(0, shape[-1], shape[:-1])


def _layer_id(shape: Shape) -> str:
    m, n_in, n_out = shape
    return f"{m}x{n_in}to{n_out}"


def _layer_size(shape: Shape) -> int:
    m, n_in, n_out = shape
    return m * n_in + n_in * n_out + n_out


def dense_inputs(rng, shape, dtype, params):
    m, n_in, n_out = shape
    return (normal(rng, (m, n_in), dtype), normal(rng, (n_in, n_out), dtype),
            normal(rng, (n_out,), dtype))


def dense_colmajor_inputs(rng, shape, dtype, params):
    m, n_in, n_out = shape
    return (normal(rng, (n_in, m), dtype), normal(rng, (n_out, n_in), dtype),
            normal(rng, (n_out, 1), dtype))


# -- shapes ----------------------------------------------------------------------------------
# m ≠ n everywhere, so a transposed gradient cannot pass; (0, 4) is an empty batch.
ARRAYS: tuple[Shape, ...] = ((5,), (1, 1), (1, 4), (3, 1), (3, 4), (2, 3, 4), (0, 4))
LOSSES: tuple[Shape, ...] = ((5,), (1, 1), (1, 4), (3, 1), (3, 4), (2, 3, 4))
CLASSES: tuple[Shape, ...] = ((4,), (1, 1), (1, 4), (3, 1), (3, 4))  # class axis last
LAYERS: tuple[Shape, ...] = ((1, 1, 1), (1, 3, 2), (4, 1, 2), (4, 3, 1), (5, 3, 2), (0, 3, 2))

REDUCTIONS = ({"reduction": "mean"}, {"reduction": "sum"})


def _elementwise(name: str, make: Maker, params=({},), kinks=()) -> OpSpec:
    return OpSpec(name, "elementwise", make, ARRAYS, params, jacobian=True, kinks=kinks)


def _loss(name: str, make: Maker, params=REDUCTIONS, shapes=LOSSES, kinks=(), variant="") -> OpSpec:
    return OpSpec(name, "loss", make, shapes, params, kinks=kinks, variant=variant,
                  variants=variants.of(name))


CATALOG: tuple[OpSpec, ...] = (
    _elementwise("identity", activation()),
    _elementwise("relu", activation(kinks=(0.0,)), kinks=(0.0,)),
    _elementwise("leaky_relu", activation(kinks=(0.0,)), ({}, {"negative_slope": 0.2}), (0.0,)),
    _elementwise("elu", activation(kinks=(0.0,)), ({}, {"alpha": 0.5}), (0.0,)),
    _elementwise("sigmoid", activation(3.0)),
    _elementwise("tanh", activation()),
    _elementwise("softplus", activation(3.0)),
    _elementwise("silu", activation(3.0)),
    dataclasses.replace(_elementwise("gelu", activation(), ({"approximate": "none"},
                                                            {"approximate": "tanh"})),
                        variants=variants.of("gelu")),
    _elementwise("relu6", activation(kinks=(0.0, 6.0), lo=-2.0, hi=8.0), kinks=(0.0, 6.0)),
    _elementwise("hardtanh", hardtanh_inputs, ({}, {"min_val": -0.5, "max_val": 2.0}), (-1.0, 1.0)),
    OpSpec("softmax", "axis", activation(), ARRAYS, ({"axis": -1}, {"axis": 0}), jacobian=True),
    OpSpec("log_softmax", "axis", activation(), ARRAYS, ({"axis": -1}, {"axis": 0}), jacobian=True),
    _loss("sum_of_squares", lambda rng, s, dt, p: (normal(rng, s, dt),), params=({},)),
    _loss("mse", regression),
    _loss("l2", regression, params=({},)),
    _loss("mae", mae_inputs, kinks=(0.0,)),
    # huber's gradient is continuous; its kink (|r| = delta) is in the Hessian only.
    _loss("huber", huber_inputs, tuple({**r, "delta": d} for d in (1.0, 0.5) for r in REDUCTIONS)),
    _loss("bce", probabilities),
    _loss("bce_with_logits", logits_soft_targets),
    _loss("cross_entropy", probs_one_hot, shapes=CLASSES),
    _loss("softmax_cross_entropy", logits_one_hot, shapes=CLASSES, variant="one_hot"),
    _loss("softmax_cross_entropy", logits_labels, shapes=CLASSES, variant="int_labels"),
    OpSpec("dense", "layer", dense_inputs, LAYERS, argnums=(0, 1, 2), shape_id=_layer_id,
           input_size=_layer_size),
    OpSpec("dense_colmajor", "layer", dense_colmajor_inputs, LAYERS, argnums=(0, 1, 2),
           shape_id=_layer_id, input_size=_layer_size),
    *catalog_norm.OPS,  # normalization, dropout, embedding, attention, margin loss
    *catalog_conv.OPS,  # convolution, pooling, recurrent cells
)

BY_LABEL = {spec.label: spec for spec in CATALOG}
OP_NAMES = tuple(dict.fromkeys(spec.name for spec in CATALOG))
