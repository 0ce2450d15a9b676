"""After a check failed: which definition it matches, and what the cause is.

``conclude`` receives every compared item of a failed check (each output of a forward, each
gradient of a VJP, each block of a Jacobian) and ends the case:

- with ``pytest.xfail("definition difference: ...")`` when the failing function matches one
  of the op's known variants (``gradverify.variants``) to the allowance and the module's
  other function of the op (its forward, or its backward) matches the same variant;
- else with ``pytest.fail``: the first wrong item's diagnosis, headed by every wrong item
  and which are right, and the causes found by calling the module again: it ignores its
  upstream gradient (the same result for g and 2g), its arguments are swapped (the swapped
  call matches), an ε inside a log (the error follows ε/p), the forward of the case already
  differs, or it matches a variant that its other function does not (an inconsistent pair).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np
import pytest

from .cases import cotangent
from .diagnose import errors
from .tolerances import tolerance
from .variants import Variant, VariantReference


@dataclass
class Failed:
    """A failed check of one case: what was compared, item by item."""

    run: Any  # gradverify.checks.Run
    check: str  # "forward" | "vjp" | "jacobian"
    r: Any  # what it was compared with: the reference, or the declared variant
    inputs: tuple[Any, ...]
    actual: list[Any]  # per item
    labels: list[str]  # "gradient 0 (input 0)", "output 1", ...
    messages: list[str | None]  # the item's diagnosis, None where it was right
    expect: Callable[[Any], list[Any]]  # source -> the expected items
    cots: list[np.ndarray] | None = None  # the VJP's cotangents
    declared: str = ""  # the note when the module declares the variant checked against

    @property
    def spec(self) -> Any:
        return self.run.case.spec

    @property
    def kind(self) -> str:
        return "value" if self.check == "forward" else "grad"

    @property
    def function(self) -> str:
        name = self.spec.name
        if self.check == "forward":
            return name
        return f"{name}_jacobian" if self.check == "jacobian" and self.spec.jacobian \
            else f"{name}_backward"


def _quiet(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """fn(*args, **kwargs), or None if it raises (a probe must not fail the diagnosis)."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)
    except Exception:
        return None


def score(actual: Any, expected: Any, tol: Any) -> float:
    """The worst element's error / allowed error (inf for another type or shape; NaN
    expected: left out)."""
    if not isinstance(actual, (np.ndarray, np.generic)):
        return np.inf
    e = np.asarray(expected, np.float64)
    if np.shape(actual) != e.shape:
        return np.inf
    keep = ~np.isnan(e)
    a = np.where(keep, np.asarray(actual, np.float64), 0.0)
    return float(np.max(errors(a, np.where(keep, e, 0.0), tol)[2], initial=0.0))


def close(actual: Any, expected: Any, tol: Any) -> bool:
    """Same shape and every element within the allowance."""
    return score(actual, expected, tol) <= 1


def _worst(actual: Sequence[Any] | None, expected: Sequence[Any], tol: Any) -> float:
    if actual is None or len(actual) != len(expected):
        return np.inf
    return max((score(a, e, tol) for a, e in zip(actual, expected)), default=0.0)


def _all_close(actual: Sequence[Any] | None, expected: Sequence[Any], tol: Any) -> bool:
    return _worst(actual, expected, tol) <= 1


def _grads(result: Any) -> tuple[Any, ...] | None:
    if result is None:
        return None
    return tuple(result) if isinstance(result, (tuple, list)) else (result,)


def _tol(f: Failed, kind: str, variant: Variant | None = None) -> Any:
    ref = variant.tol_ref(f.run.ref, kind) if variant is not None else f.run.ref
    return tolerance(f.run.case.dtype, kind, ref, f.spec)


# -- is it a known variant? ----------------------------------------------------------------------
def _other_matches(f: Failed, src: Any, v: Variant) -> tuple[bool, str]:
    """(whether the module's other function of the op matches the variant too, its name)."""
    spec, kwargs, module = f.spec, f.run.case.kwargs, f.run.module
    if f.check == "forward":
        other = getattr(module, f"{spec.name}_backward", None)
        if other is None or spec.outputs != 1:
            return True, ""
        out = np.asarray(src.forward(spec.name, f.inputs, kwargs, argnums=spec.argnums))
        g = cotangent(np.random.default_rng(0), out.shape, f.run.case.dtype)
        expected = src.op_vjp(spec.name, kwargs, f.inputs, g, spec.argnums)
        got = _grads(_quiet(other, g, *f.inputs, **kwargs))
        return _all_close(got, expected, _tol(f, "grad", v)), f"{spec.name}_backward"
    other = getattr(module, spec.name, None)
    if other is None:
        return True, ""
    got = _quiet(other, *f.inputs, **kwargs)
    got = tuple(got) if spec.outputs > 1 and isinstance(got, (tuple, list)) else (got,)
    names = [spec.name] if spec.outputs == 1 else [f"{spec.name}#{k}" for k in
                                                      range(spec.outputs)]
    expected = [src.forward(o, f.inputs, kwargs, argnums=spec.argnums) for o in names]
    return _all_close(got, expected, _tol(f, "value", v)), spec.name


