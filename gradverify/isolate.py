"""Run the module under test in a supervised worker process.

``open_isolated(target)`` starts a worker (a fresh interpreter, ``subprocess``: never a fork
of a process that has torch or jax loaded; a ``multiprocessing`` Pipe carries pickled
messages) that loads the user's module, and returns a proxy module: each callable attribute
forwards ``fn(*args, **kwargs)`` to the worker. The references, the catalog and the cache
stay in this process, so nothing the module patches (``np.exp = ...``, impl's functions, the
catalog) reaches them.

Supervision: each call has a timeout (an interval timer in the worker interrupts Python code;
a hard deadline here kills a worker stuck in C), the worker has a memory limit (RLIMIT_AS),
and a call that hangs, exits (``sys.exit``, ``os._exit``, ``KeyboardInterrupt``) or crashes
(a signal) raises ``IsolationError`` whose message is the cause; the checks fail that case with
it. A worker that died is restarted on the next call; a function that hung or killed its worker
is not called again (its later calls fail at once with the same cause), so one hostile function
costs one timeout, not one per case. Ctrl-C here (the worker ignores SIGINT) kills the worker
and propagates.

Cost: a round trip is ~0.2-0.3 ms, so calls are batched (``RemoteFunction.many``: the basis
cotangents of a Jacobian in one message; ``gradverify.prefetch``: an op's matrix calls in one
message per function, asked for while the previous op is checked: ``Worker.submit``) and
identical calls (same function, same pickled arguments: the same case's forward or VJP
against each reference) are answered from a memo of the pickled result (each hit unpickles a
fresh copy). A spare worker (``gradverify.spares``) hides the start.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .isolate_worker import (  # noqa: F401  (IsolationError, Foreign: gradverify.isolate's API)
    _DATA,
    CONTRACTS,
    UNUSED,
    Foreign,
    IsolationError,
    Planned,
    RemoteError,
    _pack,
)
from .supervisor import BOOT_TIMEOUT, MEMO_SIZE, Worker  # noqa: F401  (isolate's API)

#: default seconds one call of a user's function may take
DEFAULT_TIMEOUT = 5.0
#: default address-space limit of the worker (bytes); GRADVERIFY_MEMORY_MB overrides it
DEFAULT_MEMORY = int(os.environ.get("GRADVERIFY_MEMORY_MB", "4096")) * 2**20
_SUFFIXES = ("", "_backward", "_jacobian", "_jvp", "_hvp", "_hessian")


def _result(outcome: tuple, args: tuple = ()) -> Any:
    """The value of an outcome (the arguments the call modified there modified here too), or
    raise what the call raised."""
    kind = outcome[0]
    if kind == "ok":
        for at, value in outcome[2].items():
            target = args[at[0]] if len(at) == 1 else args[at[0]][at[1]]
            np.copyto(target, value)
        for category, message in outcome[3] if len(outcome) > 3 else ():
            cls = getattr(builtins, category, None)
            warnings.warn(message, cls if isinstance(cls, type) and issubclass(cls, Warning)
                          else UserWarning, stacklevel=2)
        return outcome[1]
    if kind == "raised":
        _, type_name, is_builtin, text, tb = outcome
        cls = getattr(builtins, type_name) if is_builtin else type(type_name, (RemoteError,), {})
        try:
            exc = cls(text)
        except Exception:
            exc = type(type_name, (RemoteError,), {})(text)
        exc.remote_frames = tb  # type: ignore[attr-defined]
        raise exc
    raise IsolationError(outcome[1] if kind == "isolation" else outcome[1])


class RemoteFunction:
    """A user's function living in the worker: ``f(*args, **kwargs)`` or ``f.many(calls)``."""

    def __init__(self, worker: Worker, name: str, module: str) -> None:
        self.worker, self.__name__, self.__qualname__, self.__module__ = \
            worker, name, name, module

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _result(self._outcomes([(args, kwargs)])[0], args)

    def _outcomes(self, calls: list[tuple[tuple, dict]]) -> list[tuple]:
        out = self.worker.calls(self.__name__, [(_pack(a), k) for a, k in calls])
        if out and out[-1][0] in ("exit",):
            out[-1] = ("isolation", f"{self.__name__} {out[-1][1]}")
        return out

    def many(self, calls: Iterable[tuple[tuple, dict]]) -> list[Callable[[], Any]]:
        """One round trip for many calls; each returned thunk gives its call's result or
        raises what it raised (the calls after an exit or crash are not run)."""
        calls = list(calls)
        outcomes = self._outcomes(calls)
        thunks = []
        for k in range(len(calls)):
            o = outcomes[min(k, len(outcomes) - 1)]
            thunk = (lambda o=o, a=calls[k][0]: _result(o, a))
            thunk.__name__, thunk.__module__ = self.__name__, self.__module__  # type: ignore
            thunks.append(thunk)
        return thunks  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"<isolated function {self.__module__}.{self.__name__}>"


