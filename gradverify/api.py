"""The Python API: ``check`` a module (or a dict of functions), ``gradcheck`` one function.

Both run the suite's checks (``gradverify.checks``: forward value, VJP with a random
cotangent, full Jacobian for small inputs; and, for ``check``, the contracts, special values
and kinks of ``gradverify.suite``) on the pytest suite's cases, and collect each outcome as a
``Record`` in a ``Report`` (``gradverify.results``) instead of letting pytest report it.
"""

from __future__ import annotations

import dataclasses
import time
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gradverify import reference

from . import checks, declared, spares, suite
from . import isolate as isolation
from . import isolate_contracts as isolated_extras
from .cases import Case, all_cases
from .catalog import OP_NAMES
from .loader import ImplLoadError, load_impl, provided_ops
from .opspec import OpSpec
from .prefetch import Ahead
from .results import OUTCOMES, SKIPS, Record, Report, settle
from .supports import guard
from .verdicts import edge_of


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
    unused: list | None = None
    interrupted = False
    pending = None
    try:
        with declared.registered([o for o in own if callable(o[2])]):  # type: ignore[misc]
            # isolated: the contracts run in a second worker meanwhile (isolate_contracts)
            pending = isolated_extras.start(raw, sorted(chosen), refs, seed)
            submitted: dict[str, tuple] = {}  # without a second worker: the first's
            ahead = Ahead(module, raw, seed)  # isolated: an op's calls asked for one op ahead
            by_op: dict[str, list[Case]] = {}
            for c in cases:
                by_op.setdefault(c.spec.name, []).append(c)
            order = list(by_op)
            with isolation.memoized(raw):  # the references repeat the module's calls
                for at, op in enumerate(order):  # op by op: one memo
                    for o in order[at:at + 2] if at == 0 else order[at + 1:at + 2]:
                        by_op[o] = [dataclasses.replace(c, spec=_jacobian_from_backward(
                            c.spec, module)) for c in by_op[o]]
                        ahead.send(o, by_op[o])
                    if pending is None and op in chosen:
                        isolated_extras.submit(raw, op, refs, seed, submitted)
                    ahead.receive(op)
                    _runs(by_op[op], module, refs, seed, records=records)
                    isolation.clear_memo(raw)
            # the contracts, special values and kinks pytest --impl runs (gradverify.suite)
            records.extend(isolated_extras.extra_records(raw, module, sorted(chosen), refs,
                                                         seed, pending, submitted))
            for spec, defs, _ in own:
                among = tuple(r for r in reference.NAMES if r == "numeric" or r in defs)
                _runs(declared.cases_of(spec), module, [r for r in refs if r in among],
                      seed, among, records)
        unused = isolation.unused(raw) if not ops else []  # isolated: the worker's, else None
    except KeyboardInterrupt:
        interrupted = True  # Ctrl-C: the partial report
    finally:
        isolation.close(raw)
        if pending is not None:
            pending.close()
        if isinstance(raw, isolation.IsolatedModule) and spares.spares_wanted():
            spares.keep()  # the next check starts at once
    label = getattr(module, "__file__", None) or declared.module_name(module)
    if isinstance(target, str):
        label = target
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


__all__ = ["OUTCOMES", "SKIPS", "Record", "Report", "check", "gradcheck", "ImplLoadError",
           "settle"]
