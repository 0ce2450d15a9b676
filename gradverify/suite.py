"""Every check the pytest suite runs on a module, for the other entry points.

``gradverify.check`` and ``python -m gradverify`` run the matrix (``gradverify.checks``:
forward, VJP, Jacobian) and, from here, the same contracts (``gradverify.contracts``), special
values and kinks (``gradverify.special``) that ``pytest --impl`` runs, on the same cases, so the
three entry points give the same verdict per function. Each outcome becomes a ``Record`` with
the check's name: ``contract:<name>``, ``special``, ``kink``.

``unused`` lists the module's public functions that no check calls, each with a did-you-mean
(``sigmoid_backwrd`` -> ``sigmoid_backward``): a misspelt function is never a silent pass.
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterable, Sequence
from difflib import get_close_matches
from functools import partial
from typing import Any

from .supports import KINDS

#: the checks a module gets besides the matrix, in the order they are reported
EXTRA_CHECKS = ("contracts", "special", "kinks")
NETWORK_FUNCTIONS = ("mlp_forward", "mlp_backward")  # tests/test_mlp.py calls these
_FN_IN_MESSAGE = re.compile(r"^\w+: (\w+)")


def _contract_function(message: str, op: str, names: set[str]) -> str:
    """The function a contract failure names (``no_mutation: relu_backward writes ...``)."""
    m = _FN_IN_MESSAGE.match(message)
    if m and m.group(1) in names:
        return m.group(1)
    return op


def extra_records(module: Any, ops: Iterable[str], refs: Sequence[str], seed: int,
                  which: Sequence[str] = EXTRA_CHECKS) -> list[Any]:
    """Contracts, special values and kinks of ``ops`` on ``module``, as ``Record``s."""
    from gradverify.reference.conventions import KINKS, POOL_TIES, SPECIALS

    from . import contracts, special
    from .api import Record, settle

    chosen = set(ops)
    names = {f"{op}{s}" for op in chosen for s in KINDS}
    records: list[Any] = []
    if "contracts" in which:
        for case, contract, read_only in contracts.contract_cases():
            if case.spec.name not in chosen:
                continue
            subject = contracts.Subject(case, module, seed, read_only=read_only)
            rec = Record(case.spec.name, case.spec.label, f"contract:{contract}",
                         "contracts", contracts.case_id(case, contract), "passed")
            settle(rec, partial(contracts.CONTRACTS[contract], subject))
            if rec.outcome == "failed":
                rec.function = _contract_function(rec.diagnosis, case.spec.name, names)
            records.append(rec)
    frameworks = [r for r in refs if r != "numeric"]
    if "special" in which:
        for sp in SPECIALS:
            if sp.op not in chosen:
                continue
            for ref in frameworks:
                rec = Record(f"{sp.op}_backward", sp.op, "special", ref,
                             f"{sp.op}-{ref}-{sp.dtype}-{sp.label}", "passed")
                settle(rec, partial(special.special_value, sp, ref, module))
                if rec.outcome == "failed" and "\n  forward:" in rec.diagnosis \
                        and "\n  gradient:" not in rec.diagnosis:
                    rec.function = sp.op
                records.append(rec)
    if "kinks" in which:
        for kink in KINKS:
            if kink.op in chosen:
                fn = f"{kink.op}_hessian" if kink.second else f"{kink.op}_backward"
                rec = Record(fn, kink.op, "kink", "impl convention",
                             f"{kink.op}-impl-{kink.label}", "passed")
                records.append(settle(rec, partial(special.impl_kink, kink, module)))
        if "max_pool2d" in chosen:
            for tie in POOL_TIES:
                rec = Record("max_pool2d_backward", "max_pool2d", "kink", "impl convention",
                             f"max_pool2d-impl-{tie.label}", "passed")
                records.append(settle(rec, partial(special.impl_tie, tie, module)))
    return records


def _wrapped(fn: Any) -> list[Any]:
    """The user's functions an adapter's function calls (its closure's functions)."""
    out = []
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            v = cell.cell_contents
        except ValueError:
            continue
        if callable(v):
            out.append(v)
    return out


def _public_functions(module: Any) -> dict[str, Any]:
    """The module's own public functions (not imported ones, classes or constants)."""
    own = getattr(module, "__gradverify_unguarded__", module).__name__
    out = {}
    for name, value in vars(module).items():
        if name.startswith("_") or not isinstance(value, types.FunctionType):
            continue
        if getattr(value, "__module__", None) == own:
            out[name] = value
    return out


def unused(module: Any, known: Iterable[str]) -> list[tuple[str, str | None]]:
    """(name, did-you-mean) for each public function of ``module`` that no check calls: not a
    catalog or declared op's function, not called by one through an adapter, not listed in the
    module's ``GRADVERIFY_HELPERS``."""
    known_names = {f"{op}{s}" for op in known for s in KINDS} | set(NETWORK_FUNCTIONS)
    helpers = set(getattr(module, "GRADVERIFY_HELPERS", ()) or ())
    functions = _public_functions(module)
    used = {id(v) for k, v in vars(module).items() if k in known_names and callable(v)}
    frontier = [v for k, v in vars(module).items() if k in known_names and callable(v)]
    while frontier:  # what the checked functions wrap (cache_pair's forward and backward ...)
        for inner in _wrapped(frontier.pop()):
            if id(inner) not in used:
                used.add(id(inner))
                frontier.append(inner)
    vocabulary = sorted(known_names)
    out = []
    for name, fn in functions.items():
        if name in known_names or name in helpers or id(fn) in used:
            continue
        match = get_close_matches(name, vocabulary, n=1, cutoff=0.75)
        out.append((name, match[0] if match else None))
    return out


def half_pairs(module: Any, ops: Iterable[str]) -> list[str]:
    """A forward without its backward, or a backward without its forward, for each op."""
    out = []
    for op in ops:
        has_f, has_b = hasattr(module, op), hasattr(module, f"{op}_backward")
        if has_f and not has_b:
            out.append(f"{op} has no {op}_backward: its gradient is never checked")
        elif has_b and not has_f:
            out.append(f"{op}_backward has no forward {op}: the forward is never checked "
                       "(the backward still is)")
    return out


__all__ = ["EXTRA_CHECKS", "extra_records", "half_pairs", "unused"]
