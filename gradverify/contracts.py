"""Contracts beyond values: what a gradient formula owes its caller besides the right numbers.

Checked for every function of an op that the module under test provides (``<op>``,
``<op>_backward``, ``<op>_jacobian``, ``<op>_jvp``, ``<op>_hessian``, ``<op>_hvp``), with no
framework (these checks import none and need no reference):

- ``no_mutation``: no argument is modified (each is compared with a copy after the call); on
  each op's first contract shape the arguments are also passed read-only (``writeable=False``),
  so an in-place write fails loudly, at its own line;
- ``repeatable``: a second call with the same arguments gives bitwise the same result (there is
  no legitimate reason to differ by even one ulp); a difference means the function keeps state;
- ``linear_in_g``: the backward is linear in its upstream gradient g (the JVP in its tangent,
  the HVP in v): f(0) = 0 exactly, f(s·g) = s·f(g) for s = −2¹⁰ (a large, exact scale) and
  f(a·g₁ + b·g₂) = a·f(g₁) + b·f(g₂) for a = 1/2, b = −2, the last two within the allowance;
- ``layouts``: each argument as a transposed view, as a strided view (every other element of a
  bigger array, the gaps filled with NaN) and in Fortran order, then all of them at once, gives
  the result of C-contiguous arguments (within the allowance: BLAS may sum in another order);
- ``self_consistent``: the module agrees with itself: ⟨u, VJP(v)⟩ = ⟨JVP(u), v⟩, the VJP and
  the JVP equal vᵀJ and J·u for its Jacobian J, its Hessian is symmetric and H·v is its HVP.

Each contract takes a ``Subject`` (one case of one op, one module) and returns, fails with a
diagnosis whose first line names the contract, the function and the argument, or skips with a
reason. Every call gets fresh copies of its arguments, so a function that breaks one contract
(writing into its input, keeping state) does not make the others fail for it: a comparison that
fails on a function that keeps state is skipped, naming the ``repeatable`` contract.
"""

from __future__ import annotations

import inspect
import math
import os
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from .cases import Case, cotangent
from .diagnose import check, fmt
from .opspec import OpSpec, Shape
from .tolerances import tolerance

#: the name under which contracts ask ``tolerance`` for an allowance: a module compared with
#: itself is held to rounding, as against a framework
SELF = "impl"
SCALE = -1024.0  # f(s·g) = s·f(g): exact in floating point for a linear formula
A, B = 0.5, -2.0  # f(a·g1 + b·g2) = a·f(g1) + b·f(g2): a·g and b·g are exact too
KINDS = {"": "value", "_backward": "grad", "_jacobian": "grad", "_jvp": "grad",
         "_hessian": "hessian", "_hvp": "hessian"}
_NUMPY = os.path.dirname(np.__file__)


def contract_shapes(spec: OpSpec) -> tuple[Shape, ...]:
    """Two small shapes of the op: the smallest whose dimensions all exceed 1 (transposes
    matter there), and the largest other one (≤ 64 input elements), of another rank if any."""
    shapes = [s for s in spec.shapes if math.prod(s) > 0]
    full = [s for s in shapes if len(s) >= 2 and min(s) > 1]
    first = min(full, key=spec.size) if full else max(shapes, key=spec.size)
    rest = [s for s in shapes if s != first and spec.size(s) <= 64]
    other_rank = [s for s in rest if len(s) != len(first)] or rest
    return (first, max(other_rank, key=spec.size)) if other_rank else (first,)


# -- arguments and results ---------------------------------------------------------------------
def _leaves(x: Any) -> list[np.ndarray]:
    """A result or an argument as a list of arrays (a tuple of outputs or gradients, or one)."""
    return [np.asarray(v) for v in x] if isinstance(x, (tuple, list)) else [np.asarray(x)]


def _map(x: Any, f: Callable[[np.ndarray], Any]) -> Any:
    return tuple(f(np.asarray(v)) for v in x) if isinstance(x, tuple) else f(np.asarray(x))


