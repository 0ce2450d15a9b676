"""The interface every reference implements, and what is shared between them.

A reference differentiates *functions*: ``ops[name]`` is the framework's own version of an
``impl`` op (see ``reference.table``), and the transforms below take any such function, so
whole networks built from those ops are differentiated the same way as single ops.

Inputs and outputs are NumPy arrays. ``argnums`` names the differentiable inputs; the others
(targets, integer labels) are held fixed.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

Arrays = tuple[np.ndarray, ...]


class BackendUnavailable(RuntimeError):
    """The framework behind a reference is not installed or cannot run here."""


class Unsupported(NotImplementedError):
    """A known limitation: this reference cannot compute this case (the reason says why)."""


class Reference(ABC):
    """One framework's forward, VJP, JVP, Jacobian and Hessian, on NumPy in and out."""

    name: str
    version: str
    ops: dict[str, Callable[..., Any]]

    # -- per framework -------------------------------------------------------------------
    @abstractmethod
    def vjp(self, f: Callable, inputs: Sequence[np.ndarray], cotangent: np.ndarray,
            argnums: Sequence[int]) -> Arrays:
        """Gradients of <cotangent, f(*inputs)> w.r.t. each input in ``argnums``."""

    @abstractmethod
    def jacobian(self, f: Callable, inputs: Sequence[np.ndarray],
                 argnums: Sequence[int]) -> Arrays:
        """Full Jacobians, each of shape ``out.shape + inputs[i].shape``."""

    @abstractmethod
    def jvp(self, f: Callable, inputs: Sequence[np.ndarray], tangent: np.ndarray,
            argnum: int = 0) -> np.ndarray:
        """Forward mode: J_argnum · tangent, of shape ``out.shape``."""

    @abstractmethod
    def hessian(self, f: Callable, inputs: Sequence[np.ndarray], argnum: int = 0) -> np.ndarray:
        """Hessian of a scalar f w.r.t. one input: shape ``x.shape + x.shape``."""

    @abstractmethod
    def hvp(self, f: Callable, inputs: Sequence[np.ndarray], v: np.ndarray,
            argnum: int = 0) -> np.ndarray:
        """Hessian-vector product H·v for a scalar f, of shape ``x.shape``."""

    @abstractmethod
    def call(self, f: Callable, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """Evaluate f on the inputs and return a NumPy array."""

    def cached(self, what: str, compute: Callable[[Reference], Any],
               arrays: Sequence[Any] = (), **key: Any) -> Any:
        """``compute(self)``; ``reference.cache.CachedReference`` stores it under ``what``,
        ``arrays`` and ``key`` (which must name everything else the value depends on)."""
        return compute(self)

    # -- per op, through the table ---------------------------------------------------------
    def op(self, name: str, params: dict[str, Any] | None = None) -> Callable:
        """The framework's function for op ``name`` with its parameters bound;
        ``"<op>#k"`` is output k of an op that returns a tuple (``lstm_step#1``: c_next)."""
        base, _, k = name.partition("#")
        try:
            fn = self.ops[base]
        except KeyError:
            raise NotImplementedError(f"{self.name} has no definition of op {base!r}") from None
        f = partial(fn, **params) if params else fn
        return (lambda *a: f(*a)[int(k)]) if k else f

    # The op-level transforms below are what the tests call; a reference may cache compiled
    # versions of them per op (jax does), which it cannot do for an arbitrary callable.
    def forward(self, name: str, inputs: Sequence[np.ndarray],
                params: dict[str, Any] | None = None, *,
                argnums: Sequence[int] | None = None) -> np.ndarray:
        """The op's value. ``argnums``, when the caller knows them, are the inputs its VJP
        will differentiate: a hint (jax compiles a small case's forward, VJP and Jacobian at
        once); the value does not depend on it."""
        return self.call(self.op(name, params), inputs)

    def op_vjp(self, name: str, params: dict[str, Any], inputs: Sequence[np.ndarray],
               cotangent: np.ndarray, argnums: Sequence[int]) -> Arrays:
        return self.vjp(self.op(name, params), inputs, cotangent, argnums)

    def op_jacobian(self, name: str, params: dict[str, Any], inputs: Sequence[np.ndarray],
                    argnums: Sequence[int]) -> Arrays:
        return self.jacobian(self.op(name, params), inputs, argnums)

    def op_jvp(self, name: str, params: dict[str, Any], inputs: Sequence[np.ndarray],
               tangent: np.ndarray) -> np.ndarray:
        return self.jvp(self.op(name, params), inputs, tangent, 0)

    def op_hessian(self, name: str, params: dict[str, Any],
                   inputs: Sequence[np.ndarray]) -> np.ndarray:
        return self.hessian(self.op(name, params), inputs, 0)

    def op_hvp(self, name: str, params: dict[str, Any], inputs: Sequence[np.ndarray],
               v: np.ndarray) -> np.ndarray:
        return self.hvp(self.op(name, params), inputs, v, 0)


def closed_over(f: Callable, inputs: Sequence[Any], argnums: Sequence[int]) -> Callable:
    """f as a function of the inputs in ``argnums`` only, the others held fixed."""
    inputs = list(inputs)

    def g(*diff: Any) -> Any:
        args = list(inputs)
        for i, x in zip(argnums, diff):
            args[i] = x
        return f(*args)

    return g


def is_float(x: np.ndarray) -> bool:
    return np.issubdtype(np.asarray(x).dtype, np.floating)


def cache_root() -> Path:
    """Where caches live: ``.cache`` in a source checkout (beside pyproject.toml), else the
    user's cache directory (``$XDG_CACHE_HOME/gradverify``, default ``~/.cache/gradverify``),
    never inside an installed package."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file():
        return root / ".cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gradverify"
