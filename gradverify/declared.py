"""Ops a user's module declares, and the cases it says it supports.

A module may declare ops the catalog lacks::

    GRADVERIFY_OPS = [
        gradverify.OpSpec("swish", "elementwise", make, shapes=((3, 4),)),  # a full OpSpec
        {"name": "swish", "inputs": ["normal"], "shapes": [(3, 4), (5,)],   # or a small dict
         "params": [{}, {"beta": 2.0}], "torch": swish_torch, "jax": swish_jax},
    ]
    GRADVERIFY_DEFINITIONS = {"swish": {"torch": swish_torch}}  # frameworks' versions for OpSpecs

Each input of a dict declaration is a domain: ``"normal"``, ``"positive"`` (0.1 to 2),
``"probability"`` (0.05 to 0.95), ``("uniform", lo, hi)``, ``"one_hot"``, ``"labels"`` (integer
classes of the last axis), a function ``(rng, shape, dtype) -> array``, or a dict
``{"domain": ..., "shape": shape_or_function_of_the_case_shape}``. Declared ops go through the
same checks as catalog ops: finite differences of the module's own forward always, and each
framework whose version is given (``"torch"``, ``"jax"``, ``"autograd"``).

A module may also say which cases it supports; the others are skipped as "not supported", never
failed::

    GRADVERIFY_SUPPORTS = {"mse": {"reduction": ["mean"]}, "*": {"ndim": [2]}}

(keys: an op's name or ``"*"``; rules: a parameter's name (its value at impl's default when
a case leaves it out), the catalog entry's ``"variant"`` (e.g. ``"int_labels"``), or the
``"ndim"``, ``"shape"`` or ``"dtype"`` of the first input, each with the allowed values;
``"empty": [False]`` leaves out empty batches, ``"size1": [False]`` axes of size 1). Every
test honours it (``gradverify.supports``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from gradverify import reference

from .cases import Case
from .opspec import DTYPES, OpSpec, Shape, away_from, normal, one_hot, uniform

Definitions = dict[str, Callable[..., Any]]  # reference name -> the framework's function
FRAMEWORKS = ("torch", "jax", "autograd")


def _domain(entry: Any) -> Callable[[np.random.Generator, Shape, Any], np.ndarray]:
    if callable(entry):
        return entry
    if isinstance(entry, tuple) and entry[0] == "uniform":
        return lambda rng, shape, dtype: uniform(rng, shape, dtype, entry[1], entry[2])
    named = {
        "normal": lambda rng, shape, dtype: normal(rng, shape, dtype),
        "positive": lambda rng, shape, dtype: uniform(rng, shape, dtype, 0.1, 2.0),
        "probability": lambda rng, shape, dtype: uniform(rng, shape, dtype, 0.05, 0.95),
        "one_hot": one_hot,
        "labels": lambda rng, shape, dtype: rng.integers(0, shape[-1], shape[:-1]),
    }
    if entry not in named:
        raise ValueError(f"unknown input domain {entry!r} (one of {sorted(named)}, "
                         "('uniform', lo, hi) or a function (rng, shape, dtype) -> array)")
    return named[entry]


def _maker(inputs: Sequence[Any], argnums: tuple[int, ...], kinks: tuple[float, ...]):
    """``make(rng, shape, dtype, params)`` from a list of input declarations."""
    parts = []
    for entry in inputs:
        spec = entry if isinstance(entry, dict) else {"domain": entry}
        parts.append((_domain(spec.get("domain", "normal")), spec.get("shape")))

    def make(rng: np.random.Generator, shape: Shape, dtype: Any, params: dict):
        out = []
        for i, (draw, size) in enumerate(parts):
            s = size(shape) if callable(size) else tuple(size) if size is not None else shape
            x = draw(rng, s, dtype)
            if kinks and i in argnums and np.issubdtype(np.asarray(x).dtype, np.floating):
                x = away_from(x, kinks)
            out.append(x)
        return tuple(out)

    return make


def from_dict(d: dict[str, Any]) -> tuple[OpSpec, Definitions]:
    """An OpSpec and the frameworks' definitions from a declarative dict."""
    argnums = tuple(d.get("argnums", (0,)))
    kinks = tuple(d.get("kinks", ()))
    spec = OpSpec(
        name=d["name"], kind=d.get("kind", "declared"),
        make=_maker(d.get("inputs", ["normal"]), argnums, kinks),
        shapes=tuple(tuple(s) for s in d.get("shapes", [(5,), (3, 4)])),
        params=tuple(d.get("params", [{}])), argnums=argnums, kinks=kinks,
        input_size=d.get("input_size"))
    return spec, {k: d[k] for k in FRAMEWORKS if k in d}