def _copy(a: np.ndarray) -> np.ndarray:
    return np.array(a, copy=True)


def _locked(a: np.ndarray) -> np.ndarray:
    a = _copy(a)
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

    def fresh(self, convert: Callable[[np.ndarray], np.ndarray] = _copy,
              only: int | None = None) -> list[Any]:
        """Copies of the arguments; ``convert`` makes them (on leaf ``only``, or on all)."""
        out, k = [], 0
        for a in self.args:
            def one(x: np.ndarray) -> np.ndarray:
                nonlocal k
                k += 1
                return convert(x) if only is None or only == k - 1 else _copy(x)
            out.append(_map(a, one))
        return out

    def with_arg(self, i: int, value: Any) -> list[Any]:
        args = self.fresh()
        args[i] = _map(value, _copy)
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
        return self.arg_names()[sum(len(_leaves(a)) for a in self.args[:i])].split("[")[0]

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
        rng = case.rng(self.seed)
        inputs = case.inputs(rng)
        x = inputs[spec.argnums[0]]
        found = {s: getattr(self.module, spec.name + s, None) for s in KINDS}
        calls: dict[str, Call] = {}

        def add(suffix: str, args: tuple, linear: int | None = None) -> None:
            if found[suffix] is not None:
                calls[suffix] = Call(spec.name + suffix, found[suffix], args, kw, KINDS[suffix],
                                     linear, spec.argnums)

        add("", inputs)
        if found[""] is not None and found["_backward"] is not None:
            out = invoke(self, "contracts", calls[""], calls[""].fresh())
            cots = tuple(cotangent(rng, np.shape(o), case.dtype) for o in _leaves(out))
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
    """The traceback inside the function under test (this module's frames left out)."""
    return [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]


def _where(exc: BaseException) -> str:
    """'path:line: code' of the deepest frame outside numpy: where the write happened."""
    frames = [f for f in _frames(exc) if not f.filename.startswith(_NUMPY)] or _frames(exc)
    if not frames:
        return "(no Python frame)"
    f = frames[-1]
    path = os.path.relpath(f.filename) if not os.path.relpath(f.filename).startswith("..") \
        else f.filename
    return f"{path}:{f.lineno}: {(f.line or '').strip()}"


def invoke(subject: Subject, contract: str, call: Call, args: list[Any], note: str = "") -> Any:
    """Call the function; if it raises, fail the case with its own message."""
    try:
        return call.fn(*args, **call.kwargs)
    except Exception as exc:
        tb = "".join(traceback.format_list(_frames(exc)[-3:]))
        message = (f"{contract}: {call.name} raised {type(exc).__name__}{note}: {exc}\n{tb}")
    subject.fail(message.rstrip("\n"))


def _repeats(subject: Subject, call: Call) -> bool:
    first = _leaves(invoke(subject, "repeatable", call, call.fresh()))
    second = _leaves(invoke(subject, "repeatable", call, call.fresh()))
    return len(first) == len(second) and all(
        a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
        for a, b in zip(first, second))


@contextmanager
def _unless_stateful(subject: Subject, contract: str, calls: list[Call]) -> Iterator[None]:
    """A failed comparison stands unless one of the functions keeps state between calls: then
    it is the ``repeatable`` contract's failure, and this contract is not judged."""
    try:
        yield
    except pytest.fail.Exception:
        for call in calls:
            if not _repeats(subject, call):
                pytest.skip(f"{contract}: {call.name} keeps state between calls (the repeatable "
                            "contract fails on it): not judged here")
        raise


def _compare(subject: Subject, what: str, actual: Any, expected: Any, call: Call,
             magnitude: Callable[[], list[np.ndarray]] | None = None) -> None:
    """Each array of ``actual`` (a result of ``call``) against ``expected``'s, within the
    allowance for ``call``'s kind of value."""
    got, want = _leaves(actual), _leaves(expected)
    kind = call.kind
    if len(got) != len(want):
        subject.fail(f"{what}: {len(got)} result(s), expected {len(want)}")
    for k, (a, e) in enumerate(zip(got, want)):
        label = f"{what}, {call.result(k, len(want))}" if len(want) > 1 else what
        check(a, e, what=label, dtype=str(e.dtype), tol=subject.allowance(kind),
              context=subject.context, who=subject.module.__name__,
              magnitude=None if magnitude is None else lambda k=k: magnitude()[k])


