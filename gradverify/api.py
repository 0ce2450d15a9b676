"""The Python API: ``check`` a module (or a dict of functions), ``gradcheck`` one function.

Both run the matrix's own checks (``gradverify.checks``: forward value, VJP with a random
cotangent, full Jacobian for small inputs) in-process, and collect each outcome instead of
letting pytest report it: ``pytest.fail`` is a wrong formula (its message the diagnosis, its
first line the verdict), ``pytest.skip`` a case not run (not provided, not supported by the
module, a reference unavailable), ``pytest.xfail`` a convention difference. The ``Report``
prints one verdict per function, and shows the op × reference matrix in Jupyter.
"""

from __future__ import annotations

import dataclasses
import json
import time
import types
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import reference

from . import checks, declared
from .cases import Case, all_cases
from .catalog import OP_NAMES
from .loader import ImplLoadError, load_impl, provided_ops
from .opspec import OpSpec


@dataclass
class Record:
    """One check of one case against one reference, and how it ended."""

    function: str  # the function under test: relu, relu_backward or relu_jacobian
    op: str
    check: str  # forward | vjp | jacobian
    reference: str
    case: str  # the case's id, as the matrix spells it
    outcome: str  # one of OUTCOMES: passed, failed, convention, unsupported, not provided, ...
    verdict: str = ""  # the diagnosis' first line, or the reason of a skip
    diagnosis: str = ""  # the full diagnosis of a failure
    worst_rel: float | None = None
    notes: list[str] = field(default_factory=list)  # warnings (elements left out at a kink)


SKIPS = (("not provided by", "not provided"), ("not supported by", "unsupported"),
         ("reference unavailable", "unavailable"))


def _function(check: str, spec: OpSpec) -> str:
    if check == "forward":
        return spec.name
    return f"{spec.name}_jacobian" if check == "jacobian" and spec.jacobian \
        else f"{spec.name}_backward"


def run_one(run: checks.Run, check: str) -> Record:
    """Run one check and record its outcome."""
    case = run.case
    rec = Record(_function(check, case.spec), case.spec.label, check, run.ref, case.id(run.ref),
                 "passed")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            rec.worst_rel = float(checks.CHECKS[check](run))
        except pytest.fail.Exception as exc:
            rec.outcome, rec.diagnosis = "failed", str(exc.msg)
            rec.verdict = rec.diagnosis.splitlines()[0] if rec.diagnosis else "failed"
        except pytest.skip.Exception as exc:
            reason = str(exc.msg)
            rec.outcome = next((o for key, o in SKIPS if key in reason), "skipped")
            rec.verdict = reason
        except pytest.xfail.Exception as exc:
            rec.outcome, rec.verdict = "convention", str(exc.msg)
    rec.notes = [str(w.message) for w in caught
                 if not issubclass(w.category, DeprecationWarning)]
    return rec


OUTCOMES = ("passed", "failed", "convention", "unsupported", "skipped", "unavailable",
            "not provided")


