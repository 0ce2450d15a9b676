"""The checks of a module at special points, shared by the pytest tests and ``gradverify.check``.

- ``special_value``: at extreme inputs (``reference.conventions.SPECIALS``: logits of ±1000,
  p = 0 or 1, −inf masks, float32 near overflow) the module is finite wherever the framework is,
  and agrees with it there;
- ``impl_kink``: at a kink the module returns its declared convention, another valid
  subgradient (a *convention difference*, ``pytest.xfail``), or no subgradient (a failure);
- ``impl_tie``: max pooling's gradient at tied maxima is a convex combination of them.

Each raises ``pytest.fail`` (wrong), ``pytest.skip`` (not provided, not supported, no
reference) or ``pytest.xfail`` (a convention), like the matrix checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from .cases import call_impl, call_impl_of, impl_function, use_reference
from .diagnose import fmt
from .tolerances import tolerance

FRAMEWORKS = ("torch", "jax", "autograd")
CLAMPED, RTOL_CLAMPED = 1e8, 1e-6


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
    # Past CLAMPED the value comes from a clamp (bce's p(1 − p) ≥ 1e-12 → 1e11-sized
    # gradients), whose constant differs in the last digits between codes: 1e-6 relative there.
    bound = np.where(np.abs(expected) > CLAMPED, RTOL_CLAMPED * np.abs(expected),
                     allow.bound(expected))
    with np.errstate(invalid="ignore"):
        err = np.where(finite, np.abs(actual - expected) - bound, 0)
    if (err > 0).any():
        i = tuple(int(k) for k in np.unravel_index(np.argmax(err), err.shape))
        return (f"{what}: disagrees at {list(i)}: got {fmt(actual[i])}, framework "
                f"{fmt(expected[i])} (allowed {fmt(bound[i])})")
    return None


def skip_unsupported_point(module: Any, op: str, params: dict[str, Any], inputs: Any,
                           variant: str = "") -> None:
    """Skip, as not supported, a point the module's ``GRADVERIFY_SUPPORTS`` excludes (its
    variant included, which the call alone does not show)."""
    from .supports import reason

    table = getattr(module, "GRADVERIFY_SUPPORTS", None)
    x = np.asarray(inputs[0])
    why = table and reason(table, op, params, x, str(x.dtype), variant)
    if why:
        pytest.skip(f"not supported by {module.__name__}: {why}")


def special_value(sp: Any, ref: str, module: Any, device: str = "cpu") -> None:
    """The module's forward and gradient at a special point against ``ref``'s."""
    from gradverify.reference.conventions import measure_impl_special, measure_special

    impl_function(module, sp.op)
    impl_function(module, f"{sp.op}_backward")
    skip_unsupported_point(module, sp.op, sp.params, sp.make(), sp.variant)
    r = use_reference(ref, device)
    expected = measure_special(sp, r)
    actual = call_impl_of(module, measure_impl_special, sp, module)
    problems = [p for p in (_compare("forward", actual[0], expected[0], sp.dtype),
                            _compare("gradient", actual[1], expected[1], sp.dtype)) if p]
    if problems:
        inputs = ", ".join(np.array2string(x, separator=", ") for x in sp.make())
        pytest.fail(f"{sp.label}: {module.__name__} vs {ref} {r.version}\n  "
                    + "\n  ".join(problems) + f"\n  inputs: {inputs}", pytrace=False)


def impl_kink(kink: Any, module: Any) -> None:
    """The module's derivative at a kink: its declared convention, another valid subgradient
    (xfail: a convention difference), or a failure."""
    from gradverify.reference.conventions import DECLARED, measure_impl_kink

    name = f"{kink.op}_hessian" if kink.second else f"{kink.op}_backward"
    impl_function(module, name)
    skip_unsupported_point(module, kink.op, kink.params, kink.inputs)
    value = call_impl_of(module, measure_impl_kink, kink, module)
    declared = DECLARED[kink.label]
    if np.isclose(value, declared["impl"], rtol=0, atol=1e-12):
        return
    lo, hi = kink.subgradients
    frameworks = ", ".join(f"{r}: {declared[r]:g}" for r in FRAMEWORKS)
    if lo - 1e-12 <= value <= hi + 1e-12:
        pytest.xfail(f"convention difference: {module.__name__} returns {kink.label} = "
                     f"{value:g}; impl declares {declared['impl']:g} ({frameworks}). It is a "
                     f"valid subgradient (between {lo:g} and {hi:g}): a convention, not a wrong "
                     "formula")
    pytest.fail(f"{module.__name__} returns {kink.label} = {value:g}, which is no "
                f"subgradient there (one-sided derivatives {kink.one_sided}); impl declares "
                f"{declared['impl']:g} ({frameworks})", pytrace=False)


def impl_tie(tie: Any, module: Any) -> None:
    """max_pool2d_backward at tied maxima, window by window: weights on the window's maxima,
    non-negative, summing to one (else a failure); another rule than impl's is a convention."""
    from gradverify.reference.conventions import (
        DECLARED_TIES,
        classify_tie,
        tie_cotangent,
        tie_routing,
    )

    backward = impl_function(module, "max_pool2d_backward")
    x, params = tie.x, tie.params
    maxima = tie_routing(tie, "all")  # (OH, OW, H, W): 1 on each window's tied maxima
    who = module.__name__
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
