"""What the module under test supports, applied to every call the suite makes of it.

A module says which cases it supports with ``GRADVERIFY_SUPPORTS`` (see
``gradverify.declared``), and an adapter's ``fixed=`` says which parameter values the user's
code implements. Both apply to the value a call *uses*: a parameter the suite leaves at its
default counts with impl's default (``eps=1e-5``, ``reduction="mean"``), so a case that relies
on the default is not run against code written for another value.

``guard(module)`` returns the module itself when it restricts nothing, else a copy whose
functions raise ``NotImplementedError`` (the suite's "not supported by <module>: <reason>",
a skip counted apart, never a failure) for a call outside what the module supports. Every entry
point (the pytest tests, ``gradverify.check``, ``python -m gradverify``) checks the guarded
module, so the matrix, contracts, special values, kinks, properties, second order and the
networks all honour it. Rules on the first input: ``ndim``, ``shape``, ``dtype``, and
``empty`` (``[False]``: no empty batches) and ``size1`` (``[False]``: no axis of size 1).
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

KINDS = ("", "_backward", "_jacobian", "_jvp", "_hessian", "_hvp")
#: where the op's first input sits among a function's positional arguments
_FIRST = {"": 0, "_backward": 1, "_jacobian": 0, "_jvp": 0, "_hessian": 0, "_hvp": 1}
FIXED_ATTR = "__gradverify_fixed__"  # set by the adapters: {parameter: the only value}


@functools.cache
def defaults(op: str) -> Mapping[str, Any]:
    """impl's default for each keyword parameter of ``op`` (from the signatures of ``op`` and
    ``op_backward``); empty for an op impl lacks."""
    from gradverify import impl
    out: dict[str, Any] = {}
    for name in (f"{op}_backward", op):
        fn = getattr(impl, name, None)
        if fn is None:
            continue
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            continue
        out.update({p.name: p.default for p in params if p.default is not p.empty})
    return types.MappingProxyType(out)


def _first_float(args: tuple[Any, ...], first: int) -> str | None:
    for a in args[first:]:
        dtype = getattr(a, "dtype", None)
        if dtype is not None and np.issubdtype(dtype, np.floating):
            return str(dtype)
    return None


def reason(table: Mapping[str, Any], op: str, kwargs: Mapping[str, Any], x: Any,
           dtype: str | None, variant: str | None = None) -> str | None:
    """None if ``table`` (a ``GRADVERIFY_SUPPORTS``) allows the call, else why not. ``x``: the
    op's first input; ``variant``: the catalog entry's variant, None when unknown."""
    params = {**defaults(op), **kwargs}
    for key in (op, "*"):
        for rule, allowed in (table.get(key) or {}).items():
            shape = tuple(np.shape(x))
            if rule == "variant":
                if variant is None:
                    continue
                v: Any = variant
            elif rule == "ndim":
                v = len(shape)
            elif rule == "shape":
                v, allowed = shape, [tuple(a) for a in allowed]
            elif rule == "dtype":
                if dtype is None:
                    continue
                v = dtype
            elif rule == "empty":
                v = 0 in shape
                if v and v not in allowed:
                    return f"empty batches ({'x'.join(map(str, shape))}) excluded (empty=False)"
            elif rule == "size1":
                v = 1 in shape
                if v and v not in allowed:
                    return f"axes of size 1 ({'x'.join(map(str, shape))}) excluded (size1=False)"
            elif rule in params:
                v = params[rule]
            else:
                continue
            if v not in list(allowed):
                return f"{rule}={v!r} (it supports {rule} in {list(allowed)})"
    return None


def fixed_reason(fn: Callable, op: str, kwargs: Mapping[str, Any]) -> str | None:
    """An adapter's ``fixed={...}`` against the value the call uses (default or not)."""
    fixed = getattr(fn, FIXED_ATTR, None)
    if not fixed:
        return None
    params = {**defaults(op), **kwargs}
    for k, v in fixed.items():
        if k in params and params[k] != v:
            used = "" if k in kwargs else " (impl's default)"
            who = str(getattr(fn, "__name__", op)).split("[")[0].split(".")[0]
            return f"{who} implements {k}={v!r} only; the case uses {k}={params[k]!r}{used}"
    return None


def _guarded(fn: Callable, op: str, suffix: str, table: Mapping[str, Any]) -> Callable:
    first = _FIRST[suffix]

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        x = args[first] if len(args) > first else None
        why = fixed_reason(fn, op, kwargs) or (
            reason(table, op, kwargs, x, _first_float(args, first)) if table else None)
        if why:
            raise NotImplementedError(why)
        return fn(*args, **kwargs)

    return call


def split(name: str, ops: frozenset[str]) -> tuple[str, str] | None:
    """``"relu_backward"`` -> ``("relu", "_backward")`` for an op of ``ops``."""
    for suffix in sorted(KINDS, key=len, reverse=True):
        if name.endswith(suffix) and name[: len(name) - len(suffix)] in ops:
            return name[: len(name) - len(suffix)], suffix
    return None


def guard(module: Any, ops: frozenset[str] | None = None) -> Any:
    """The module, or a copy of it whose op functions honour ``GRADVERIFY_SUPPORTS`` and the
    adapters' ``fixed=`` at every call (see the module docstring)."""
    if ops is None:
        from .catalog import OP_NAMES

        ops = frozenset(OP_NAMES)
    table = getattr(module, "GRADVERIFY_SUPPORTS", None) or {}
    wrap = {}
    for name in dir(module):
        parts = split(name, ops)
        fn = getattr(module, name, None)
        if parts is None or not callable(fn):
            continue
        if getattr(fn, FIXED_ATTR, None) or (table and (parts[0] in table or "*" in table)):
            wrap[name] = _guarded(fn, parts[0], parts[1], table)
    if not wrap:
        return module
    proxy = types.ModuleType(module.__name__, module.__doc__)
    proxy.__dict__.update({k: v for k, v in vars(module).items() if k not in ("__doc__",)})
    proxy.__dict__.update(wrap)
    proxy.__gradverify_unguarded__ = module  # type: ignore[attr-defined]
    return proxy


__all__ = ["FIXED_ATTR", "defaults", "fixed_reason", "guard", "reason", "split"]
