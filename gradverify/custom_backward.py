"""``check_function``: verify a hand-written backward (``torch.autograd.Function``,
``jax.custom_vjp``, ``jax.custom_jvp``) against autodiff of its own forward.

The reference is the same framework differentiating the forward through its primitive ops:
for torch, ``MyFn.forward``'s code run on tensors that require grad, with a stand-in ``ctx``
(``save_for_backward`` keeps the tensors, nothing else happens), outside ``Function.apply``;
for jax, ``f.fun``, the undecorated function. A NumPy version (``numpy=``, written with
``np.``) is differentiated by autograd and jax too, with ``np`` bound to their NumPy. The
custom VJP for a random cotangent is compared with the suite's diagnosis and allowance
(``gradverify.tolerances``: float32 and float64), and the contracts are checked:

- **linear** in the incoming gradient: backward(2·g) = 2·backward(g) (backward(2·g) =
  backward(g) means grad_output is ignored);
- **gradients**: one for every input that requires one, None exactly for those that cannot
  have one (int and bool tensors, Python numbers) (torch);
- **in-place**: the inputs are unchanged, and a second backward on the same graph
  (``retain_graph``) gives the same gradients (a write into a saved tensor breaks it) (torch);
- **double backward** when declared (``double_backward=True``): the gradient of ⟨VJP, v⟩
  against the reference's.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import custom_frameworks as cf
from .api import Record, Report
from .diagnose import check as diagnose_check
from .diagnose import within
from .tolerances import tolerance


def _compare(actual: Any, expected: Any, what: str, dtype: str, ref: str,
             others: Callable[[], dict[str, Any]] | None = None,
             who: str = "the custom backward") -> tuple[str, str, float | None]:
    """(outcome, verdict, worst) from the suite's diagnosis of ``actual`` against ``expected``."""
    try:
        worst = diagnose_check(actual, expected, what=what, dtype=dtype,
                               tol=tolerance(dtype, "grad", ref), context="", others=others,
                               who=who, ref=ref)
        return "passed", "", worst
    except BaseException as exc:  # pytest.fail carries the diagnosis
        msg = str(getattr(exc, "msg", exc)).strip()
        if type(exc).__name__ not in ("Failed", "OutcomeException"):
            raise
        return "failed", msg, None


def _others(ref: str, expected: Any, refs: dict[str, Any], i: int
            ) -> Callable[[], dict[str, Any]]:
    """The agreement line's references: autodiff of the forward, the NumPy version's VJPs."""
    return lambda: {ref: expected, **{k: g[i] for k, g in refs.items()
                                      if not isinstance(g, str)}}


class FunctionReport(Report):
    """``check_function``'s findings: ``passed``, ``failures``, str / markdown / JSON."""

    def __str__(self) -> str:
        lines = super().__str__().splitlines()
        lines[0] = (f"gradverify.check_function: {self.target}: "
                    + ("every check passed" if self.passed
                       else f"{len(self.failures)} check(s) failed"))
        first = list(dict.fromkeys(f"  FAILED [{r.check} {r.case}, {r.reference}] {r.verdict}"
                                   for r in self.failures))[:6]
        return "\n".join(lines[:1] + first + lines[1:])

    def _repr_markdown_(self) -> str:
        text = super()._repr_markdown_().replace("**gradverify:",
                                                 "**gradverify.check_function:")
        extra = [f"- **failed** ({r.check}, {r.case}, {r.reference}): {r.verdict}"
                 for r in self.failures[:6]]
        return text + ("\n\n" + "\n".join(extra) if extra else "")


def _record(name: str, check: str, ref: str, dtype: str, outcome: str, verdict: str = "",
            diagnosis: str = "", worst: float | None = None) -> Record:
    if check in ("vjp", "jvp") and outcome == "failed":
        verdict = ("the custom backward disagrees with autodiff of its forward (a wrong or "
                   f"missing term?): {verdict}")
        diagnosis = verdict
    return Record(name, name, check, ref, dtype, outcome, verdict.splitlines()[0] if verdict
                  else "", diagnosis or verdict, worst)