def _first_diff(before: np.ndarray, after: np.ndarray, verb: str = "changed",
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


# -- the contracts -----------------------------------------------------------------------------
def _raises(call: Call, args: list[Any]) -> Exception | None:
    try:
        call.fn(*args, **call.kwargs)
    except Exception as exc:
        return exc
    return None


def _read_only(subject: Subject, call: Call) -> None:
    """Call with read-only arguments: a write fails there, and is reported with the argument
    (found by locking one at a time) and the line."""
    exc = _raises(call, call.fresh(_locked))
    if exc is None:
        return
    if not (isinstance(exc, ValueError) and "read-only" in str(exc)):
        invoke(subject, "no_mutation", call, call.fresh(_locked), " on read-only arguments")
    culprit, line = "one of its arguments", _where(exc)
    for j, name in enumerate(call.arg_names()):
        one = _raises(call, call.fresh(_locked, only=j))
        if isinstance(one, ValueError) and "read-only" in str(one):
            culprit, line = f"its argument {name}", _where(one)
            break
    subject.fail(f"no_mutation: {call.name} writes into {culprit} (read-only here): {line}")


def no_mutation(subject: Subject) -> None:
    """No function modifies its arguments (compared with copies; read-only on one shape)."""
    for call in subject.calls.values():
        if subject.read_only:
            _read_only(subject, call)
        args = call.fresh()
        before = [_leaves(a) for a in call.fresh()]
        invoke(subject, "no_mutation", call, args)
        after = [_leaves(a) for a in args]
        flat = [(b, a) for bs, as_ in zip(before, after) for b, a in zip(bs, as_)]
        for name, (b, a) in zip(call.arg_names(), flat):
            if b.shape != a.shape or b.dtype != a.dtype:
                subject.fail(f"no_mutation: {call.name} modified its argument {name}: shape "
                             f"{b.shape} {b.dtype} became {a.shape} {a.dtype}")
            if not np.array_equal(b, a, equal_nan=np.issubdtype(b.dtype, np.inexact)):
                subject.fail(f"no_mutation: {call.name} modified its argument {name}: "
                             f"{_first_diff(b, a)}")


def repeatable(subject: Subject) -> None:
    """A second call with the same arguments gives bitwise the same result."""
    for call in subject.calls.values():
        first = _leaves(invoke(subject, "repeatable", call, call.fresh()))
        second = _leaves(invoke(subject, "repeatable", call, call.fresh()))
        head = (f"repeatable: {call.name} keeps state between calls: a second call with the "
                "same arguments returned")
        if len(first) != len(second):
            subject.fail(f"{head} {len(second)} result(s) instead of {len(first)}")
        for k, (a, b) in enumerate(zip(first, second)):
            what = call.result(k, len(first))
            if a.shape != b.shape or a.dtype != b.dtype:
                subject.fail(f"{head} a {what} of shape {b.shape} {b.dtype} instead of "
                             f"{a.shape} {a.dtype}")
            if not np.array_equal(a, b, equal_nan=np.issubdtype(a.dtype, np.inexact)):
                subject.fail(f"{head} a different {what}: "
                             f"{_first_diff(a, b, 'differ', ('first call', 'second call'))}")


def linear_in_g(subject: Subject) -> None:
    """backward(0) = 0, backward(s·g) = s·backward(g), backward(a·g1 + b·g2) =
    a·backward(g1) + b·backward(g2); likewise the JVP in its tangent and the HVP in v."""
    calls = [c for c in subject.calls.values() if c.linear is not None]
    if not calls:
        pytest.skip(f"linear_in_g: {subject.module.__name__} provides no {subject.spec.name}"
                    "_backward, _jvp or _hvp")
    rng = np.random.default_rng([subject.seed, 7])
    for call in calls:
        i, g = call.linear, call.args[call.linear]  # type: ignore[index]
        name = call.arg_name(i)  # type: ignore[arg-type]

        def at(v: Any) -> Any:
            return invoke(subject, "linear_in_g", call, call.with_arg(i, v))  # noqa: B023

        g2 = _map(g, lambda a: rng.standard_normal(a.shape).astype(a.dtype))
        mixed = (
            tuple((A * a + B * b).astype(a.dtype) for a, b in zip(_leaves(g), _leaves(g2)))
            if isinstance(g, tuple) else (A * g + B * g2).astype(g.dtype))
        with _unless_stateful(subject, "linear_in_g", [call]):
            zero = _leaves(at(_map(g, np.zeros_like)))
            for k, z in enumerate(zero):
                if np.any(z != 0):
                    idx = tuple(int(j) for j in np.argwhere(z != 0)[0]) if z.ndim else ()
                    subject.fail(f"linear_in_g: {call.name} with {name} = 0 is not 0: "
                                 f"{call.result(k, len(zero))} has {int(np.sum(z != 0))} "
                                 f"nonzero element(s), first at {list(idx)}: {fmt(z[idx])}")
            f1, f2 = _leaves(at(g)), _leaves(at(g2))
            _compare(subject, f"linear_in_g: {call.name}({SCALE:g}·{name}) vs {SCALE:g}·"
                     f"{call.name}({name})", at(_map(g, lambda a: (SCALE * a).astype(a.dtype))),
                     tuple(SCALE * f for f in f1), call)
            _compare(subject, f"linear_in_g: {call.name}(a·{name}1 + b·{name}2) vs "
                     f"a·{call.name}({name}1) + b·{call.name}({name}2) (a = {A:g}, b = {B:g})",
                     at(mixed), tuple(A * p + B * q for p, q in zip(f1, f2)), call,
                     lambda f1=f1, f2=f2: [abs(A) * np.abs(p) + abs(B) * np.abs(q)
                                           for p, q in zip(f1, f2)])


def layouts(subject: Subject) -> None:
    """Transposed views, strided views and Fortran order give the C-contiguous results."""
    for call in subject.calls.values():
        base = invoke(subject, "layouts", call, call.fresh())
        names = call.arg_names()
        leaves = [x for a in call.args for x in _leaves(a)]
        for layout, (make, rank) in LAYOUTS.items():
            which = [j for j, x in enumerate(leaves) if x.ndim >= rank]
            for j in [*which, None] if len(which) > 1 else which:
                def convert(x: np.ndarray, make=make, rank=rank) -> np.ndarray:
                    return make(x) if x.ndim >= rank else _copy(x)
                who = f"{names[j]} as {layout}" if j is not None else \
                    f"every argument as {layout}"
                note = f" with {who}"
                result = invoke(subject, "layouts", call, call.fresh(convert, j), note)
                with _unless_stateful(subject, "layouts", [call]):
                    _compare(subject, f"layouts: {call.name}{note} vs C-contiguous", result,
                             base, call)


def self_consistent(subject: Subject) -> None:
    """The module against itself: JVP vs VJP, Jacobian vs VJP and JVP, Hessian vs HVP."""
    c = subject.calls
    name = subject.spec.name
    pairs = [p for p in (("_jvp", "_backward"), ("_jacobian", "_backward"),
                         ("_jacobian", "_jvp"), ("_hessian", "_hessian"), ("_hessian", "_hvp"))
             if p[0] in c and p[1] in c
             and (subject.spec.outputs == 1 or not p[0].startswith("_jacobian"))]
    if not pairs:
        pytest.skip(f"self_consistent: {subject.module.__name__} provides none of {name}_jvp, "
                    f"{name}_jacobian, {name}_hessian to compare {name}'s functions with")
    k = subject.spec.argnums[0]
    with _unless_stateful(subject, "self_consistent", [c[a] for p in pairs for a in p]):
        for first, second in pairs:
            _consistent(subject, c[first], c[second], k)


def _f64(x: Any) -> list[np.ndarray]:
    return [np.asarray(v, np.float64) for v in _leaves(x)]


def _consistent(subject: Subject, one: Call, two: Call, k: int) -> None:
    """One identity between two of the op's functions (``k``: the input differentiated)."""
    what = "self_consistent: "
    if two.name.endswith("_backward") and one.name.endswith("_jvp"):
        u, v = _f64(one.args[one.linear])[0], _f64(two.args[0])  # type: ignore[index]
        vjp = _f64(invoke(subject, "self_consistent", two, two.fresh()))[0]
        jvp = _f64(invoke(subject, "self_consistent", one, one.fresh()))
        lhs = np.vdot(u, vjp)
        rhs = sum(np.vdot(t, w) for t, w in zip(jvp, v))
        terms = max(np.vdot(np.abs(u), np.abs(vjp)),
                    sum(np.vdot(np.abs(t), np.abs(w)) for t, w in zip(jvp, v)))
        return _compare(subject, f"{what}⟨u, {two.name}(v)⟩ vs ⟨{one.name}(u), v⟩", lhs,
                        np.float64(rhs), two, lambda: [np.float64(terms)])
    jac = _f64(invoke(subject, "self_consistent", one, one.fresh()))[0]
    x = np.asarray(one.args[k])
    if jac.shape[jac.ndim - x.ndim:] != x.shape:
        subject.fail(f"{what}{one.name} has shape {jac.shape}, expected (output shape) + "
                     f"{x.shape} (the input's shape)")
    n_out = jac.ndim - x.ndim
    if two is one:  # the Hessian is symmetric
        perm = (*range(n_out, jac.ndim), *range(n_out))
        return _compare(subject, f"{what}{one.name} transposed vs {one.name} (a Hessian is "
                        "symmetric)", jac.transpose(perm), jac, one,
                        lambda: [np.abs(jac)])
    result = invoke(subject, "self_consistent", two, two.fresh())
    if two.name.endswith("_backward"):
        v = _f64(two.args[0])[0]
        expected = np.tensordot(v, jac, n_out)
        terms = np.tensordot(np.abs(v), np.abs(jac), n_out)
        return _compare(subject, f"{what}{two.name}(v) vs vᵀ·{one.name}", _leaves(result)[0],
                        expected.astype(_leaves(result)[0].dtype), two, lambda: [terms])
    u = _f64(two.args[two.linear])[0]  # type: ignore[index]
    expected = np.tensordot(jac, u, x.ndim)
    terms = np.tensordot(np.abs(jac), np.abs(u), x.ndim)
    _compare(subject, f"{what}{two.name}({two.arg_name(two.linear)}) vs {one.name}·"  # type: ignore[arg-type]
             f"{two.arg_name(two.linear)}", _leaves(result)[0],  # type: ignore[arg-type]
             expected.astype(_leaves(result)[0].dtype), two, lambda: [terms])


CONTRACTS: dict[str, Callable[[Subject], None]] = {
    "no_mutation": no_mutation, "repeatable": repeatable, "linear_in_g": linear_in_g,
    "layouts": layouts, "self_consistent": self_consistent,
}


def contract_cases() -> Iterator[tuple[Case, str, bool]]:
    """(case, contract, read_only) for every op × parameters × contract shape × dtype."""
    from .cases import all_cases

    for case in all_cases():
        shapes = contract_shapes(case.spec)
        if case.shape in shapes:
            for contract in CONTRACTS:
                yield case, contract, case.shape == shapes[0]


def case_id(case: Case, contract: str) -> str:
    """``<op>-<contract>-<dtype>-<shape>[-<params>]``."""
    return "-".join(filter(None, [case.spec.name, contract, case.dtype, case.shape_id,
                                  case.param_id]))


__all__ = ["CONTRACTS", "Call", "Subject", "case_id", "contract_cases", "contract_shapes",
           "layouts", "linear_in_g", "no_mutation", "repeatable", "self_consistent"]
