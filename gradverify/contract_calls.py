"""The plumbing of the contract checks (``gradverify/contracts.py``): an op's functions with
seeded arguments (``Call``, ``Subject``), fresh copies and layouts of the arguments, and calls
that fail the case with the function's own message when it raises.
"""

from __future__ import annotations

import inspect
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from .cases import Case, cotangent
from .declared import supported
from .diagnose import fmt
from .opspec import OpSpec
from .tolerances import tolerance

#: the name under which contracts ask ``tolerance`` for an allowance: a module compared with
#: itself is held to rounding, as against a framework
SELF = "impl"
KINDS = {"": "value", "_backward": "grad", "_jacobian": "grad", "_jvp": "grad",
         "_hessian": "hessian", "_hvp": "hessian"}
_NUMPY = os.path.dirname(np.__file__) + os.sep
_OURS = {__file__, os.path.join(os.path.dirname(__file__), "contracts.py"),
         os.path.join(os.path.dirname(__file__), "supports.py")}


# -- arguments and results ---------------------------------------------------------------------
def leaves(x: Any) -> list[np.ndarray]:
    """A result or an argument as a list of arrays (a tuple of outputs or gradients, or one)."""
    return [np.asarray(v) for v in x] if isinstance(x, (tuple, list)) else [np.asarray(x)]


def fmap(x: Any, f: Callable[[np.ndarray], Any]) -> Any:
    return tuple(f(np.asarray(v)) for v in x) if isinstance(x, tuple) else f(np.asarray(x))


def copy_of(a: np.ndarray) -> np.ndarray:
    return np.array(a, copy=True)


def locked(a: np.ndarray) -> np.ndarray:
    a = copy_of(a)
    a.setflags(write=False)
    return a


def _transposed(a: np.ndarray) -> np.ndarray:
    """The same values as a transposed view of a C-contiguous array (last two axes)."""
    return np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2)


def _strided(a: np.ndarray) -> np.ndarray:
    """The same values as every other element of an array twice as large in every axis; the
    elements in between are NaN (floats) or the dtype's largest value (integers)."""
    fill = np.nan if np.issubdtype(a.dtype, np.inexact) else (
        np.iinfo(a.dtype).max if np.issubdtype(a.dtype, np.integer) else 0)
    big = np.full(tuple(2 * n for n in a.shape), fill, dtype=a.dtype)
    view = big[(slice(None, None, 2),) * a.ndim]
    view[...] = a
    return view


#: layout -> (how it is made, the least rank it applies to)
LAYOUTS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], int]] = {
    "a transposed view": (_transposed, 2),
    "a strided view (every other element)": (_strided, 1),
    "a Fortran-ordered array": (np.asfortranarray, 2),
}


