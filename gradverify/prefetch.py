"""One round trip for an op's matrix calls to an isolated module, asked for one op ahead.

The forward, VJP and Jacobian checks of a case each call the module under test once, with
arguments that follow from the case and the seed alone: ``planned_calls`` builds them the
same way ``gradverify.checks`` does. ``plan`` passes them through the checked (guarded)
module in planning mode, so the worker receives exactly the calls the checks will make;
``Ahead`` asks the worker for them, one message per function, while this process still checks
the previous op (the worker computes them on the other core), and stores each outcome in the
worker's memo under the key of its own call. The checks then find their calls answered. A
call planned differently from the real one only misses the memo and makes its own round
trip: the verdicts never depend on the plan, only the time does (~0.2 ms a round trip).
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .cases import Case, cotangent
from .checks import applies
from .isolate_worker import Planned  # noqa: F401  (raised by Worker.calls)

#: calls per message (bounds a message's size and its deadline)
CHUNK = 256


def planned_calls(case: Case, seed: int) -> list[tuple[str, list[tuple[tuple, dict]], bool]]:
    """(function, calls, batched) that the forward, VJP and Jacobian checks of ``case`` make
    first, in ``gradverify.checks``' way: the forward on the seeded inputs, the backward on
    the cotangent drawn after them, the Jacobian (or the backward on each basis cotangent,
    in one batch)."""
    from . import reference

    spec, kw = case.spec, case.kwargs
    numeric = reference.get("numeric")  # impl's forward: only the output shapes are used
    numeric = getattr(numeric, "real", numeric)  # uncached: a cache lookup costs more
    names = [spec.name] if spec.outputs == 1 else [f"{spec.name}#{k}" for k in range(spec.outputs)]
    out: list[tuple[str, list[tuple[tuple, dict]], bool]] = []
    rng = case.rng(seed)  # the checks draw the inputs, then the VJP's cotangent, from it
    inputs = case.inputs(rng)
    shapes = [tuple(np.shape(numeric.forward(o, inputs, kw, argnums=spec.argnums)))
              for o in names]
    out.append((spec.name, [(inputs, kw)], False))
    cots = [cotangent(rng, s, case.dtype) for s in shapes]
    out.append((f"{spec.name}_backward",
                [((cots[0] if spec.outputs == 1 else tuple(cots), *inputs), kw)], False))
    if applies("jacobian", case):
        if spec.jacobian:
            out.append((f"{spec.name}_jacobian", [(inputs, kw)], False))
        elif not any(0 in s for s in shapes):
            for j, shape in enumerate(shapes):
                basis = []
                for k in range(int(np.prod(shape))):
                    c = [np.zeros(s, dtype=case.dtype) for s in shapes]
                    c[j].reshape(-1)[k] = 1
                    basis.append(((c[0] if spec.outputs == 1 else tuple(c), *inputs),
                                  case.kwargs))  # a dict each, as the check's (same pickle)
                out.append((f"{spec.name}_backward", basis, True))
    return out


def plan(module: Any, raw: Any, cases: Sequence[Case], seed: int) -> dict[bytes, tuple]:
    """The matrix calls of ``cases`` to the isolated ``raw`` (``module`` is it as the checks
    see it: guarded), each under its memo key: {key: (function, calls)}. Empty for a module
    in this process, or outside ``isolate.memoized``."""
    from .isolate import call_many

    worker = getattr(raw, "gradverify_worker", None)
    if worker is None or not worker.memoize:
        return {}
    worker.planning = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # impl's forward at extreme inputs: not news
            for case in cases:
                try:
                    calls_of_case = planned_calls(case, seed)
                except Exception:  # noqa: S112 - the checks' own calls say what is wrong
                    continue
                for name, calls, batched in calls_of_case:
                    fn = getattr(module, name, None)
                    if fn is None:
                        continue
                    try:
                        if batched:
                            for thunk in call_many(fn, calls):
                                thunk()
                        else:
                            fn(*calls[0][0], **calls[0][1])
                    except KeyboardInterrupt:
                        raise
                    except BaseException:  # noqa: B036 - Planned, a skip, a guard's refusal
                        continue
    finally:
        planned, worker.planning = worker.planning, None
    return planned


def _chunks(planned: dict[bytes, tuple]) -> Iterator[tuple[str, list[tuple[bytes, list]]]]:
    """(function, [(key, calls), ...]) messages: grouped by function, ``CHUNK`` calls at most
    (one batch larger than that alone)."""
    by_name: dict[str, list[tuple[bytes, list]]] = {}
    for key, (name, calls) in planned.items():
        by_name.setdefault(name, []).append((key, calls))
    for name, entries in by_name.items():
        chunk: list[tuple[bytes, list]] = []
        size = 0
        for entry in entries:
            if chunk and size + len(entry[1]) > CHUNK:
                yield name, chunk
                chunk, size = [], 0
            chunk.append(entry)
            size += len(entry[1])
        if chunk:
            yield name, chunk


def _answers(chunk: list[tuple[bytes, list]], outcomes: list[tuple]) -> list[tuple[bytes, bytes]]:
    """(key, pickled outcomes) for each batch of ``chunk`` the worker answered normally (up
    to the first that hung, exited or crashed: the checks' own calls say why)."""
    out, at = [], 0
    for key, calls in chunk:
        part = outcomes[at:at + len(calls)]
        at += len(calls)
        if len(part) < len(calls) or any(o[0] not in ("ok", "raised") for o in part):
            break
        out.append((key, pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL)))
    return out


class Ahead:
    """The matrix's calls asked for one op ahead: ``send(op, cases)`` plans an op's calls and
    submits them (``Worker.submit``) while this process still checks the previous op, so the
    worker computes them meanwhile; ``receive(op)`` waits for them and memoizes them (after
    the previous op's memo was cleared). Nothing for a module in this process."""

    def __init__(self, module: Any, raw: Any, seed: int) -> None:
        self.module, self.raw, self.seed = module, raw, seed
        self.worker = getattr(raw, "gradverify_worker", None)
        self.tickets: dict[str, int] = {}
        self.ready: dict[str, list[tuple[bytes, bytes]]] = {}

    def send(self, op: str, cases: Sequence[Case]) -> None:
        if self.worker is None:
            return
        for name, chunk in _chunks(plan(self.module, self.raw, cases, self.seed)):
            def answer(outcomes: list[tuple], chunk: list = chunk) -> None:
                self.ready.setdefault(op, []).extend(_answers(chunk, outcomes))

            ticket = self.worker.submit(name, [c for _, calls in chunk for c in calls], answer)
            if ticket is not None:
                self.tickets[op] = ticket

    def receive(self, op: str) -> int:
        """Memoize ``op``'s answered calls (waiting for them); how many batches."""
        if self.worker is None:
            return 0
        if op in self.tickets:
            self.worker.drain(self.tickets.pop(op))
        ready = self.ready.pop(op, [])
        for key, reply in ready:
            self.worker.remember(key, reply)
        return len(ready)
