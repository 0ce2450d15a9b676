"""Mistakes in normalization, dropout, embedding, attention and the margin loss, each from a real source (named in ``source``)."""

from __future__ import annotations

from . import mistake  # noqa: F401
