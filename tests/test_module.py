"""The module under test as a whole: every public function it defines is called by a check.

A misspelt name (``sigmoid_backwrd``) would otherwise be a silent pass: no case calls it, so
nothing fails. The failure lists each such function with a did-you-mean; a module lists its
helpers in ``GRADVERIFY_HELPERS = [...]`` to leave them out (``gradverify.suite.unused``).
"""

from __future__ import annotations

import pytest

from gradverify import declared, suite
from gradverify.catalog import OP_NAMES


@pytest.mark.whole_module
def test_every_function_is_checked(impl_module) -> None:
    known = set(OP_NAMES) | {spec.name for spec, _ in declared.declared_ops(impl_module)}
    module = getattr(impl_module, "__gradverify_unguarded__", impl_module)
    unused = suite.unused(module, known)
    notes = suite.half_pairs(impl_module, [op for op in OP_NAMES if hasattr(impl_module, op)
                                           or hasattr(impl_module, f"{op}_backward")])
    if unused:
        listed = "; ".join(f"{name}" + (f" (did you mean {hint}?)" if hint else "")
                           for name, hint in unused)
        pytest.fail(f"{impl_module.__name__} defines {len(unused)} function(s) that no check "
                    f"calls: {listed}" + "".join(f"\n  note: {n}" for n in notes)
                    + "\n  (helpers: list them in GRADVERIFY_HELPERS = [...])", pytrace=False)
