"""Mistakes in normalization, dropout, embedding, attention and the margin loss."""

from __future__ import annotations

from . import mistake  # noqa: F401
