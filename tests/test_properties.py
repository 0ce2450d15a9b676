"""Property-based search: hypothesis draws shapes, parameters, dtypes and seeds per op.

One test per catalog op. Each example draws a shape (elementwise, axis and loss ops: 1-D to
3-D, sizes 1 to 5; dense layers: any (m, n_in, n_out); other layers: one of the op's declared
shapes), a parameter set, a dtype and a seed, and runs the matrix's VJP check
(``gradverify.checks.vjp``: same inputs, allowance and diagnosis) against one reference (torch,
or finite differences without torch). A failure shrinks to the smallest failing example and is
printed as a ready-to-paste reproduction.

Profiles (``--hypothesis-profile NAME``, registered in conftest.py): ``fast`` (the default: 15
derandomized examples per op, no example database, so CI is deterministic) and ``thorough``
(300 random examples per op).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from gradverify import checks, declared, reference
from gradverify.cases import Case
from gradverify.catalog import CATALOG, OpSpec

SETTINGS = settings(database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _shapes(spec: OpSpec) -> st.SearchStrategy[tuple[int, ...]]:
    dim = st.integers(1, 5)
    if spec.kind == "layer":
        return st.tuples(dim, dim, dim)
    if spec.kind not in ("elementwise", "axis", "loss"):
        return st.sampled_from(spec.shapes)  # shapes the op's maker interprets
    most = max(len(s) for s in spec.shapes)  # e.g. the class-axis losses stop at 2-D
    return st.lists(dim, min_size=1, max_size=most).map(tuple)


def _reference(device: str) -> str:
    for name in ("torch", "numeric"):
        try:
            reference.get(name, device)
            return name
        except reference.BackendUnavailable:
            continue
    raise AssertionError("the numeric reference is always available")


def reproduction(spec: OpSpec, target: str, ref: str, shape, seed, params, dtype) -> str:
    """A snippet to paste into a Python shell at the project root."""
    return "\n".join([
        "from gradverify import checks",
        "from gradverify.cases import Case",
        "from gradverify.catalog import BY_LABEL",
        "from gradverify.loader import load_impl",
        f"case = Case(BY_LABEL[{spec.label!r}], {tuple(params.items())!r}, {shape!r}, "
        f"{dtype!r})",
        f"checks.vjp(checks.Run(case, {ref!r}, load_impl({target!r}), seed={seed}))",
    ])


@pytest.mark.parametrize("spec", CATALOG, ids=[s.label for s in CATALOG])
def test_property(spec: OpSpec, impl_module, device, request):
    ref = _reference(device)
    target = request.config.getoption("impl")

    @SETTINGS
    @given(shape=_shapes(spec), seed=st.integers(0, 2**16), params=st.sampled_from(spec.params),
           dtype=st.sampled_from(["float64", "float32"]))
    def prop(shape, seed, params, dtype):
        note("reproduce (paste at the project root):\n"
             + reproduction(spec, target, ref, shape, seed, params, dtype))
        case = Case(spec, tuple(params.items()), shape, dtype)
        why = declared.supported(impl_module, case, seed)
        if why:  # an example the module does not support is no evidence either way
            skipped.append(f"not supported by {impl_module.__name__}: {why}")
            return
        try:
            checks.vjp(checks.Run(case, ref, impl_module, seed, device))
            ran.append(1)
        except pytest.skip.Exception as exc:  # not provided, not supported, no reference
            skipped.append(str(exc.msg))
        except pytest.fail.Exception as exc:  # hypothesis shrinks on AssertionError
            raise AssertionError(str(exc)) from None

    ran: list[int] = []
    skipped: list[str] = []
    try:
        prop()
        if not ran and skipped:
            pytest.skip(skipped[0])
        return
    except AssertionError as exc:  # the shrunk failure, with hypothesis's notes
        notes = [n for n in getattr(exc, "__notes__", []) if n.startswith("reproduce")]
        message = f"{exc}\n" + "\n".join(notes)
    pytest.fail(message, pytrace=False)  # outside the except: no "during handling" chain