def _linearity(name: str, dtype: str, ref: str, vjp: Callable[[float], list[Any]],
               names: Sequence[str]) -> Record:
    """backward(2·g) against 2·backward(g), per input."""
    one, two = vjp(1.0), vjp(2.0)
    tol = tolerance(dtype, "grad", ref)
    for n, a, b in zip(names, one, two):
        if a is None or b is None:
            continue
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if within(b, 2 * a, tol):
            continue
        if np.any(a != 0) and within(b, a, tol):
            v = (f"ignores grad_output: the gradient of `{n}` for 2·g equals the one for g "
                 "(the incoming gradient is never multiplied in)")
        else:
            v = f"not linear in grad_output: the gradient of `{n}` for 2·g is not 2× the one for g"
        return _record(name, "linear", ref, dtype, "failed", v)
    return _record(name, "linear", ref, dtype, "passed")


# -- torch ----------------------------------------------------------------------------------------
class _Ctx:
    """A stand-in for torch's ctx when the forward runs outside ``Function.apply``."""

    def __init__(self, needs: tuple[bool, ...]) -> None:
        self.needs_input_grad = needs
        self.saved_tensors: tuple[Any, ...] = ()

    def save_for_backward(self, *tensors: Any) -> None:
        self.saved_tensors = tensors

    def mark_dirty(self, *args: Any) -> None: ...
    def mark_non_differentiable(self, *args: Any) -> None: ...
    def set_materialize_grads(self, value: bool) -> None: ...


def _plain_torch(fn: Any, needs: tuple[bool, ...]) -> Callable[..., Any]:
    """``fn``'s forward as a plain function (autodiff sees its primitive ops)."""
    import torch

    base = torch.autograd.Function.setup_context
    new_style = getattr(fn, "setup_context", base) is not base

    def plain(*xs: Any) -> Any:
        if new_style:
            return fn.forward(*xs)
        return fn.forward(_Ctx(needs), *xs)
    return plain


def _outs(y: Any) -> tuple[Any, ...]:
    return tuple(y) if isinstance(y, (tuple, list)) else (y,)


