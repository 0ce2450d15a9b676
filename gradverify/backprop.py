"""``check_backprop``: a whole hand-written backprop, checked step by step from the user's own
NumPy forward (no torch or jax code from the user).

The forward computes a scalar loss from named parameters and inputs, and marks each
intermediate with one call ``h = rec("h", x @ W1 + b1)`` (``rec`` is a parameter of the forward,
or ``from gradverify import rec``; outside a check it returns its value unchanged). The backward
returns named gradients: a dict (``{"dW1": ..., "dh": ...}``: the key ``d<name>`` is the
gradient of the parameter or intermediate ``<name>``), a tuple of per-layer lists
(``(nabla_b, nabla_w)``, matched with list-valued parameters in order, or ``per_layer``), or a
grads dict with numbered keys (``numbered``). autograd, jax, torch (array-API) and finite
differences each differentiate the forward (``gradverify.backprop_refs``); every gradient is
compared with each of them by the suite's diagnosis (``gradverify.diagnose.check``), and the
verdict lists them in forward order and marks the first wrong one in backward order.
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from . import backprop_refs as refs
from .backprop_refs import REFERENCES, Grads, numbered, per_layer, rec
from .backprop_report import BackpropReport, Row
from .diagnose import check as diagnose_check
from .diagnose import errors
from .tolerances import tolerance


# -- checking ---------------------------------------------------------------------------------
def shape_trap(got: tuple[int, ...], meant: tuple[int, ...], of: str, name: str) -> str:
    """The exercise's shape trap named: (n,) where (n, 1) is meant (or the reverse)."""
    if got == meant or [d for d in got if d != 1] != [d for d in meant if d != 1]:
        return ""
    try:
        both = tuple(np.broadcast_shapes(got, meant))
        what = f"{of} - lr*{name} still has shape {meant}" if both == meant \
            else f"{of} - lr*{name} broadcasts to {both}, not {meant}"
    except ValueError:
        what = f"{of} - lr*{name} does not even broadcast"
    return (f"  the shape trap: {got} where {meant} is meant (a lost keepdims=True, or a "
            f"missing reshape); broadcasting hides it: {what}")


def _transposed(g: Any, expected: np.ndarray, tol: Any, name: str) -> str:
    """A square gradient that is the transpose of the right one (the shape check cannot tell)."""
    if np.ndim(g) != 2 or np.shape(g)[0] != np.shape(g)[1] or np.shape(g) != expected.shape:
        return ""
    ok = np.isfinite(expected)  # NaN: an element finite differences left out
    diff = np.abs(np.asarray(g, np.float64).T - expected)
    if ok.any() and np.all(diff[ok] <= tol.bound(np.where(ok, expected, 0.0))[ok]):
        return (f"  {name}.T matches: {name} is the transpose of the right gradient "
                "(x.T @ delta where delta.T @ x is meant, or the reverse)")
    return ""


def _cast(x: Any, dtype: str) -> Any:
    return np.asarray(x).astype(dtype) if refs.is_float(x) and isinstance(
        x, (np.ndarray, np.generic, float)) else x


def _point(params: Mapping[str, Any], inputs: Mapping[str, Any], dtype: str
           ) -> tuple[dict[str, Any], dict[str, Any]]:
    values = {k: _cast(v, dtype) for k, v in refs.leaves(params).items()}
    return refs.rebuild(params, values), {k: _cast(v, dtype) for k, v in inputs.items()}


def _entry(forward: Callable, params: Mapping[str, Any], inputs: Mapping[str, Any],
           recorded: Mapping[str, np.ndarray]) -> dict[str, int]:
    """For each parameter, the index of the first recorded intermediate it changes (its
    gradient follows that intermediate's in the backward); len(recorded) if only the loss."""
    names, base = list(recorded), refs.leaves(params)
    out = {}
    for leaf, v in base.items():
        bumped = dict(base)
        bumped[leaf] = np.asarray(v) * (1 + 1e-3) + 1e-3
        _, again = refs.record(forward, refs.rebuild(params, bumped), inputs)
        out[leaf] = next((i for i, n in enumerate(names)
                          if n not in again or not np.array_equal(again[n], recorded[n])),
                         len(names))
    return out


def _normalize(g: Any, dtype: str) -> Any:
    return np.asarray(g, dtype=dtype) if isinstance(g, (float, int)) else g


