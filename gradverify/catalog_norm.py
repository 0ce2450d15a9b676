"""Catalog entries: normalization, dropout, embedding, attention, the multiclass margin loss."""

from __future__ import annotations

from .opspec import OpSpec

OPS: tuple[OpSpec, ...] = ()