def declared_ops(module: Any) -> list[tuple[OpSpec, Definitions]]:
    """The ops ``module`` declares in ``GRADVERIFY_OPS``, each with its frameworks' versions."""
    extra: dict[str, Definitions] = getattr(module, "GRADVERIFY_DEFINITIONS", {}) or {}
    out = []
    for entry in getattr(module, "GRADVERIFY_OPS", ()) or ():
        if isinstance(entry, OpSpec):
            out.append((entry, dict(extra.get(entry.name, {}))))
        elif isinstance(entry, dict):
            spec, defs = from_dict(entry)
            out.append((spec, {**extra.get(spec.name, {}), **defs}))
        else:
            raise TypeError(f"GRADVERIFY_OPS entries are OpSpec or dict, got {entry!r}")
    return out


def cases_of(spec: OpSpec, dtypes: Sequence[str] = DTYPES) -> Iterator[Case]:
    for params in spec.params:
        for shape in spec.shapes:
            for dtype in dtypes:
                yield Case(spec, tuple(params.items()), shape, dtype)


def _purge(ref: Any, name: str) -> None:
    """Drop what a reference compiled for op ``name`` (the jax reference caches jits by name)."""
    for attr in ("_jitted", "_out_shapes"):
        cache = getattr(ref, attr, None)
        if isinstance(cache, dict):
            for key in [k for k in cache if name in k[:2]]:
                del cache[key]


@contextlib.contextmanager
def registered(ops: Sequence[tuple[OpSpec, Definitions, Callable]]) -> Iterator[None]:
    """While inside, every reference knows the declared ops: finite differences use the
    module's own forward (the third item), a framework its given version; a framework without
    one has no definition of the op (so a catalog op of the same name is not used instead)."""
    if not ops:  # nothing to register: load no framework
        yield
        return
    saved: list[tuple[Any, str, Any]] = []
    refs = {}
    for name in reference.NAMES:
        try:
            refs[name] = reference.get(name, "cpu")  # the instance checks.Run uses
        except reference.BackendUnavailable:
            continue
    try:
        for spec, defs, forward in ops:
            for name, ref in refs.items():
                fn = forward if name == "numeric" else defs.get(name)
                saved.append((ref, spec.name, ref.ops.get(spec.name)))
                _purge(ref, spec.name)
                if fn is None:
                    ref.ops.pop(spec.name, None)
                else:
                    ref.ops[spec.name] = fn
        yield
    finally:
        for ref, name, old in reversed(saved):
            _purge(ref, name)
            if old is None:
                ref.ops.pop(name, None)
            else:
                ref.ops[name] = old


def supported(module: Any, case: Case, seed: int = 0) -> str | None:
    """None if ``module`` supports ``case`` (by its ``GRADVERIFY_SUPPORTS``, parameters at
    impl's defaults included), else the reason."""
    from .supports import reason

    table = getattr(module, "GRADVERIFY_SUPPORTS", None)
    if not table:
        return None
    rules = {rule for key in (case.spec.name, "*") for rule in (table.get(key) or {})}
    x = np.asarray(case.inputs(case.rng(seed))[0]) if rules & {
        "ndim", "shape", "empty", "size1"} else np.zeros(case.shape)
    return reason(table, case.spec.name, case.kwargs, x, case.dtype, case.spec.variant)


def module_name(module: ModuleType | Any) -> str:
    return getattr(module, "__name__", "module")


def skip_unsupported(module: Any, case: Case, seed: int = 0) -> None:
    """Skip the running test, counted as "not supported", if ``module`` excludes ``case``."""
    why = supported(module, case, seed)
    if why:
        import pytest

        pytest.skip(f"not supported by {module_name(module)}: {why}")
