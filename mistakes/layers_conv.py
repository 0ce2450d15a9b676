"""Mistakes in convolution, pooling and recurrent cells, each from a real source (named in ``source``)."""

from __future__ import annotations

from . import mistake  # noqa: F401
