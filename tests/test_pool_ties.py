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

import reference
from gradverify.cases import call_impl, impl_function, use_reference
from reference.conventions import (
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
    backward = impl_function(impl_module, "max_pool2d_backward")
    x, params = tie.x, tie.params
    maxima = tie_routing(tie, "all")  # (OH, OW, H, W): 1 on each window's tied maxima
    who = impl_module.__name__
    rows = []
    for k in range(maxima.shape[0] * maxima.shape[1]):  # one window at a time
        e = np.zeros((1, 1, *maxima.shape[:2]))
        e.reshape(-1)[k] = 1.0
        row = np.asarray(call_impl(backward, e, x, **params), dtype=np.float64)
        if row.shape != x.shape:
            pytest.fail(f"{who}.max_pool2d_backward returned shape {row.shape}, expected "
                        f"{x.shape}", pytrace=False)
        rows.append(row[0, 0])
        window = tuple(int(i) for i in np.unravel_index(k, maxima.shape[:2]))
        on_max = maxima[window].astype(bool)
        if np.any(np.abs(row[0, 0][~on_max]) > 1e-12):
            pytest.fail(f"a wrong formula: {who} puts gradient of window {list(window)} on a "
                        f"position that is not a maximum of it ({tie.label}): "
                        f"{row[0, 0].tolist()}", pytrace=False)
        w = row[0, 0][on_max]
        if np.any(w < -1e-12) or not np.isclose(w.sum(), 1.0, rtol=0, atol=1e-12):
            pytest.fail(f"a wrong formula: {who} spreads window {list(window)}'s gradient over "
                        f"its tied maxima with weights {w.tolist()} (they must be ≥ 0 and sum "
                        f"to one) ({tie.label})", pytrace=False)
    routing = np.stack(rows).reshape(maxima.shape)
    g = tie_cotangent(tie, maxima.shape[:2])
    whole = np.asarray(call_impl(backward, g[None, None], x, **params), dtype=np.float64)
    np.testing.assert_allclose(whole[0, 0], np.tensordot(g, routing, axes=2), rtol=1e-12,
                               atol=1e-12, err_msg="the backward is not linear in grad_out")
    declared = DECLARED_TIES[tie.label]["impl"]
    if np.allclose(routing, tie_routing(tie, declared), rtol=0, atol=1e-12):
        return
    rule = classify_tie(tie, whole) or "another convex combination"
    frameworks = ", ".join(f"{r}: {DECLARED_TIES[tie.label][r]}" for r in FRAMEWORKS)
    pytest.xfail(f"convention difference: {who} routes max_pool2d's gradient at a tie "
                 f"({tie.label}) by {rule!r}; impl declares {declared!r} ({frameworks}). "
                 "Its weights lie on the tied maxima and sum to one: a valid subgradient, not "
                 "a wrong formula")
