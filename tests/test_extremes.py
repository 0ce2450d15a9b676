"""Extreme and special values: impl stays finite wherever a framework is, and agrees with it.

Logits of ±1000 and ±30, probabilities of exactly 0 and 1, −inf masked logits (and a fully
masked row), float32 inputs near overflow (``reference/conventions.py`` lists them). Where a
framework's value or gradient is finite, the module under test must be finite there and agree
within the dtype's tolerance; where the framework itself gives NaN or ±inf, nothing is asked
(impl is allowed to be more robust: see docs/CONVENTIONS.md). Formulas that are right in the
middle of the domain but overflow at the edges (softmax without the max shift,
BCE-with-logits through log(sigmoid(z))) fail here.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradverify.cases import call_impl, impl_function, use_reference
from gradverify.diagnose import fmt
from gradverify.tolerances import tolerance
from reference.conventions import SPECIALS, Special, measure_impl_special, measure_special

FRAMEWORKS = ("torch", "jax", "autograd")


def _compare(what: str, actual: np.ndarray, expected: np.ndarray, dtype: str) -> str | None:
    """A problem where the framework is finite, else None."""
    actual = np.broadcast_to(np.asarray(actual, np.float64), np.shape(expected))
    expected = np.asarray(expected, np.float64)
    finite = np.isfinite(expected)
    bad = finite & ~np.isfinite(actual)
    if bad.any():
        i = tuple(int(k) for k in np.argwhere(bad)[0])
        return (f"{what}: not finite where the framework is: at {list(i)} got {actual[i]}, "
                f"framework {fmt(expected[i])}")
    allow = tolerance(dtype, "grad" if what == "gradient" else "value", "torch")
    with np.errstate(invalid="ignore"):
        err = np.where(finite, np.abs(actual - expected) - allow.bound(expected), 0)
    if (err > 0).any():
        i = tuple(int(k) for k in np.unravel_index(np.argmax(err), err.shape))
        return (f"{what}: disagrees at {list(i)}: got {fmt(actual[i])}, framework "
                f"{fmt(expected[i])} (allowed {fmt(allow.bound(expected)[i])})")
    return None


@pytest.mark.parametrize("sp,ref", [
    pytest.param(sp, r, id=f"{sp.op}-{r}-{sp.dtype}-{sp.label}", marks=getattr(pytest.mark, r))
    for sp in SPECIALS for r in FRAMEWORKS])
def test_special_value(sp: Special, ref: str, impl_module, device, record_property):
    record_property("op", sp.op)
    record_property("reference", ref)
    r = use_reference(ref, device)
    impl_function(impl_module, sp.op)
    impl_function(impl_module, f"{sp.op}_backward")
    expected = measure_special(sp, r)
    actual = call_impl(measure_impl_special, sp, impl_module)
    problems = [p for p in (_compare("forward", actual[0], expected[0], sp.dtype),
                            _compare("gradient", actual[1], expected[1], sp.dtype)) if p]
    if problems:
        inputs = ", ".join(np.array2string(x, separator=", ") for x in sp.make())
        pytest.fail(f"{sp.label}: {impl_module.__name__} vs {ref} {r.version}\n  "
                    + "\n  ".join(problems) + f"\n  inputs: {inputs}", pytrace=False)
