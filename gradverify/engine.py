"""``check_engine``: verify an autograd engine (a scalar ``Value`` or a ``Tensor`` class).

What runs, in order (each a ``Record`` of the report):

1. **single-op probes**: ``b = op(a)`` (and ``a op b``) for every op the class has, at points
   inside the op's domain, against the primary reference: a wrong local derivative shows here
   on its own. relu at 0 is probed apart: any relu'(0) in [0, 1] is a valid subgradient (torch
   and jax use 0, autograd's maximum 0.5), so another value there is a *convention*, not a bug.
2. **reuse probes** (``a * a``, ``a + a``): a node used twice must accumulate both gradients.
3. **broadcast probes** (tensor engines): ``(2, 3) op (1, 3)``, ``(3,)``, ``(2, 1)`` and reversed.
4. **random graphs** (hypothesis, ``gradverify.engine_graphs``): the output value and every
   leaf's gradient against the primary reference; a failure is shrunk to the smallest graph and
   printed as code with its cause; a sample of the graphs is recomputed by every reference.
5. **two backward() calls** (``twice``), the convention expected:
   ``"same-graph"`` (default): on one graph, a second ``backward()`` gives each leaf twice the
   first gradient (PyTorch's accumulation) or the same (an engine that zeroes every grad first),
   and after zeroing the leaves' grads it gives the first gradient again;
   ``"fresh-graph"``: the graph is built anew for each ``backward()`` (the lecture's training
   loop) and leaves accumulate 2×; the same graph twice is not checked.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import engine_graphs as eg
from .api import Record, Report
from .diagnose import check as diagnose_check
from .diagnose import fmt, within
from .engine_graphs import detect, search_graphs
from .engine_probes import broadcast_graphs, cause_of, probe_graphs, relu_zero, reuse_graphs
from .tolerances import tolerance

PRIMARY_ORDER = ("torch", "autograd", "jax")


@dataclass
class Engine:
    """How to drive the user's class: one call per op, its spelling, the attribute names."""

    cls: type
    calls: dict[str, Callable[..., Any]]
    spell: dict[str, str]
    make: Callable[[Any], Any]
    data: str = "data"
    grad: str = "grad"
    backward: str = "backward"
    tensor: bool = False
    zero_grad: Callable[[Any], None] | None = None

    def build(self, g: eg.Graph, leaves: list[Any] | None = None) -> list[Any]:
        """The engine's nodes of ``g`` (on the given leaf objects, else new ones)."""
        nodes = list(leaves) if leaves is not None else \
            [self.make(np.array(v) if self.tensor else float(v)) for v in g.leaves]
        for op, args, c in g.nodes:
            operands = [nodes[i] for i in args] + ([c] if c is not None else [])
            nodes.append(self.calls[op](*operands))
        return nodes

    def grads(self, nodes: list[Any], g: eg.Graph) -> list[np.ndarray]:
        out = []
        for v, leaf in zip(g.leaves, nodes):
            d = getattr(leaf, self.grad, None)
            out.append(np.zeros(np.shape(v)) if d is None else np.array(d, np.float64))
        return out

    def run(self, g: eg.Graph) -> tuple[list[Any], np.ndarray, list[np.ndarray]]:
        """Build ``g``, call backward on its output: (nodes, output value, leaf gradients)."""
        nodes = self.build(g)
        getattr(nodes[-1], self.backward)()
        return nodes, np.array(getattr(nodes[-1], self.data), np.float64), self.grads(nodes, g)

    def zero(self, leaves: Iterable[Any]) -> None:
        for leaf in leaves:
            if self.zero_grad is not None:
                self.zero_grad(leaf)
            else:
                setattr(leaf, self.grad, np.zeros_like(getattr(leaf, self.data), np.float64)
                        if self.tensor else 0.0)


@dataclass
class _Outcome:
    where: str  # "output" or "a.grad"
    actual: np.ndarray
    expected: np.ndarray
    ref: str
    error: str = ""  # the engine raised


