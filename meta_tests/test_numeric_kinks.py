"""Finite differences detect a kink inside their stencil, and only there."""

from __future__ import annotations

import numpy as np
import pytest

from gradverify import impl, reference
from gradverify.diagnose import FiniteDifferenceKink, check
from gradverify.tolerances import tolerance


def _numeric_vjp(op: str, z: np.ndarray, g: np.ndarray) -> np.ndarray:
    return reference.get("numeric").op_vjp(op, {}, [z], g, (0,))[0]


def test_an_element_within_the_step_of_relus_kink_is_marked_and_left_out() -> None:
    z = np.array([0.7, 5e-5, -0.3, -1.5e-4])  # two elements within 2h = 2e-4 of 0
    g = np.array([1.0, 2.0, 3.0, 4.0])
    expected = _numeric_vjp("relu", z, g)
    assert np.isnan(expected[[1, 3]]).all() and np.isfinite(expected[[0, 2]]).all()
    with pytest.warns(FiniteDifferenceKink, match="2 of 4"):
        check(impl.relu_backward(g, z), expected, what="relu", dtype="float64",
              tol=tolerance("float64", "grad", "numeric"), context="", ref="numeric")
    wrong = impl.relu_backward(g, z) * np.array([1.0, 1.0, 1.0, 1.0])
    wrong[0] = 0.0  # an error on a trusted element still fails
    with pytest.raises(pytest.fail.Exception), pytest.warns(FiniteDifferenceKink):
        check(wrong, expected, what="relu", dtype="float64",
              tol=tolerance("float64", "grad", "numeric"), context="", ref="numeric")


@pytest.mark.parametrize("op", ["sigmoid", "tanh", "softplus", "gelu", "silu", "elu"])
def test_smooth_functions_are_never_marked(op: str) -> None:
    rng = np.random.default_rng(0)
    z = rng.uniform(-6, 6, 300)
    z = np.where(np.abs(z) < 0.05, 0.05, z)  # elu's f'' kink at 0 would make no f' kink either
    expected = _numeric_vjp(op, z, rng.standard_normal(300))
    assert np.isfinite(expected).all()


def test_a_large_summed_loss_with_a_zero_gradient_is_not_marked() -> None:
    """Rounding of a large f makes one-sided estimates noisy; that is no kink."""
    rng = np.random.default_rng(1)
    y = 30 * rng.standard_normal((40, 25))
    expected = reference.get("numeric").op_vjp("sum_of_squares", {}, [y], np.asarray(1.0), (0,))
    assert np.isfinite(expected[0]).all()
