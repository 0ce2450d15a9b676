"""Property-based search: hypothesis draws shapes and inputs within each op's domain.

One test per catalog op. Each example draws a shape (1-D to 3-D, sizes 1 to 5; (m, n_in, n_out)
for layers) and a seed for the op's own input maker (so values stay in its domain), then
compares the backward of the module under test with one reference (torch, or finite
differences without torch). A failure shrinks to the smallest failing shape and is printed as
a ready-to-paste reproduction. Bounded and deterministic: 15 examples, derandomized, no
example database.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import reference
from gradverify.cases import as_gradients, call_impl, cotangent, impl_function
from gradverify.catalog import CATALOG, OpSpec
from gradverify.diagnose import check
from gradverify.tolerances import tolerance

SETTINGS = settings(max_examples=15, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _shapes(spec: OpSpec) -> st.SearchStrategy[tuple[int, ...]]:
    dim = st.integers(1, 5)
    if spec.kind == "layer":
        return st.tuples(dim, dim, dim)
    most = max(len(s) for s in spec.shapes)  # e.g. the class-axis losses stop at 2-D
    return st.lists(dim, min_size=1, max_size=most).map(tuple)


def _reference(device: str) -> reference.Reference:
    for name in ("torch", "numeric"):
        try:
            return reference.get(name, device)
        except reference.BackendUnavailable:
            continue
    raise AssertionError("the numeric reference is always available")


def reproduction(spec: OpSpec, target: str, ref: str, shape, seed, params, dtype) -> str:
    """A snippet to paste into a Python shell at the project root."""
    return "\n".join([
        "import numpy as np, reference",
        "from gradverify.catalog import BY_LABEL",
        "from gradverify.cases import cotangent",
        "from gradverify.loader import load_impl",
        f"spec, params = BY_LABEL[{spec.label!r}], {params!r}",
        f"m, r = load_impl({target!r}), reference.get({ref!r})",
        f"rng = np.random.default_rng({seed})",
        f"inputs = spec.make(rng, {shape!r}, np.dtype({dtype!r}), params)",
        f"g = cotangent(rng, r.forward(spec.name, inputs, params).shape, {dtype!r})",
        f"print(m.{spec.name}_backward(g, *inputs, **params))",
        "print(r.op_vjp(spec.name, params, inputs, g, spec.argnums))",
    ])


@pytest.mark.parametrize("spec", CATALOG, ids=[s.label for s in CATALOG])
def test_property(spec: OpSpec, impl_module, device, request):
    backward = impl_function(impl_module, f"{spec.name}_backward")
    r = _reference(device)
    target = request.config.getoption("impl")

    @SETTINGS
    @given(shape=_shapes(spec), seed=st.integers(0, 2**16), params=st.sampled_from(spec.params),
           dtype=st.sampled_from(["float64", "float32"]))
    def prop(shape, seed, params, dtype):
        rng = np.random.default_rng(seed)
        inputs = spec.make(rng, shape, np.dtype(dtype), params)
        out = r.forward(spec.name, inputs, params)
        g = cotangent(rng, out.shape, dtype)
        note("reproduce (paste at the project root):\n"
             + reproduction(spec, target, r.name, shape, seed, params, dtype))
        expected = r.op_vjp(spec.name, params, inputs, g, spec.argnums)
        try:
            grads = as_gradients(call_impl(backward, g, *inputs, **params), spec,
                                 f"{spec.name}_backward", "", inputs)
            for k, (a, e) in enumerate(zip(grads, expected)):
                check(a, e, what=f"{spec.name}_backward gradient {k} vs {r.name}", dtype=dtype,
                      tol=tolerance(dtype, "grad", r.name, spec),
                      context=f"smallest failing input: shape {shape}, dtype {dtype}, "
                              f"params {params}, seed {seed}")
        except pytest.fail.Exception as exc:  # hypothesis shrinks on AssertionError
            raise AssertionError(str(exc)) from None

    try:
        prop()
        return
    except AssertionError as exc:  # the shrunk failure, with hypothesis's notes
        notes = [n for n in getattr(exc, "__notes__", []) if n.startswith("reproduce")]
        message = f"{exc}\n" + "\n".join(notes)
    pytest.fail(message, pytrace=False)  # outside the except: no "during handling" chain
