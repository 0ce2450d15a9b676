"""The matrix checks of one case: forward value, VJP, full Jacobian.

Each check compares the module under test with one reference and either returns the worst
normwise relative error (for the summary), or fails with a diagnosis (``pytest.fail``), or skips
with a reason (``pytest.skip``). The pytest tests (``tests/test_matrix.py``) and the Python API
(``gradverify.check``) call the same functions.

Ops with several outputs (``OpSpec.outputs > 1``, e.g. ``lstm_step``) return a tuple; their
backward takes a tuple of cotangents. A reference computes output k of such an op as the op
``"<name>#k"`` (see ``reference.base.Reference.op``), and its VJP as the sum over outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from gradverify import reference

from . import diagnose_causes as causes
from . import variants
from .cases import (
    Case,
    as_gradients,
    call_impl,
    cotangent,
    from_reference,
    impl_function,
    use_reference,
)
from .diagnose import check, structural_problem
from .isolate import call_many
from .tolerances import tolerance

#: small enough for full Jacobians (input elements)
JACOBIAN_MAX_SIZE = 64


@dataclass
class Run:
    """One check of one case against one reference."""

    case: Case
    ref: str
    module: ModuleType
    seed: int = 0
    device: str = "cpu"
    nodeid: str = ""
    options: str = ""

    @property
    def context(self) -> str:
        return self.case.describe(self.seed, self.nodeid, self.options)

    @property
    def who(self) -> str:
        return getattr(self.module, "__name__", "module")

    def outputs(self) -> list[str]:
        """The reference's op names for the case's outputs: ``[name]`` or ``name#0``, ..."""
        n, name = self.case.spec.outputs, self.case.spec.name
        return [name] if n == 1 else [f"{name}#{k}" for k in range(n)]

    def others(self, compute: Callable[[Any], Any]) -> Callable[[], dict[str, Any]]:
        """Lazily, the same quantity from every other available reference (for diagnoses)."""
        def run() -> dict[str, Any]:
            out: dict[str, Any] = {}
            for name in reference.NAMES:
                if name == self.ref:
                    continue
                try:
                    out[name] = compute(reference.get(name, self.device))
                except reference.BackendUnavailable as exc:
                    out[name] = f"unavailable ({exc})"
                except Exception as exc:  # a reference that cannot do this case says so
                    out[name] = f"failed: {type(exc).__name__}: {exc}"
            return out
        return run


