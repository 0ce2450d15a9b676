"""Catalog entries: normalization, dropout, embedding, attention, the multiclass margin loss.

Sizes differ on every axis (N ≠ C ≠ D, Tq ≠ Tk, d ≠ dv), so a transposed or wrongly reduced
gradient cannot pass by coincidence; γ and β are random (never ones and zeros), and so are
the cotangents. Shapes are read by each maker:

- batchnorm ``(N, C[, H, W])``; layernorm ``(..., D)``; groupnorm ``(N, C[, ...])``
- dropout: x's shape; embedding ``(*ids.shape, V, D)``, spelled ``ids2x3-w4x3``
- attention ``(B, H, Tq, Tk, d, dv)``, spelled ``b2h3-q4k5-d3v2``
- multi_margin ``(N, C)`` scores.

The property search (tests/test_properties.py) draws arbitrary shapes of up to the catalog's
rank; each maker completes such a shape into a valid one (missing axes, at least two samples
per batch-norm channel, C a multiple of num_groups) and leaves valid shapes as they are.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .opspec import KINK_MARGIN, Maker, OpSpec, Shape, normal
from .variants import of as _variants


def _affine(rng: np.random.Generator, c: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """γ in ±[0.5, 1.5] (random, never 1), β normal."""
    gamma = rng.uniform(0.5, 1.5, c) * rng.choice([-1.0, 1.0], c)
    return gamma.astype(dtype), normal(rng, (c,), dtype)


def _norm_size(channel_axis: int):
    def size(shape: Shape) -> int:
        return math.prod(shape) + 2 * shape[channel_axis]
    return size


def _valid_norm_shape(shape: Shape, channel_axis: int, params: dict, least: int) -> Shape:
    """A shape with at least ``least`` elements per normalized group: with one, x̂ = 0 and
    the gradient is 0; with two, x̂ = ±1 and dx is only eps's effect, which float32 rounding
    swamps (unless the spread is ~√eps: the small_var domain). Layer norm: D ≥ least;
    (N, C, ...): N ≥ 2 (torch's batch norm needs it), C a multiple of num_groups."""
    if channel_axis != 1:
        return tuple(shape[:-1]) + (max(shape[-1], least),)
    shape = (2,) * (2 - len(shape)) + tuple(shape)
    n, spatial = max(shape[0], 2), math.prod(shape[2:])
    groups = params.get("num_groups")
    if groups is None:  # batch norm: N·H·W values per channel
        return (max(n, -(-least // spatial)), shape[1]) + shape[2:]
    c = groups * -(-shape[1] // groups)
    while c // groups * spatial < least:
        c += groups
    return (n, c) + shape[2:]


def norm_inputs(channel_axis: int, scale: float = 1.5, small_var: bool = False) -> Maker:
    """x (shape) with an offset, γ and β along ``channel_axis``. ``small_var``: x spread a few
    √eps around its mean, so eps is a sizeable part of σ² = var + eps (batch of 2)."""
    def make(rng, shape, dtype, params):
        shape = _valid_norm_shape(shape, channel_axis, params, 2 if small_var else 3)
        if small_var:
            scale_ = 4.0 * math.sqrt(params.get("eps", 1e-5))
            x = rng.standard_normal(shape) * scale_
        else:
            x = rng.standard_normal(shape) * scale + rng.uniform(-1, 1)
        return (x.astype(dtype), *_affine(rng, shape[channel_axis], dtype))
    return make


def dropout_inputs(rng, shape, dtype, params):
    keep = rng.random(shape) >= params.get("p", 0.5)
    keep.reshape(-1)[:2] = [True, False][:keep.size]  # one kept and one dropped element
    return normal(rng, shape, dtype), keep.astype(dtype)


# -- embedding: shape (*ids, V, D) ------------------------------------------------------------
def embedding_inputs(rng, shape, dtype, params):
    *ids_shape, v, d = shape
    ids = rng.integers(0, v, ids_shape)
    ids.reshape(-1)[:2] = ids.reshape(-1)[-1]  # a repeated id whatever the draw
    return ids, normal(rng, (v, d), dtype)


def _embedding_id(shape: Shape) -> str:
    return f"ids{'x'.join(map(str, shape[:-2]))}-w{shape[-2]}x{shape[-1]}"


# -- attention: shape (B, H, Tq, Tk, d, dv) ---------------------------------------------------
def attention_inputs(mask: str = "") -> Maker:
    def make(rng, shape, dtype, params):
        b, h, tq, tk, d, dv = (tuple(shape) + (2,) * 6)[:6]
        q, k = normal(rng, (b, h, tq, d), dtype), normal(rng, (b, h, tk, d), dtype)
        v = normal(rng, (b, h, tk, dv), dtype)
        if mask == "causal":  # query i sees keys j <= i (top-left aligned, as torch's tril)
            return q, k, v, np.tril(np.ones((tq, tk), dtype=bool))
        if mask == "padding":  # per batch element, the keys past a random length are padding
            lengths = rng.integers(1, tk + 1, b)
            lengths[0] = tk  # one full row, one padded
            keep = np.arange(tk) < lengths[:, None]
            return q, k, v, keep[:, None, None, :]
        return q, k, v
    return make


def _attention_id(shape: Shape) -> str:
    b, h, tq, tk, d, dv = shape
    return f"b{b}h{h}-q{tq}k{tk}-d{d}v{dv}"


def _attention_size(shape: Shape) -> int:
    b, h, tq, tk, d, dv = shape
    return b * h * (tq * d + tk * d + tk * dv)


# -- margin loss: shape (N, C) -----------------------------------------------------------------
def margin_inputs(rng, shape, dtype, params):
    """Scores whose hinges z_ij = margin − s_iy + s_ij (j ≠ y) are ±[0.05, 1.5] away from 0:
    about half the margins active, none within KINK_MARGIN of the kink."""
    n, c = (1, *shape) if len(shape) == 1 else shape
    margin = params.get("margin", 1.0)
    labels = rng.integers(0, c, n)
    s_y = rng.standard_normal((n, 1))
    z = rng.uniform(KINK_MARGIN + 0.01, 1.5, (n, c)) * rng.choice([-1.0, 1.0], (n, c))
    s = s_y - margin + z
    s[np.arange(n), labels] = s_y[:, 0]
    return s.astype(dtype), labels


AFFINE = ((0, 1, 2),)  # x, gamma, beta
EPS: tuple[dict[str, Any], ...] = ({}, {"eps": 1e-3})

OPS: tuple[OpSpec, ...] = (
    OpSpec("batchnorm", "norm", norm_inputs(1), ((5, 3), (3, 2, 2, 4)), EPS, argnums=AFFINE[0],
           input_size=_norm_size(1), variants=_variants("batchnorm")),
    OpSpec("batchnorm", "norm", norm_inputs(1, small_var=True), ((2, 3),), EPS,
           argnums=AFFINE[0], variant="small_var", input_size=_norm_size(1),
           variants=_variants("batchnorm")),
    OpSpec("layernorm", "norm", norm_inputs(-1), ((1, 5), (2, 3, 4)), EPS, argnums=AFFINE[0],
           input_size=_norm_size(-1), variants=_variants("layernorm")),
    OpSpec("groupnorm", "norm", norm_inputs(1), ((2, 6, 3), (3, 6, 2, 2)),
           ({"num_groups": 2}, {"num_groups": 1, "eps": 1e-3}, {"num_groups": 6}),
           argnums=AFFINE[0], input_size=_norm_size(1), variants=_variants("groupnorm")),
    OpSpec("dropout", "layer", dropout_inputs, ((2, 3, 5),), ({}, {"p": 0.2}),
           variants=_variants("dropout")),
    OpSpec("embedding", "layer", embedding_inputs, ((5, 4, 3), (2, 3, 4, 2)), argnums=(1,),
           shape_id=_embedding_id, input_size=lambda s: math.prod(s[:-2]) + s[-2] * s[-1]),
    OpSpec("attention", "attention", attention_inputs(), ((1, 2, 3, 4, 2, 3), (2, 3, 4, 5, 3, 2)),
           argnums=(0, 1, 2), shape_id=_attention_id, input_size=_attention_size),
    OpSpec("attention", "attention", attention_inputs("causal"),
           ((1, 2, 3, 4, 2, 3), (2, 2, 5, 4, 3, 2)), argnums=(0, 1, 2), variant="causal",
           shape_id=_attention_id, input_size=_attention_size),
    OpSpec("attention", "attention", attention_inputs("padding"), ((2, 3, 4, 5, 3, 2),),
           argnums=(0, 1, 2), variant="padding", shape_id=_attention_id,
           input_size=_attention_size),
    OpSpec("multi_margin", "loss", margin_inputs, ((4, 3), (1, 5)),
           ({}, {"margin": 0.5, "reduction": "sum"}), kinks=(0.0,),
           variants=_variants("multi_margin")),
)
