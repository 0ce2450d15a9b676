"""The worker side of ``gradverify.isolate``: the process that loads the user's module and
answers calls (``_child`` is its entry point), and what both sides share: the exceptions,
``Foreign`` (a returned object that does not cross processes) and ``_View`` (an array argument
carried with its layout and read-only flag)."""

from __future__ import annotations

import builtins
import os
import pickle
import signal
import sys
import traceback
import warnings
from collections.abc import Sequence
from multiprocessing.connection import Connection
from types import ModuleType
from typing import Any

import numpy as np

CONTRACTS = "\0contracts"  # the message asking the worker to run one op's contracts
UNUSED = "\0unused"  # the message asking for the module's functions no check calls
CONTRACT = "\0contract"  # one contract test of pytest's (tests/test_contracts.py)
_DATA = ("GRADVERIFY_SUPPORTS", "GRADVERIFY_OPS", "GRADVERIFY_DEFINITIONS")

class IsolationError(Exception):
    """A call of the module under test ended abnormally; the message is the cause
    ("sigmoid_backward did not return within 5 s", "... crashed with SIGSEGV")."""

    gradverify_cause = True  # cases.call_impl: the message is the whole verdict


class Planned(BaseException):
    """Raised in planning mode by ``gradverify.supervisor.Worker.calls`` once it recorded a call
    (``gradverify.prefetch``; a BaseException: nothing between the checks and it catches it)."""


class RemoteError(Exception):
    """An exception of a type this process lacks, raised by the module in the worker."""


class Foreign:
    """A returned object that cannot (or should not) cross processes: a torch or jax array,
    a generator, an object. ``type_name`` names its type for the verdict."""

    def __init__(self, type_name: str, text: str, value: np.ndarray | None = None) -> None:
        self.type_name, self.text, self.value = type_name, text, value

    def __repr__(self) -> str:
        return f"<{self.type_name} {self.text}>"

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """What ``np.asarray`` made of the object in the worker (a torch or jax array's
        values), so the diagnoses read it as they read the object itself."""
        if self.value is None:
            raise TypeError(f"{self.type_name} is not an array")
        return self.value if dtype is None else self.value.astype(dtype)


class _Timeout(BaseException):
    """Raised in the worker by the interval timer (a BaseException: user code's
    ``except Exception`` cannot swallow it)."""


# -- worker side ------------------------------------------------------------------------------
def _type_name(x: Any) -> str:
    t = type(x)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _portable(x: Any, depth: int = 0) -> Any:
    """``x`` with everything that should not be pickled back replaced by a ``Foreign``."""
    if isinstance(x, (np.ndarray, np.generic)):
        if x.dtype == object and not all(_plain(v) for v in np.asarray(x).flat):
            return Foreign("object array", f"of shape {x.shape}")
        return x if type(x).__module__.startswith("numpy") else Foreign(_type_name(x), "")
    if x is None or isinstance(x, (bool, int, float, complex, str, bytes)):
        return x
    if isinstance(x, (tuple, list)) and depth < 4:
        items = [_portable(v, depth + 1) for v in x]
        return tuple(items) if isinstance(x, tuple) else items
    try:
        value = np.asarray(x)
        value = value if value.dtype != object else None  # type: ignore[assignment]
    except Exception:
        value = None
    return Foreign(_type_name(x), "", value)


class _View:
    """An array argument that pickling would not carry as it is (a strided or transposed view,
    a read-only array): its memory (the array owning it), byte offset, strides and flag, so the
    worker rebuilds the same layout (the layout and read-only contracts see what they test)."""

    def __init__(self, a: np.ndarray) -> None:
        root = a
        while isinstance(root.base, np.ndarray):
            root = root.base
        self.owner: np.ndarray | None = None
        if root.flags.c_contiguous or root.flags.f_contiguous:
            self.owner = root
            self.offset = a.__array_interface__["data"][0] - root.__array_interface__["data"][0]
        self.array = a if self.owner is None else None
        self.shape, self.strides, self.dtype = a.shape, a.strides, a.dtype
        self.writeable = bool(a.flags.writeable)

    def rebuild(self) -> np.ndarray:
        if self.owner is None:
            out = np.array(self.array)
        else:
            flat = self.owner.ravel(order="K")
            out = np.ndarray(self.shape, self.dtype, buffer=flat, offset=self.offset,
                             strides=self.strides)
        out.setflags(write=self.writeable)
        return out


def _pack(x: Any) -> Any:
    """An argument ready to pickle: arrays (also inside a tuple) that are views or read-only
    as ``_View``s."""
    if isinstance(x, np.ndarray) and not (x.flags.c_contiguous and x.flags.writeable
                                          and x.base is None):
        return _View(x)
    if isinstance(x, tuple):
        return tuple(_pack(v) for v in x)
    return x


