"""Comparisons that diagnose: structure first, then values, then who agrees with whom.

``check`` fails a case (``pytest.fail``, no traceback) with a message whose first line is a
one-line verdict (what pytest ``-rA`` prints) and whose body names the worst element, the
expected and actual values there, the errors against the tolerance, a constant ratio where
there is one (a missing 1/N shows as a clean factor), and, when asked, which references agree.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest

from .tolerances import Allowance

Tol = Allowance


def fmt(x: Any) -> str:
    """A number as a person reads it: positional when moderate, else 6 significant digits."""
    v = float(x)
    if np.isfinite(v) and 1e-4 <= abs(v) < 1e6:
        return np.format_float_positional(v, precision=6, unique=True, fractional=False,
                                          trim="-")
    return f"{v:.6g}"


def structural_problem(actual: Any, expected: np.ndarray, dtype: str | None,
                       values: bool = True) -> str | None:
    """What is wrong with ``actual`` before any value is compared, or None (``values``
    False: type, shape and dtype only, not its non-finite values)."""
    if actual is None:
        return "returned None"
    if not isinstance(actual, (np.ndarray, np.generic)):  # type_name: gradverify.isolate
        kind = getattr(actual, "type_name", None) or type(actual).__name__
        return f"returned {kind}, expected a numpy array"
    if actual.shape != expected.shape:
        hint = " (the transpose?)" if actual.shape == expected.shape[::-1] else ""
        return f"wrong shape: got {actual.shape}, expected {expected.shape}{hint}"
    if dtype is not None and actual.dtype != np.dtype(dtype):
        return f"wrong dtype: got {actual.dtype}, expected {dtype} (the input's dtype)"
    if not values:
        return None
    bad = ~np.isfinite(actual) & np.isfinite(expected)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        return (f"{int(bad.sum())} non-finite value(s) where the reference is finite: "
                f"first at {list(idx)}: got {np.asarray(actual)[idx]}, "
                f"expected {fmt(expected[idx])}")
    return None


def _allowance(tol: Any) -> Allowance:
    return tol if isinstance(tol, Allowance) else Allowance(*tol)


def errors(actual: np.ndarray, expected: np.ndarray, tol: Any,
           magnitude: np.ndarray | None = None) -> tuple[float, float, np.ndarray]:
    """(max absolute error, max relative error over elements with |expected| > atol,
    per-element error / allowed error) under the allowance ``tol`` (see ``tolerances``)."""
    a, e = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    allow = _allowance(tol)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        diff = np.where(np.isnan(a) & np.isnan(e), 0.0,
                        np.where(a == e, 0.0, np.abs(a - e)))  # inf == inf is agreement
        diff = np.nan_to_num(diff, nan=np.inf)
        big = np.abs(e) > allow.atol
        rel = np.where(big, diff / np.where(big, np.abs(e), 1.0), 0.0)
        score = np.where(diff == 0, 0.0, diff / allow.bound(e, magnitude))  # NaN == NaN
    return (float(diff.max(initial=0.0)), float(rel.max(initial=0.0)),
            np.nan_to_num(score, nan=np.inf))


def within(actual: np.ndarray, expected: np.ndarray, tol: Any) -> bool:
    """A cheap early out for ``check``: True only where every element's |actual − expected|
    is finite and within the allowance (without the terms' magnitude), so ``errors``' score is
    ≤ 1 everywhere (False sends the case through ``errors``: NaN, inf, out of tolerance)."""
    a, e = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        return bool(np.all(np.abs(a - e) <= _allowance(tol).bound(e)))


def _agrees(actual: np.ndarray, expected: np.ndarray, tol: Allowance) -> float | None:
    """The common case in one pass: every element finite and within the normwise bound
    (``within`` without its separate non-finite checks); then the normwise error, else None
    (``check`` then looks closer: NaN, inf, left-out elements, the terms' magnitude)."""
    a, e = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    ae = np.abs(e)
    scale = float(ae.max(initial=0.0))
    if not np.isfinite(scale):  # an inf or NaN expected (NaN: an element left out)
        return None
    diff = np.abs(a - e)
    with np.errstate(invalid="ignore"):
        if not np.all(diff <= tol.atol + tol.rtol * ae + tol.floor * scale):  # NaN: False
            return None
    return float(diff.max(initial=0.0)) / (scale or 1.0)


def normwise_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """max |actual − expected| / max |expected|: the relative error reported in summaries."""
    a, e = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    finite = np.isfinite(e)
    if not finite.any():
        return 0.0
    scale = float(np.max(np.abs(e[finite]), initial=0.0)) or 1.0
    return float(np.max(np.abs(a[finite] - e[finite]), initial=0.0)) / scale


def ratio_note(actual: np.ndarray, expected: np.ndarray, atol: float) -> str:
    """'actual/expected = c everywhere' when the ratio is one constant, else ''."""
    a, e = np.asarray(actual, np.float64).ravel(), np.asarray(expected, np.float64).ravel()
    use = np.abs(e) > max(atol, 1e-300)
    if use.sum() < 1:
        return ""
    r = a[use] / e[use]
    if not np.all(np.isfinite(r)) or np.ptp(r) > 1e-6 * max(abs(r.mean()), 1e-300):
        return ""
    c = float(r.mean())
    if abs(c - 1) < 1e-6:  # not a factor: rounding-level differences
        return ""
    guess = {-1.0: "a sign error",
             0.5: "half: a missing factor 2 (or a mean's 1/N with N = 2 where a sum is expected)",
             2.0: "a stray factor 2 (or a missing 1/N with N = 2)"}
    why = guess.get(round(c, 6), "a missing or extra constant factor (1/N? the mean?)")
    if abs(c - round(c)) > 1e-6 and abs(1 / c - round(1 / c)) < 1e-6 and round(1 / c) > 2:
        why = f"a factor 1/{round(1 / c)}: a mean where a sum is expected?"
    elif abs(c - round(c)) < 1e-6 and round(c) > 2:
        why = f"a factor {round(c)}: a missing 1/{round(c)} (the mean's 1/N?)"
    return f"actual/expected = {c:.6g} at every element: {why}"


def rel_text(actual: np.ndarray, expected: np.ndarray, score: np.ndarray, tol: Allowance,
             max_rel: float) -> str:
    """'max rel err r', and where elements whose expected value is 0 (|expected| ≤ atol) are
    out of tolerance, their error relative to max |expected| (a relative error of their own
    is undefined there, and 'max rel err 0' would hide them)."""
    e = np.asarray(expected, np.float64)
    zero = (np.abs(e) <= tol.atol) & (score > 1)
    if not zero.any():
        return f"max rel err {max_rel:.3g}"
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(np.asarray(actual, np.float64) - e)
    finite = np.isfinite(e)
    scale = float(np.max(np.abs(e[finite]), initial=0.0))
    at_zero = float(np.max(diff[zero]))
    n = int(zero.sum())
    if scale <= tol.atol:
        return f"max rel err undefined (every expected value is 0; {n} element(s) wrong)"
    return (f"max rel err {max_rel:.3g} where expected ≠ 0, {at_zero / scale:.3g}·max "
            f"|expected| at {n} element(s) whose expected value is 0")


def agreement(actual: np.ndarray, others: Mapping[str, Any], tol: Tol, who: str) -> str:
    """Which references agree with each other, and whether ``actual`` agrees with any."""
    values = {k: np.asarray(v) for k, v in others.items() if not isinstance(v, str)}
    lines = [f"  {k}: {v}" for k, v in others.items() if isinstance(v, str)]

    def close(x: np.ndarray, y: np.ndarray) -> bool:
        return x.shape == y.shape and bool(np.all(errors(x, y, tol)[2] <= 1))

    groups: list[list[str]] = []
    for name, v in values.items():
        for g in groups:
            if close(v, values[g[0]]):
                g.append(name)
                break
        else:
            groups.append([name])
    agree_with = [n for n, v in values.items() if close(actual, v)]
    for g in groups:
        lines.append(f"  agree with each other: {', '.join(g)}")
    if values and not agree_with:
        if len(groups) == 1 and len(values) > 1:
            lines.append(f"  {who} disagrees with every reference, which all agree: "
                         "the formula is wrong")
        else:
            lines.append(f"  {who} agrees with no reference")
    elif agree_with:
        lines.append(f"  {who} agrees with: {', '.join(agree_with)} "
                     "(a reference that disagrees with all others is a framework convention)")
    return "references on this case:\n" + "\n".join(lines)


class FiniteDifferenceKink(UserWarning):
    """Elements left out of a comparison with finite differences: the stencil crossed a kink."""


def _left_out(expected: np.ndarray, what: str) -> np.ndarray | None:
    """The elements finite differences could not be trusted on (marked NaN by
    ``reference.numeric``): a warning says which; all of them untrusted skips the case."""
    bad = np.isnan(expected)
    if not bad.any():
        return None
    where = [list(map(int, i)) for i in np.argwhere(bad)[:5]]
    if bad.all():
        pytest.skip(f"{what}: finite differences crossed a kink within the step at every "
                    "element: nothing to compare")
    warnings.warn(FiniteDifferenceKink(
        f"{what}: {int(bad.sum())} of {bad.size} element(s) left out: the finite-difference "
        f"stencil crossed a kink within its step there (first at {where}); the other "
        "elements were compared"), stacklevel=3)
    return bad


def check(actual: Any, expected: np.ndarray, *, what: str, dtype: str | None, tol: Any,
          context: str, others: Callable[[], Mapping[str, Any]] | None = None,
          who: str = "impl", ref: str | None = None,
          magnitude: Callable[[], np.ndarray] | None = None) -> float:
    """Fail the case unless ``actual`` matches ``expected`` within the allowance ``tol``;
    return the normwise relative error (max |Δ| / max |expected|) for the summary.

    ``magnitude`` computes the magnitude of each element's terms (the same quantity on
    absolute values); it is called only if an element fails the normwise bound. With
    ``ref="numeric"``, NaN entries of ``expected`` mark elements finite differences could not
    be trusted on: they are left out, with a warning saying so."""
    expected = np.asarray(expected)
    tol = _allowance(tol)
    problem = structural_problem(actual, expected, dtype, values=False)
    if problem:
        pytest.fail(f"{what}: {problem}\n{context}", pytrace=False)
    agreed = _agrees(actual, expected, tol)
    if agreed is not None:
        return agreed
    problem = structural_problem(actual, expected, dtype)  # non-finite where expected is not
    if problem:
        pytest.fail(f"{what}: {problem}\n{context}", pytrace=False)
    left_out = _left_out(expected, what) if ref == "numeric" else None
    if left_out is not None:
        actual, expected = np.where(left_out, 0.0, actual), np.where(left_out, 0.0, expected)
    if within(actual, expected, tol):  # the common case: no per-element report to build
        return normwise_error(actual, expected)
    max_abs, max_rel, score = errors(actual, expected, tol)
    m = None
    if not np.all(score <= 1) and magnitude is not None:
        m = np.asarray(magnitude(), np.float64)
        if m.shape == expected.shape:
            max_abs, max_rel, score = errors(actual, expected, tol, m)
    if np.all(score <= 1):
        return normwise_error(actual, expected)
    idx = tuple(int(i) for i in np.unravel_index(np.argmax(score), score.shape))
    allowed = float(tol.bound(expected, m)[idx]) if m is not None and m.shape == expected.shape \
        else float(tol.bound(expected)[idx])
    exp_s, act_s = fmt(expected[idx]), fmt(actual[idx])
    if exp_s == act_s:  # equal to 6 digits: show every digit
        exp_s, act_s = repr(float(expected[idx])), repr(float(actual[idx]))
    err_here = abs(float(actual[idx]) - float(expected[idx]))
    body = [
        f"{what}: max abs err {max_abs:.3g}, {rel_text(actual, expected, score, tol, max_rel)}; "
        f"worst at {list(idx)}: "
        f"error {err_here:.3g} > allowed {allowed:.3g} ({score[idx]:.3g}x)",
        f"  worst element {list(idx)}: expected {exp_s}, actual {act_s}",
        f"  allowance: atol {tol.atol:g} + rtol {tol.rtol:g}·|expected| + {tol.floor:.3g}·"
        "max(magnitude of the terms, max |expected|)",
        f"  {int((score > 1).sum())} of {score.size} elements out of tolerance",
    ]
    note = ratio_note(actual, expected, tol.atol)
    if note:
        body.append(f"  {note}")
    if dtype == "float64" and ref != "numeric" and 1e-9 < max_rel < 1e-5:
        body.append("  errors of float32's size (eps 1.2e-7) in a float64 case: computed in "
                    "float32 somewhere?")
    if left_out is not None:
        body.append(f"  {int(left_out.sum())} element(s) left out: finite differences crossed "
                    "a kink there")
    if others is not None:
        body.append(agreement(np.asarray(actual), others(), tol, who))
    pytest.fail("\n".join(body) + "\n" + context, pytrace=False)


class FailureDigest:
    """pytest plugin: one line per failed case at the end of the run, the test id and the
    verdict (the first line of the diagnosis), never truncated to the terminal's width."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not (report.failed and report.when == "call"):
            return
        crash = getattr(report.longrepr, "reprcrash", None)
        text = (crash.message if crash is not None else report.longreprtext).strip()
        verdict = text.splitlines()[0].removeprefix("Failed: ") if text else "(no message)"
        self.lines.append(f"{report.nodeid.rpartition('::')[2]}: {verdict}")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.lines:
            terminalreporter.section(f"failures, one line each ({len(self.lines)})")
            for line in self.lines:
                terminalreporter.write_line(line)