def compare(engine: Engine, g: eg.Graph, ref: str) -> _Outcome | None:
    """The first disagreement of the engine with ``ref`` on ``g`` (output, then each leaf's
    gradient), or None."""
    expected_out, expected_grads = eg.REFERENCES[ref][1](g)
    try:
        _, out, grads = engine.run(g)
    except Exception as exc:  # the engine's own error is a finding
        return _Outcome("backward", np.array(np.nan), expected_out, ref,
                        f"{type(exc).__name__}: {str(exc).strip()}")
    pairs = [("output", out, expected_out, "value")] + [
        (f"{eg.name(i)}.grad", d, e, "grad") for i, (d, e) in enumerate(zip(grads,
                                                                            expected_grads))]
    for where, actual, expected, kind in pairs:
        if actual.shape != expected.shape or not within(actual, expected,
                                                        tolerance("float64", kind, ref)):
            return _Outcome(where, actual, expected, ref)
    return None


def _show(x: np.ndarray) -> str:
    if x.ndim == 0:
        return fmt(x)
    return np.array2string(x, precision=6, separator=", ").replace("\n", "")


def message(engine: Engine, g: eg.Graph, o: _Outcome, cause: str) -> tuple[str, str]:
    """(verdict, diagnosis): the graph as code, what differs, and the cause."""
    code = "; ".join(eg.to_code(g, engine.cls.__name__, engine.spell, engine.backward))
    if o.error:
        verdict = f"{code}: raised {o.error}: {cause}"
        return verdict, verdict
    if o.actual.shape != o.expected.shape:
        what = f"{o.where} has shape {o.actual.shape}, expected {o.expected.shape} ({o.ref})"
    else:
        what = f"{o.where} = {_show(o.actual)}, expected {_show(o.expected)} ({o.ref})"
    verdict = f"{code}: {what}: {cause}"
    kind = "value" if o.where == "output" else "grad"
    try:
        diagnose_check(o.actual, o.expected, what=o.where, dtype=None,
                       tol=tolerance("float64", kind, o.ref), context="", ref=o.ref)
        body = ""
    except BaseException as exc:  # pytest.fail: the suite's diagnosis of the array
        body = str(getattr(exc, "msg", exc)).strip()
    return verdict, verdict + ("\n" + body if body else "")


class EngineReport(Report):
    """``check_engine``'s findings: ``passed``, ``failures`` (each with its cause),
    ``conventions`` (relu'(0), what two backward() calls do), str / markdown / JSON."""

    def __init__(self, target: str, records: list[Record], seed: int = 0,
                 seconds: float = 0.0, conventions: list[str] | None = None,
                 coverage: dict[str, Any] | None = None) -> None:
        super().__init__(target, records, seed, seconds)
        self.conventions = conventions or []
        self.coverage = coverage or {}

    @property
    def causes(self) -> list[str]:
        return [r.notes[0] for r in self.failures if r.notes]

    def first_failures(self, n: int = 6) -> list[str]:
        """The distinct failure verdicts, the shrunk random graphs first, then the probes."""
        recs = sorted(self.failures, key=lambda r: r.check != "graphs")
        seen = dict.fromkeys(re.sub(r" \((torch|jax|autograd)\)", "", r.verdict) for r in recs)
        return list(seen)[:n]

    def __str__(self) -> str:
        lines = super().__str__().splitlines()
        lines[0] = (f"gradverify.check_engine: {self.target} (seed {self.seed}): "
                    + ("every check passed" if self.passed
                       else f"{len(self.failures)} check(s) failed"))
        body = [f"  FAILED {v}" for v in self.first_failures()]
        return "\n".join(lines[:1] + body + lines[1:-1]
                         + [f"  convention: {c}" for c in self.conventions] + lines[-1:])

    def _repr_markdown_(self) -> str:
        text = super()._repr_markdown_().replace("**gradverify:", "**gradverify.check_engine:")
        extra = [f"- **failed**: `{v}`" for v in self.first_failures()]
        extra += [f"- convention: {c}" for c in self.conventions]
        return text + ("\n\n" + "\n".join(extra) if extra else "")

    def to_json(self, **kwargs: Any) -> str:
        import json

        data = json.loads(super().to_json())
        data.update(conventions=self.conventions, coverage=self.coverage, causes=self.causes)
        return json.dumps(data, **kwargs)


