"""The contracts, special values and kinks of an isolated module (``gradverify.check``).

The contracts compare the module with itself (in-place writes, read-only arguments, memory
layouts), so they run where the module is: in a worker. When a spare worker is waiting (a
notebook, a class run), ``start`` gives them that second worker as the matrix begins and sends
it every op's request at once; they run there on the other core while the matrix runs against
the first worker, and ``extra_records`` collects them afterwards (about a third of a warm
check's time, taken off its critical path). Without a spare, or when the second worker fails
to load or dies, the first worker runs the remaining ops, one message each. Special values
and kinks need the references: they run here.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any

from .isolate_worker import CONTRACT, CONTRACTS
from .supervisor import Worker


def _known(raw: Any) -> frozenset[str]:
    from .catalog import OP_NAMES
    from .declared import declared_ops

    return frozenset(OP_NAMES) | {spec.name for spec, _ in declared_ops(raw)}


def _request(op: str, known: frozenset[str], refs: Sequence[str], seed: int,
             poisoned: dict[str, str]) -> bytes:
    return pickle.dumps((CONTRACTS, [((op, known, tuple(refs), seed, dict(poisoned)), {})]),
                        protocol=pickle.HIGHEST_PROTOCOL)


class Pending:
    """Every op's contracts, asked of a second worker and not yet collected."""

    def __init__(self, raw: Any, ops: Sequence[str], refs: Sequence[str], seed: int) -> None:
        main = raw.gradverify_worker
        self.ops, self.done = list(ops), {}  # type: ignore[var-annotated]
        self.worker = Worker(main.target, main.names, main.timeout, main.memory)
        self.worker.launch()
        assert self.worker.conn is not None
        known = _known(raw)
        for op in self.ops:  # the worker reads them once it loaded the module
            self.worker.conn.send_bytes(_request(op, known, refs, seed, {}))

    def close(self) -> None:
        """Stop the second worker (after ``collect``, or when the run stops before it)."""
        self.worker.stop(grace=0)

    def collect(self) -> dict[str, tuple]:
        """op -> the worker's outcome for each op it answered (the rest: none)."""
        w = self.worker
        try:
            w.start()
            deadline = max(60.0, 20 * w.timeout)
            for op in self.ops:
                assert w.conn is not None
                if not w.conn.poll(deadline):
                    break
                self.done[op] = pickle.loads(w.conn.recv_bytes())[0]
        except (ImportError, EOFError, OSError):
            pass  # not loaded, or it died: the first worker does the rest
        except BaseException:  # Ctrl-C: stop it, stop the run
            w.stop(grace=0)
            raise
        w.stop(grace=0)
        return self.done


def start(raw: Any, ops: Sequence[str], refs: Sequence[str], seed: int) -> Pending | None:
    """Start the contracts of ``ops`` in a second worker, for an isolated module (else None)."""
    from . import spares

    if getattr(raw, "gradverify_worker", None) is None or not ops or not spares.waiting():
        return None  # no spare booted: a fresh second worker would cost more than it saves
    try:
        return Pending(raw, ops, refs, seed)
    except OSError:  # no process to spare: the first worker runs them afterwards
        return None


def submit(raw: Any, op: str, refs: Sequence[str], seed: int, into: dict[str, tuple]) -> None:
    """Without a second worker: ask the first for ``op``'s contracts without waiting
    (``Worker.submit``), after the next op's matrix calls: it runs them while this process
    checks the matrix; the outcome lands in ``into[op]`` when read."""
    worker = getattr(raw, "gradverify_worker", None)
    if worker is not None:
        request: tuple[tuple, dict] = ((op, _known(raw), tuple(refs), seed,
                                        dict(worker.poisoned)), {})
        worker.submit(CONTRACTS, [request], lambda out: into.__setitem__(op, out[0]))


def extra_records(raw: Any, module: Any, ops: Sequence[str], refs: Sequence[str],
                  seed: int, pending: Pending | None = None,
                  submitted: dict[str, tuple] | None = None) -> list[Any]:
    """``gradverify.suite.extra_records`` for ``gradverify.check``: for an isolated module the
    contracts come from its worker (``pending``'s second worker, or the first one's answers
    to ``submit`` in ``submitted``, where they came; else one message per op to the first),
    special values and kinks run here against the references."""
    from .suite import EXTRA_CHECKS
    from .suite import extra_records as local

    worker = getattr(raw, "gradverify_worker", None)
    if worker is None:
        return local(module, ops, refs, seed)
    from .results import Record

    worker.drain()
    done = pending.collect() if pending is not None else dict(submitted or {})
    known = _known(raw) if len(done) < len(ops) else frozenset()
    records: list[Any] = []
    for op in ops:
        out = done.get(op)
        if out is None:
            out = worker.calls(CONTRACTS, [((op, known, tuple(refs), seed,
                                             dict(worker.poisoned)), {})])[0]
        if out[0] == "ok":
            records += [Record(**d) for d in out[1]]
        else:  # the worker died running them, or they broke on what it returned
            cause = out[1] if out[0] == "isolation" else \
                f"they could not run on what it returned: {out[1]}: {out[3]}"
            worker.poisoned.pop(CONTRACTS, None)
            records.append(Record(op, op, "contract:all", "contracts", f"{op}-contracts",
                                  "failed", f"{op}'s contracts: {cause}",
                                  f"{op}'s contracts: {cause}"))
    rest = tuple(c for c in EXTRA_CHECKS if c != "contracts")
    for op in ops:  # op by op: an odd return that breaks a comparison fails only its op
        try:
            records += local(module, [op], refs, seed, which=rest)
        except Exception as exc:
            text = f"{op}'s special values and kinks could not be checked on what it " \
                f"returned: {type(exc).__name__}: {exc}"
            records.append(Record(op, op, "special", "special", f"{op}-special", "failed",
                                  text, text))
    return records


def run_one(module: Any, case: Any, contract: str, read_only: bool, seed: int,
            nodeid: str = "", options: str = "") -> None:
    """pytest's ``test_contract`` for an isolated module (``--isolate``): the contract runs in
    the worker (``worker_contracts.one``: one round trip, not one per call) and its outcome
    is raised here: pytest's skip, xfail or failure with the same message as in-process. When
    the worker dies or hangs on it, the contract runs again here through the proxies, which
    name the function that did it."""
    import pytest

    from .contracts import case_id
    from .isolate import _result

    worker = module.gradverify_worker
    request: tuple[tuple, dict] = ((case_id(case, contract), _known(module), seed, nodeid,
                                    options, dict(worker.poisoned)), {})
    out = worker.calls(CONTRACT, [request], memo=False)[0]
    if out[0] == "isolation":  # the worker died or hung on it: which function did is not
        worker.poisoned.pop(CONTRACT, None)  # known; here, through the proxies, it is
        from .contracts import CONTRACTS, Subject  # (and poisoned for the next tests)

        CONTRACTS[contract](Subject(case, module, seed, nodeid, options, read_only))
        return
    if out[0] != "ok":
        _result(out)  # raises what broke the contract there
    status, message, poisoned = out[1]
    worker.poisoned.update(poisoned)  # a function that hung there is not called again
    if status == "skipped":
        pytest.skip(message)
    if status == "xfailed":
        pytest.xfail(message)
    if status == "failed":
        pytest.fail(message, pytrace=False)


__all__ = ["Pending", "extra_records", "run_one", "start", "submit"]
