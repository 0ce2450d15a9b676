"""Cases: op × parameters × shape × dtype from the catalog, and how a case runs.

A case's inputs come from a generator seeded by ``--seed`` and the case's own key (not
its reference, its position or the xdist worker), so every reference sees the same inputs
and any case reproduces alone.
"""

from __future__ import annotations

import traceback
import zlib
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from gradverify import reference
from gradverify.reference.base import Reference

from .catalog import CATALOG, DTYPES, OpSpec, Shape
from .diagnose import structural_problem


@dataclass(frozen=True)
class Case:
    spec: OpSpec
    params: tuple[tuple[str, Any], ...]
    shape: Shape
    dtype: str

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def shape_id(self) -> str:
        return self.spec.spell(self.shape)

    @property
    def param_id(self) -> str:
        parts = [self.spec.variant] if self.spec.variant else []
        parts += [f"{k}={v}" for k, v in self.params]
        return ",".join(parts)

    @cached_property  # a case is built once at collection and checked by several tests
    def key(self) -> str:
        return "-".join(filter(None, [self.spec.name, self.dtype, self.shape_id, self.param_id]))

    @cached_property
    def _key_crc(self) -> int:
        return zlib.crc32(self.key.encode())

    def id(self, ref: str) -> str:
        return "-".join(filter(None, [self.spec.name, ref, self.dtype, self.shape_id,
                                      self.param_id]))

    def rng(self, seed: int) -> np.random.Generator:
        return np.random.default_rng([seed, self._key_crc])

    def inputs(self, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        return self.spec.make(rng, self.shape, np.dtype(self.dtype), self.kwargs)

    def describe(self, seed: int, nodeid: str = "", options: str = "") -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params) or "defaults"
        lines = [f"case: op {self.spec.label}, params ({params}), shape {self.shape_id}, "
                 f"dtype {self.dtype}, seed {seed}"]
        if nodeid:
            lines.append(f"reproduce: pytest '{nodeid}' --seed {seed}{options}")
        return "\n".join(lines)


def all_cases(kinds: tuple[str, ...] | None = None) -> Iterator[Case]:
    for spec in CATALOG:
        if kinds and spec.kind not in kinds:
            continue
        for params in spec.params:
            for shape in spec.shapes:
                for dtype in DTYPES:
                    yield Case(spec, tuple(params.items()), shape, dtype)


def parametrize(check: str, refs: tuple[str, ...] = reference.NAMES,
                select: Callable[[Case], bool] = lambda c: True,
                ops: Collection[str] | None = None) -> list[Any]:
    """pytest params (case, reference) with ids ``<op>-<ref>-<dtype>-<shape>[-<params>]``;
    only the ops named in ``ops`` when it is given."""
    out = []
    for case in all_cases():
        if (ops and case.spec.name not in ops) or not select(case):
            continue
        for ref in refs:
            marks = [getattr(pytest.mark, ref)]
            out.append(pytest.param(case, ref, id=case.id(ref), marks=marks))
    return out


def matrix(check: str, refs: tuple[str, ...] = reference.NAMES,
           select: Callable[[Case], bool] = lambda c: True) -> pytest.MarkDecorator:
    """Parametrize a test over ``case, ref`` like ``parametrize``, at collection time: the
    conftest's ``pytest_generate_tests`` applies ``--op``, so the other ops' cases are never
    built (a run of one op collects in milliseconds, not seconds)."""
    return pytest.mark.cases(check, refs, select)


def case_major(items: list[pytest.Item]) -> None:
    """Reorder ``items`` in place so that, within a test module, the tests of one case and
    reference run one after another (``test_forward``, ``test_vjp``, ``test_jacobian`` of
    ``softmax-jax-float64-3x4``), in the order their first test was collected; other items
    keep their place. jax computes a small case's forward, VJP and Jacobian in one
    compilation, and xdist sends neighbouring items mostly to the same worker, which then
    traces and compiles the case once, not once per worker (measured: a cold run's jax matrix
    time 58-61 s -> 46-47 s, the full default run 88-92 s -> 80-83 s)."""
    def group(i: int) -> tuple[str, str, Any] | None:
        params = getattr(getattr(items[i], "callspec", None), "params", {})
        case = params.get("case")
        if not isinstance(case, Case):
            return None
        return items[i].nodeid.split("::", 1)[0], case.key, params.get("ref")

    keys = [group(i) for i in range(len(items))]
    first: dict[tuple[str, str, Any], int] = {}
    for i, key in enumerate(keys):
        if key is not None:
            first.setdefault(key, i)
    rank = [i if key is None else first[key] for i, key in enumerate(keys)]
    items[:] = [items[i] for i in sorted(range(len(items)), key=lambda i: (rank[i], i))]


