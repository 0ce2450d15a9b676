"""Normalization, dropout, embedding, attention and the multiclass margin loss."""

from __future__ import annotations

__all__: list[str] = []
