"""HIPS autograd reference: ``make_vjp``, ``jacobian``, ``make_jvp``, ``hessian``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .base import Arrays, Reference, Unsupported, closed_over
from .table import autograd_ops


class AutogradReference(Reference):
    name = "autograd"

    def __init__(self, device: str = "cpu") -> None:
        if device != "cpu":
            raise RuntimeError("autograd runs on the CPU only")
        from importlib.metadata import version

        import autograd
        import autograd.numpy as anp
        import autograd.scipy.special as special

        self.ag = autograd
        self.version = version("autograd")
        self.ops = autograd_ops(anp, special)

    def call(self, f: Callable, inputs: Sequence[np.ndarray]) -> np.ndarray:
        return np.asarray(f(*inputs))

    def vjp(self, f: Callable, inputs: Sequence[np.ndarray], cotangent: np.ndarray,
            argnums: Sequence[int]) -> Arrays:
        g = closed_over(f, inputs, argnums)
        pullback, out = self.ag.make_vjp(g, tuple(range(len(argnums))))(
            *(inputs[i] for i in argnums)
        )
        cot = np.asarray(cotangent, dtype=np.asarray(out).dtype).reshape(np.shape(out))
        return tuple(np.asarray(d) for d in pullback(cot))

    def jacobian(self, f: Callable, inputs: Sequence[np.ndarray],
                 argnums: Sequence[int]) -> Arrays:
        if any(np.size(inputs[i]) == 0 for i in argnums):
            raise Unsupported("autograd.jacobian cannot build a Jacobian of an empty array "
                              "(np.stack of no rows)")
        g = closed_over(f, inputs, argnums)
        return tuple(
            np.asarray(self.ag.jacobian(g, k)(*(inputs[i] for i in argnums)))
            for k in range(len(argnums))
        )

    def jvp(self, f: Callable, inputs: Sequence[np.ndarray], tangent: np.ndarray,
            argnum: int = 0) -> np.ndarray:
        g = closed_over(f, inputs, [argnum])
        push = self.ag.differential_operators.make_jvp(g)(inputs[argnum])
        try:
            return np.asarray(push(tangent)[1])
        except NotImplementedError as exc:  # e.g. "JVP of erf wrt argnums (0,) not defined"
            raise Unsupported(f"autograd has no forward-mode rule here: {exc}") from None

    def hessian(self, f: Callable, inputs: Sequence[np.ndarray], argnum: int = 0) -> np.ndarray:
        g = closed_over(f, inputs, [argnum])
        return np.asarray(self.ag.hessian(g)(inputs[argnum]))

    def hvp(self, f: Callable, inputs: Sequence[np.ndarray], v: np.ndarray,
            argnum: int = 0) -> np.ndarray:
        g = closed_over(f, inputs, [argnum])
        return np.asarray(self.ag.hessian_tensor_product(g)(inputs[argnum], v))
