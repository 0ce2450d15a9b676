"""One round trip for an op's matrix calls to an isolated module.

The forward, VJP and Jacobian checks of a case each call the module under test once, with
arguments that follow from the case and the seed alone: ``planned_calls`` builds them the
same way ``gradverify.checks`` does. ``prefetch`` passes them through the checked (guarded)
module in planning mode, so the worker receives exactly the calls the checks will make, then
asks the worker for all of them in one message and stores each outcome in the worker's memo
under the key of its own call. The checks then find their calls answered. A call planned
differently from the real one only misses the memo and makes its own round trip: the
verdicts never depend on the plan, only the time does (~0.4 ms a round trip saved).
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Sequence
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
    names = [spec.name] if spec.outputs == 1 else [f"{spec.name}#{k}" for k in range(spec.outputs)]
    out: list[tuple[str, list[tuple[tuple, dict]], bool]] = []
    inputs = case.inputs(case.rng(seed))
    shapes = [tuple(np.shape(numeric.forward(o, inputs, kw, argnums=spec.argnums)))
              for o in names]
    out.append((spec.name, [(inputs, kw)], False))
    rng = case.rng(seed)
    inputs = case.inputs(rng)
    cots = [cotangent(rng, s, case.dtype) for s in shapes]
    out.append((f"{spec.name}_backward",
                [((cots[0] if spec.outputs == 1 else tuple(cots), *inputs), kw)], False))
    if applies("jacobian", case):
        inputs = case.inputs(case.rng(seed))
        if spec.jacobian:
            out.append((f"{spec.name}_jacobian", [(inputs, kw)], False))
        elif not any(0 in s for s in shapes):
            for j, shape in enumerate(shapes):
                basis = []
                for k in range(int(np.prod(shape))):
                    c = [np.zeros(s, dtype=case.dtype) for s in shapes]
                    c[j].reshape(-1)[k] = 1
                    basis.append(((c[0] if spec.outputs == 1 else tuple(c), *inputs), kw))
                out.append((f"{spec.name}_backward", basis, True))
    return out


def prefetch(module: Any, raw: Any, cases: Sequence[Case], seed: int) -> int:
    """Answer the matrix calls of ``cases`` to the isolated ``raw`` (``module`` is it as the
    checks see it: guarded) in as few round trips as there are functions; the number of
    calls stored. Nothing for a module in this process, or outside ``isolate.memoized``."""
    from .isolate import call_many

    worker = getattr(raw, "gradverify_worker", None)
    if worker is None or not worker.memoize:
        return 0
    worker.planning = {}
    try:
        for case in cases:
            for name, calls, batched in planned_calls(case, seed):
                fn = getattr(module, name, None)
                if fn is None:
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
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
    return _fill(worker, planned)


def _fill(worker: Any, planned: dict[bytes, tuple[str, list]]) -> int:
    """Ask for the planned calls, grouped by function, and memoize each under its key."""
    by_name: dict[str, list[tuple[bytes, list]]] = {}
    for key, (name, calls) in planned.items():
        by_name.setdefault(name, []).append((key, calls))
    stored = 0
    for name, entries in by_name.items():
        while entries:
            chunk: list[tuple[bytes, list]] = []
            size = 0
            while entries and (not chunk or size + len(entries[0][1]) <= CHUNK):
                chunk.append(entries.pop(0))
                size += len(chunk[-1][1])
            outcomes = worker.calls(name, [c for _, calls in chunk for c in calls], memo=False)
            at = 0
            for key, calls in chunk:
                part = outcomes[at:at + len(calls)]
                at += len(calls)
                if len(part) < len(calls) or any(o[0] not in ("ok", "raised") for o in part):
                    entries = []  # the worker stopped here: the checks' own calls say why
                    break
                worker.remember(key, pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL))
                stored += len(calls)
    return stored