def variant_match(f: Failed) -> tuple[Variant, bool, str] | None:
    """The variant of the op the failing function matches best, if to the allowance:
    (variant, whether the other function matches it too, the other function's name)."""
    kwargs = f.run.case.kwargs
    best: tuple[float, Variant] | None = None
    for v in f.spec.variants:
        if not v.applies(f.spec.name, kwargs):
            continue
        expected = _quiet(f.expect, VariantReference(f.r, v))
        worst = np.inf if expected is None else _worst(f.actual, expected, _tol(f, f.kind, v))
        if worst <= 1 and (best is None or worst < best[0]):
            best = (worst, v)
    if best is None:
        return None
    v = best[1]
    consistent, other = _quiet(_other_matches, f, VariantReference(f.r, v), v) or (False, "")
    return v, consistent, other


# -- causes --------------------------------------------------------------------------------------
def ignores_upstream(f: Failed) -> str:
    """'ignores its upstream gradient g' when the backward returns the same for g and 2g."""
    if f.check != "vjp" or f.cots is None:
        return ""
    spec, kwargs = f.spec, f.run.case.kwargs
    backward = getattr(f.run.module, f"{spec.name}_backward", None)
    if backward is None:
        return ""
    g2 = [2 * c for c in f.cots]
    again = _grads(_quiet(backward, g2[0] if spec.outputs == 1 else tuple(g2), *f.inputs,
                          **kwargs))
    if again is None or len(again) != len(f.actual):
        return ""
    same = all(isinstance(a, np.ndarray | np.generic) and np.shape(a) == np.shape(b)
               and np.allclose(a, b, rtol=1e-12, atol=0.0, equal_nan=True)
               for a, b in zip(f.actual, again))
    expected = _quiet(f.expect, f.r) or []
    if same and any(np.any(np.asarray(e) != 0) for e in expected):
        return (f"{f.function} ignores its upstream gradient g: it returns the same for g and "
                "2·g (actual = expected / g: the chain rule's product with g is missing)")
    return ""


def swapped_arguments(f: Failed) -> str:
    """'the arguments are swapped' when calling the backward with g elsewhere matches."""
    if f.check != "vjp" or f.cots is None or f.spec.outputs != 1:
        return ""
    spec, kwargs, g, xs = f.spec, f.run.case.kwargs, f.cots[0], f.inputs
    backward = getattr(f.run.module, f"{spec.name}_backward", None)
    expected = _quiet(f.expect, f.r)
    if backward is None or expected is None:
        return ""
    calls = {"(x, grad_out, ...)": lambda: backward(xs[0], g, *xs[1:], **kwargs),
             "(..., grad_out)": lambda: backward(*xs, g, **kwargs)}
    for order, call in calls.items():
        if len(xs) == 1 and order == "(..., grad_out)":
            continue
        if _all_close(_grads(_quiet(call)), expected, _tol(f, "grad")):
            return (f"the arguments are swapped: {spec.name}_backward{order} matches; the "
                    f"suite calls {spec.name}_backward(grad_out, *inputs) (the upstream "
                    "gradient first, as impl)")
    return ""


def epsilon_inside(f: Failed) -> str:
    """'an ε inside a log or a clip' when gradient 0's error follows ε/p (or ε/(1 − p)) with
    one ε, p the first input (a probability): actual = expected · p/(p + ε)."""
    if f.check != "vjp" or f.messages[0] is None:
        return ""
    p = np.asarray(f.inputs[0], np.float64)
    a = np.asarray(f.actual[0], np.float64)
    expected = _quiet(f.expect, f.r)
    if expected is None or a.shape != p.shape or not (np.all(p > 0) and np.all(p < 1)):
        return ""
    e = np.asarray(expected[0], np.float64)
    use = (e != 0) & (a != 0) & np.isfinite(e)
    if e.shape != p.shape or not use.any():
        return ""
    unit = np.finfo(np.asarray(f.actual[0]).dtype).eps
    for w, says in ((p, "p"), (1 - p, "(1 − p)")):
        eps = float(np.median(w[use] * (e[use] / a[use] - 1)))
        if not 1e-14 < eps < 1e-2:
            continue
        model = e * w / (w + eps)
        if np.all(np.abs(a - model) <= 0.01 * np.abs(a - e) + 8 * unit * np.abs(a)):
            return (f"an ε inside a log or a clip: the error follows ε/{says} with ε = "
                    f"{eps:.2g} (log(p + ε) or a clip to [ε, 1 − ε] is another function, not "
                    "float32 rounding): compute log(p) itself")
    return ""