class IsolatedModule(ModuleType):
    """The proxy of a user's module: its callables are ``RemoteFunction``s, its data
    (``GRADVERIFY_SUPPORTS``, ...) copies. ``close()`` stops the worker."""

    gradverify_worker: Worker

    def close(self) -> None:
        self.gradverify_worker.stop(grace=0)  # done with it: no need to wait


def wanted_names(op_names: Iterable[str]) -> list[str]:
    """The attributes the checks may look up: every op's functions and the declarations."""
    return [f"{op}{s}" for op in op_names for s in _SUFFIXES] + list(_DATA)


def open_isolated(target: str | Path, names: Sequence[str], timeout: float = DEFAULT_TIMEOUT,
                  memory: int = DEFAULT_MEMORY) -> IsolatedModule:
    """Load ``target`` (a path or dotted name) in a worker and return its proxy module; a
    module that cannot be loaded raises ``gradverify.loader.ImplLoadError``."""
    from .loader import ImplLoadError

    worker = Worker(str(target), names, timeout, memory)
    try:
        _, name, file, attrs = worker.start()
    except ImportError as exc:
        raise ImplLoadError(str(exc)) from None
    display = name.removeprefix("impl_under_test_")
    module = IsolatedModule(display)
    module.gradverify_worker = worker
    if file:
        module.__file__ = file
    for attr, how in attrs.items():
        if how[0] == "call":
            setattr(module, attr, RemoteFunction(worker, attr, display))
        elif how[0] == "error":
            setattr(module, attr, _failing(attr, display, how[1]))
        elif how[0] == "value":
            setattr(module, attr, how[1])
        else:  # declarations holding functions: see load()
            module.gradverify_inprocess = attr  # type: ignore[attr-defined]
    return module


def load(target: str, op_names: Iterable[str], timeout: float = DEFAULT_TIMEOUT) -> ModuleType:
    """``target`` isolated (``open_isolated``), or loaded in this process when it declares ops
    with functions (``GRADVERIFY_OPS`` with ``make`` or a framework's version: they run beside
    the references, so they must live here), with a warning saying so."""
    module = open_isolated(target, wanted_names(op_names), timeout)
    what = getattr(module, "gradverify_inprocess", None)
    if what is None:
        return module
    module.close()
    from .loader import load_impl

    warnings.warn(f"{target}: its {what} holds functions, which run beside the references: "
                  "checked in this process, without isolation", stacklevel=3)
    return load_impl(target, flag="")


@contextlib.contextmanager
def memoized(module: Any) -> Iterator[None]:
    """While inside, identical calls of an isolated module's functions (same function, same
    pickled arguments: the matrix's forward and VJP of one case against each reference) run
    once; never around the contracts (``repeatable`` calls twice on purpose)."""
    try:
        with remembering(module):
            yield
    finally:
        clear_memo(module)


@contextlib.contextmanager
def remembering(module: Any) -> Iterator[None]:
    """``memoized``, but the memo outlives the block (the least recently used batches
    go past ``MEMO_SIZE``): pytest's matrix, one test per case and reference, runs a case's
    calls once for all its references. Only around the matrix's checks."""
    worker = getattr(module, "gradverify_worker", None)
    if worker is None:
        yield
        return
    worker.memoize = True
    try:
        yield
    finally:
        worker.memoize = False


def clear_memo(module: Any) -> None:
    """Forget the memoized calls of an isolated module (after an op's cases)."""
    worker = getattr(module, "gradverify_worker", None)
    if worker is not None:
        worker.memo.clear()


def unused(module: Any) -> list | None:
    """``gradverify.suite.unused`` of an isolated module, computed by its worker where its
    functions are (what they wrap is seen there); None for anything else, or when the worker
    cannot answer."""
    worker = getattr(module, "gradverify_worker", None)
    if worker is None:
        return None
    out = worker.calls(UNUSED, [((), {})], memo=False)
    return out[0][1] if out and out[0][0] == "ok" else None


def close(module: Any) -> None:
    """Stop ``module``'s worker if it is an isolated module (anything else: nothing)."""
    if isinstance(module, IsolatedModule):
        module.close()


def _failing(name: str, module: str, message: str) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise IsolationError(message)

    fail.__name__, fail.__module__ = name, module
    return fail


def call_many(fn: Callable, calls: Sequence[tuple[tuple, dict]]) -> list[Callable[[], Any]]:
    """Thunks for ``calls`` of ``fn``: batched in one round trip for an isolated function,
    else each thunk calls ``fn`` when called (as before: lazily, in order)."""
    many = getattr(fn, "many", None)
    if isinstance(fn, RemoteFunction) and many is not None:
        return many(calls)
    thunks = []
    for args, kwargs in calls:
        thunk = (lambda a=args, k=kwargs: fn(*a, **k))
        thunk.__name__ = getattr(fn, "__name__", "f")  # type: ignore[attr-defined]
        thunk.__module__ = getattr(fn, "__module__", None)  # type: ignore[assignment]
        thunks.append(thunk)
    return thunks  # type: ignore[return-value]


__all__ = ["DEFAULT_TIMEOUT", "Foreign", "IsolatedModule", "IsolationError", "RemoteFunction",
           "call_many", "close", "load", "open_isolated", "wanted_names"]