class Report:
    """What ``check`` or ``gradcheck`` found: ``passed``, ``failures``, ``records``, one verdict
    per function (``str(report)``), the op × reference matrix (``_repr_markdown_`` in Jupyter)
    and ``to_json()``."""

    def __init__(self, target: str, records: list[Record], seed: int = 0,
                 seconds: float = 0.0) -> None:
        self.target, self.records, self.seed, self.seconds = target, records, seed, seconds

    @property
    def passed(self) -> bool:
        """No check failed (cases not provided, not supported or skipped are no failures)."""
        return not self.failures

    @property
    def failures(self) -> list[Record]:
        return [r for r in self.records if r.outcome == "failed"]

    def totals(self) -> dict[str, int]:
        counts = {o: 0 for o in OUTCOMES}
        for r in self.records:
            counts[r.outcome] += 1
        return {"checks": len(self.records), **counts}

    def verdicts(self) -> dict[str, str]:
        """One verdict per function: ok / wrong (with the first diagnosis) / not provided /
        not supported / skipped (with the reason)."""
        by: dict[str, list[Record]] = defaultdict(list)
        for r in self.records:
            by[r.function].append(r)
        out = {}
        for fn, recs in by.items():
            n = {o: sum(r.outcome == o for r in recs) for o in OUTCOMES}
            ran = n["passed"] + n["failed"] + n["convention"]
            apart = (f", {n['unsupported']} not supported" if n["unsupported"] else "") + \
                (f", {n['convention']} convention differences" if n["convention"] else "")
            if n["failed"]:
                first = next(r for r in recs if r.outcome == "failed")
                out[fn] = f"wrong ({n['failed']} of {ran} checks failed): {first.verdict}"
            elif n["passed"] or n["convention"]:
                out[fn] = f"ok ({n['passed']}/{ran} checks passed{apart})"
            elif n["not provided"] == len(recs):
                out[fn] = "not provided"
            elif n["unsupported"]:
                first = next(r for r in recs if r.outcome == "unsupported")
                out[fn] = f"not supported ({n['unsupported']} checks): {first.verdict}"
            else:
                out[fn] = f"skipped: {recs[0].verdict}"
        return out

    def matrix(self) -> tuple[list[str], list[str], dict[tuple[str, str], dict[str, int]]]:
        cells: dict[tuple[str, str], dict[str, int]] = defaultdict(
            lambda: {o: 0 for o in OUTCOMES})
        for r in self.records:
            cells[(r.op, r.reference)][r.outcome] += 1
        ops = list(dict.fromkeys(r.op for r in self.records))
        refs = list(dict.fromkeys(r.reference for r in self.records))
        return ops, refs, cells

    @staticmethod
    def _cell(c: dict[str, int] | None) -> str:
        if not c:
            return ""
        ran = c["passed"] + c["failed"] + c["convention"]
        if not ran:
            return "not supported" if c["unsupported"] else \
                "not provided" if c["not provided"] else "skipped"
        text = f"{c['passed']}/{ran}" + (f", **{c['failed']} failed**" if c["failed"] else "")
        text += f", {c['convention']} convention" if c["convention"] else ""
        return text + (f", {c['unsupported']} not supported" if c["unsupported"] else "")

    def summary_line(self) -> str:
        t = self.totals()
        return (f"{t['checks']} checks: {t['passed']} passed, {t['failed']} failed, "
                f"{t['convention']} convention differences, {t['unsupported']} not supported, "
                f"{t['not provided']} not provided, {t['skipped'] + t['unavailable']} skipped "
                f"({self.seconds:.1f} s)")

    def __str__(self) -> str:
        head = f"gradverify: {self.target} (seed {self.seed}): " + \
            ("all provided functions are right" if self.passed and self.records
             else "nothing checked: it provides none of the catalog's ops (impl's names: "
             "relu, relu_backward, ...) and declares none" if self.passed
             else f"{len({r.function for r in self.failures})} function(s) wrong")
        width = max((len(f) for f in self.verdicts()), default=0)
        lines = [head] + [f"  {fn:<{width}}  {v}" for fn, v in self.verdicts().items()]
        unavailable = sorted({r.reference for r in self.records if r.outcome == "unavailable"})
        if unavailable:
            lines.append(f"  references unavailable: {', '.join(unavailable)}")
        reasons: dict[str, int] = defaultdict(int)
        for r in self.records:
            if r.outcome == "skipped":
                reasons[r.verdict] += 1
        lines += [f"  skipped {n}: {why}" for why, n in list(reasons.items())[:3]]
        return "\n".join(lines + [self.summary_line()])

    def __repr__(self) -> str:
        return f"<gradverify.Report {self.target}: {self.summary_line()}>"

    def _repr_markdown_(self) -> str:
        ops, refs, cells = self.matrix()
        lines = [f"**gradverify: `{self.target}`** (seed {self.seed}): "
                 + ("**passed**" if self.passed else "**failed**"), "",
                 "| op | " + " | ".join(refs) + " |", "|---|" + "---|" * len(refs)]
        lines += [f"| {op} | " + " | ".join(self._cell(cells.get((op, ref))) for ref in refs)
                  + " |" for op in ops]
        lines += ["", "| function | verdict |", "|---|---|"]
        lines += [f"| `{fn}` | {v.replace('|', '&#124;')} |" for fn, v in self.verdicts().items()]
        return "\n".join(lines + ["", self.summary_line()])

    def to_json(self, **kwargs: Any) -> str:
        """Totals, verdicts and every record (failures with their full diagnosis) as JSON."""
        return json.dumps({"target": self.target, "seed": self.seed, "passed": self.passed,
                           "seconds": self.seconds, "totals": self.totals(),
                           "verdicts": self.verdicts(),
                           "records": [dataclasses.asdict(r) for r in self.records]}, **kwargs)


# -- check ------------------------------------------------------------------------------------
def load(target: Any) -> types.ModuleType:
    """A module from a module, a path to a .py file, a dotted name, or a dict of functions."""
    if isinstance(target, types.ModuleType):
        return target
    if isinstance(target, dict):
        module = types.ModuleType("user_functions")
        for name, fn in target.items():
            setattr(module, name, fn)
        return module
    if isinstance(target, Path):
        target = str(target)
    if isinstance(target, str):
        return load_impl(target)
    raise TypeError(f"check() takes a module, a path, a dotted name or a dict, not {target!r}")


def _jacobian_from_backward(spec: OpSpec, module: Any) -> OpSpec:
    """Without ``<op>_jacobian``, the Jacobian is assembled from ``<op>_backward``."""
    if spec.jacobian and not hasattr(module, f"{spec.name}_jacobian") \
            and hasattr(module, f"{spec.name}_backward"):
        return dataclasses.replace(spec, jacobian=False)
    return spec


@dataclass
class _Run(checks.Run):
    """A Run whose diagnoses consult only the references that define the op (a declared op
    has no definition in the others)."""

    among: tuple[str, ...] = reference.NAMES

    def others(self, compute: Callable[[Any], Any]) -> Callable[[], dict[str, Any]]:
        every = super().others(compute)
        return lambda: {k: v for k, v in every().items() if k in self.among}


