"""Second order and forward mode, generic over the catalog.

- every loss: ``<loss>_hessian`` (w.r.t. the prediction or logits, shape x.shape + x.shape)
  and ``<loss>_hvp(v, ...)`` against torch.func (reverse over reverse), ``jax.hessian``,
  ``autograd.hessian`` and finite differences of the gradient;
- every activation and softmax-like op: ``<op>_jvp(z, tangent)`` against ``torch.func.jvp``,
  ``jax.jvp`` and a finite-difference directional derivative.
"""

from __future__ import annotations

import numpy as np

from gradverify.cases import (
    Case,
    call_impl,
    from_reference,
    impl_function,
    matrix,
    use_reference,
)
from gradverify.declared import skip_unsupported
from gradverify.diagnose import check
from gradverify.tolerances import tolerance

SMALL = 24  # input elements: Hessians hold SMALL² entries


def _is_loss(c: Case) -> bool:
    """Losses on shapes of 4 to 24 elements (the 1- to 3-element shapes add nothing here)."""
    return c.spec.kind == "loss" and 4 <= int(np.prod(c.shape)) <= SMALL


def _has_jvp(c: Case) -> bool:
    return c.spec.kind in ("elementwise", "axis")


@matrix("hessian", select=_is_loss)
def test_hessian(case: Case, ref: str, impl_module, impl_option, seed, device, request,
                 record_property):
    """impl's <loss>_hessian equals the reference's Hessian w.r.t. the first input."""
    spec = case.spec
    context = case.describe(seed, request.node.nodeid, impl_option)
    skip_unsupported(impl_module, case, seed)
    r = use_reference(ref, device)
    fn = impl_function(impl_module, f"{spec.name}_hessian")
    inputs = case.inputs(case.rng(seed))
    expected = from_reference(ref, lambda: r.op_hessian(spec.name, case.kwargs, inputs))
    actual = call_impl(fn, *inputs, **case.kwargs)
    record_property("worst_rel", check(
        actual, expected, what=f"{spec.name}_hessian vs {ref}", dtype=case.dtype,
        tol=tolerance(case.dtype, "hessian", ref, spec),
            ref=ref, context=context, who=impl_module.__name__))


@matrix("hvp", select=_is_loss)
def test_hvp(case: Case, ref: str, impl_module, impl_option, seed, device, request,
             record_property):
    """impl's <loss>_hvp(v, ...) equals the reference's Hessian-vector product."""
    spec = case.spec
    context = case.describe(seed, request.node.nodeid, impl_option)
    skip_unsupported(impl_module, case, seed)
    r = use_reference(ref, device)
    fn = impl_function(impl_module, f"{spec.name}_hvp")
    rng = case.rng(seed)
    inputs = case.inputs(rng)
    v = rng.standard_normal(inputs[0].shape).astype(case.dtype)
    expected = from_reference(ref, lambda: r.op_hvp(spec.name, case.kwargs, inputs, v))
    actual = call_impl(fn, v, *inputs, **case.kwargs)
    record_property("worst_rel", check(
        actual, expected, what=f"{spec.name}_hvp vs {ref}", dtype=case.dtype,
        tol=tolerance(case.dtype, "hessian", ref, spec),
            ref=ref, context=context, who=impl_module.__name__))


@matrix("jvp", ("torch", "jax", "autograd", "numeric"), select=_has_jvp)
def test_jvp(case: Case, ref: str, impl_module, impl_option, seed, device, request,
             record_property):
    """impl's <op>_jvp(z, tangent) (forward mode, J·t) equals the reference's JVP."""
    spec = case.spec
    context = case.describe(seed, request.node.nodeid, impl_option)
    skip_unsupported(impl_module, case, seed)
    r = use_reference(ref, device)
    fn = impl_function(impl_module, f"{spec.name}_jvp")
    rng = case.rng(seed)
    inputs = case.inputs(rng)
    t = rng.standard_normal(inputs[0].shape).astype(case.dtype)
    expected = from_reference(ref, lambda: r.op_jvp(spec.name, case.kwargs, inputs, t))
    actual = call_impl(fn, *inputs, t, **case.kwargs)
    record_property("worst_rel", check(
        actual, expected, what=f"{spec.name}_jvp vs {ref}", dtype=case.dtype,
        tol=tolerance(case.dtype, "grad", ref, spec), ref=ref, context=context,
        who=impl_module.__name__,  # the terms' magnitude: the same JVP on |z| and |t|
        magnitude=lambda: r.op_jvp(spec.name, case.kwargs, [abs(x) for x in inputs], abs(t))))
