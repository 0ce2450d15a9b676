"""JAX reference: ``jax.vjp``, ``jax.jacrev``, ``jax.jvp``, ``jax.hessian``, 64-bit enabled.

Correctness cases run eagerly: a ``jax.jit`` per case would compile once per op, shape and
dtype (about 0.1 s each, see FACTS.md), which costs more than it saves in a test matrix.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .base import Arrays, Reference, closed_over
from .table import jax_ops


class JaxReference(Reference):
    name = "jax"

    def __init__(self, device: str = "cpu") -> None:
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        self.jax, self.jnp = jax, jnp
        self.version = jax.__version__
        platform = "gpu" if device == "cuda" else device
        self.device = jax.devices(platform)[0]
        self.ops = jax_ops(jax, jnp)

    def _j(self, x: np.ndarray) -> Any:
        return self.jax.device_put(np.asarray(x), self.device)

    @staticmethod
    def _np(x: Any) -> np.ndarray:
        return np.asarray(x)

    def call(self, f: Callable, inputs: Sequence[np.ndarray]) -> np.ndarray:
        return self._np(f(*map(self._j, inputs)))

    def vjp(self, f: Callable, inputs: Sequence[np.ndarray], cotangent: np.ndarray,
            argnums: Sequence[int]) -> Arrays:
        xs = [self._j(x) for x in inputs]
        g = closed_over(f, xs, argnums)
        out, pullback = self.jax.vjp(g, *(xs[i] for i in argnums))
        cot = self._j(np.asarray(cotangent, dtype=out.dtype).reshape(out.shape))
        return tuple(self._np(d) for d in pullback(cot))

    def jacobian(self, f: Callable, inputs: Sequence[np.ndarray],
                 argnums: Sequence[int]) -> Arrays:
        xs = [self._j(x) for x in inputs]
        g = closed_over(f, xs, argnums)
        jac = self.jax.jacrev(g, argnums=tuple(range(len(argnums))))(*(xs[i] for i in argnums))
        return tuple(self._np(j) for j in jac)

    def jvp(self, f: Callable, inputs: Sequence[np.ndarray], tangent: np.ndarray,
            argnum: int = 0) -> np.ndarray:
        xs = [self._j(x) for x in inputs]
        g = closed_over(f, xs, [argnum])
        _, out = self.jax.jvp(g, (xs[argnum],), (self._j(tangent),))
        return self._np(out)

    def hessian(self, f: Callable, inputs: Sequence[np.ndarray], argnum: int = 0) -> np.ndarray:
        xs = [self._j(x) for x in inputs]
        g = closed_over(f, xs, [argnum])
        return self._np(self.jax.hessian(g)(xs[argnum]))

    def hvp(self, f: Callable, inputs: Sequence[np.ndarray], v: np.ndarray,
            argnum: int = 0) -> np.ndarray:
        xs = [self._j(x) for x in inputs]
        g = closed_over(f, xs, [argnum])
        _, out = self.jax.jvp(self.jax.grad(g), (xs[argnum],), (self._j(v),))
        return self._np(out)
