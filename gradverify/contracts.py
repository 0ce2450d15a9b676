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
  the JVP equal vᵀJ and J·u for its Jacobian J, its Hessian is symmetric and H·v is its HVP
  (for the ops whose API has these: activations, softmax-like ops and losses).

Each contract takes a ``Subject`` (one case of one op, one module) and returns, fails with a
diagnosis whose first line names the contract, the function and the argument, or skips with a
reason. Every call gets fresh copies of its arguments, so a function that breaks one contract
(writing into its input, keeping state) does not make the others fail for it: a comparison that
fails on a function that keeps state is skipped, naming the ``repeatable`` contract.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from .cases import Case
from .contract_calls import (
    LAYOUTS,
    Call,
    Subject,
    copy_of,
    first_diff,
    fmap,
    invoke,
    leaves,
    locked,
    repeats,
    where_written,
)
from .diagnose import check, fmt
from .opspec import OpSpec, Shape

SCALE = -1024.0  # f(s·g) = s·f(g): exact in floating point for a linear formula
A, B = 0.5, -2.0  # f(a·g1 + b·g2) = a·f(g1) + b·f(g2): a·g and b·g are exact too


def contract_shapes(spec: OpSpec) -> tuple[Shape, ...]:
    """Two small shapes of the op: the smallest whose dimensions all exceed 1 (transposes
    matter there), and the largest other one (≤ 64 input elements), of another rank if any."""
    shapes = [s for s in spec.shapes if math.prod(s) > 0]
    full = [s for s in shapes if len(s) >= 2 and min(s) > 1]
    first = min(full, key=spec.size) if full else max(shapes, key=spec.size)
    rest = [s for s in shapes if s != first and spec.size(s) <= 64]
    other_rank = [s for s in rest if len(s) != len(first)] or rest
    return (first, max(other_rank, key=spec.size)) if other_rank else (first,)


@contextmanager
def _unless_stateful(subject: Subject, contract: str, calls: list[Call]) -> Iterator[None]:
    """A failed comparison stands unless one of the functions keeps state between calls: then
    it is the ``repeatable`` contract's failure, and this contract is not judged."""
    try:
        yield
    except pytest.fail.Exception:
        for call in calls:
            if not repeats(subject, call):
                pytest.skip(f"{contract}: {call.name} keeps state between calls (the repeatable "
                            "contract fails on it): not judged here")
        raise


def _compare(subject: Subject, what: str, actual: Any, expected: Any, call: Call,
             magnitude: Callable[[], list[np.ndarray]] | None = None) -> None:
    """Each array of ``actual`` (a result of ``call``) against ``expected``'s, within the
    allowance for ``call``'s kind of value."""
    got, want = leaves(actual), leaves(expected)
    kind = call.kind
    if len(got) != len(want):
        subject.fail(f"{what}: {len(got)} result(s), expected {len(want)}")
    for k, (a, e) in enumerate(zip(got, want)):
        label = f"{what}, {call.result(k, len(want))}" if len(want) > 1 else what
        check(a, e, what=label, dtype=str(e.dtype), tol=subject.allowance(kind),
              context=subject.context, who=subject.module.__name__,
              magnitude=None if magnitude is None else functools.partial(_kth, magnitude, k))


def _kth(arrays: Callable[[], list[np.ndarray]], k: int) -> np.ndarray:
    return arrays()[k]


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
    exc = _raises(call, call.fresh(locked))
    if exc is None:
        return
    if not (isinstance(exc, ValueError) and "read-only" in str(exc)):
        invoke(subject, "no_mutation", call, call.fresh(locked), " on read-only arguments")
    culprit, line = "one of its arguments", where_written(exc)
    for j, name in enumerate(call.arg_names()):
        one = _raises(call, call.fresh(locked, only=j))
        if isinstance(one, ValueError) and "read-only" in str(one):
            culprit, line = f"its argument {name}", where_written(one)
            break
    subject.fail(f"no_mutation: {call.name} writes into {culprit} (read-only here): {line}")


