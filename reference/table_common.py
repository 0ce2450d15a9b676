"""What the reference tables (``table``, ``table_norm``, ``table_conv``) share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: op name -> the framework's function
OpTable = dict[str, Callable[..., Any]]


def reduce(x: Any, reduction: str) -> Any:
    """Mean or sum of a framework array, as the losses' ``reduction`` asks."""
    if reduction == "mean":
        return x.mean()
    if reduction == "sum":
        return x.sum()
    raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
