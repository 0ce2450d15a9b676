"""How each framework computes a VJP in the benchmarks: its own transform, called directly
(no NumPy conversion inside the timed call), inputs converted once beforehand."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from gradverify import reference

#: benchmark name -> the reference whose op table it uses
FRAMEWORKS = ("torch.autograd", "torch.func", "jax.jit", "jax.eager", "autograd")


def prepare(kind: str, op: str, params: dict, inputs: list[np.ndarray], g: np.ndarray
            ) -> tuple[Callable[[], Any], float]:
    """(a zero-argument VJP call, compile seconds) for framework ``kind``."""
    if kind.startswith("torch"):
        import torch

        r = reference.get("torch")
        f = r.op(op, params)
        ts = [torch.from_numpy(np.ascontiguousarray(x)) for x in inputs]
        gt = torch.as_tensor(g)
        if kind == "torch.autograd":
            def run() -> Any:
                z = ts[0].detach().requires_grad_(True)
                return torch.autograd.grad(f(z, *ts[1:]), z, gt)[0]
        else:
            def run() -> Any:
                return torch.func.vjp(lambda z: f(z, *ts[1:]), ts[0])[1](gt)[0]
        return run, 0.0
    if kind.startswith("jax"):
        import jax

        r = reference.get("jax")
        f = r.op(op, params)
        xs = [jax.device_put(x) for x in inputs]
        gj = jax.device_put(g)

        def vjp(z: Any, *rest: Any) -> Any:
            return jax.vjp(lambda z: f(z, *rest[:-1]), z)[1](rest[-1])[0]

        if kind == "jax.jit":
            jitted = jax.jit(vjp)
            t0 = time.perf_counter()
            jitted(*xs, gj).block_until_ready()
            return (lambda: jitted(*xs, gj).block_until_ready()), time.perf_counter() - t0
        return (lambda: vjp(*xs, gj).block_until_ready()), 0.0
    import autograd

    r = reference.get("autograd")
    f = r.op(op, params)
    rest = inputs[1:]

    def run_ag() -> Any:
        return autograd.make_vjp(lambda z: f(z, *rest))(inputs[0])[0](g)
    return run_ag, 0.0


def _openblas() -> str:
    """numpy's OpenBLAS: threads and kernel (core type), read from the loaded library."""
    import ctypes
    import re

    try:
        maps = open("/proc/self/maps").read()
    except OSError:
        return "unknown (no /proc)"
    for path in sorted(set(re.findall(r"\S*openblas\S*\.so\S*", maps))):
        lib = ctypes.CDLL(path)
        for prefix in ("scipy_openblas_", "openblas_"):
            for suffix in ("64_", ""):
                get = getattr(lib, f"{prefix}get_num_threads{suffix}", None)
                core = getattr(lib, f"{prefix}get_corename{suffix}", None)
                if get is not None:
                    name = ""
                    if core is not None:
                        core.restype = ctypes.c_char_p
                        name = f", kernel {core().decode()}"
                    return f"{get()} (OpenBLAS{name})"
    return "unknown (no OpenBLAS loaded)"


def thread_counts() -> dict[str, str]:
    """The threads each contender computes on, as configured in this process."""
    import os

    from gradverify.impl._blocked import num_threads

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    blas = _openblas()
    out = {"impl (elementwise and row-wise formulas, impl._blocked)": str(num_threads()),
           "impl dense (numpy BLAS)": blas}
    try:
        import torch

        out["torch.autograd, torch.func"] = f"{torch.get_num_threads()} (intra-op)"
    except ImportError:
        out["torch.autograd, torch.func"] = "not installed"
    single = "multi_thread_eigen=false" in os.environ.get("XLA_FLAGS", "")
    out["jax.jit, jax.eager"] = ("1 (XLA_FLAGS=--xla_cpu_multi_thread_eigen=false)" if single
                                 else f"{cores} (XLA's CPU thread pool, all cores)")
    out["autograd"] = f"1 for ufuncs (numpy), BLAS {blas}"
    return out