def _runs(cases: Iterable[Case], module: Any, refs: Sequence[str], seed: int,
          among: tuple[str, ...] = reference.NAMES) -> list[Record]:
    records = []
    for case in cases:
        case = dataclasses.replace(case, spec=_jacobian_from_backward(case.spec, module))
        reason = declared.supported(module, case, seed)
        for ref in refs:
            for name in checks.CHECKS:
                if (name == "forward" and ref == "numeric") or not checks.applies(name, case):
                    continue  # finite differences evaluate the forward under test itself
                if reason is not None:
                    records.append(Record(
                        _function(name, case.spec), case.spec.label, name, ref, case.id(ref),
                        "unsupported", f"not supported by {declared.module_name(module)}: "
                        f"{reason}"))
                    continue
                records.append(run_one(_Run(case, ref, module, seed, among=among), name))
    return records


def check(target: Any, *, ops: Sequence[str] | None = None,
          references: Sequence[str] | None = None, seed: int = 0) -> Report:
    """Verify the ops ``target`` provides (catalog ops by impl's names, and the ops it declares
    in ``GRADVERIFY_OPS``) against ``references`` (default: all), as the matrix does.

    ``target``: a module, a path to a .py file, a dotted module name, or a dict
    ``{name: function}`` in impl's API (``relu``, ``relu_backward``, ...)."""
    start = time.perf_counter()
    module = load(target)
    refs = tuple(references or reference.NAMES)
    unknown = [r for r in refs if r not in reference.NAMES]
    decl = declared.declared_ops(module)
    clash = [spec.name for spec, _ in decl if spec.name in OP_NAMES]
    if clash:
        raise ValueError(f"{declared.module_name(module)} declares {clash}, which the catalog "
                         "already has: define them under impl's names without declaring them")
    names = set(OP_NAMES) | {spec.name for spec, _ in decl}
    bad_ops = [o for o in ops or () if o not in names]
    if unknown or bad_ops:
        raise ValueError(f"unknown reference(s) {unknown} (known: {list(reference.NAMES)})"
                         if unknown else f"unknown op(s) {bad_ops}: neither in the catalog "
                         f"nor declared by {declared.module_name(module)}")
    chosen = set(ops) if ops else set(provided_ops(module, OP_NAMES))
    cases = [c for c in all_cases() if c.spec.name in chosen]
    own = [(s, d, getattr(module, s.name, None)) for s, d in decl if not ops or s.name in ops]
    with declared.registered([o for o in own if callable(o[2])]):  # type: ignore[misc]
        records = _runs(cases, module, refs, seed)
        for spec, defs, _ in own:
            among = tuple(r for r in reference.NAMES if r == "numeric" or r in defs)
            records += _runs(declared.cases_of(spec), module, [r for r in refs if r in among],
                             seed, among)
    label = getattr(module, "__file__", None) or declared.module_name(module)
    if isinstance(target, str):
        label = target
    return Report(label, records, seed, time.perf_counter() - start)


# -- gradcheck --------------------------------------------------------------------------------
def gradcheck(f: Callable, f_backward: Callable, *inputs: Any, argnums: Sequence[int] = (0,),
              torch: Callable | None = None, jax: Callable | None = None,
              autograd: Callable | None = None, **params: Any) -> Report:
    """Check ``f_backward(g, *inputs, **params)`` (impl's API: one gradient per input in
    ``argnums``) for a function the catalog does not have, at the given inputs in float64:
    against finite differences of ``f`` (elements where the one-sided differences disagree,
    a kink, are left out with a note), and against ``torch``/``jax``/``autograd`` versions of
    ``f`` when given (same signature, written in that framework). A random cotangent for the
    VJP; the full Jacobian too when the inputs have at most
    ``gradverify.checks.JACOBIAN_MAX_SIZE`` elements; the forward against each framework."""
    start = time.perf_counter()
    xs = tuple(np.asarray(x) for x in inputs)
    argnums = tuple(argnums)
    name = getattr(f, "__name__", "f")
    if not name.isidentifier() or name == "<lambda>":
        name = "f"

    def make(rng, shape, dtype, p):
        return tuple(x.astype(dtype) if np.issubdtype(x.dtype, np.floating) else x for x in xs)

    size = sum(xs[i].size for i in argnums)
    spec = OpSpec(name, "gradcheck", make, (xs[0].shape,), (params,), argnums=argnums,
                  input_size=lambda shape: size)
    module = types.ModuleType(f"{name}_backward")  # diagnoses say "<name>_backward agrees ..."
    setattr(module, name, f)
    setattr(module, f"{name}_backward", f_backward)
    defs = {k: v for k, v in {"torch": torch, "jax": jax, "autograd": autograd}.items() if v}
    case = Case(spec, tuple(params.items()), xs[0].shape, "float64")
    refs = [r for r in reference.NAMES if r in defs or r == "numeric"]
    with declared.registered([(spec, defs, f)]):
        records = _runs([case], module, refs, 0, tuple(refs))
    return Report(f"gradcheck({name})", records, 0, time.perf_counter() - start)


__all__ = ["Record", "Report", "check", "gradcheck", "ImplLoadError"]