def _unpack(x: Any) -> Any:
    if isinstance(x, _View):
        return x.rebuild()
    if isinstance(x, tuple):
        return tuple(_unpack(v) for v in x)
    return x


def _arrays(args: tuple) -> list[tuple[tuple[int, ...], np.ndarray]]:
    """(position, array) of each writeable array argument (one level into tuples)."""
    out = []
    for i, a in enumerate(args):
        for j, v in enumerate(a) if isinstance(a, tuple) else [(-1, a)]:
            if isinstance(v, np.ndarray) and v.flags.writeable:
                out.append(((i,) if j < 0 else (i, j), v))
    return out  # type: ignore[return-value]


def _outcome(module: ModuleType, name: str, args: tuple, kwargs: dict, timeout: float) -> tuple:
    """("ok", result, {position: new value of a modified argument}) | ("raised", type,
    builtin?, message, frames) | ("exit", text) | ("timeout",)."""
    args = _unpack(args)
    before = [(at, a, a.tobytes()) for at, a in _arrays(args)]
    signal.signal(signal.SIGALRM, _alarm)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                result = getattr(module, name)(*args, **kwargs)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        changed = {at: np.array(a) for at, a, b in before if a.tobytes() != b}
        return ("ok", _portable(result), changed, _warned(caught))
    except _Timeout:
        return ("timeout",)
    except SystemExit as exc:
        return ("exit", f"called sys.exit({exc.code!r})" if exc.code is not None
                else "called sys.exit()")
    except BaseException as exc:  # noqa: B036 - KeyboardInterrupt and kin become verdicts
        tb = traceback.extract_tb(exc.__traceback__)[1:]
        kind = type(exc)
        try:
            text = str(exc)
        except BaseException:  # noqa: B036 - a __str__ that raises
            text = f"<{kind.__name__} whose str() raised>"
        if not isinstance(exc, Exception):
            return ("exit", f"raised {kind.__name__}" + (f": {text}" if text else ""))
        return ("raised", kind.__name__, getattr(builtins, kind.__name__, None) is kind, text,
                list(tb))


def _alarm(signum: int, frame: Any) -> None:
    raise _Timeout()


def _warned(caught: list[warnings.WarningMessage]) -> list[tuple[str, str]]:
    """(category name, message) of each warning a call raised: the parent raises them again
    (where a check records them as notes, as for a module checked in-process), instead of
    the worker printing them."""
    return [(w.category.__name__, str(w.message)) for w in caught]


def _describe(module: ModuleType, names: Sequence[str]) -> dict[str, tuple]:
    """name -> ("call",) | ("value", pickled) | ("error", message) for what the parent needs."""
    out: dict[str, tuple] = {}
    own = {k: v for k, v in vars(module).items() if not k.startswith("__")}
    for name in dict.fromkeys([*own, *names]):
        try:
            value = own[name] if name in own else getattr(module, name)
        except AttributeError:
            continue
        except BaseException as exc:  # noqa: B036 - a module __getattr__ that misbehaves
            out[name] = ("error", f"getting {name} from the module raised "
                         f"{type(exc).__name__}: {exc}")
            continue
        if callable(value):
            out[name] = ("call",)
        elif name in _DATA or name in names:
            out[name] = ("value", value) if _plain(value) else ("inprocess",)
    return out


def _plain(x: Any, depth: int = 0) -> bool:
    """Plain data (numbers, strings, None, and containers of them): safe to unpickle here."""
    if x is None or isinstance(x, (bool, int, float, complex, str, np.number, np.bool_)):
        return True
    if isinstance(x, (tuple, list, set, frozenset)) and depth < 6:
        return all(_plain(v, depth + 1) for v in x)
    if isinstance(x, dict) and depth < 6:
        return all(_plain(k, depth + 1) and _plain(v, depth + 1) for k, v in x.items())
    return False


#: imported by a worker before it is given a module: what loading one needs, and impl (which
#: users' modules often import)
BOOT = ("gradverify.loader", "gradverify.impl")
#: the contracts' machinery: a spare imports it while it waits; a worker given its module at
#: once (the shell's) when it first runs contracts, after the matrix's first calls
PRELOAD = ("gradverify.suite", "gradverify.supports", "gradverify.declared",
           "gradverify.contracts")
#: seconds a booted worker waits for its module before it imports ``PRELOAD`` and warms up
SPARE_AFTER = 0.3
_BOOT_PATH: list[str] = []  # sys.path before the user's module: PRELOAD is imported with it


def _import_all(names: Sequence[str]) -> None:
    """Import ``names`` as at boot (a user's module that put its folder first on sys.path
    does not shadow what the suite imports)."""
    import importlib

    saved = sys.path[:]
    if _BOOT_PATH:
        sys.path[:] = _BOOT_PATH
    try:
        for name in names:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: S112 - the load or the contracts report what matters
                continue
    finally:
        sys.path[:] = saved


