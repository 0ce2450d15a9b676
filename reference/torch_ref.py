"""PyTorch reference through ``torch.func`` (vjp, jacrev, jvp, grad)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .base import Arrays, Reference, closed_over
from .table import torch_ops


class TorchReference(Reference):
    name = "torch"

    def __init__(self, device: str = "cpu") -> None:
        import torch
        import torch.func

        self.torch = torch
        self.func = torch.func
        self.version = torch.__version__
        self.device = torch.device(device)
        self.ops = torch_ops(torch)

    def _t(self, x: np.ndarray) -> Any:
        x = np.asarray(x)
        if not x.flags.c_contiguous:  # (np.ascontiguousarray would make a 0-d array 1-d)
            x = x.copy(order="C")
        return self.torch.from_numpy(x).to(self.device)

    def _np(self, t: Any) -> np.ndarray:
        return t.numpy(force=True)  # force: detach, copy to cpu, materialise ZeroTensors

    def call(self, f: Callable, inputs: Sequence[np.ndarray]) -> np.ndarray:
        with self.torch.no_grad():
            return self._np(f(*map(self._t, inputs)))

    def vjp(self, f: Callable, inputs: Sequence[np.ndarray], cotangent: np.ndarray,
            argnums: Sequence[int]) -> Arrays:
        ts = [self._t(x) for x in inputs]
        g = closed_over(f, ts, argnums)
        out, pullback = self.func.vjp(g, *(ts[i] for i in argnums))  # type: ignore[misc]
        cot = self._t(np.asarray(cotangent, dtype=self._np(out).dtype).reshape(out.shape))
        return tuple(self._np(d) for d in pullback(cot))

    def jacobian(self, f: Callable, inputs: Sequence[np.ndarray],
                 argnums: Sequence[int]) -> Arrays:
        ts = [self._t(x) for x in inputs]
        g = closed_over(f, ts, argnums)
        jac = self.func.jacrev(g, argnums=tuple(range(len(argnums))))(*(ts[i] for i in argnums))
        return tuple(self._np(j) for j in jac)

    def jvp(self, f: Callable, inputs: Sequence[np.ndarray], tangent: np.ndarray,
            argnum: int = 0) -> np.ndarray:
        ts = [self._t(x) for x in inputs]
        g = closed_over(f, ts, [argnum])
        _, out = self.func.jvp(g, (ts[argnum],), (self._t(tangent),))  # type: ignore[misc]
        return self._np(out)

    def hessian(self, f: Callable, inputs: Sequence[np.ndarray], argnum: int = 0) -> np.ndarray:
        ts = [self._t(x) for x in inputs]
        g = closed_over(f, ts, [argnum])
        # reverse-over-reverse: torch.func.hessian's forward-over-reverse hits
        # "ZeroTensors are immutable" on some losses' double backward (mse_loss, torch 2.13).
        return self._np(self.func.jacrev(self.func.jacrev(g))(ts[argnum]))

    def hvp(self, f: Callable, inputs: Sequence[np.ndarray], v: np.ndarray,
            argnum: int = 0) -> np.ndarray:
        ts = [self._t(x) for x in inputs]
        g = closed_over(f, ts, [argnum])
        # H is symmetric: Hv = vᵀH
        _, pullback = self.func.vjp(self.func.grad(g), ts[argnum])  # type: ignore[misc]
        return self._np(pullback(self._t(v))[0])