def _twice(engine: Engine, g: eg.Graph, mode: str) -> _Outcome | None:
    """The two-backward convention on ``g`` (see the module's docstring)."""
    try:
        nodes, _, first = engine.run(g)
    except Exception:
        return None  # the graph check's finding, not this one's
    leaves = nodes[:len(g.leaves)]

    def again() -> list[np.ndarray]:
        graph = engine.build(g, leaves) if mode == "fresh-graph" else nodes
        getattr(graph[-1], engine.backward)()
        return engine.grads(graph, g)

    try:
        second = again()
        engine.zero(leaves)
        third = again()
    except Exception as exc:
        return _Outcome("backward", np.array(np.nan), np.array(np.nan), "engine",
                        f"{type(exc).__name__}: {str(exc).strip()}")
    tol = tolerance("float64", "grad", "engine")
    for i, (d1, d2, d3) in enumerate(zip(first, second, third)):
        ok2 = within(d2, 2 * d1, tol) or (mode == "same-graph" and within(d2, d1, tol))
        if not ok2:
            return _Outcome(f"{eg.name(i)}.grad after the second backward()", d2, 2 * d1,
                            "2× the first, as torch" + (", or 1×" if mode == "same-graph"
                                                        else ""))
        if not within(d3, d1, tol):
            return _Outcome(f"{eg.name(i)}.grad after zeroing the leaves and backward() again",
                            d3, d1, "the first backward's")
    return None


