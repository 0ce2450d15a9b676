"""The contracts of an isolated module, run in its worker on the module itself (in-place
writes, read-only arguments and memory layouts are seen as they are), each of its functions
under the worker's timer: ``op_contracts`` for ``gradverify.check`` (every contract of an op,
as Records), ``one`` for pytest's ``test_contract`` (one contract, its outcome)."""

from __future__ import annotations

import dataclasses
import functools
import signal
import types
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from .isolate_worker import IsolationError, _Timeout


def timed(fn: Callable, name: str, timeout: float, poisoned: dict[str, str]) -> Callable:
    """``fn`` under the worker's timer, for the contracts run here: a call that takes too long,
    exits or was poisoned raises ``IsolationError`` (which the contracts report)."""
    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        if name in poisoned:
            raise IsolationError(poisoned[name])
        def alarm(signum: int, frame: Any) -> None:
            raise _Timeout()

        signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            return fn(*args, **kwargs)
        except _Timeout:
            poisoned[name] = f"{name} did not return within {timeout:g} s"
        except SystemExit as exc:
            poisoned[name] = f"{name} called sys.exit({exc.code!r})"
        except (KeyboardInterrupt, GeneratorExit) as exc:
            poisoned[name] = f"{name} raised {type(exc).__name__}"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        raise IsolationError(poisoned[name])

    return timed


def timed_module(module: ModuleType, timeout: float, poisoned: dict[str, str]) -> ModuleType:
    """A copy of ``module`` whose public functions run under the timer (``timed``), named as
    its proxy in the parent is (``gradverify.isolate.open_isolated``)."""
    copy = ModuleType(module.__name__.removeprefix("impl_under_test_"), module.__doc__)
    for key, value in vars(module).items():
        copy.__dict__[key] = timed(value, key, timeout, poisoned) \
            if isinstance(value, types.FunctionType) and not key.startswith("_") else value
    return copy


def op_contracts(module: ModuleType, timeout: float, op: str, ops: frozenset[str],
                 refs: Sequence[str], seed: int, poisoned: dict[str, str]) -> list[dict]:
    """The contracts of ``op`` (``gradverify.suite.extra_records``), each Record as a dict."""
    from .suite import extra_records
    from .supports import guard

    checked = guard(timed_module(module, timeout, poisoned), ops)
    records = extra_records(checked, [op], refs, seed, which=("contracts",))
    return [dataclasses.asdict(r) for r in records]


@functools.cache
def _contract_cases() -> dict[str, tuple]:
    from .contracts import case_id, contract_cases

    return {case_id(case, contract): (case, contract, read_only)
            for case, contract, read_only in contract_cases()}


def one(module: ModuleType, timeout: float, case_id: str, ops: frozenset[str], seed: int,
        nodeid: str, options: str, poisoned: dict[str, str]) -> tuple[str, str, dict]:
    """pytest's ``test_contract[case_id]`` here: ("passed" | "skipped" | "xfailed" |
    "failed", its message, the functions poisoned meanwhile)."""
    import pytest

    from .contracts import CONTRACTS, Subject
    from .supports import guard

    case, contract, read_only = _contract_cases()[case_id]
    checked = guard(timed_module(module, timeout, poisoned), ops)
    subject = Subject(case, checked, seed, nodeid, options, read_only)
    try:
        CONTRACTS[contract](subject)
    except pytest.skip.Exception as exc:
        return "skipped", str(exc.msg or ""), poisoned
    except pytest.xfail.Exception as exc:
        return "xfailed", str(exc.msg or ""), poisoned
    except pytest.fail.Exception as exc:
        return "failed", str(exc.msg or ""), poisoned
    return "passed", "", poisoned
