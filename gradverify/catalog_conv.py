"""Catalog entries: 2-D convolution, pooling, recurrent cells and backprop through time."""

from __future__ import annotations

from .opspec import OpSpec

OPS: tuple[OpSpec, ...] = ()