def no_mutation(subject: Subject) -> None:
    """No function modifies its arguments (compared with copies; read-only on one shape)."""
    for call in subject.calls.values():
        if subject.read_only:
            _read_only(subject, call)
        args = call.fresh()
        before = [leaves(a) for a in call.fresh()]
        invoke(subject, "no_mutation", call, args)
        after = [leaves(a) for a in args]
        flat = [(b, a) for bs, as_ in zip(before, after) for b, a in zip(bs, as_)]
        for name, (b, a) in zip(call.arg_names(), flat):
            if b.shape != a.shape or b.dtype != a.dtype:
                subject.fail(f"no_mutation: {call.name} modified its argument {name}: shape "
                             f"{b.shape} {b.dtype} became {a.shape} {a.dtype}")
            if not np.array_equal(b, a, equal_nan=np.issubdtype(b.dtype, np.inexact)):
                subject.fail(f"no_mutation: {call.name} modified its argument {name}: "
                             f"{first_diff(b, a)}")


def repeatable(subject: Subject) -> None:
    """A second call with the same arguments gives bitwise the same result."""
    for call in subject.calls.values():
        first = leaves(invoke(subject, "repeatable", call, call.fresh()))
        second = leaves(invoke(subject, "repeatable", call, call.fresh()))
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
                             f"{first_diff(a, b, 'differ', ('first call', 'second call'))}")


def linear_in_g(subject: Subject) -> None:
    """backward(0) = 0, backward(s·g) = s·backward(g), backward(a·g1 + b·g2) =
    a·backward(g1) + b·backward(g2); likewise the JVP in its tangent and the HVP in v."""
    calls = [c for c in subject.calls.values() if c.linear is not None]
    if not calls:
        pytest.skip(f"linear_in_g: {subject.module.__name__} provides no {subject.spec.name}"
                    "_backward, _jvp or _hvp")
    rng = np.random.default_rng([subject.seed, zlib.crc32(subject.case.key.encode()), 7])
    for call in calls:
        i = call.linear
        assert i is not None
        g, name = call.args[i], call.arg_name(i)

        def at(v: Any) -> Any:
            return invoke(subject, "linear_in_g", call, call.with_arg(i, v))  # noqa: B023

        g2 = fmap(g, lambda a: rng.standard_normal(a.shape).astype(a.dtype))
        mixed = (
            tuple((A * a + B * b).astype(a.dtype) for a, b in zip(leaves(g), leaves(g2)))
            if isinstance(g, tuple) else (A * g + B * g2).astype(g.dtype))
        with _unless_stateful(subject, "linear_in_g", [call]):
            zero = leaves(at(fmap(g, np.zeros_like)))
            for k, z in enumerate(zero):
                if np.any(z != 0):
                    idx = tuple(int(j) for j in np.argwhere(z != 0)[0]) if z.ndim else ()
                    subject.fail(f"linear_in_g: {call.name} with {name} = 0 is not 0: "
                                 f"{call.result(k, len(zero))} has {int(np.sum(z != 0))} "
                                 f"nonzero element(s), first at {list(idx)}: {fmt(z[idx])}")
            f1, f2 = leaves(at(g)), leaves(at(g2))
            _compare(subject, f"linear_in_g: {call.name}({SCALE:g}·{name}) vs {SCALE:g}·"
                     f"{call.name}({name})", at(fmap(g, lambda a: (SCALE * a).astype(a.dtype))),
                     tuple(SCALE * f for f in f1), call)
            _compare(subject, f"linear_in_g: {call.name}(a·{name}1 + b·{name}2) vs "
                     f"a·{call.name}({name}1) + b·{call.name}({name}2) (a = {A:g}, b = {B:g})",
                     at(mixed), tuple(A * p + B * q for p, q in zip(f1, f2)), call,
                     functools.partial(_terms, f1, f2))


def _terms(f1: list[np.ndarray], f2: list[np.ndarray]) -> list[np.ndarray]:
    """The magnitude of a·f(g1) + b·f(g2)'s two terms."""
    return [abs(A) * np.abs(p) + abs(B) * np.abs(q) for p, q in zip(f1, f2)]


