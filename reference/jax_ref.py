"""JAX reference: ``jax.vjp``, ``jax.jacrev``, ``jax.jvp``, ``jax.hessian``, 64-bit enabled.

Eager jax compiles every primitive for every new shape and dtype: 0.2-0.5 s for a small
softmax VJP. The op-level transforms (``forward``, ``op_vjp``, ...) therefore go through one
``jax.jit`` per (op, parameters, transform), which compiles once per shape and dtype (~35 ms
with ``FAST_COMPILE`` below) and then runs in about a millisecond; XLA executables are also
kept in a persistent compilation cache (``GRADVERIFY_JAX_CACHE``, default ``.cache/jax`` in the
repository; set it empty to disable), so a second run compiles nothing. Arbitrary callables
(networks) are jitted too, one compilation per call (eager mode's per-primitive compilations
cost 2-5x more); a callable that cannot be traced (Python control flow on values) runs eagerly.

Every case has its own shapes, so XLA compiles each one exactly once and runs it a few times:
compilation, not execution, is the reference's cost. Hence the bundles: a small case's
forward, VJP and Jacobian are one compilation (the forward check uses the case's argnums, a
hint from the caller, to compile the same bundle), a small loss's Hessian and HVP another;
the suite collects a case's tests against one reference side by side, so one xdist worker
compiles it. ``FAST_COMPILE`` trades run time for
compile time (measured on this project's machine, softmax's forward, VJP and Jacobian in one
jit: compile 141 -> 35 ms, run 67 -> 106 us). The price: at LLVM's O0 no multiply-add is
contracted into an FMA, so float32 transcendentals differ from a default jax build in the last
bits (tanh's gradient at -2.75: relative error 5.7e-6 instead of 1.2e-6, still within the
allowance; O1 keeps the default's bits but compiles in 71 ms). A flag whose name is already in
``XLA_FLAGS`` is left as the user set it; ``GRADVERIFY_JAX_FAST_COMPILE=0`` adds none (jax's
default code; the benchmarks, which time jax's compiled code, set it). The flags are part of
the reference cache's key for jax.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .base import Arrays, Reference, cache_root, closed_over
from .table import jax_ops

#: XLA's CPU compiler without its fusion emitters and LLVM optimizations; one thread
FAST_COMPILE = ("--xla_cpu_use_fusion_emitters=false", "--xla_backend_optimization_level=0",
                "--xla_llvm_disable_expensive_passes=true", "--xla_cpu_multi_thread_eigen=false")


def xla_flags() -> str:
    """The XLA_FLAGS the jax reference runs with: the environment's, plus ``FAST_COMPILE``
    (unless ``GRADVERIFY_JAX_FAST_COMPILE`` is 0/off/empty). Part of the jax cache key: the
    flags change float32 results in the last bits (O0 contracts no multiply-add into FMA)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if os.environ.get("GRADVERIFY_JAX_FAST_COMPILE", "1").strip().lower() in ("", "0", "off"):
        return flags
    extra = [f for f in FAST_COMPILE if f.split("=")[0] not in flags]
    return " ".join([flags, *extra]).strip()


def configure_xla() -> None:
    """Set ``XLA_FLAGS`` to ``xla_flags()`` (read when jax's CPU backend starts)."""
    os.environ["XLA_FLAGS"] = xla_flags()


#: cases up to this many input elements compute forward, VJP and Jacobian in one jit
BUNDLE_MAX_SIZE = 64


