"""Mistakes in convolution, pooling and recurrent cells."""

from __future__ import annotations

from . import mistake  # noqa: F401
