"""The frameworks behind ``gradverify.custom_backward``: which kind a function is, inputs as
tensors, a NumPy version differentiated by jax and autograd (``np`` rebound to their NumPy),
second derivatives through a custom rule."""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .api import Record


def _outs(y: Any) -> tuple[Any, ...]:
    return tuple(y) if isinstance(y, (tuple, list)) else (y,)


# -- frameworks -----------------------------------------------------------------------------------
def kind_of(fn: Any) -> str | None:
    """"torch" for a ``torch.autograd.Function`` subclass, "jax" for a custom_vjp/jvp."""
    if type(fn).__name__ in ("custom_vjp", "custom_jvp") and hasattr(fn, "fun"):
        return "jax"
    if isinstance(fn, type) and any(c.__name__ == "Function" and "torch" in c.__module__
                                    for c in fn.__mro__):
        return "torch"
    return None


@functools.cache
def jax_modules() -> tuple[Any, Any]:
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax, jax.numpy


def _floating(x: Any) -> bool:
    dt = getattr(x, "dtype", None)
    if dt is not None and type(x).__module__.startswith("torch"):
        return bool(x.dtype.is_floating_point)
    return isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)


def torch_inputs(inputs: Sequence[Any], dtype: str) -> tuple[list[Any], list[int]]:
    """Float arrays as tensors of ``dtype`` that require grad; the rest as given."""
    import torch

    xs, diff = [], []
    for i, x in enumerate(inputs):
        if _floating(x):
            arr = x.detach().numpy() if isinstance(x, torch.Tensor) else x
            xs.append(torch.tensor(np.asarray(arr, dtype), requires_grad=True))
            diff.append(i)
        else:
            xs.append(x)
    return xs, diff


def _rebind(fn: Callable, module: Any) -> Callable:
    """``fn`` with ``np``/``numpy`` in its globals bound to ``module`` (autograd's, jax's)."""
    g = {**fn.__globals__, "np": module, "numpy": module}
    return types.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)


def numpy_vjps(numpy: Callable | None, inputs: Sequence[Any], diff: Sequence[int], dtype: str,
               cots: Sequence[Any], frameworks: Sequence[str] = ("jax", "autograd")
               ) -> dict[str, Any]:
    """The VJP of the NumPy version by each framework (its gradients of Σ⟨out, cotangent⟩),
    or the reason it cannot run."""
    if numpy is None:
        return {}
    gs = [np.asarray(c.detach().numpy() if hasattr(c, "detach") else c, dtype) for c in cots]
    base = [np.asarray(x.detach().numpy() if hasattr(x, "detach") else x) for x in inputs]
    base = [x.astype(dtype) if np.issubdtype(x.dtype, np.floating) else x for x in base]
    out: dict[str, Any] = {}
    for k in frameworks:
        try:
            if k == "jax":
                jax, mod = jax_modules()
                grad = jax.grad
            else:
                import autograd
                import autograd.numpy as anp

                mod, grad = anp, autograd.grad
        except ImportError as exc:
            out[k] = f"{k} cannot be imported ({exc})"
            continue
        f = _rebind(numpy, mod)

        def loss(d: Any, f: Callable = f, mod: Any = mod) -> Any:
            full = list(base)
            for i, v in zip(diff, d):
                full[i] = v
            return sum(mod.sum(o * g) for o, g in zip(_outs(f(*full)), gs))
        try:
            res = grad(loss)([base[i] for i in diff])
        except Exception as exc:  # the NumPy version uses something the framework lacks
            out[k] = f"{k} cannot differentiate the NumPy version: {type(exc).__name__}: {exc}"
            continue
        out[k] = [np.asarray(r) for r in res]
    return out


def torch_double(name: str, fn: Any, plain: Callable, xs: list, d_in: list, dn: list,
                 cots: list, dtype: str, rng: np.random.Generator, compare: Callable,
                 record: Callable) -> list[Record]:
    """Second order: the gradient of ⟨VJP, v⟩ by ``fn.apply`` against by the plain forward."""
    import torch

    vs = [torch.tensor(rng.standard_normal(tuple(x.shape)), dtype=x.dtype) for x in d_in]

    def second(f: Callable) -> list[Any]:
        g = torch.autograd.grad(_outs(f(*xs)), d_in, cots, create_graph=True,
                                allow_unused=True)
        s = torch.stack([(gi * v).sum() for gi, v in zip(g, vs) if gi is not None]).sum()
        h = torch.autograd.grad(s, d_in, allow_unused=True)
        return [np.zeros(tuple(x.shape), dtype) if hi is None else hi.detach().numpy()
                for x, hi in zip(d_in, h)]
    try:
        got = second(fn.apply)
    except RuntimeError as exc:
        return [record(name, "double backward", "torch", dtype, "failed",
                       f"declared twice differentiable, but: {str(exc).splitlines()[0]}")]
    return [_second_record(record, name, "torch", dtype, compare(a, e, f"d²/d{n}", dtype,
                                                                  "torch"))
            for n, a, e in zip(dn, got, second(plain))]


HINT = ("a tensor saved in forward is a constant to the second backward (forward runs without "
        "a graph): recompute it from the inputs in backward, or do not declare double backward")


def _second_record(record: Callable, name: str, ref: str, dtype: str,
                   compared: tuple[str, str, Any]) -> Record:
    outcome, verdict, worst = compared
    if outcome == "failed" and ref == "torch":
        verdict = f"the second derivative is wrong: {verdict}\n  {HINT}"
    return record(name, "double backward", ref, dtype, outcome, verdict, verdict, worst)


def jax_double(name: str, custom: Callable, plain: Callable, d_in: list, dn: list, cots: Any,
               dtype: str, rng: np.random.Generator, compare: Callable,
               record: Callable) -> list[Record]:
    """Second order: the gradient of ⟨VJP, v⟩ through the custom rule against ``f.fun``."""
    jax, jnp = jax_modules()
    vs = [jnp.asarray(rng.standard_normal(np.shape(x)), x.dtype) for x in d_in]

    def second(f: Callable) -> list[np.ndarray]:
        def s(*d: Any) -> Any:
            return sum(jnp.sum(g * v) for g, v in zip(jax.vjp(f, *d)[1](cots), vs))
        return [np.asarray(h) for h in jax.grad(s, argnums=tuple(range(len(d_in))))(*d_in)]
    try:
        got = second(custom)
    except Exception as exc:
        return [record(name, "double backward", "jax", dtype, "failed",
                       f"declared twice differentiable, but: {str(exc).splitlines()[0]}")]
    return [_second_record(record, name, "jax", dtype, compare(a, e, f"d²/d{n}", dtype, "jax"))
            for n, a, e in zip(dn, got, second(plain))]
