"""Recurrent cells and backprop through time (batch-major sequences)."""

from __future__ import annotations

__all__: list[str] = []