def check_backprop(forward: Callable, backward: Callable, params: Mapping[str, Any] | None = None,
                   inputs: Mapping[str, Any] | None = None, *,
                   data: Callable[[np.random.Generator], tuple[dict, dict]] | None = None,
                   seeds: Iterable[int] | None = None,
                   dtypes: Sequence[str] = ("float64", "float32"),
                   references: Sequence[str] | None = None,
                   grads: Callable[[Any], Grads] | None = None,
                   reproduce: str | None = None) -> BackpropReport:
    """Check every gradient ``backward`` returns against ∂loss/∂(parameter or intermediate)
    obtained by differentiating ``forward`` with each reference.

    ``forward(**params, **inputs[, rec=rec])`` returns the scalar loss and marks intermediates
    with ``rec(name, value)``; ``backward`` takes the arguments it names (see
    ``backprop_refs.call_backward``). ``params``/``inputs``: dicts (a parameter may be a list
    or a dict of arrays), or ``data(rng) -> (params, inputs)`` drawn at each of ``seeds``
    (default [0]).
    With float32 in ``dtypes``, float values are rounded to float32 first, so every dtype is
    checked at the same point; references always compute in float64. ``grads`` maps the
    backward's result to ``{name: gradient}`` (``per_layer``, ``numbered``; default: by name).
    ``reproduce``: the command that reruns one case (``{seed}`` and ``{dtype}`` filled in)."""
    start = time.perf_counter()
    label = f"check_backprop({getattr(forward, '__name__', 'forward')}, " \
        f"{getattr(backward, '__name__', 'backward')})"
    chosen = tuple(references or REFERENCES)
    if bad := [r for r in chosen if r not in REFERENCES]:
        raise ValueError(f"unknown reference(s) {bad} (known: {list(REFERENCES)})")
    if (data is None) == (params is None):
        raise ValueError("give params (and inputs), or data=, not both")
    seeds = list(seeds) if seeds is not None else [0]
    if reproduce is None:
        what = f"data={getattr(data, '__name__', 'data')}, seeds=[{{seed}}]" if data \
            else "params, inputs"
        reproduce = f"gradverify.check_backprop({label[15:-1]}, {what}, dtypes=['{{dtype}}'])"
    rows: dict[str, Row] = {}
    skipped: dict[str, str] = {}
    ran: list[str] = []
    unmatched: set[str] = set()
    runs: list[str] = []
    first: tuple[str | None, str] = (None, "")
    for seed in (seeds if data is not None else [None]):
        p0, x0 = data(np.random.default_rng(seed)) if data is not None \
            else (dict(params or {}), dict(inputs or {}))
        if "float32" in dtypes:  # one point for every dtype: float32-representable values
            p0, x0 = _point(*_point(p0, x0, "float32"), "float64")
        loss64, rec64 = refs.record(forward, p0, x0)
        if not np.array_equal(loss64, refs.record(forward, p0, x0)[0]):
            raise ValueError("the forward gives another loss when run again (a random mask "
                             "drawn inside it?): draw it in data() and pass it as an input")
        leaf64 = refs.leaves(p0)
        if not rows:
            entry = _entry(forward, p0, x0, rec64)
            order = [(n, "intermediate", float(i)) for i, n in enumerate(rec64)] + \
                [(n, "parameter", entry[n] - 0.5) for n in leaf64]
            keys = {n: (k, i) for i, (n, _, k) in enumerate(order)}  # ties: forward order
            for i, (n, kind, _) in enumerate(order, 1):
                shape = np.shape(rec64[n] if kind == "intermediate" else leaf64[n])
                rows[n] = Row(i, f"d{n}", n, kind, tuple(shape), status="not returned",
                              verdict="the backward returns no gradient of it")
        expected: dict[str, dict[str, np.ndarray]] = {}
        for ref in chosen:
            if ref in skipped:
                continue
            try:
                expected[ref] = refs.gradients(ref, forward, p0, x0,
                                               {k: v.shape for k, v in rec64.items()})
                if ref not in ran:
                    ran.append(ref)
            except Exception as exc:  # a framework that cannot run the forward: skipped
                skipped[ref] = refs.short(exc, forward)
        for dtype in dtypes:
            run = f"seed {seed}, {dtype}" if seed is not None else dtype
            runs.append(run)
            p, x = _point(p0, x0, dtype)
            loss, recorded = refs.record(forward, p, x)
            result = refs.call_backward(backward, p, x, recorded, loss)
            got = grads(result) if grads else refs.by_name(result, list(rows), p)
            wrong_here = []
            for target, value in got.items():
                name, g = value if isinstance(value, tuple) and len(value) == 2 \
                    and isinstance(value[0], str) else (f"d{target}", value)
                if target not in rows:
                    unmatched.add(f"{name} (no parameter or rec() intermediate {target!r})")
                    continue
                row = rows[target]
                row.name = name
                if _compare(row, _normalize(g, dtype), expected, dtype, run,
                            reproduce.format(seed=seed, dtype=dtype)):
                    wrong_here.append(target)
            if wrong_here and first[0] is None:
                top = max(wrong_here, key=lambda t: keys[t])
                above = [rows[t] for t in rows if keys[t] > keys[top]]
                gaps = [r.name for r in above if r.status == "not returned"]
                note = "everything it depends on in the backward is right" + (
                    f" (not returned, so not checked: {', '.join(gaps)})" if gaps else "")
                first = (top, f"{note}: the mistake is in the step that computes "
                              f"{rows[top].name} ({run})")
    if first[0] is not None:
        rows[first[0]].first_wrong = True
    return BackpropReport(label, list(rows.values()), skipped, ran, runs,
                          rows[first[0]].name if first[0] else None, first[1], sorted(unmatched),
                          time.perf_counter() - start)