def check_engine(cls: type, ops: Iterable[str] | Mapping[str, Any] | None = None, *,
                 data: str = "data", grad: str = "grad", backward: str = "backward",
                 make: Callable[[Any], Any] | None = None, tensor: bool | None = None,
                 twice: str = "same-graph", zero_grad: Callable[[Any], None] | None = None,
                 examples: int = 40, seed: int = 0, max_ops: int = 6,
                 references: Iterable[str] | None = None, cross_check: int = 3
                 ) -> EngineReport:
    """Verify the autograd engine ``cls`` (see the module docstring for what runs).

    ``make(x)`` builds a leaf (default ``cls(x)``: a float, or a float64 array when ``tensor``;
    ``tensor`` None: True when the class has ``__matmul__``/``sum``); ``data``/``grad``: the
    attribute names; ``backward``: the method name; ``zero_grad(leaf)`` zeroes a leaf (default:
    sets ``grad`` to 0); ``examples`` random graphs per search, drawn from ``seed``, compared
    with the primary reference (torch, else autograd, else jax); the ``cross_check`` largest
    of them (and a failure) are recomputed by every other reference in ``references``."""
    start = time.perf_counter()
    if twice not in ("same-graph", "fresh-graph"):
        raise ValueError(f"twice must be 'same-graph' or 'fresh-graph', not {twice!r}")
    if tensor is None:
        tensor = hasattr(cls, "__matmul__") or hasattr(cls, "sum")
    calls, spell = detect(cls, ops, tensor)
    engine = Engine(cls, calls, spell, make or cls, data, grad, backward, tensor, zero_grad)
    refs = list(references or eg.REFERENCES)
    missing = {r: eg.unavailable(r) for r in refs}
    ready = [r for r in PRIMARY_ORDER if r in refs and missing[r] is None]
    target = f"{cls.__module__}.{cls.__qualname__}"
    records = [Record("references", "references", "graphs", r, "-", "unavailable",
                      f"reference unavailable: {missing[r]}") for r in refs if missing[r]]
    if not ready:
        return EngineReport(target, records, seed, time.perf_counter() - start)
    primary = ready[0]
    conventions: list[str] = []
    probes: list[tuple[str, str, eg.Graph, _Outcome | None]] = []
    for kind, graphs in (("op", probe_graphs(calls, tensor)), ("reuse", reuse_graphs(calls)),
                         ("broadcast", broadcast_graphs(calls) if tensor else [])):
        for label, g in graphs:
            probes.append((kind, label, g, compare(engine, g, primary)))
    for kind, label, g, bad in probes:
        rec = Record(label, label, kind, primary, "; ".join(eg.to_code(g, cls.__name__, spell,
                                                                       backward)), "passed")
        if bad is not None:
            rec.outcome = "failed"
            cause = cause_of(g, probes, tensor)
            rec.verdict, rec.diagnosis = message(engine, g, bad, cause)
            rec.notes = [cause]
        records.append(rec)
    if "relu" in calls:
        note = relu_zero(engine)
        if note is not None:
            outcome, text = note
            records.append(Record("relu", "relu", "kink", primary, "relu at 0", outcome, text))
            if outcome == "convention":
                conventions.append(text)
    final_sum = tensor and "sum" in calls
    strategy = eg.graphs(sorted(calls), tensor, max_ops=max_ops, final_sum=final_sum)
    search = search_graphs(strategy, lambda g: compare(engine, g, primary), examples, seed,
                           keep=cross_check)
    records.append(_graph_record(engine, search, primary, probes, tensor, "graphs"))
    for ref in ready[1:]:  # the same graphs by the other references
        rec = Record("graphs", "graphs", "graphs", ref, f"{len(search.sample)} graphs", "passed")
        drawn = search.sample + ([search.failure[0]] if search.failure else [])
        for g in drawn:
            bad = compare(engine, g, ref)
            if bad is not None:
                cause = cause_of(g, probes, tensor)
                rec.outcome, rec.notes = "failed", [cause]
                rec.verdict, rec.diagnosis = message(engine, g, bad, cause)
                break
        records.append(rec)
    twice_search = search_graphs(strategy, lambda g: _twice(engine, g, twice),
                                 max(examples // 2, 5), seed + 1)
    rec = _graph_record(engine, twice_search, "engine", probes, tensor, "backward twice",
                        twice=twice)
    records.append(rec)
    if not any(r.outcome == "failed" for r in records):
        conventions.append(_twice_convention(engine, twice_search, twice))
    coverage = {"graphs drawn": search.drawn, **search.stats}
    return EngineReport(target, records, seed, time.perf_counter() - start, conventions,
                        coverage)


def _twice_convention(engine: Engine, search: eg.Search, twice: str) -> str:
    if twice == "fresh-graph":
        return "backward() on a freshly built graph accumulates into the leaves (2×), " \
            "zeroed leaves give the first gradient again; the same graph twice is not checked"
    g = next((g for g in search.sample if len(g.nodes) > 1), None)
    if g is None:
        return "two backward() calls: no graph to tell"
    nodes, _, first = engine.run(g)
    getattr(nodes[-1], engine.backward)()
    second = engine.grads(nodes, g)
    doubled = all(within(b, 2 * a, tolerance("float64", "grad", "engine"))
                  for a, b in zip(first, second))
    return ("two backward() calls on one graph accumulate into the leaves (2×, as torch); "
            "zero the leaves' grads between steps" if doubled else
            "two backward() calls on one graph give the same gradients (backward() zeroes "
            "every grad first)")


def _graph_record(engine: Engine, search: eg.Search, ref: str, probes: list, tensor: bool,
                  label: str, twice: str = "") -> Record:
    rec = Record(label, label, "graphs", ref, f"{search.drawn} random graphs", "passed")
    if search.failure is not None:
        g, bad = search.failure
        if twice:
            cause = ("stale gradients: the second backward() adds the intermediate nodes' "
                     "gradients from the first call again: reset every non-leaf node's grad "
                     "in backward() before propagating" if twice == "same-graph" or not
                     bad.error else "backward() on a fresh graph fails")
            code = "; ".join(eg.to_code(g, engine.cls.__name__, engine.spell, engine.backward))
            code += f"; {eg.name(g.size - 1)}.{engine.backward}()"
            if bad.error:
                rec.verdict = f"{code}: raised {bad.error}"
            else:
                rec.verdict = (f"{code}: {bad.where} = {_show(bad.actual)}, expected "
                               f"{_show(bad.expected)} ({bad.ref}): {cause}")
            rec.diagnosis = rec.verdict
        else:
            cause = cause_of(g, probes, tensor)
            rec.verdict, rec.diagnosis = message(engine, g, bad, cause)
        rec.outcome, rec.notes = "failed", [cause]
    return rec


__all__ = ["EngineReport", "check_engine"]