def forward_differs(f: Failed) -> str:
    """'the forward already differs: fix it first' for a backward of a case whose forward
    (the module's own) differs from the reference's."""
    if f.check == "forward":
        return ""
    spec, kwargs = f.spec, f.run.case.kwargs
    fwd = getattr(f.run.module, spec.name, None)
    if fwd is None:
        return ""
    got = _quiet(fwd, *f.inputs, **kwargs)
    got = tuple(got) if spec.outputs > 1 and isinstance(got, (tuple, list)) else (got,)
    names = [spec.name] if spec.outputs == 1 else [f"{spec.name}#{k}" for k in
                                                      range(spec.outputs)]
    expected = _quiet(lambda: [f.r.forward(o, f.inputs, kwargs, argnums=spec.argnums)
                               for o in names])
    if expected is None or got[0] is None or _all_close(got, expected, _tol(f, "value")):
        return ""
    return (f"the forward {spec.name} already differs from {f.run.ref}'s on this case: fix it "
            "first")


CAUSES = (ignores_upstream, swapped_arguments, epsilon_inside, forward_differs)


# -- the verdict -----------------------------------------------------------------------------------
def _items(f: Failed) -> str:
    """'; also wrong: gradient 2 (input 2); right: gradient 0 (input 0)' for several items."""
    if len(f.labels) < 2:
        return ""
    wrong = [lab for lab, m in zip(f.labels, f.messages) if m is not None]
    right = [lab for lab, m in zip(f.labels, f.messages) if m is None]
    text = f"; also wrong: {', '.join(wrong[1:])}" if len(wrong) > 1 else ""
    return text + (f"; right: {', '.join(right)}" if right else "; none right")


def conclude(f: Failed) -> NoReturn:
    """End the failed case: a definition difference (xfail), or the diagnosis (fail)."""
    context = f.run.context
    first = next(m for m in f.messages if m is not None)
    body = first.removesuffix("\n" + context).splitlines()
    head, rest = body[0], body[1:]
    notes = [c for c in (cause(f) for cause in CAUSES) if c]
    match = None if f.declared else variant_match(f)
    if match is not None and match[1]:
        v, _, other = match
        pair = f.spec.name + ("_backward" if f.check == "forward" else "")
        alone = "" if other else f"; the module has no {pair} to confirm it"
        pytest.xfail(
            f"definition difference: {f.function} matches {v.says(f.spec.name, f.run.case.kwargs)}"
            f": a different definition, not a wrong derivative ({f.check} vs {f.run.ref}{alone}; "
            f"declare GRADVERIFY_VARIANTS = {{{f.spec.name!r}: {v.name!r}}} to be checked "
            f"against it)\n{context}")
    if match is not None:
        v, _, other = match
        notes.append(f"{f.function} matches the variant {v.name!r} but {other} does not: "
                     f"{v.says(f.spec.name, f.run.case.kwargs)}; the pair is inconsistent "
                     "(make both follow one definition, and declare it in GRADVERIFY_VARIANTS "
                     "if it is the variant)")
    if any("upstream gradient" in n for n in notes):
        rest = [line for line in rest if "actual/expected =" not in line]
    if any("an ε inside" in n for n in notes):
        rest = [line for line in rest if "errors of float32's size" not in line]
    where = next((i for i, line in enumerate(rest) if line.startswith("references on")),
                 len(rest))
    rest[where:where] = [f"  also wrong, {label}: {m.splitlines()[0]}"
                         for label, m in zip(f.labels, f.messages)
                         if m is not None and m is not first]
    head += _items(f) + "".join(f"; {n.split(':')[0]}" for n in notes)
    lines = [head, *(f"  cause: {n}" for n in notes), *rest]
    if f.declared:
        lines.insert(1, f"  {f.declared}")
    pytest.fail("\n".join(lines) + "\n" + context, pytrace=False)


__all__ = ["CAUSES", "Failed", "close", "score", "conclude", "epsilon_inside", "forward_differs",
           "ignores_upstream", "swapped_arguments", "variant_match"]