def _torch_case(fn: Any, inputs: Sequence[Any], numpy: Callable | None, dtype: str,
                 double_backward: bool, seed: int) -> list[Record]:
    import torch

    name = fn.__name__
    params = list(inspect.signature(fn.forward).parameters)
    params = params[1:] if params and params[0] == "ctx" else params
    names = [params[i] if i < len(params) else f"input {i}" for i in range(len(inputs))]
    records: list[Record] = []
    rng = np.random.default_rng(seed)
    xs, diff = cf.torch_inputs(inputs, dtype)
    needs = tuple(i in diff for i in range(len(xs)))
    snapshot = [x.detach().clone() if isinstance(x, torch.Tensor) else x for x in xs]
    plain = _plain_torch(fn, needs)
    ref_out = _outs(plain(*xs))
    cots = [torch.tensor(rng.standard_normal(tuple(o.shape)), dtype=o.dtype)
            for o in ref_out]
    d_in = [xs[i] for i in diff]
    dn = [names[i] for i in diff]
    auto = torch.autograd.grad(ref_out, d_in, cots, allow_unused=True, retain_graph=True)
    ref = [np.zeros(tuple(x.shape), dtype) if r is None else r.detach().numpy()
           for x, r in zip(d_in, auto)]
    try:
        out = _outs(fn.apply(*xs))
        got = torch.autograd.grad(out, d_in, cots, allow_unused=True, retain_graph=True)
    except RuntimeError as exc:
        records.append(_record(name, "gradients", "torch", dtype, "failed",
                               "wrong None pattern: backward's gradients do not fit the "
                               f"inputs: {exc}"))
        return records
    missing = [n for n, g in zip(dn, got) if g is None]
    records.append(_record(name, "gradients", "torch", dtype, "failed" if missing
                           else "passed", "wrong None pattern: returns None for "
                           f"{', '.join(missing)}, which "
                           "require(s) a gradient: torch then leaves .grad unset (a silent "
                           "zero)" if missing else ""))
    got_np = [None if g is None else g.detach().numpy() for g in got]
    numpy_refs = cf.numpy_vjps(numpy, inputs, diff, dtype, cots)
    for n, a, e in zip(dn, got_np, ref):
        if a is None:
            continue
        oc, v, w = _compare(a, e, f"d{n}", dtype, "torch", others=None if numpy is None else
                            _others("torch", e, numpy_refs, dn.index(n)))
        records.append(_record(name, "vjp", "torch", dtype, oc, v, v, w))
    for k, grads in numpy_refs.items():
        if isinstance(grads, str):
            records.append(_record(name, "vjp", k, dtype, "unavailable",
                                   f"reference unavailable: {grads}"))
            continue
        for n, a, e in zip(dn, got_np, grads):
            if a is not None:
                oc, v, w = _compare(a, e, f"d{n}", dtype, k)
                records.append(_record(name, "vjp", k, dtype, oc, v, v, w))

    def vjp(scale: float) -> list[Any]:
        gs = torch.autograd.grad(out, d_in, [scale * c for c in cots], allow_unused=True,
                                 retain_graph=True)
        return [None if g is None else g.detach().numpy() for g in gs]
    changed = [names[i] for i, (x, s) in enumerate(zip(xs, snapshot))
               if isinstance(x, torch.Tensor) and not torch.equal(x.detach(), s)]
    try:
        again = vjp(1.0)
    except RuntimeError as exc:  # torch's version counter: a saved tensor was written to
        records.append(_record(name, "in-place", "torch", dtype, "failed",
                               "backward writes into a saved tensor in place: a second "
                               f"backward on the same graph fails: {str(exc).split('. ')[0]}"))
        return records
    drift = [n for n, a, b in zip(dn, got_np, again) if a is not None and not
             np.array_equal(a, b)]
    records.append(_record(
        name, "in-place", "torch", dtype, "failed" if changed or drift else "passed",
        f"writes into its input(s) {', '.join(changed)} in place" if changed else
        f"a second backward on the same graph gives other gradients for "
        f"{', '.join(drift)}: backward writes into a saved tensor in place" if drift
        else ""))
    records.append(_linearity(name, dtype, "torch", vjp, dn))
    if double_backward:
        records += cf.torch_double(name, fn, plain, xs, d_in, dn, cots, dtype, rng,
                                   _compare, _record)
    return records


