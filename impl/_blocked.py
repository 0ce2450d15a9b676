"""Cache-sized blocks on a thread pool: one place for the blocking, so formulas stay formulas.

``elementwise(formula, *arrays)`` evaluates ``formula(out, *xs)`` (which writes its result into
``out``) over contiguous blocks of the flattened arrays; ``rowwise(formula, *arrays)`` does the
same over blocks of whole rows (the last axis), for ops that reduce along a row (softmax and its
losses). The calling thread takes the first share of the blocks and the pool the others; NumPy
ufuncs release the GIL, so the shares run in parallel. A formula that is elementwise gives
bitwise the same result in blocks as on the whole array (the same ufunc loops on the same
elements); a row-wise one as well, as long as each row is reduced by itself.

The plain path (``formula`` on the whole arrays, one call) is taken for small arrays, for 0-d
and empty ones, and for layouts that cannot be cut into flat blocks without a copy (strided
views, mixed C and Fortran order); its result has the first array's layout (``empty_like``).

A formula must not call ``elementwise`` or ``rowwise`` itself (a worker waiting on the pool
could wait forever); it calls the ufuncs, or other formulas, directly.

Threads: ``GRADVERIFY_NUM_THREADS``, else ``OMP_NUM_THREADS``, else the cores this process may
use (read at each call, so a test or a benchmark can change them). With one thread large arrays
still go through the blocks (fewer passes over memory), on the calling thread alone.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

__all__ = ["BLOCK", "MIN_BLOCKED", "STREAM", "elementwise", "num_threads", "rowwise"]

#: elements per block (at most): 32768 float64 values = 256 KiB per operand, so a formula's
#: 3–4 operands and temporaries stay within the 1 MiB L2. Measured here (sigmoid, tanh, relu
#: VJPs and softmax's on rows of 10 and 100; 10⁶ and 10⁷ elements, 2 threads): 8192 loses
#: 10–40% to per-call overhead (~1 µs per ufunc call, ~1.5 µs per strided column op on rows
#: of 10), 32768–65536 were best and indistinguishable within the noise of a shared machine.
BLOCK = 1 << 15
#: elements below which the plain path is taken: the crossover measured for the sigmoid VJP on
#: 2 threads was 2–3·10⁴ elements (at 10⁴ blocked and plain tied, at 3·10⁴ the pool won by
#: 25%, at 10⁵ by 35%: a pool round trip costs ~30–60 µs); every test case stays below it.
MIN_BLOCKED = 1 << 15
#: blocks for memory-bound formulas (one or two passes, such as g ⊙ [z > 0] or c·(y − t)):
#: cache blocking buys them nothing, while each block costs ~5 µs of Python and ufunc calls
#: (a third of relu's VJP at 10⁶ in blocks of 32768); 2¹⁸ elements still fit the L3 cache.
STREAM = 1 << 18

Formula = Callable[..., Any]

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def _forget_pool() -> None:
    """In a forked child the pool's threads do not exist: start a new pool when needed."""
    global _pool, _pool_size, _lock
    _pool, _pool_size, _lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def num_threads() -> int:
    """Threads to use: GRADVERIFY_NUM_THREADS, else OMP_NUM_THREADS, else the usable cores."""
    for var in ("GRADVERIFY_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value:
            try:
                return max(1, int(value))
            except ValueError:
                pass  # an unparsable value: fall through, as OpenMP ignores it
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < workers:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool, _pool_size = ThreadPoolExecutor(workers, "gradverify-blocked"), workers
        return _pool


def _run(n: int, step: int, task: Callable[[int, int], None], threads: int) -> None:
    """task(start, stop) over [0, n) in blocks of ``step``, split in ``threads`` shares."""
    step = max(1, min(step, -(-n // max(threads, 1))))  # every thread gets a share
    blocks = -(-n // step)
    threads = max(1, min(threads, blocks))

    def share(first: int, last: int) -> None:
        for b in range(first, last):
            task(b * step, min((b + 1) * step, n))

    bounds = [blocks * i // threads for i in range(threads + 1)]
    futures: list[Future] = []
    if threads > 1:
        pool = _executor(threads - 1)
        futures = [pool.submit(contextvars.copy_context().run, share, bounds[i], bounds[i + 1])
                   for i in range(1, threads)]  # copy_context: the caller's np.errstate
    try:
        share(bounds[0], bounds[1])
    finally:
        for f in futures:
            f.result()


def _plain(formula: Formula, arrays: Sequence[np.ndarray], dtype: Any = None) -> np.ndarray:
    out = np.empty_like(arrays[0], dtype=dtype)
    formula(out, *arrays)
    return out


def elementwise(formula: Formula, *arrays: np.ndarray, dtype: Any = None,
                block: int = BLOCK, threads: int | None = None,
                min_size: int = MIN_BLOCKED) -> np.ndarray:
    """``out = formula(out, *arrays)`` for an elementwise formula, in blocks of ``block``.

    The arrays must have one shape; ``out`` is a new array of that shape and of ``dtype``
    (default: the first array's). ``formula`` gets an ``out`` block and the matching blocks of
    the arrays and must write every element of ``out``; it may use ``out`` as scratch.
    """
    first = arrays[0]
    n = first.size
    if n < max(min_size, 2) or any(a.shape != first.shape for a in arrays):
        return _plain(formula, arrays, dtype)  # first: small arrays pay no more than this
    dtype = first.dtype if dtype is None else np.dtype(dtype)
    threads = num_threads() if threads is None else threads
    if all(a.flags.c_contiguous for a in arrays):
        order = "C"
    elif all(a.flags.f_contiguous for a in arrays):
        order = "F"
    else:
        return _plain(formula, arrays, dtype)
    out = np.empty(first.shape, dtype=dtype, order=order)  # type: ignore[call-overload]
    flat = [a.reshape(-1, order=order) for a in (out, *arrays)]  # views: no copy

    def task(start: int, stop: int) -> None:
        formula(*[f[start:stop] for f in flat])

    _run(n, block, task, threads)
    return out


def rowwise(formula: Formula, *arrays: np.ndarray, axis: int, dtype: Any = None,
            block: int = BLOCK, threads: int | None = None,
            min_size: int = MIN_BLOCKED) -> np.ndarray:
    """``out = formula(out, *arrays, axis=axis)`` for a formula acting on each slice along
    ``axis`` by itself (softmax-like), in blocks of whole rows when ``axis`` is the last one.

    ``out`` has the first array's shape and ``dtype``; every array has the first one's leading
    shape (``shape[:-1]``) and any last length (integer labels as ``(..., 1)``). Blocks hold
    about ``block`` elements, at least one row; a blocked call gets ``axis = -1``.
    """
    first = arrays[0]
    dtype = first.dtype if dtype is None else np.dtype(dtype)
    threads = num_threads() if threads is None else threads
    n = first.size
    last = first.ndim - 1
    if (n < max(min_size, 2) or first.ndim == 0 or axis % first.ndim != last
            or n // max(first.shape[-1], 1) < 2
            or any(a.ndim != first.ndim or a.shape[:-1] != first.shape[:-1]
                   or not a.flags.c_contiguous for a in arrays)):
        return _plain(lambda out, *xs: formula(out, *xs, axis=axis), arrays, dtype)
    out = np.empty(first.shape, dtype=dtype)
    rows = [a.reshape(-1, a.shape[-1]) for a in (out, *arrays)]
    k = max(first.shape[-1], 1)

    def task(start: int, stop: int) -> None:
        formula(*[r[start:stop] for r in rows], axis=-1)

    _run(rows[0].shape[0], max(1, block // k), task, threads)
    return out
