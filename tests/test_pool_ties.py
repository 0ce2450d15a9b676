"""Max pooling at ties: which tied maximum gets a window's gradient, per framework, pinned.

A max over a window with several equal maxima is not differentiable there; any convex
combination of the tied maxima's one-hot gradients is a valid subgradient. The cases and the
declared rules live in ``reference/conventions.py`` (``POOL_TIES``, ``DECLARED_TIES``):

- ``test_framework_tie``: each framework's gradient follows its declared rule ("first": all of
  it to the first tied maximum in row-major window order, torch and jax; "split": evenly,
  autograd). A release that changes it fails, saying so.
- ``test_finite_difference_at_tie``: the central difference at a tie is the mean of the
  one-sided partials, 1/2 for each tied maximum (1 for a unique one).
- ``test_impl_tie``: the module under test, window by window (a one-hot cotangent per window):
  weights only on the window's tied maxima, non-negative, summing to one, is a valid
  subgradient; if it is not impl's declared rule it is a *convention difference* (xfail).
  Weight on a non-maximum, or weights not summing to one, is a wrong formula (fail).
"""

from __future__ import annotations

import numpy as np
import pytest

from gradverify import reference
from gradverify.cases import use_reference
from gradverify.reference.conventions import (
    DECLARED_TIES,
    MEASURED_ON,
    POOL_TIES,
    PoolTie,
    classify_tie,
    measure_tie,
    tie_cotangent,
    tie_gradient,
    tie_routing,
)
from gradverify.special import impl_tie

FRAMEWORKS = ("torch", "jax", "autograd")


def _params(refs):
    return [pytest.param(t, r, id=f"max_pool2d-{r}-{t.label}", marks=getattr(pytest.mark, r))
            for t in POOL_TIES for r in refs]


@pytest.mark.parametrize("tie,ref", _params(FRAMEWORKS))
def test_framework_tie(tie: PoolTie, ref: str, device, record_property):
    record_property("op", "max_pool2d")
    record_property("reference", ref)
    r = use_reference(ref, device)
    measured = measure_tie(tie, r)
    declared = DECLARED_TIES[tie.label][ref]
    if np.allclose(measured, tie_gradient(tie, declared), rtol=0, atol=1e-12):
        return
    now = classify_tie(tie, measured) or "none of the known rules"
    changed = "changed" if r.version != MEASURED_ON[ref] else "now routes"
    pytest.fail(f"{ref} {r.version} {changed} max_pool2d's gradient at a tie ({tie.label}): "
                f"declared {declared!r} (measured on {ref} {MEASURED_ON[ref]}, CPU), it now "
                f"follows {now}: {measured[0, 0].tolist()}. Update DECLARED_TIES in "
                "reference/conventions.py", pytrace=False)


@pytest.mark.numeric
@pytest.mark.parametrize("tie", POOL_TIES, ids=[f"max_pool2d-numeric-{t.label}"
                                                for t in POOL_TIES])
def test_finite_difference_at_tie(tie: PoolTie, record_property):
    """Finite differences detect every tied maximum as a kink (NaN: left out of comparisons),
    and nothing else: elements that are no maximum get their exact gradient 0."""
    record_property("op", "max_pool2d")
    record_property("reference", "numeric")
    measured = measure_tie(tie, reference.get("numeric"))[0, 0]
    tied = (tie_routing(tie, "all").sum(axis=(0, 1)) > 0) & _in_a_tie(tie)
    assert np.isnan(measured[tied]).all(), (
        f"finite differences did not detect the tie at {np.argwhere(tied & ~np.isnan(measured))}"
        f" ({tie.label})")
    free = ~np.isnan(measured)
    every = tie_routing(tie, "all")
    expected = np.tensordot(tie_cotangent(tie, every.shape[:2]), every, axes=2)
    np.testing.assert_allclose(measured[free], expected[free], rtol=0, atol=1e-6,
                               err_msg=f"finite differences away from the ties ({tie.label})")


def _in_a_tie(tie: PoolTie) -> np.ndarray:
    """Elements that are a maximum of some window shared with another maximum."""
    every = tie_routing(tie, "all")  # (OH, OW, H, W)
    shared = every.sum(axis=(2, 3), keepdims=True) > 1
    return (every * shared).sum(axis=(0, 1)) > 0


@pytest.mark.parametrize("tie", POOL_TIES, ids=[f"max_pool2d-impl-{t.label}" for t in POOL_TIES])
def test_impl_tie(tie: PoolTie, impl_module, record_property):
    record_property("op", "max_pool2d")
    record_property("reference", "impl convention")
    impl_tie(tie, impl_module)  # gradverify.special: shared with gradverify.check
