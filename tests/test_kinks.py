"""Kinks: what each framework returns exactly on a non-differentiable point, pinned.

- ``test_framework_convention``: each reference's derivative at each kink equals the value
  declared in ``reference/conventions.py`` (measured on the versions in ``MEASURED_ON``); a
  framework release that changes a convention fails here, saying so.
- ``test_finite_difference_at_kink``: the central difference at a kink is the mean of the
  one-sided derivatives (a check of the declared one-sided values themselves).
- ``test_impl_convention``: the module under test returns its declared convention. Another
  valid subgradient (Park's relu'(0) = 1) is a *convention difference*, reported as xfail with
  the reason and counted apart in the summary; a value that is no subgradient fails.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradverify import reference
from gradverify.cases import use_reference
from gradverify.reference.conventions import (
    DECLARED,
    KINKS,
    MEASURED_ON,
    Kink,
    measure_kink,
)
from gradverify.reference.numeric import differences
from gradverify.special import impl_kink

FRAMEWORKS = ("torch", "jax", "autograd")


def _params(refs):
    return [pytest.param(k, r, id=f"{k.op}-{r}-{k.label}", marks=getattr(pytest.mark, r))
            for k in KINKS for r in refs]


@pytest.mark.parametrize("kink,ref", _params(FRAMEWORKS))
def test_framework_convention(kink: Kink, ref: str, device, record_property):
    record_property("op", kink.op)
    record_property("reference", ref)
    r = use_reference(ref, device)
    measured = measure_kink(kink, r)
    declared = DECLARED[kink.label][ref]
    if not np.isclose(measured, declared, rtol=0, atol=1e-12):
        changed = "changed" if r.version != MEASURED_ON[ref] else "now returns"
        pytest.fail(f"{ref} {r.version} {changed} {kink.label}: declared {declared:g} "
                    f"(measured on {ref} {MEASURED_ON[ref]}), measured {measured:g}. Update "
                    "DECLARED in reference/conventions.py and regenerate docs/CONVENTIONS.md "
                    "(python -m tools.conventions)", pytrace=False)


@pytest.mark.numeric
@pytest.mark.parametrize("kink", KINKS, ids=[f"{k.op}-numeric-{k.label}" for k in KINKS])
def test_finite_difference_at_kink(kink: Kink, record_property):
    """Finite differences detect the kink (NaN: not trusted there), and their one-sided
    estimates there are the declared one-sided derivatives."""
    record_property("op", kink.op)
    record_property("reference", "numeric")
    measured = measure_kink(kink, reference.get("numeric"))
    if kink.one_sided[0] == kink.one_sided[1]:  # f' continuous (a kink of f''): no kink to see
        assert abs(measured - kink.one_sided[0]) < 1e-4, (
            f"finite differences at {kink.label}: {measured:g}, expected {kink.one_sided[0]:g}")
    else:
        assert np.isnan(measured), (f"finite differences at {kink.label} returned {measured:g} "
                                    "instead of detecting the kink")
    if kink.second:
        return  # the Hessian's kink: detected above; its one-sided values are in DECLARED
    from gradverify import impl
    inputs = [np.array(x, dtype=np.float64) for x in kink.inputs]

    def f(t: float) -> np.ndarray:
        x = [a.copy() for a in inputs]
        x[0].reshape(-1)[0] += t
        return np.sum(getattr(impl, kink.op)(*x, **kink.params))

    _, left, right, _ = differences(f, 1e-6)
    assert np.allclose([left, right], kink.one_sided, atol=1e-4), (
        f"one-sided differences at {kink.label} are ({left:g}, {right:g}), declared "
        f"{kink.one_sided}")


@pytest.mark.parametrize("kink", KINKS, ids=[f"{k.op}-impl-{k.label}" for k in KINKS])
def test_impl_convention(kink: Kink, impl_module, record_property):
    record_property("op", kink.op)
    record_property("reference", "impl convention")
    impl_kink(kink, impl_module)  # gradverify.special: shared with gradverify.check