def _abs_inputs(inputs: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    """|x| for float inputs (integer labels, ids and boolean masks unchanged)."""
    return [np.abs(x) if np.issubdtype(np.asarray(x).dtype, np.floating) else x for x in inputs]


def _as_outputs(result: Any, n: int, what: str, context: str) -> tuple[Any, ...]:
    if n == 1:
        return (result,)
    if not isinstance(result, (tuple, list)) or len(result) != n:
        got = f"{len(result)} values" if isinstance(result, (tuple, list)) else "one value"
        pytest.fail(f"{what}: returned {got}, expected a tuple of {n} outputs\n{context}",
                    pytrace=False)
    return tuple(result)


def _tol_ref(r: Any, ref: str, kind: str) -> str:
    """Whose allowance applies: the reference's, or that of the declared variant's source."""
    return r.variant.tol_ref(ref, kind) if isinstance(r, variants.VariantReference) else ref


def _item(compare: Callable[[], float]) -> tuple[float, str | None]:
    """(normwise error, None) when one compared item is right, else (0, its diagnosis)."""
    try:
        return compare(), None
    except pytest.fail.Exception as exc:
        return 0.0, str(exc.msg)


def _finish(failed: causes.Failed, worst: list[float]) -> float:
    """The worst error when every item is right, else the verdict on all of them."""
    if all(m is None for m in failed.messages):
        return max(worst, default=0.0)
    causes.conclude(failed)


def forward(run: Run) -> float:
    """The module's forward value equals the reference's (each output of a tuple)."""
    spec, case, ref = run.case.spec, run.case, run.ref
    r, declared = variants.source(use_reference(ref, run.device), run.module, spec,
                                  case.kwargs)
    f = impl_function(run.module, spec.name)
    inputs = case.inputs(case.rng(run.seed))
    names = run.outputs()

    def expect(x: Any) -> list[Any]:
        return [x.forward(o, inputs, case.kwargs, argnums=spec.argnums) for o in names]

    expected = from_reference(ref, partial(expect, r))
    actual = _as_outputs(call_impl(f, *inputs, **case.kwargs), len(names),
                         f"forward pass: {spec.name}", run.context)
    tref = _tol_ref(r, ref, "value")
    results = []
    for k, (a, e, o) in enumerate(zip(actual, expected, names)):
        out = f" output {k}" if len(names) > 1 else ""
        results.append(_item(partial(
            check, a, e, what=f"forward pass: {spec.name}{out} vs {ref}", dtype=case.dtype,
            tol=tolerance(case.dtype, "value", tref, spec), context=run.context, ref=tref,
            others=None if declared else run.others(_method("forward", o, inputs, case.kwargs)),
            who=run.who, magnitude=partial(r.forward, o, _abs_inputs(inputs), case.kwargs,
                                           argnums=spec.argnums))))
    labels = [f"output {k}" for k in range(len(names))]
    return _finish(causes.Failed(run, "forward", r, inputs, list(actual), labels,
                                 [m for _, m in results], expect, declared=declared),
                   [w for w, _ in results])


def _cotangents(run: Run, r: Any, inputs, rng) -> list[np.ndarray]:
    spec = run.case.spec
    return [cotangent(rng, np.shape(r.forward(o, inputs, run.case.kwargs, argnums=spec.argnums)),
                      run.case.dtype) for o in run.outputs()]


def _method(name: str, *args: Any) -> Callable[[Any], Any]:
    """reference -> reference.<name>(*args): the same quantity from another reference."""
    return lambda x: getattr(x, name)(*args)


def _ref_vjp_k(x: Any, run: Run, inputs: Any, cots: Any, k: int) -> np.ndarray:
    return _ref_vjp(x, run, inputs, cots)[k]


def _ref_vjp(x: Any, run: Run, inputs, cots) -> tuple[np.ndarray, ...]:
    """Σ over outputs k of the reference's VJP of output k with cotangent k."""
    spec = run.case.spec
    total = None
    for o, g in zip(run.outputs(), cots):
        grads = x.op_vjp(o, run.case.kwargs, inputs, g, spec.argnums)
        total = list(grads) if total is None else [t + d for t, d in zip(total, grads)]
    return tuple(total or ())


def vjp(run: Run) -> float:
    """``<op>_backward(g, ...)`` equals the reference's VJP for a random cotangent g; every
    gradient is compared, and a failure names all the wrong ones."""
    spec, case, ref = run.case.spec, run.case, run.ref
    r0 = use_reference(ref, run.device)
    r, declared = variants.source(r0, run.module, spec, case.kwargs)
    name = f"{spec.name}_backward"
    backward = impl_function(run.module, name)
    rng = case.rng(run.seed)
    inputs = case.inputs(rng)
    cots = _cotangents(run, r0, inputs, rng)
    expected = from_reference(ref, lambda: _ref_vjp(r, run, inputs, cots))
    g = cots[0] if spec.outputs == 1 else tuple(cots)
    grads = as_gradients(call_impl(backward, g, *inputs, **case.kwargs), spec, name, run.context)
    abs_cots = [np.abs(c) for c in cots]
    tref = _tol_ref(r, ref, "grad")
    results = []
    for k, (actual, exp) in enumerate(zip(grads, expected)):
        i = spec.argnums[k]
        others = None if declared else run.others(
            partial(_ref_vjp_k, run=run, inputs=inputs, cots=cots, k=k))
        results.append(_item(partial(
            check, actual, exp, what=f"backward pass: {name} gradient {k} (input {i}) vs {ref}",
            dtype=case.dtype, tol=tolerance(case.dtype, "grad", tref, spec),
            context=run.context, ref=tref, others=others, who=run.who,
            magnitude=partial(_ref_vjp_k, r, run=run, inputs=_abs_inputs(inputs),
                              cots=abs_cots, k=k))))
    labels = [f"gradient {k} (input {i})" for k, i in enumerate(spec.argnums)]
    return _finish(causes.Failed(run, "vjp", r, inputs, list(grads), labels,
                                 [m for _, m in results],
                                 lambda x: list(_ref_vjp(x, run, inputs, cots)), cots, declared),
                   [w for w, _ in results])


def _impl_jacobians(run: Run, inputs, out_shapes) -> list[tuple[np.ndarray, ...]]:
    """The module's Jacobians [output][input]: ``<op>_jacobian``, or its backward applied to
    each basis cotangent (zeros in the other outputs)."""
    spec, case, context = run.case.spec, run.case, run.context
    if spec.jacobian:
        fn = impl_function(run.module, f"{spec.name}_jacobian")
        return [(call_impl(fn, *inputs, **case.kwargs),)]
    name = f"{spec.name}_backward"
    backward = impl_function(run.module, name)
    result = []
    for j, shape in enumerate(out_shapes):
        rows: list[list[np.ndarray]] = [[] for _ in spec.argnums]
        basis = []
        for k in range(int(np.prod(shape))):
            cots = [np.zeros(s, dtype=case.dtype) for s in out_shapes]
            cots[j].reshape(-1)[k] = 1
            basis.append(((cots[0] if spec.outputs == 1 else tuple(cots), *inputs), case.kwargs))
        for thunk in call_many(backward, basis):  # an isolated module: one round trip
            grads = as_gradients(call_impl(thunk), spec, name, context, inputs)
            for row, gk in zip(rows, grads):
                row.append(np.asarray(gk))
        result.append(tuple(
            np.stack(row).reshape(shape + inputs[i].shape).astype(row[0].dtype, copy=False)
            if row else np.zeros(shape + inputs[i].shape, dtype=case.dtype)
            for row, i in zip(rows, spec.argnums)))
    return result


def jacobian(run: Run) -> float:
    """The module's full Jacobians (shape out.shape + in.shape) equal the reference's."""
    spec, case, ref = run.case.spec, run.case, run.ref
    r0 = use_reference(ref, run.device)
    r, declared = variants.source(r0, run.module, spec, case.kwargs)
    inputs = case.inputs(case.rng(run.seed))
    names = run.outputs()
    out_shapes = [tuple(np.shape(r0.forward(o, inputs, case.kwargs, argnums=spec.argnums)))
                  for o in names]
    if not spec.jacobian and any(0 in s for s in out_shapes):  # no row: nothing would be called
        pytest.skip(f"empty output: a Jacobian from {spec.name}_backward has no row to check "
                    "(the VJP check covers the empty case)")

    def jac(x: Any, o: str, xs: Any = inputs) -> tuple[np.ndarray, ...]:
        return x.op_jacobian(o, case.kwargs, xs, spec.argnums)

    def jac_k(x: Any, o: str, k: int, xs: Any = inputs) -> np.ndarray:
        return jac(x, o, xs)[k]

    def expect(x: Any) -> list[Any]:
        return [block for o in names for block in jac(x, o)]

    expected = [from_reference(ref, partial(jac, r, o)) for o in names]
    actual = _impl_jacobians(run, inputs, out_shapes)
    what = f"{spec.name}_jacobian" if spec.jacobian else f"Jacobian from {spec.name}_backward"
    tref = _tol_ref(r, ref, "grad")
    results, labels, blocks = [], [], []
    for j, o in enumerate(names):
        out = f" output {j}" if len(names) > 1 else ""
        for k, (a, e) in enumerate(zip(actual[j], expected[j])):
            labels.append(f"{out.strip() + ' ' if out else ''}input {spec.argnums[k]}")
            blocks.append(a)
            results.append(_item(partial(
                check, a, e, what=f"{what}{out} (input {spec.argnums[k]}) vs {ref}",
                dtype=case.dtype, tol=tolerance(case.dtype, "grad", tref, spec),
                context=run.context, ref=tref,
                others=None if declared else run.others(partial(jac_k, o=o, k=k)), who=run.who,
                magnitude=partial(jac_k, r, o=o, k=k, xs=_abs_inputs(inputs)))))
    return _finish(causes.Failed(run, "jacobian", r, inputs, blocks, labels,
                                 [m for _, m in results], expect, declared=declared),
                   [w for w, _ in results])


CHECKS: dict[str, Callable[[Run], float]] = {"forward": forward, "vjp": vjp,
                                              "jacobian": jacobian}


def applies(check_name: str, case: Case) -> bool:
    """Whether a check runs on a case (full Jacobians only for small inputs)."""
    return check_name != "jacobian" or case.spec.size(case.shape) <= JACOBIAN_MAX_SIZE


__all__ = ["CHECKS", "JACOBIAN_MAX_SIZE", "Run", "applies", "forward", "jacobian",
           "structural_problem", "vjp"]
