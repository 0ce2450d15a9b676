"""Run the module under test in a supervised worker process.

``open_isolated(target)`` starts one ``multiprocessing`` worker ("spawn" context: never a fork
of a process that has torch or jax loaded) that loads the user's module, and returns a proxy
module: each callable attribute forwards ``fn(*args, **kwargs)`` to the worker (arguments and
results pickled through a ``multiprocessing`` Pipe). The references, the catalog and the cache
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

Cost: a round trip is ~0.2-0.4 ms, so calls are batched (``RemoteFunction.many``: the basis
cotangents of a Jacobian in one message; ``gradverify.prefetch``: an op's matrix calls in one
message per function) and identical calls (same function, same pickled arguments: the same
case's forward or VJP against each reference) are answered from a memo of the pickled result
(each hit unpickles a fresh copy). A spare worker (``gradverify.spares``) hides the start.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import warnings
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from . import spares
from .isolate_worker import (  # noqa: F401  (IsolationError, Foreign: gradverify.isolate's API)
    _DATA,
    CONTRACTS,
    Foreign,
    IsolationError,
    Planned,
    RemoteError,
    _pack,
)

#: default seconds one call of a user's function may take
DEFAULT_TIMEOUT = 5.0
#: default address-space limit of the worker (bytes); GRADVERIFY_MEMORY_MB overrides it
DEFAULT_MEMORY = int(os.environ.get("GRADVERIFY_MEMORY_MB", "4096")) * 2**20
#: seconds the worker may take to start (Python, numpy) before it loads the module
BOOT_TIMEOUT = 60.0
MEMO_SIZE = 4096  # batches; api.check clears the memo after each op
_SUFFIXES = ("", "_backward", "_jacobian", "_jvp", "_hvp", "_hessian")


# -- parent side ------------------------------------------------------------------------------
def _cause(exitcode: int | None) -> str:
    if exitcode is None:
        return "was killed"
    if exitcode < 0:
        try:
            return f"crashed with {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"ended the process with exit code {exitcode} (os._exit?)"


class Worker:
    """One supervised process holding the user's module; restarted after it dies."""

    def __init__(self, target: str, names: Sequence[str], timeout: float, memory: int) -> None:
        self.target, self.names, self.timeout, self.memory = target, tuple(names), timeout, memory
        self.process: Any = None
        self.conn: Connection | None = None
        self.poisoned: dict[str, str] = {}  # function -> why it is not called again
        self.memo: OrderedDict[bytes, bytes] = OrderedDict()
        self.memoize = False  # inside memoized(): the matrix, whose references repeat calls
        self.planning: dict[bytes, tuple[str, list]] | None = None  # see gradverify.prefetch
        self.starts = 0
        self.trips = 0  # messages sent (round trips)
        self.sent = 0  # tickets of submitted batches
        self.inflight: deque[tuple[int, str, int, Callable]] = deque()  # submitted, unread
        self.outbox: queue.SimpleQueue | None = None  # what the writer thread sends

    def _recv(self, seconds: float) -> Any:
        assert self.conn is not None
        if not self.conn.poll(seconds):
            raise TimeoutError
        return self.conn.recv()

    def launch(self) -> None:
        """Start the worker process (a spare one if there is one); it boots and loads the
        module while this one goes on."""
        self.process, self.conn = spares.take() or spares.spawn()
        self.starts += 1
        self.conn.send((self.target, self.names, self.memory, self.timeout, list(sys.path),
                        os.getcwd(), dict(os.environ)))

    def start(self) -> tuple:
        """Start the worker (unless ``launch`` did) and wait until it loaded the module:
        ("loaded", name, file, attrs, unused), or raise ``ImportError`` naming the cause."""
        if self.process is None:
            self.launch()
        try:
            self._recv(BOOT_TIMEOUT)
            msg = self._recv(4 * self.timeout + 5)
        except TimeoutError:
            self.stop()
            raise ImportError(f"{self.target}: importing it did not finish within "
                              f"{4 * self.timeout + 5:g} s") from None
        except (EOFError, OSError):
            code = self.stop()
            raise ImportError(f"{self.target}: importing it {_cause(code)}") from None
        except BaseException:
            self.stop()
            raise
        if msg[0] == "load-error":
            self.stop()
            raise ImportError(msg[1])
        return msg

    def stop(self, grace: float = 0.05) -> int | None:
        """Kill the worker (if alive) after ``grace`` seconds to end by itself (a worker that
        died is given them to report its exit code); its exit code."""
        self.inflight.clear()  # their replies never come
        if self.outbox is not None:
            self.outbox.put(None)  # the writer thread ends
            self.outbox = None
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self.process is None:
            return None
        p, self.process = self.process, None
        try:
            return p.wait(grace) if grace else p.poll()
        except subprocess.TimeoutExpired:
            pass
        finally:
            if p.returncode is None:
                p.kill()
                p.wait()
        return p.returncode

    def calls(self, name: str, calls: list[tuple[tuple, dict]],
              memo: bool = True) -> list[tuple]:
        """The outcomes of ``calls`` of function ``name`` (a memo answers a repeated batch).
        In planning mode (``gradverify.prefetch``) the batch is recorded, not sent."""
        if name in self.poisoned:
            return [("isolation", self.poisoned[name])]
        data = pickle.dumps((name, calls), protocol=pickle.HIGHEST_PROTOCOL)
        if self.planning is not None:
            if data not in self.memo:
                self.planning[data] = (name, calls)
            raise Planned
        if self.memoize and data in self.memo:
            self.memo.move_to_end(data)
            return pickle.loads(self.memo[data])
        self.drain()  # the replies come in order: the submitted batches' first
        if name in self.poisoned:
            return [("isolation", self.poisoned[name])]
        memo = memo and self.memoize
        if self.conn is None:
            try:
                self.start()
            except ImportError as exc:  # it loaded before, but not this time
                return self._poison(name, f"{name}: restarting its module failed: {exc}")
        assert self.conn is not None
        try:
            self.conn.send_bytes(data)
        except OSError:
            return self._poison(name, f"{name} {_cause(self.stop())}")
        except BaseException:  # Ctrl-C: stop the worker, stop the run
            self.stop()
            raise
        self.trips += 1
        results, reply = self._answer(name, len(calls))
        if memo and reply is not None:
            self.remember(data, reply)
        return results

    def submit(self, name: str, calls: list[tuple[tuple, dict]],
               answer: Callable[[list[tuple]], None]) -> int | None:
        """Send a batch without waiting for its reply: ``drain`` reads it and calls
        ``answer(outcomes)`` (not called when the worker died or hung on it: the caller's
        own calls then say why). A thread writes the message, so neither side blocks on a
        full pipe while the other writes. Its ticket, or None when not sent."""
        if name in self.poisoned or self.conn is None:
            return None
        if self.outbox is None:  # the thread writes on its own copy of the socket
            self.outbox = queue.SimpleQueue()
            copy = Connection(os.dup(self.conn.fileno()), readable=False)
            threading.Thread(target=_write_all, args=(self.outbox, copy), daemon=True).start()
        self.sent += 1
        self.inflight.append((self.sent, name, len(calls), answer))
        self.outbox.put(pickle.dumps((name, calls), pickle.HIGHEST_PROTOCOL))
        self.trips += 1
        return self.sent

    def drain(self, upto: int | None = None) -> None:
        """Read the replies of the submitted batches, in order (all, or up to ticket
        ``upto``), and pass each to its ``answer``."""
        while self.inflight and (upto is None or self.inflight[0][0] <= upto):
            _, name, n, answer = self.inflight.popleft()
            results, reply = self._answer(name, n)
            if reply is not None:
                answer(results)

    def _answer(self, name: str, n: int) -> tuple[list[tuple], bytes | None]:
        """The next reply, to a batch of ``n`` calls of ``name``: its outcomes and bytes
        (None when the worker hung or died on it: it is stopped and ``name`` poisoned)."""
        assert self.conn is not None
        deadline = max(60.0, 20 * self.timeout) if name == CONTRACTS \
            else self.timeout * n + 2.0  # the worker's own timer fires first
        try:
            if not self.conn.poll(deadline):
                raise TimeoutError
            reply = self.conn.recv_bytes()
        except TimeoutError:
            self.stop()
            return self._poison(name, f"{name} did not return within {self.timeout:g} s"), None
        except (EOFError, OSError):
            return self._poison(name, f"{name} {_cause(self.stop())}"), None
        except BaseException:  # Ctrl-C: stop the worker, stop the run
            self.stop()
            raise
        results = pickle.loads(reply)
        if results and results[-1][0] == "timeout":
            self.stop()  # the timer fired: the module may be in a bad state, start afresh
            return [*results[:-1], *self._poison(
                name, f"{name} did not return within {self.timeout:g} s")], None
        return results, reply

    def remember(self, key: bytes, reply: bytes) -> None:
        """Answer the batch pickled as ``key`` with ``reply`` (pickled outcomes) from now on."""
        self.memo[key] = reply
        if len(self.memo) > MEMO_SIZE:
            self.memo.popitem(last=False)

    def _poison(self, name: str, cause: str) -> list[tuple]:
        self.poisoned[name] = cause
        return [("isolation", cause)]


def _write_all(box: queue.SimpleQueue, conn: Connection) -> None:
    """The writer thread of ``Worker.submit``: send each message on ``conn`` until None
    (after a failed send the rest are dropped: the worker is gone, no reply is awaited)."""
    alive = True
    while (data := box.get()) is not None:
        try:
            if alive:
                conn.send_bytes(data)
        except Exception:
            alive = False
    conn.close()


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
        _, name, file, attrs, unused = worker.start()
    except ImportError as exc:
        raise ImplLoadError(str(exc)) from None
    display = name.removeprefix("impl_under_test_")
    module = IsolatedModule(display)
    module.gradverify_worker = worker
    module.gradverify_unused = unused  # type: ignore[attr-defined]
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
    worker = getattr(module, "gradverify_worker", None)
    if worker is None:
        yield
        return
    worker.memoize = True
    try:
        yield
    finally:
        worker.memoize = False
        worker.memo.clear()


def clear_memo(module: Any) -> None:
    """Forget the memoized calls of an isolated module (after an op's cases)."""
    worker = getattr(module, "gradverify_worker", None)
    if worker is not None:
        worker.memo.clear()


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
