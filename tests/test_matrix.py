"""The verification matrix: every catalog op × reference × dtype × shape × parameters.

Three checks per case: the forward value, the VJP with a random cotangent, and the full
Jacobian (``impl``'s ``<op>_jacobian`` where it has one, else assembled from its backward
one output element at a time).
"""

from __future__ import annotations

import numpy as np
import pytest

import reference
from gradverify.cases import (
    JACOBIAN_MAX_SIZE,
    Case,
    as_gradients,
    call_impl,
    cotangent,
    from_reference,
    impl_function,
    parametrize,
    use_reference,
)
from gradverify.diagnose import check
from gradverify.tolerances import tolerance

FRAMEWORKS = tuple(r for r in reference.NAMES if r != "numeric")


def _others(case: Case, inputs, compute, skip: str, device: str):
    """Lazily, the same quantity from every other available reference (for diagnoses)."""
    def run():
        out = {}
        for name in reference.NAMES:
            if name == skip:
                continue
            try:
                out[name] = compute(reference.get(name, device))
            except reference.BackendUnavailable as exc:
                out[name] = f"unavailable ({exc})"
            except Exception as exc:  # a reference that cannot do this case says so
                out[name] = f"failed: {type(exc).__name__}: {exc}"
        return out
    return run


@pytest.mark.parametrize("case,ref", parametrize("forward", FRAMEWORKS))
def test_forward(case: Case, ref: str, impl_module, impl_option, seed, device, request,
                 record_property):
    """impl's forward value equals the framework's."""
    spec, context = case.spec, case.describe(seed, request.node.nodeid, impl_option)
    r = use_reference(ref, device)
    f = impl_function(impl_module, spec.name)
    inputs = case.inputs(case.rng(seed))
    expected = from_reference(ref, lambda: r.forward(spec.name, inputs, case.kwargs))
    actual = call_impl(f, *inputs, **case.kwargs)
    worst = check(actual, expected, what=f"forward pass: {spec.name} vs {ref}", dtype=case.dtype,
                  tol=tolerance(case.dtype, "value", ref, spec), context=context,
                  others=_others(case, inputs, lambda o: o.forward(spec.name, inputs, case.kwargs),
                                 ref, device), who=impl_module.__name__)
    record_property("worst_rel", worst)


@pytest.mark.parametrize("case,ref", parametrize("vjp"))
def test_vjp(case: Case, ref: str, impl_module, impl_option, seed, device, request,
                 record_property):
    """impl's <op>_backward(g, ...) equals the reference's VJP for a random cotangent g."""
    spec, context = case.spec, case.describe(seed, request.node.nodeid, impl_option)
    r = use_reference(ref, device)
    name = f"{spec.name}_backward"
    backward = impl_function(impl_module, name)
    rng = case.rng(seed)
    inputs = case.inputs(rng)
    out = r.forward(spec.name, inputs, case.kwargs)
    g = cotangent(rng, out.shape, case.dtype)

    def vjp(o):
        return o.op_vjp(spec.name, case.kwargs, inputs, g, spec.argnums)

    expected = from_reference(ref, lambda: vjp(r))
    grads = as_gradients(call_impl(backward, g, *inputs, **case.kwargs), spec, name, context)
    worst = 0.0
    for k, (actual, exp) in enumerate(zip(grads, expected)):
        i = spec.argnums[k]
        worst = max(worst, check(
            actual, exp, what=f"backward pass: {name} gradient {k} (input {i}) vs {ref}",
            dtype=case.dtype, tol=tolerance(case.dtype, "grad", ref, spec), context=context,
            others=_others(case, inputs, lambda o, k=k: vjp(o)[k], ref, device),
            who=impl_module.__name__))
    record_property("worst_rel", worst)


def _impl_jacobians(case: Case, module, inputs, out_shape, context):
    """impl's Jacobians: <op>_jacobian, or its backward applied to each basis cotangent."""
    spec = case.spec
    if spec.jacobian:
        fn = impl_function(module, f"{spec.name}_jacobian")
        return (call_impl(fn, *inputs, **case.kwargs),)
    name = f"{spec.name}_backward"
    backward = impl_function(module, name)
    rows: list[list[np.ndarray]] = [[] for _ in spec.argnums]
    for k in range(int(np.prod(out_shape))):
        e = np.zeros(out_shape, dtype=case.dtype)
        e.reshape(-1)[k] = 1
        grads = as_gradients(call_impl(backward, e, *inputs, **case.kwargs), spec, name, context,
                             inputs)
        for row, gk in zip(rows, grads):
            row.append(np.asarray(gk))
    return tuple(
        np.stack(row).reshape(out_shape + inputs[i].shape).astype(row[0].dtype, copy=False)
        if row else np.zeros(out_shape + inputs[i].shape, dtype=case.dtype)
        for row, i in zip(rows, spec.argnums)
    )


@pytest.mark.parametrize("case,ref", parametrize(
    "jacobian", select=lambda c: c.spec.size(c.shape) <= JACOBIAN_MAX_SIZE))
def test_jacobian(case: Case, ref: str, impl_module, impl_option, seed, device, request,
                 record_property):
    """impl's full Jacobian (shape out.shape + in.shape) equals the reference's."""
    spec, context = case.spec, case.describe(seed, request.node.nodeid, impl_option)
    r = use_reference(ref, device)
    inputs = case.inputs(case.rng(seed))
    out_shape = r.forward(spec.name, inputs, case.kwargs).shape

    def jac(o):
        return o.op_jacobian(spec.name, case.kwargs, inputs, spec.argnums)

    expected = from_reference(ref, lambda: jac(r))
    actual = _impl_jacobians(case, impl_module, inputs, out_shape, context)
    what = f"{spec.name}_jacobian" if spec.jacobian else f"Jacobian from {spec.name}_backward"
    worst = 0.0
    for k, (a, e) in enumerate(zip(actual, expected)):
        worst = max(worst, check(
            a, e, what=f"{what} (input {spec.argnums[k]}) vs {ref}", dtype=case.dtype,
            tol=tolerance(case.dtype, "grad", ref, spec), context=context,
            others=_others(case, inputs, lambda o, k=k: jac(o)[k], ref, device),
            who=impl_module.__name__))
    record_property("worst_rel", worst)