class JaxReference(Reference):
    name = "jax"

    def __init__(self, device: str = "cpu") -> None:
        configure_xla()
        import jax

        jax.config.update("jax_enable_x64", True)
        cache = os.environ.get("GRADVERIFY_JAX_CACHE",
                               str(cache_root() / "jax"))
        if cache:
            jax.config.update("jax_compilation_cache_dir", cache)
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        import jax.numpy as jnp

        self.jax, self.jnp = jax, jnp
        self.version = jax.__version__
        platform = "gpu" if device == "cuda" else device
        self.device = jax.devices(platform)[0]
        self.ops = jax_ops(jax, jnp)
        self._jitted: dict[tuple, Callable] = {}
        self._out_shapes: dict[tuple, Any] = {}

    def _j(self, x: np.ndarray) -> Any:
        return self.jax.device_put(np.asarray(x), self.device)

    @staticmethod
    def _np(x: Any) -> np.ndarray:
        return np.asarray(x)

    def _traced(self, body: Callable, *args: Any) -> Any:
        """body(*args) in one jit (the callables here are new for each call, so each
        compiles once); eagerly where body cannot be traced (control flow on values)."""
        try:
            return self.jax.jit(body)(*args)
        except self.jax.errors.JAXTypeError:
            return body(*args)

    def call(self, f: Callable, inputs: Sequence[np.ndarray]) -> np.ndarray:
        return self._np(self._traced(lambda xs: f(*xs), self._args(inputs)))

    def vjp(self, f: Callable, inputs: Sequence[np.ndarray], cotangent: np.ndarray,
            argnums: Sequence[int]) -> Arrays:
        def body(xs: tuple, cot: Any) -> Any:
            out, pullback = self.jax.vjp(closed_over(f, xs, argnums), *(xs[i] for i in argnums))
            return pullback(cot.reshape(out.shape).astype(out.dtype))

        grads = self._traced(body, self._args(inputs), self._j(np.asarray(cotangent)))
        return tuple(self._np(d) for d in grads)

    def jacobian(self, f: Callable, inputs: Sequence[np.ndarray],
                 argnums: Sequence[int]) -> Arrays:
        def body(xs: tuple) -> Any:
            return self.jax.jacrev(closed_over(f, xs, argnums), argnums=tuple(
                range(len(argnums))))(*(xs[i] for i in argnums))

        return tuple(self._np(j) for j in self._traced(body, self._args(inputs)))

    def jvp(self, f: Callable, inputs: Sequence[np.ndarray], tangent: np.ndarray,
            argnum: int = 0) -> np.ndarray:
        def body(xs: tuple, t: Any) -> Any:
            return self.jax.jvp(closed_over(f, xs, [argnum]), (xs[argnum],), (t,))[1]

        return self._np(self._traced(body, self._args(inputs), self._j(tangent)))

    def hessian(self, f: Callable, inputs: Sequence[np.ndarray], argnum: int = 0) -> np.ndarray:
        def body(xs: tuple) -> Any:
            return self.jax.hessian(closed_over(f, xs, [argnum]))(xs[argnum])

        return self._np(self._traced(body, self._args(inputs)))

    def hvp(self, f: Callable, inputs: Sequence[np.ndarray], v: np.ndarray,
            argnum: int = 0) -> np.ndarray:
        def body(xs: tuple, v: Any) -> Any:
            grad = self.jax.grad(closed_over(f, xs, [argnum]))
            return self.jax.jvp(grad, (xs[argnum],), (v,))[1]

        return self._np(self._traced(body, self._args(inputs), self._j(v)))

    # -- op level: one jit per (op, params, transform), compiled once per shape and dtype ---
    def _jit(self, kind: str, name: str, params: dict[str, Any] | None,
             argnums: tuple[int, ...] = (0,)) -> Callable:
        key = (kind, name, tuple(sorted((params or {}).items())), argnums)
        if key not in self._jitted:
            f, jax = self.op(name, params), self.jax
            k = tuple(range(len(argnums)))

            def diff(args: tuple) -> Callable:
                return closed_over(f, args, argnums)

            def primals(args: tuple) -> tuple:
                return tuple(args[i] for i in argnums)

            def forward(args: tuple) -> Any:
                return f(*args)

            def vjp(args: tuple, cot: Any) -> Any:
                return jax.vjp(diff(args), *primals(args))[1](cot)

            def jacobian(args: tuple) -> Any:
                return jax.jacrev(diff(args), argnums=k)(*primals(args))

            def hessian(args: tuple) -> Any:
                return jax.hessian(diff(args))(*primals(args))

            def hvp(args: tuple, v: Any) -> Any:
                return jax.jvp(jax.grad(diff(args)), primals(args), (v,))[1]

            body = {
                "forward": forward, "vjp": vjp, "jacobian": jacobian, "hessian": hessian,
                "hvp": hvp,
                "jvp": lambda args, t: jax.jvp(diff(args), primals(args), (t,))[1],
                # one compilation for the checks of a small case: forward, VJP and Jacobian
                "bundle": lambda args, cot: (forward(args), vjp(args, cot), jacobian(args)),
                # and a small loss's Hessian and HVP
                "second": lambda args, v: (hessian(args), hvp(args, v)),
            }[kind]
            self._jitted[key] = jax.jit(body)
        return self._jitted[key]

    def _args(self, inputs: Sequence[np.ndarray]) -> tuple:
        return tuple(self._j(x) for x in inputs)

    def _small(self, inputs: Sequence[np.ndarray]) -> bool:
        return sum(np.size(x) for x in inputs) <= BUNDLE_MAX_SIZE

    def _bundle(self, name: str, params: dict[str, Any] | None, inputs: Sequence[np.ndarray],
                argnums: Sequence[int], cotangent: np.ndarray | None = None) -> tuple:
        """(forward, VJP, Jacobian) of a small case: one trace and compilation for all three
        checks of a case, instead of three."""
        args = self._args(inputs)
        key = (name, tuple(sorted((params or {}).items())),
               tuple((np.shape(x), np.asarray(x).dtype.str) for x in inputs))
        if key not in self._out_shapes:  # tracing for the shape costs ~2 ms: once per case
            self._out_shapes[key] = self.jax.eval_shape(lambda a: self.op(name, params)(*a), args)
        out_shape = self._out_shapes[key]
        cot = np.zeros(out_shape.shape, out_shape.dtype) if cotangent is None else cotangent
        cot = self._j(np.asarray(cot, dtype=out_shape.dtype).reshape(out_shape.shape))
        return self._jit("bundle", name, params, tuple(argnums))(args, cot)

    def forward(self, name: str, inputs: Sequence[np.ndarray],
                params: dict[str, Any] | None = None, *,
                argnums: Sequence[int] | None = None) -> np.ndarray:
        if self._small(inputs) and (
                argnums or np.issubdtype(np.asarray(inputs[0]).dtype, np.inexact)):
            # the compilation the case's VJP check uses (not told: (0,), most ops' argnums)
            return self._np(self._bundle(name, params, inputs, tuple(argnums or (0,)))[0])
        return self._np(self._jit("forward", name, params)(self._args(inputs)))

    def op_vjp(self, name: str, params: dict[str, Any], inputs: Sequence[np.ndarray],
               cotangent: np.ndarray, argnums: Sequence[int]) -> Arrays:
        if self._small(inputs):
            grads = self._bundle(name, params, inputs, argnums, cotangent)[1]
        else:
            cot = self._j(np.asarray(cotangent))
            grads = self._jit("vjp", name, params, tuple(argnums))(self._args(inputs), cot)
        return tuple(self._np(g) for g in grads)

    def op_jacobian(self, name: str, params: dict[str, Any], inputs: Sequence[np.ndarray],
                    argnums: Sequence[int]) -> Arrays:
        if self._small(inputs):
            jac = self._bundle(name, params, inputs, argnums)[2]
        else:
            jac = self._jit("jacobian", name, params, tuple(argnums))(self._args(inputs))
        return tuple(self._np(j) for j in jac)

    def op_jvp(self, name: str, params: dict[str, Any], inputs: Sequence[np.ndarray],
               tangent: np.ndarray) -> np.ndarray:
        return self._np(self._jit("jvp", name, params)(self._args(inputs), self._j(tangent)))

    def op_hessian(self, name: str, params: dict[str, Any],
                   inputs: Sequence[np.ndarray]) -> np.ndarray:
        if self._small(inputs):  # with the HVP: one compilation for both checks of a case
            v = self._j(np.zeros_like(np.asarray(inputs[0])))
            return self._np(self._jit("second", name, params)(self._args(inputs), v)[0])
        return self._np(self._jit("hessian", name, params)(self._args(inputs)))

    def op_hvp(self, name: str, params: dict[str, Any], inputs: Sequence[np.ndarray],
               v: np.ndarray) -> np.ndarray:
        if self._small(inputs):
            return self._np(self._jit("second", name, params)(self._args(inputs), self._j(v))[1])
        return self._np(self._jit("hvp", name, params)(self._args(inputs), self._j(v)))
