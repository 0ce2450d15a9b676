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

import pytest

from gradverify.reference.conventions import SPECIALS, Special
from gradverify.special import FRAMEWORKS, special_value


@pytest.mark.parametrize("sp,ref", [
    pytest.param(sp, r, id=f"{sp.op}-{r}-{sp.dtype}-{sp.label}", marks=getattr(pytest.mark, r))
    for sp in SPECIALS for r in FRAMEWORKS])
def test_special_value(sp: Special, ref: str, impl_module, device, record_property):
    """Finite where the framework is, and within the dtype's tolerance of it
    (``gradverify.special.special_value``)."""
    record_property("op", sp.op)
    record_property("reference", ref)
    special_value(sp, ref, impl_module, device)