# -- running a case ------------------------------------------------------------------------
def use_reference(name: str, device: str) -> Reference:
    try:
        return reference.get(name, device)
    except reference.BackendUnavailable as exc:
        pytest.skip(f"{name} reference unavailable: {exc}")


def from_reference(name: str, compute: Callable[[], Any]) -> Any:
    """Run a reference computation; a declared limitation skips the case with its reason."""
    try:
        return compute()
    except reference.Unsupported as exc:
        pytest.skip(f"{name} cannot compute this case: {exc}")


def impl_function(module: ModuleType, name: str) -> Callable:
    fn = getattr(module, name, None)
    if fn is None:
        pytest.skip(f"{name} not provided by {module.__name__}")
    return fn


def call_impl(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """Call a formula under test; if it raises, fail the case with its own message. A
    ``NotImplementedError`` is no wrong formula: the case is skipped as "not supported by
    <module>: <reason>" (counted apart in the summary)."""
    return call_impl_of(None, fn, *args, **kwargs)


def call_impl_of(module: ModuleType | None, fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """``call_impl`` for a helper ``fn`` that calls ``module``'s functions: a skip or failure
    names ``module``."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as exc:
        who = getattr(module, "__name__", None) or getattr(fn, "__module__", None) \
            or "the module under test"
        reason = str(exc) or f"{getattr(fn, '__name__', fn)} raised NotImplementedError"
        message, skip = f"not supported by {who}: {reason}", True
    except Exception as exc:
        # an isolated call (gradverify.isolate): the worker's frames, or the cause as the verdict
        tb = getattr(exc, "remote_frames", None) or traceback.extract_tb(exc.__traceback__)[1:]
        message, skip = (f"{getattr(fn, '__name__', fn)} raised {type(exc).__name__}: "
                         f"{_text(exc)}\n" + "".join(traceback.format_list(tb[-3:]))), False
        if getattr(exc, "gradverify_cause", False):
            message = str(exc)
    if skip:  # outside the except: no "during handling" chain
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


def _text(exc: BaseException) -> str:
    """``str(exc)``, or a placeholder when the module's exception cannot say it."""
    try:
        return str(exc)
    except Exception:
        return f"<{type(exc).__name__} whose str() raised>"


def as_gradients(result: Any, spec: OpSpec, fn_name: str, context: str,
                 inputs: tuple[np.ndarray, ...] | None = None) -> tuple[Any, ...]:
    """A backward's result as a tuple with one gradient per differentiable input; with
    ``inputs``, each gradient must also be an array of its input's shape (checked before a
    Jacobian is assembled from the gradients)."""
    n = len(spec.argnums)
    grads = tuple(result) if isinstance(result, (tuple, list)) else (result,)
    if len(grads) != n:
        expected = "1 array" if n == 1 else f"a tuple of {n} arrays"
        pytest.fail(f"{fn_name} returned {len(grads)} gradient(s), expected {expected} "
                    f"(one per differentiable input)\n{context}", pytrace=False)
    for k, (g, i) in enumerate(zip(grads, spec.argnums) if inputs is not None else ()):
        shape = np.shape(inputs[i])  # type: ignore[index]
        if not isinstance(g, (np.ndarray, np.generic)) or g.shape != shape:
            problem = structural_problem(g, np.zeros(shape), None)
            pytest.fail(f"backward pass: {fn_name} gradient {k} (input {i}): {problem}\n"
                        f"{context}", pytrace=False)
    return grads


def cotangent(rng: np.random.Generator, out_shape: Shape, dtype: str) -> np.ndarray:
    """A random cotangent (never all ones, so a forgotten upstream gradient shows)."""
    if out_shape == ():
        return np.asarray(rng.uniform(0.5, 2.0), dtype=dtype)
    return rng.standard_normal(out_shape).astype(dtype)