def _child() -> None:
    """The worker process's entry point: its connection is the file descriptor in argv. It
    imports ``BOOT``, then waits for its module; a spare (no module within ``SPARE_AFTER``
    seconds) imports ``PRELOAD`` and warms the contracts up meanwhile."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _die_with_parent()
    conn = Connection(int(sys.argv[1]))
    _BOOT_PATH[:] = sys.path
    _import_all(BOOT)
    if not conn.poll(SPARE_AFTER):  # a spare, with time to spare
        _import_all(PRELOAD)
        if not conn.poll(0):
            _warm_up()
    try:
        target, names, memory, timeout, path, cwd, environ = conn.recv()
    except EOFError:  # a spare no one needed
        return
    os.environ.update(environ)  # the caller's environment now (a spare started earlier)
    os.chdir(cwd)
    for entry in path:  # the caller's import path, after the worker's own imports
        entry = entry or cwd
        if entry not in sys.path:
            sys.path.append(entry)
    _serve(conn, target, names, memory, timeout)


def _die_with_parent() -> None:
    """On Linux, the kernel kills the worker when its parent ends (PR_SET_PDEATHSIG), however
    the parent ends: no worker is left running a user's endless loop."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _warm_up() -> None:
    """One op's contracts on impl, thrown away: the imports and caches the first contracts
    run builds (a third of a check's contracts time when done on the user's module)."""
    try:
        from .catalog import OP_NAMES
        from .impl import __name__ as impl_name

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from .worker_contracts import op_contracts

            op_contracts(sys.modules[impl_name], 5.0, "sigmoid", frozenset(OP_NAMES),
                         ("numeric",), 0, {})
    except Exception:  # noqa: S110 - only a head start
        pass


def _serve(conn: Connection, target: str, names: Sequence[str], memory: int,
           timeout: float) -> None:
    """The worker: load ``target``, describe it, then answer batches of calls until EOF."""
    from .loader import ImplLoadError, load_impl

    conn.send(("booted",))
    try:
        soft, hard = resource_limits(memory)
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    except (ImportError, ValueError, OSError):
        pass  # no RLIMIT_AS here (not POSIX) or a hard limit below ours
    try:
        module = load_impl(target, flag="")
        conn.send(("loaded", module.__name__, getattr(module, "__file__", None),
                   _describe(module, names)))
    except ImplLoadError as exc:
        conn.send(("load-error", str(exc)))
        return
    except SystemExit as exc:
        conn.send(("load-error", f"{target}: importing it called sys.exit({exc.code!r})"))
        return
    except BaseException as exc:  # noqa: B036
        conn.send(("load-error", f"{target}: importing it raised {type(exc).__name__}: {exc}"))
        return
    while True:
        try:
            name, calls, *err = pickle.loads(conn.recv_bytes())
        except EOFError:
            return
        with np.errstate(**(err[0] if err else {})):  # the caller's, around these calls
            results = _answer(module, names, name, calls, timeout)
        try:
            conn.send_bytes(pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:  # the parent is gone (it stopped the run): nothing to answer
            return


def _answer(module: ModuleType, names: Sequence[str], name: str, calls: list,
            timeout: float) -> list[tuple]:
    """The outcomes of one message: a batch of calls of ``name``, or the contracts of an op
    (``CONTRACTS``), or the unused functions (``UNUSED``)."""
    results: list[tuple] = []
    if name in (UNUSED, CONTRACTS, CONTRACT):
        _import_all(PRELOAD)  # imported already, unless the module came at once
    if name == UNUSED:  # asked at the end: the suite's side is imported by then
        results.append(("ok", _unused(module, names), {}))
        calls = []
    elif name in (CONTRACTS, CONTRACT):  # contracts run here (they use no reference)
        from . import worker_contracts

        run = worker_contracts.op_contracts if name == CONTRACTS else worker_contracts.one
        try:
            results.append(("ok", run(module, timeout, *calls[0][0]), {}))
        except Exception as exc:
            results.append(("raised", type(exc).__name__, False, str(exc), []))
        calls = []
    for args, kwargs in calls:
        results.append(_outcome(module, name, args, kwargs, timeout))
        if results[-1][0] != "ok" and results[-1][0] != "raised":
            break
    return results


def _unused(module: ModuleType, names: Sequence[str]) -> list | None:
    """``gradverify.suite.unused`` of the module, computed here where its functions are."""
    try:
        from .declared import declared_ops
        from .suite import unused

        ops = {n for n in names if f"{n}_backward" in names}
        return unused(module, ops | {spec.name for spec, _ in declared_ops(module)})
    except Exception:
        return None


def resource_limits(memory: int) -> tuple[int, int]:
    """(soft, hard) RLIMIT_AS values no looser than the current hard limit."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = memory if hard == resource.RLIM_INFINITY else min(memory, hard)
    return limit, hard