# -- jax ------------------------------------------------------------------------------------------
def _jax_case(f: Any, inputs: Sequence[Any], numpy: Callable | None, dtype: str,
               double_backward: bool, seed: int) -> list[Record]:
    jax, jnp = cf.jax_modules()
    name = getattr(f.fun, "__name__", "f")
    params = list(inspect.signature(f.fun).parameters)
    names = [params[i] if i < len(params) else f"input {i}" for i in range(len(inputs))]
    fixed = set(getattr(f, "nondiff_argnums", ()))
    records: list[Record] = []
    rng = np.random.default_rng(seed)
    xs = [jnp.asarray(np.asarray(x, dtype)) if np.issubdtype(np.asarray(x).dtype,
                                                              np.floating) else x
          for x in inputs]
    diff = [i for i, x in enumerate(inputs) if i not in fixed
            and np.issubdtype(np.asarray(x).dtype, np.floating)]
    dn = [names[i] for i in diff]

    def part(g: Callable, xs: list = xs, diff: list = diff) -> Callable:
        def h(*d: Any) -> Any:
            full = list(xs)
            for i, v in zip(diff, d):
                full[i] = v
            return g(*full)
        return h
    d_in = [xs[i] for i in diff]
    ref_out, ref_vjp = jax.vjp(part(f.fun), *d_in)
    cots = jax.tree_util.tree_map(
        lambda o: jnp.asarray(rng.standard_normal(o.shape), o.dtype), ref_out)
    ref = [np.asarray(g) for g in ref_vjp(cots)]
    try:
        out, vjp_fn = jax.vjp(part(f), *d_in)
        got = [np.asarray(g) for g in vjp_fn(cots)]
    except Exception as exc:  # jax checks the bwd's structure, shapes and dtypes
        records.append(_record(name, "gradients", "jax", dtype, "failed",
                               "wrong gradient structure: the custom rule's gradients do "
                               "not fit the inputs: "
                               f"{type(exc).__name__}: {str(exc).splitlines()[0]}"))
        return records
    cot_list = [np.asarray(c) for c in jax.tree_util.tree_leaves(cots)]
    numpy_refs = cf.numpy_vjps(numpy, inputs, diff, dtype, cot_list, frameworks=("autograd",))
    for n, a, e in zip(dn, got, ref):
        oc, v, w = _compare(a, e, f"d{n}", dtype, "jax", others=None if numpy is None else
                            _others("jax", e, numpy_refs, dn.index(n)))
        records.append(_record(name, "vjp", "jax", dtype, oc, v, v, w))
    for k, grads in numpy_refs.items():
        if isinstance(grads, str):
            records.append(_record(name, "vjp", k, dtype, "unavailable",
                                   f"reference unavailable: {grads}"))
            continue
        for n, a, e in zip(dn, got, grads):
            oc, v, w = _compare(a, e, f"d{n}", dtype, k)
            records.append(_record(name, "vjp", k, dtype, oc, v, v, w))
    if type(f).__name__ == "custom_jvp":
        ts = [jnp.asarray(rng.standard_normal(np.shape(x)), x.dtype) for x in d_in]
        _, t_ref = jax.jvp(part(f.fun), d_in, ts)
        _, t_got = jax.jvp(part(f), d_in, ts)
        for i, (a, e) in enumerate(zip(jax.tree_util.tree_leaves(t_got),
                                       jax.tree_util.tree_leaves(t_ref))):
            oc, v, w = _compare(np.asarray(a), np.asarray(e), f"tangent of output {i}",
                                dtype, "jax", who="the custom JVP")
            records.append(_record(name, "jvp", "jax", dtype, oc, v, v, w))
    records.append(_linearity(name, dtype, "jax", lambda s: [
        np.asarray(g) for g in vjp_fn(jax.tree_util.tree_map(lambda c: s * c, cots))], dn))
    if double_backward:
        records += cf.jax_double(name, part(f), part(f.fun), d_in, dn, cots, dtype, rng,
                                 _compare, _record)
    return records


def check_function(fn: Any, *inputs: Any, numpy: Callable | None = None,
                   dtypes: Sequence[str] = ("float32", "float64"), double_backward: bool = False,
                   seed: int = 0, name: str | None = None) -> FunctionReport:
    """Verify the custom backward of ``fn`` (a ``torch.autograd.Function`` subclass, or a
    ``jax.custom_vjp``/``custom_jvp`` function) at ``inputs`` (float arrays are cast to each of
    ``dtypes``; other inputs are passed as they are and are not differentiated); ``numpy``: a
    NumPy version of the forward for jax and autograd; ``name`` labels the report."""
    start = time.perf_counter()
    if not inputs:
        raise ValueError("check_function needs example inputs: check_function(fn, x, w, ...)")
    kind = cf.kind_of(fn)
    if kind == "torch":
        records = [r for d in dtypes
                   for r in _torch_case(fn, inputs, numpy, d, double_backward, seed)]
        label = f"{fn.__module__}.{fn.__qualname__}"
    elif kind == "jax":
        records = [r for d in dtypes
                   for r in _jax_case(fn, inputs, numpy, d, double_backward, seed)]
        label = f"{type(fn).__name__}({getattr(fn.fun, '__name__', 'f')})"
    else:
        raise TypeError(f"check_function takes a torch.autograd.Function subclass or a "
                        f"jax.custom_vjp/custom_jvp function, not {fn!r}")
    return FunctionReport(name or label, records, seed, time.perf_counter() - start)


__all__ = ["FunctionReport", "check_function"]
