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

from . import checks, declared, suite
from . import isolate as isolation
from .cases import Case, all_cases
from .catalog import OP_NAMES
from .loader import ImplLoadError, load_impl, provided_ops
from .opspec import OpSpec
from .supports import guard
from .verdicts import checks_run, edge_of, function_verdicts


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
    shape: str = ""  # the first input's shape (``0x4``), on failures
    edge: str = ""  # "empty" or "size1" when that input has such an axis (on failures)


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
    settle(rec, lambda: checks.CHECKS[check](run))
    if rec.outcome in ("failed", "passed"):  # which edge the case is on (verdicts.edge_of)
        shape = np.shape(case.inputs(case.rng(run.seed))[0])
        rec.shape, rec.edge = "x".join(map(str, shape)) or "scalar", edge_of(shape)
    return rec


def settle(rec: Record, thunk: Callable[[], Any]) -> Record:
    """Run ``thunk`` (a check) and record how it ended: ``pytest.fail`` is a failure (its
    message the diagnosis), ``pytest.skip`` a case not run, ``pytest.xfail`` a convention
    difference, or a definition difference when its reason says so."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            worst = thunk()
            rec.worst_rel = float(worst) if isinstance(worst, (int, float)) else None
        except pytest.xfail.Exception as exc:  # before fail: xfail's exception is a Failed
            reason = str(exc.msg)
            rec.outcome = "variant" if reason.startswith("definition difference") \
                else "convention"
            rec.verdict = reason
        except pytest.fail.Exception as exc:
            rec.outcome, rec.diagnosis = "failed", str(exc.msg)
            rec.verdict = rec.diagnosis.splitlines()[0] if rec.diagnosis else "failed"
        except pytest.skip.Exception as exc:
            reason = str(exc.msg)
            rec.outcome = next((o for key, o in SKIPS if key in reason), "skipped")
            rec.verdict = reason
    rec.notes = [str(w.message) for w in caught
                 if not issubclass(w.category, DeprecationWarning)]
    return rec


OUTCOMES = ("passed", "failed", "convention", "variant", "unsupported", "skipped",
            "unavailable", "not provided")


class Report:
    """What ``check`` or ``gradcheck`` found: ``passed``, ``failures``, ``records``, one verdict
    per function (``str(report)``), the op × reference matrix (``_repr_markdown_`` in Jupyter)
    and ``to_json()``."""

    def __init__(self, target: str, records: list[Record], seed: int = 0,
                 seconds: float = 0.0, unused: list[tuple[str, str | None]] | None = None,
                 incomplete: list[str] | None = None) -> None:
        self.target, self.records, self.seed, self.seconds = target, records, seed, seconds
        #: public functions no check called, each with a did-you-mean (or None)
        self.unused = list(unused or [])
        #: ops with a forward but no backward, or the reverse
        self.incomplete = list(incomplete or [])

    @property
    def passed(self) -> bool:
        """No check failed and every public function was checked (cases not provided, not
        supported or skipped are no failures; a function no check calls is)."""
        return not self.failures and not self.unused

    @property
    def checks_run(self) -> list[str]:
        """The kinds of check that ran: forward, vjp, jacobian, contracts, special, kink."""
        return checks_run(self.records)

    @property
    def failures(self) -> list[Record]:
        return [r for r in self.records if r.outcome == "failed"]

    def totals(self) -> dict[str, int]:
        counts = {o: 0 for o in OUTCOMES}
        for r in self.records:
            counts[r.outcome] += 1
        return {"checks": len(self.records), **counts}

    def verdicts(self) -> dict[str, str]:
        """One verdict per function (``gradverify.verdicts``): ok / wrong (with the first
        diagnosis; "wrong only on empty batches" when only those fail) / definition
        difference / not provided / not supported / skipped (with the reason)."""
        return function_verdicts(self.records, OUTCOMES)

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
        ran = c["passed"] + c["failed"] + c["convention"] + c["variant"]
        if not ran:
            return "not supported" if c["unsupported"] else \
                "not provided" if c["not provided"] else "skipped"
        text = f"{c['passed']}/{ran}" + (f", **{c['failed']} failed**" if c["failed"] else "")
        text += f", {c['convention']} convention" if c["convention"] else ""
        text += f", {c['variant']} definition difference" if c["variant"] else ""
        return text + (f", {c['unsupported']} not supported" if c["unsupported"] else "")

    def summary_line(self) -> str:
        t = self.totals()
        return (f"{t['checks']} checks: {t['passed']} passed, {t['failed']} failed, "
                f"{t['convention']} convention differences, {t['variant']} definition "
                f"differences, {t['unsupported']} not supported, {t['not provided']} not "
                f"provided, {t['skipped'] + t['unavailable']} skipped ({self.seconds:.1f} s)")

    def headline(self) -> str:
        """The report's first line: the verdict on the whole module."""
        wrong = len({r.function for r in self.failures})
        if wrong:
            what = f"{wrong} function(s) wrong"
        elif not self.records and not self.unused:
            return (f"gradverify: {self.target} (seed {self.seed}): nothing checked: it "
                    "provides none of the catalog's ops (impl's names: relu, relu_backward, "
                    "...) and declares none")
        elif not self.records:
            what = "nothing checked"
        else:
            what = "every checked function is right"
        if self.unused:
            what += f", but {len(self.unused)} function(s) never checked"
        elif not wrong:
            what = "all provided functions are right"
        return f"gradverify: {self.target} (seed {self.seed}): {what}"

    def __str__(self) -> str:
        verdicts = self.verdicts()
        width = max((len(f) for f in verdicts), default=0)
        lines = [self.headline()] + [f"  {fn:<{width}}  {v}" for fn, v in verdicts.items()]
        for name, hint in self.unused:
            lines.append(f"  {name:<{width}}  never checked: no check calls it"
                         + (f" (did you mean {hint}?)" if hint else " (list helpers in "
                            "GRADVERIFY_HELPERS = [...] to leave them out)"))
        lines += [f"  note: {note}" for note in self.incomplete]
        unavailable = sorted({r.reference for r in self.records if r.outcome == "unavailable"})
        if unavailable:
            lines.append(f"  references unavailable: {', '.join(unavailable)}")
        reasons: dict[str, int] = defaultdict(int)
        for r in self.records:
            if r.outcome == "skipped":
                reasons[r.verdict] += 1
        lines += [f"  skipped {n}: {why}" for why, n in list(reasons.items())[:3]]
        if self.records:
            lines.append(f"  checks run: {', '.join(self.checks_run) or 'none'}")
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

    def _repr_html_(self) -> str:
        """The notebook view (``gradverify.html.fragment``): one row per function and check,
        the op × reference matrix, each failure expandable to its diagnosis."""
        from . import html

        return html.fragment(self)

    def to_html(self, path: str | Path) -> Path:
        """Write the same view as a self-contained HTML page to ``path``; returns the path."""
        from . import html

        return html.write(self, path)

    def to_json(self, **kwargs: Any) -> str:
        """Totals, verdicts and every record (failures with their full diagnosis) as JSON."""
        return json.dumps({"target": self.target, "seed": self.seed, "passed": self.passed,
                           "seconds": self.seconds, "totals": self.totals(),
                           "verdicts": self.verdicts(), "checks_run": self.checks_run,
                           "unused": [{"function": n, "did_you_mean": h} for n, h in self.unused],
                           "incomplete": self.incomplete,
                           "records": [dataclasses.asdict(r) for r in self.records]}, **kwargs)