def _others(expected: Mapping[str, Mapping[str, np.ndarray]], ref: str, of: str) -> dict:
    """The other references for a diagnosis's agreement lines: the frameworks' values, and
    finite differences as a sentence (their allowance is wider than a framework's)."""
    out: dict[str, Any] = {r: v[of] for r, v in expected.items()
                           if r == ref or r != "numeric"}
    if ref != "numeric" and "numeric" in expected:
        num, exp = expected["numeric"][of], expected[ref][of]
        score = errors(np.where(np.isnan(num), exp, num), exp,
                       tolerance("float64", "grad", "numeric"))[2]
        out["numeric"] = f"finite differences {'agree' if np.all(score <= 1) else 'disagree'}" \
            f" with {ref} (within their own allowance)"
    return out


def _compare(row: Row, g: Any, expected: Mapping[str, Mapping[str, np.ndarray]], dtype: str,
             run: str, repro: str) -> bool:
    """Compare one gradient with every reference that ran; update ``row``; True when wrong."""
    if not expected:
        row.status, row.verdict = "unchecked", "no reference could run the forward"
        return False
    wrong_now = False
    for ref, values in expected.items():
        exp = values[row.of]
        others = _others(expected, ref, row.of)
        context = f"case: {row.kind} {row.of}, {run}\nreproduce: {repro}"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                rel = diagnose_check(g, exp, what=f"{row.name} vs {ref}", dtype=dtype,
                                     tol=tolerance(dtype, "grad", ref), context=context,
                                     others=functools.partial(dict, others), who=row.name,
                                     ref=ref)
                row.references.setdefault(ref, "ok")
                row.worst_rel = max(row.worst_rel or 0.0, rel)
            except pytest.fail.Exception as exc:
                row.references[ref] = "wrong"
                if not wrong_now and row.status != "wrong":
                    text = str(exc.msg)
                    trap = shape_trap(np.shape(g), np.shape(exp), row.of, row.name) \
                        if hasattr(g, "shape") else ""
                    hint = trap or _transposed(g, exp, tolerance(dtype, "grad", ref), row.name)
                    if hint:
                        head, _, rest = text.partition("\n")
                        text = f"{head}\n{hint}\n{rest}"
                    row.diagnosis, row.verdict = text, text.splitlines()[0]
                wrong_now = True
            except pytest.skip.Exception as exc:
                row.references.setdefault(ref, str(exc.msg))
        row.notes += [str(w.message) for w in caught if str(w.message) not in row.notes]
    if wrong_now:
        row.status = "wrong"
        row.failed_in.append(run)
    elif row.status != "wrong":
        row.status = "ok"
        agree = [r for r, v in row.references.items() if v == "ok"]
        row.verdict = f"agrees with {', '.join(agree)}"
    return wrong_now



# -- the command line -------------------------------------------------------------------------
def cli(argv: Sequence[str]) -> int:
    """``python -m gradverify --backprop FILE [--seed N ...] [--dtype ...] [--references ...]``:
    FILE defines ``GRADVERIFY_BACKPROP = dict(forward=..., backward=..., data=...)`` (any of
    ``check_backprop``'s arguments), or the names ``forward``, ``backward`` and ``data`` (or
    ``params`` and ``inputs``), ``grads`` optional. Exit 1 when a gradient is wrong, 2 on a
    usage error."""
    import argparse
    import sys

    from .loader import ImplLoadError, load_impl

    parser = argparse.ArgumentParser(prog="python -m gradverify --backprop", description=(
        "Check a whole hand-written backprop step by step against autograd, jax, torch and "
        "finite differences of its own NumPy forward."))
    parser.add_argument("--backprop", metavar="FILE", required=True)
    parser.add_argument("--seed", type=int, nargs="+", help="seeds for data(rng) (default 0)")
    parser.add_argument("--dtype", nargs="+", choices=("float64", "float32"))
    parser.add_argument("--references", nargs="+", help=f"default: {' '.join(REFERENCES)}")
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    args = parser.parse_args(list(argv))
    try:
        module = load_impl(args.backprop, flag="")
        spec = dict(getattr(module, "GRADVERIFY_BACKPROP", None) or {
            k: getattr(module, k) for k in ("forward", "backward", "data", "params", "inputs",
                                            "grads") if hasattr(module, k)})
        if not {"forward", "backward"} <= set(spec):
            raise ValueError(f"{args.backprop} defines neither GRADVERIFY_BACKPROP nor "
                             "forward and backward")
        seeds = " --seed {seed}" if spec.get("data") else ""
        for key, value in (("seeds", args.seed), ("dtypes", args.dtype),
                           ("references", args.references)):
            if value:
                spec[key] = value
        spec.setdefault("reproduce", f"python -m gradverify --backprop {args.backprop}{seeds} "
                        "--dtype {dtype}")
        report = check_backprop(**spec)
    except (ImplLoadError, ValueError, TypeError) as exc:
        print(f"gradverify: error: {exc}", file=sys.stderr)
        return 2
    print(report)
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(report.to_json(indent=1))
    return 0 if report.passed else 1


__all__ = ["BackpropReport", "Row", "check_backprop", "cli", "numbered", "per_layer", "rec",
           "shape_trap"]