@dataclass
class Call:
    """One function of the op with its arguments (an argument is an array, or a tuple of
    arrays: the cotangents of several outputs); ``linear`` is the position of the argument the
    result is linear in (the upstream gradient, the tangent, v), if any."""

    name: str
    fn: Callable
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    kind: str
    linear: int | None = None
    argnums: tuple[int, ...] = (0,)

    def fresh(self, convert: Callable[[np.ndarray], np.ndarray] = copy_of,
              only: int | None = None) -> list[Any]:
        """Copies of the arguments; ``convert`` makes them (on leaf ``only``, or on all)."""
        out, k = [], 0
        for a in self.args:
            def one(x: np.ndarray) -> np.ndarray:
                nonlocal k
                k += 1
                return convert(x) if only is None or only == k - 1 else copy_of(x)
            out.append(fmap(a, one))
        return out

    def with_arg(self, i: int, value: Any) -> list[Any]:
        args = self.fresh()
        args[i] = fmap(value, copy_of)
        return args

    def arg_names(self) -> list[str]:
        """The name of every leaf, from the function's own signature (``grad_out[k]`` for the
        cotangent of output k)."""
        try:
            params = [p.name for p in inspect.signature(self.fn).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        except (TypeError, ValueError):
            params = []
        names = []
        for i, a in enumerate(self.args):
            name = params[i] if i < len(params) else f"argument {i}"
            names += [f"{name}[{k}]" for k in range(len(a))] if isinstance(a, tuple) else [name]
        return names

    def arg_name(self, i: int) -> str:
        return self.arg_names()[sum(len(leaves(a)) for a in self.args[:i])].split("[")[0]

    def result(self, k: int, n: int) -> str:
        """How the diagnosis names result k of n: a gradient of the backward, or an output."""
        if self.name.endswith("_backward") and n > 1:
            return f"gradient {k} (input {self.argnums[k] if k < len(self.argnums) else k})"
        return f"output {k}" if n > 1 else "result"


@dataclass
class Subject:
    """One case of one op against the module under test."""

    case: Case
    module: ModuleType
    seed: int = 0
    nodeid: str = ""
    options: str = ""
    read_only: bool = False

    @property
    def spec(self) -> OpSpec:
        return self.case.spec

    @property
    def context(self) -> str:
        return self.case.describe(self.seed, self.nodeid, self.options)

    @cached_property
    def calls(self) -> dict[str, Call]:
        """The op's functions the module provides, keyed by suffix ("", "_backward", ...),
        with seeded arguments; the backward needs the forward (for its output's shape)."""
        spec, case, kw = self.spec, self.case, self.case.kwargs
        why = supported(self.module, case, self.seed)  # the module's GRADVERIFY_SUPPORTS
        if why:
            pytest.skip(f"not supported by {self.module.__name__}: {why}")
        rng = case.rng(self.seed)
        inputs = case.inputs(rng)
        x = inputs[spec.argnums[0]]
        found = {s: getattr(self.module, spec.name + s, None) for s in KINDS}
        calls: dict[str, Call] = {}

        def add(suffix: str, args: tuple, linear: int | None = None) -> None:
            fn = found[suffix]
            if fn is not None:
                calls[suffix] = Call(spec.name + suffix, fn, args, kw, KINDS[suffix], linear,
                                     spec.argnums)

        add("", inputs)
        if found[""] is not None and found["_backward"] is not None:
            out = invoke(self, "contracts", calls[""], calls[""].fresh())
            cots = tuple(cotangent(rng, np.shape(o), case.dtype) for o in leaves(out))
            add("_backward", (cots[0] if spec.outputs == 1 else cots, *inputs), 0)
        add("_jacobian", inputs)
        t = rng.standard_normal(np.shape(x)).astype(case.dtype)
        add("_jvp", (*inputs, t), len(inputs))
        add("_hessian", inputs)
        add("_hvp", (rng.standard_normal(np.shape(x)).astype(case.dtype), *inputs), 0)
        if not calls:
            pytest.skip(f"{self.module.__name__} provides none of {spec.name}'s functions "
                        f"({', '.join(spec.name + s for s in KINDS)})")
        return calls

    def allowance(self, kind: str) -> Any:
        return tolerance(self.case.dtype, kind, SELF, self.spec)

    def fail(self, message: str) -> None:
        pytest.fail(f"{message}\n{self.context}", pytrace=False)


def _frames(exc: BaseException) -> list[traceback.FrameSummary]:
    """The traceback inside the function under test (the contracts' own frames left out; an
    isolated call's frames come from its worker: gradverify.isolate)."""
    remote = getattr(exc, "remote_frames", None)
    if remote is not None:
        return list(remote)
    return [f for f in traceback.extract_tb(exc.__traceback__) if f.filename not in _OURS]


def where_written(exc: BaseException) -> str:
    """'path:line: code' of the deepest frame outside numpy: where the write happened."""
    frames = [f for f in _frames(exc) if not f.filename.startswith(_NUMPY)] or _frames(exc)
    if not frames:
        return "(no Python frame)"
    f = frames[-1]
    path = os.path.relpath(f.filename)
    path = f.filename if path.startswith("..") else path
    return f"{path}:{f.lineno}: {(f.line or '').strip()}"


def exception_text(exc: BaseException) -> str:
    """``str(exc)``, or a placeholder when the module's exception cannot say it."""
    try:
        return str(exc)
    except Exception:
        return f"<{type(exc).__name__} whose str() raised>"


def invoke(subject: Subject, contract: str, call: Call, args: list[Any], note: str = "") -> Any:
    """Call the function; if it raises, fail the case with its own message."""
    try:
        return call.fn(*args, **call.kwargs)
    except NotImplementedError as exc:  # not supported is not wrong: a skip, counted apart
        who = getattr(call.fn, "__module__", None) or subject.module.__name__
        message = f"not supported by {who}: {exc or call.name}"
        unsupported = True
    except Exception as exc:
        tb = "".join(traceback.format_list(_frames(exc)[-3:]))
        message = (f"{contract}: {call.name} raised {type(exc).__name__}{note}: "
                   f"{exception_text(exc)}\n{tb}")
        unsupported = False
    if unsupported:
        pytest.skip(message)
    subject.fail(message.rstrip("\n"))


def repeats(subject: Subject, call: Call) -> bool:
    first = leaves(invoke(subject, "repeatable", call, call.fresh()))
    second = leaves(invoke(subject, "repeatable", call, call.fresh()))
    return len(first) == len(second) and all(
        a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
        for a, b in zip(first, second))


def first_diff(before: np.ndarray, after: np.ndarray, verb: str = "changed",
                then: tuple[str, str] = ("was", "now")) -> str:
    same = before == after
    if np.issubdtype(before.dtype, np.inexact):
        same |= np.isnan(before) & np.isnan(after)
    bad = ~same
    idx = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()
    was, now = fmt(before[idx]), fmt(after[idx])
    if was == now:  # equal to 6 digits: show every digit, and how many ulps apart
        was, now = repr(before[idx].item()), repr(after[idx].item())
        if np.issubdtype(before.dtype, np.floating):
            ulps = abs(float(after[idx]) - float(before[idx])) / float(np.spacing(
                np.maximum(np.abs(before[idx]), np.abs(after[idx]))))
            now += f" ({ulps:.0f} ulp(s) apart)"
    return (f"{int(bad.sum())} of {bad.size} element(s) {verb}; first at {list(idx)}: "
            f"{then[0]} {was}, {then[1]} {now}")
