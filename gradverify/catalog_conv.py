"""Catalog entries: 2-D convolution, pooling, recurrent cells and backprop through time.

Shapes are read by each maker:

- conv2d: (N, C, H, W, F, KH, KW), spelled ``n2c3h5w4-f4k3x2``;
- pooling: (N, C, H, W), spelled ``n2c3h5w6`` (the window is a parameter);
- cells: (N, D, H), spelled ``n3d4h2``; the sequence RNN: (N, T, D, H), ``n2t5d3h2``.

Cases cover H ≠ W, KH ≠ KW, C ≠ F, H ≠ D, stride 1 and 2 (and an (h, w) pair), padding 0 and
1, a kernel as large as the input, overlapping windows (stride < kernel) and not, batches of 1
and several, T = 1 and T = 5. Small cases (≤ 64 input elements) also get full Jacobians.

Pooling inputs are a random permutation of distinct values 0.1 apart, so no window has a tie
(ties are tested on their own in tests/test_pool_ties.py) and finite differences (step ≤ 2e-4
relative) never cross one. A shape shorter than a maker expects (the property search draws
1-D to 7-D shapes) is completed with defaults and the kernel is fitted to the padded input, so
every drawn shape is a valid case.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .opspec import OpSpec, Shape, normal

_CONV_DEFAULT = (2, 2, 4, 5, 3, 3, 2)
_POOL_DEFAULT = (1, 2, 4, 5)
_CELL_DEFAULT = (2, 3, 2)
_SEQ_DEFAULT = (2, 3, 2, 3)


def _complete(shape: Shape, default: Shape) -> Shape:
    return tuple(shape[: len(default)]) + default[len(shape):]


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else (int(v[0]), int(v[1]))


# -- convolution -----------------------------------------------------------------------------
def _conv_dims(shape: Shape, params: dict) -> Shape:
    n, c, h, w, f, kh, kw = _complete(shape, _CONV_DEFAULT)
    ph, pw = _pair(params.get("padding", 0))
    return n, c, h, w, f, min(kh, h + 2 * ph), min(kw, w + 2 * pw)


def conv_inputs(rng, shape, dtype, params):
    n, c, h, w, f, kh, kw = _conv_dims(shape, params)
    scale = 1 / math.sqrt(c * kh * kw)
    return (normal(rng, (n, c, h, w), dtype), normal(rng, (f, c, kh, kw), dtype, scale),
            normal(rng, (f,), dtype, 0.5))


def _conv_id(shape: Shape) -> str:
    n, c, h, w, f, kh, kw = _complete(shape, _CONV_DEFAULT)
    return f"n{n}c{c}h{h}w{w}-f{f}k{kh}x{kw}"


def _conv_size(shape: Shape) -> int:
    n, c, h, w, f, kh, kw = _complete(shape, _CONV_DEFAULT)
    return n * c * h * w + f * c * kh * kw + f


# -- pooling ---------------------------------------------------------------------------------
def distinct(rng: np.random.Generator, shape: Shape, dtype: Any, gap: float = 0.1) -> np.ndarray:
    """Distinct values ``gap`` apart in random order, around a random offset in [−1, 1] (so a
    window's mean is not exactly 0): no two elements tie."""
    size = math.prod(shape)
    x = (rng.permutation(size) - (size - 1) / 2) * gap + rng.uniform(-1, 1)
    return x.reshape(shape).astype(dtype)


def pool_inputs(rng, shape, dtype, params):
    n, c, h, w = _complete(shape, _POOL_DEFAULT)
    (kh, kw), (ph, pw) = _pair(params["kernel_size"]), _pair(params.get("padding", 0))
    return (distinct(rng, (n, c, max(h, kh - 2 * ph), max(w, kw - 2 * pw)), dtype),)


def _pool_id(shape: Shape) -> str:
    n, c, h, w = _complete(shape, _POOL_DEFAULT)
    return f"n{n}c{c}h{h}w{w}"


def _pool_size(shape: Shape) -> int:
    return math.prod(_complete(shape, _POOL_DEFAULT))


# -- recurrent -------------------------------------------------------------------------------
def _weights(rng, d: int, h: int, gates: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    return (normal(rng, (d, gates * h), dtype, 1 / math.sqrt(d)),
            normal(rng, (h, gates * h), dtype, 1 / math.sqrt(h)))


def cell_inputs(gates: int, state: int = 1, biases: int = 1):
    """x (N, D), ``state`` states (N, H), wx (D, gates·H), wh (H, gates·H), ``biases`` biases
    (gates·H,)."""
    def make(rng, shape, dtype, params):
        n, d, h = _complete(shape, _CELL_DEFAULT)
        x = normal(rng, (n, d), dtype)
        states = tuple(normal(rng, (n, h), dtype, 0.5) for _ in range(state))
        bs = tuple(normal(rng, (gates * h,), dtype, 0.3) for _ in range(biases))
        return (x, *states, *_weights(rng, d, h, gates, dtype), *bs)

    return make


def _cell_id(shape: Shape) -> str:
    n, d, h = _complete(shape, _CELL_DEFAULT)
    return f"n{n}d{d}h{h}"


def _cell_size(gates: int, state: int = 1, biases: int = 1):
    def size(shape: Shape) -> int:
        n, d, h = _complete(shape, _CELL_DEFAULT)
        return n * d + state * n * h + (d + h + biases) * gates * h

    return size


def seq_inputs(rng, shape, dtype, params):
    n, t, d, h = _complete(shape, _SEQ_DEFAULT)
    return (normal(rng, (n, t, d), dtype), normal(rng, (n, h), dtype, 0.5),
            *_weights(rng, d, h, 1, dtype), normal(rng, (h,), dtype, 0.3))


def _seq_id(shape: Shape) -> str:
    n, t, d, h = _complete(shape, _SEQ_DEFAULT)
    return f"n{n}t{t}d{d}h{h}"


def _seq_size(shape: Shape) -> int:
    n, t, d, h = _complete(shape, _SEQ_DEFAULT)
    return n * t * d + n * h + d * h + h * h + h


# -- the entries -----------------------------------------------------------------------------
#: (N, C, H, W, F, KH, KW): a small case; batch 3 with C ≠ F and KH ≠ KW; a kernel as large
#: as the input (1x1 output without padding)
#: as the input (1x1 output without padding); 2x2 kernels on a 4x6 input, which stride 2 tiles
#: exactly (patches: kernel = stride, sizes divisible, the commonest strided use)
CONV_SHAPES: tuple[Shape, ...] = ((1, 1, 3, 4, 2, 2, 3), (3, 3, 5, 4, 4, 3, 2),
                                  (1, 2, 3, 2, 1, 3, 2), (2, 2, 4, 6, 3, 2, 2))
CONV_PARAMS: tuple[dict[str, Any], ...] = (
    {}, {"stride": 2, "padding": 1}, {"stride": (2, 1), "padding": (0, 1)}, {"stride": 2})

#: (N, C, H, W) with H ≠ W; (2, 3, 4, 6): 2x2 windows tile it exactly (the commonest use)
POOL_SHAPES: tuple[Shape, ...] = ((1, 1, 4, 5), (2, 3, 5, 6), (2, 3, 4, 6))
POOL_PARAMS = (
    {"kernel_size": 2},  # non-overlapping, stride = kernel
    {"kernel_size": 3, "stride": 1, "padding": 1},  # overlapping, padded
    {"kernel_size": (3, 2), "stride": (2, 1)},  # overlapping along both axes, KH ≠ KW
    {"kernel_size": (4, 5)},  # as large as the first shape's input
)

CELL_SHAPES: tuple[Shape, ...] = ((1, 2, 3), (4, 3, 2))  # (N, D, H), D ≠ H
SMALL_CELL: tuple[Shape, ...] = ((1, 2, 2), (4, 3, 2))  # LSTM/GRU: 4H/3H columns, keep it ≤ 64
SEQ_SHAPES: tuple[Shape, ...] = ((1, 1, 2, 3), (2, 5, 3, 2), (3, 5, 4, 2))  # (N, T, D, H)

OPS: tuple[OpSpec, ...] = (
    OpSpec("conv2d", "conv", conv_inputs, CONV_SHAPES, CONV_PARAMS, argnums=(0, 1, 2),
           shape_id=_conv_id, input_size=_conv_size),
    OpSpec("max_pool2d", "conv", pool_inputs, POOL_SHAPES, POOL_PARAMS, shape_id=_pool_id,
           input_size=_pool_size),
    OpSpec("avg_pool2d", "conv", pool_inputs, POOL_SHAPES, POOL_PARAMS, shape_id=_pool_id,
           input_size=_pool_size),
    OpSpec("rnn_step", "recurrent", cell_inputs(1), CELL_SHAPES, argnums=(0, 1, 2, 3, 4),
           shape_id=_cell_id, input_size=_cell_size(1)),
    OpSpec("lstm_step", "recurrent", cell_inputs(4, state=2), SMALL_CELL,
           argnums=(0, 1, 2, 3, 4, 5), outputs=2, shape_id=_cell_id,
           input_size=_cell_size(4, state=2)),
    OpSpec("gru_step", "recurrent", cell_inputs(3, biases=2), SMALL_CELL,
           argnums=(0, 1, 2, 3, 4, 5), shape_id=_cell_id, input_size=_cell_size(3, biases=2)),
    OpSpec("rnn", "recurrent", seq_inputs, SEQ_SHAPES, argnums=(0, 1, 2, 3, 4),
           shape_id=_seq_id, input_size=_seq_size),
)