def layouts(subject: Subject) -> None:
    """Transposed views, strided views and Fortran order give the C-contiguous results."""
    for call in subject.calls.values():
        base = invoke(subject, "layouts", call, call.fresh())
        names = call.arg_names()
        arrays = [x for a in call.args for x in leaves(a)]
        for layout, (make, rank) in LAYOUTS.items():
            which = [j for j, x in enumerate(arrays) if x.ndim >= rank]
            for j in [*which, None] if len(which) > 1 else which:
                def convert(x: np.ndarray, make=make, rank=rank) -> np.ndarray:
                    return make(x) if x.ndim >= rank else copy_of(x)
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
    return [np.asarray(v, np.float64) for v in leaves(x)]


def _consistent(subject: Subject, one: Call, two: Call, k: int) -> None:
    """One identity between two of the op's functions (``k``: the input differentiated)."""
    what = "self_consistent: "
    if two.name.endswith("_backward") and one.name.endswith("_jvp"):
        u, cots = _f64(one.args[one.linear or 0])[0], _f64(two.args[0])
        vjp = _f64(invoke(subject, "self_consistent", two, two.fresh()))[0]
        jvp = _f64(invoke(subject, "self_consistent", one, one.fresh()))
        lhs = np.vdot(u, vjp)
        rhs = sum(np.vdot(t, w) for t, w in zip(jvp, cots))
        terms = np.asarray(max(np.vdot(np.abs(u), np.abs(vjp)),
                               sum(np.vdot(np.abs(t), np.abs(w)) for t, w in zip(jvp, cots))))
        return _compare(subject, f"{what}⟨u, {two.name}(v)⟩ vs ⟨{one.name}(u), v⟩", lhs,
                        np.float64(rhs), two, lambda: [terms])
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
        return _compare(subject, f"{what}{two.name}(v) vs vᵀ·{one.name}", leaves(result)[0],
                        expected.astype(leaves(result)[0].dtype), two, lambda: [terms])
    t = two.linear or 0  # the JVP's tangent
    u = _f64(two.args[t])[0]
    expected = np.tensordot(jac, u, x.ndim)
    terms = np.tensordot(np.abs(jac), np.abs(u), x.ndim)
    _compare(subject, f"{what}{two.name}({two.arg_name(t)}) vs {one.name}·{two.arg_name(t)}",
             leaves(result)[0],
             expected.astype(leaves(result)[0].dtype), two, lambda: [terms])


CONTRACTS: dict[str, Callable[[Subject], None]] = {
    "no_mutation": no_mutation, "repeatable": repeatable, "linear_in_g": linear_in_g,
    "layouts": layouts, "self_consistent": self_consistent,
}


#: the kinds of op whose API has a JVP, a Jacobian or a Hessian (tests/test_second_order.py):
#: self_consistent runs on these (the others have only a backward to compare with itself)
SECOND_FUNCTIONS = ("elementwise", "axis", "loss")


def contract_cases() -> Iterator[tuple[Case, str, bool]]:
    """(case, contract, read_only) for every op × parameters × contract shape × dtype."""
    from .cases import all_cases

    for case in all_cases():
        shapes = contract_shapes(case.spec)
        if case.shape in shapes:
            for contract in CONTRACTS:
                if contract != "self_consistent" or case.spec.jacobian or \
                        case.spec.kind in SECOND_FUNCTIONS:
                    yield case, contract, case.shape == shapes[0]


def case_id(case: Case, contract: str) -> str:
    """``<op>-<contract>-<dtype>-<shape>[-<params>]``."""
    return "-".join(filter(None, [case.spec.name, contract, case.dtype, case.shape_id,
                                  case.param_id]))


__all__ = ["CONTRACTS", "Call", "Subject", "case_id", "contract_cases", "contract_shapes",
           "layouts", "linear_in_g", "no_mutation", "repeatable", "self_consistent"]
