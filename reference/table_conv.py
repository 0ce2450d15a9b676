"""Reference table entries: convolution, pooling, recurrent cells.

Part of ``reference.table`` (merged into its op tables): the same rules hold, the framework's
own function where it ships one, else the op written in its array API as its users would.
"""

from __future__ import annotations

from typing import Any

OpTable = dict[str, Any]


def torch_ops(torch: Any) -> OpTable:
    return {}


def jax_ops(jax: Any, jnp: Any) -> OpTable:
    return {}


def autograd_ops(anp: Any, special: Any) -> OpTable:
    return {}
