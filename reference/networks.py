"""The same multi-layer networks as ``impl.mlp``, built from any reference's own ops.

``mlp(ref, activations, loss, layout, loss_params)`` returns f(x, y, W_1, b_1, …, W_L, b_L) → J
in the reference's framework (torch, jax, autograd, or impl's forwards for finite
differences), so the reference's generic ``vjp`` differentiates the whole network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .base import Reference


def _act(spec: Any) -> tuple[str, dict[str, Any]]:
    return (spec, {}) if isinstance(spec, str) else (spec[0], dict(spec[1]))


def mlp(ref: Reference, activations: Sequence[Any], loss: str, layout: str = "rows",
        loss_params: dict[str, Any] | None = None) -> Callable[..., Any]:
    """J(x, y, W_1, b_1, …) = loss(f_L(… f_1(dense(x, W_1, b_1)) …), y) in ref's framework."""
    layer = ref.ops["dense" if layout == "rows" else "dense_colmajor"]
    acts = [(ref.ops[name], params) for name, params in map(_act, activations)]
    loss_fn, lp = ref.ops[loss], dict(loss_params or {})

    def f(x: Any, y: Any, *params: Any) -> Any:
        a = x
        for (act, p), w, b in zip(acts, params[0::2], params[1::2]):
            a = act(layer(a, w, b), **p)
        if layout == "cols":
            a, y = a.T, (y.T if y.ndim > 1 else y)
        return loss_fn(a, y, **lp)

    return f