# -- check ------------------------------------------------------------------------------------
def load(target: Any, isolate: bool = False,
         timeout: float = isolation.DEFAULT_TIMEOUT) -> types.ModuleType:
    """A module from a module, a path to a .py file, a dotted name, or a dict of functions
    (a path or dotted name in a supervised worker process with ``isolate``: see
    ``gradverify.isolate``)."""
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
        return isolation.load(target, OP_NAMES, timeout) if isolate \
            else load_impl(target, flag="")
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
          among: tuple[str, ...] = reference.NAMES,
          records: list[Record] | None = None) -> list[Record]:
    records = [] if records is None else records  # given: filled as it goes (Ctrl-C keeps it)
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
          references: Sequence[str] | None = None, seed: int = 0, isolate: bool = True,
          timeout: float = isolation.DEFAULT_TIMEOUT) -> Report:
    """Verify the ops ``target`` provides (catalog ops by impl's names, and the ops it declares
    in ``GRADVERIFY_OPS``) against ``references`` (default: all), as the matrix does.

    ``target``: a module, a path to a .py file, a dotted module name, or a dict
    ``{name: function}`` in impl's API (``relu``, ``relu_backward``, ...).

    A path or dotted name is loaded and called in a supervised worker process (``isolate``,
    see ``gradverify.isolate``): a call that takes over ``timeout`` seconds, exits or crashes
    fails its case with the cause, and nothing the module patches reaches the references or
    the cache. Ctrl-C returns the partial report (``report.interrupted``). A module that cannot
    be loaded raises ``ImplLoadError``."""
    start = time.perf_counter()
    raw = load(target, isolate, timeout)
    decl_names = frozenset(spec.name for spec, _ in declared.declared_ops(raw))
    module = guard(raw, frozenset(OP_NAMES) | decl_names)  # GRADVERIFY_SUPPORTS, fixed=
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
    records: list[Record] = []
    interrupted = False
    try:
        with declared.registered([o for o in own if callable(o[2])]):  # type: ignore[misc]
            with isolation.memoized(raw):  # the references repeat the module's calls
                _runs(cases, module, refs, seed, records=records)
            # the contracts, special values and kinks pytest --impl runs (gradverify.suite)
            records.extend(isolation.extra_records(raw, module, sorted(chosen), refs, seed))
            for spec, defs, _ in own:
                among = tuple(r for r in reference.NAMES if r == "numeric" or r in defs)
                _runs(declared.cases_of(spec), module, [r for r in refs if r in among],
                      seed, among, records)
    except KeyboardInterrupt:
        interrupted = True  # Ctrl-C: the partial report
    finally:
        isolation.close(raw)
    label = getattr(module, "__file__", None) or declared.module_name(module)
    if isinstance(target, str):
        label = target
    unused = getattr(raw, "gradverify_unused", None)  # an isolated module: the worker's
    if unused is None:
        unused = suite.unused(raw, set(OP_NAMES) | decl_names) if not ops else []
    report = Report(label, records, seed, time.perf_counter() - start, unused,
                    suite.half_pairs(module, sorted(chosen)))
    report.interrupted = interrupted  # type: ignore[attr-defined]
    return report


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
