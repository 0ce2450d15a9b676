"""Custom backward passes, right and wrong: ``torch.autograd.Function`` subclasses and
``jax.custom_vjp``/``custom_jvp`` functions, each wrong one with one classic mistake.

    gradverify.check_function(Swish, x, 1.5)      # x: a float array; 1.5: beta, not a tensor
    gradverify.check_function(swish_vjp, x)
"""

from __future__ import annotations

from typing import Any

import numpy as np


def swish_numpy(x: np.ndarray, beta: float = 1.0) -> np.ndarray:
    """The NumPy version: x·σ(βx), for the other frameworks (``numpy=``)."""
    return x / (1 + np.exp(-beta * x))


try:
    import torch
except ImportError:  # the torch examples need torch
    torch = None

if torch is not None:
    class Swish(torch.autograd.Function):
        """x·σ(βx); d/dx = σ(βx) + βx·σ(βx)(1 − σ(βx)); beta is a Python float: no gradient."""

        @staticmethod
        def forward(ctx: Any, x: torch.Tensor, beta: float) -> torch.Tensor:
            s = torch.sigmoid(beta * x)
            ctx.save_for_backward(x, s)
            ctx.beta = beta
            return x * s

        @staticmethod
        def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None]:
            x, s = ctx.saved_tensors
            return g * (s + ctx.beta * x * s * (1 - s)), None

    class SwishIgnoresGrad(Swish):
        """The local derivative is returned without multiplying in grad_output."""

        @staticmethod
        def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None]:
            x, s = ctx.saved_tensors
            return s + ctx.beta * x * s * (1 - s), None

    class SwishMissingTerm(Swish):
        """The product rule's second term is missing: g·σ(βx) only."""

        @staticmethod
        def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None]:
            _, s = ctx.saved_tensors
            return g * s, None

    class Affine(torch.autograd.Function):
        """x @ w + b: dx = g wᵀ, dw = xᵀ g, db = Σ_rows g."""

        @staticmethod
        def forward(ctx: Any, x: torch.Tensor, w: torch.Tensor,
                    b: torch.Tensor) -> torch.Tensor:
            ctx.save_for_backward(x, w)
            return x @ w + b

        @staticmethod
        def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, ...]:
            x, w = ctx.saved_tensors
            return g @ w.T, x.T @ g, g.sum(0)

    class AffineNoBiasGrad(Affine):
        """The wrong None pattern: None for the bias, which requires a gradient (torch then
        leaves b.grad unset without a word)."""

        @staticmethod
        def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
            x, w = ctx.saved_tensors
            return g @ w.T, x.T @ g, None

try:
    import jax
    import jax.numpy as jnp
except ImportError:  # the jax examples need jax
    jax = None

if jax is not None:
    def _swish(x: Any) -> Any:
        return x * jax.nn.sigmoid(x)

    def _fwd(x: Any) -> tuple[Any, Any]:
        s = jax.nn.sigmoid(x)
        return x * s, (x, s)

    swish_vjp = jax.custom_vjp(_swish)
    swish_vjp.defvjp(_fwd, lambda res, g: (g * (res[1] + res[0] * res[1] * (1 - res[1])),))

    swish_vjp_ignores_cotangent = jax.custom_vjp(_swish)
    swish_vjp_ignores_cotangent.defvjp(
        _fwd, lambda res, g: (res[1] + res[0] * res[1] * (1 - res[1]),))

    swish_vjp_missing_term = jax.custom_vjp(_swish)
    swish_vjp_missing_term.defvjp(_fwd, lambda res, g: (g * res[1],))

    @jax.custom_jvp
    def softplus_jvp(x: Any) -> Any:
        """log(1 + eˣ), with the tangent σ(x)·ẋ."""
        return jnp.logaddexp(x, 0.0)

    @softplus_jvp.defjvp
    def _softplus_jvp(primals: tuple, tangents: tuple) -> tuple[Any, Any]:
        (x,), (t,) = primals, tangents
        return softplus_jvp(x), jax.nn.sigmoid(x) * t
