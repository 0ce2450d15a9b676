"""Spare workers for ``gradverify.isolate``: a process that has started Python, numpy and the
suite's side of a worker (``gradverify.isolate_worker.BOOT`` and ``PRELOAD``) and waits for
its module.

``spawn()`` starts one; ``keep()`` holds one for the next isolated check (in a notebook, or a
class run: ``spares_wanted``), so that check starts in milliseconds instead of the ~0.4 s a
fresh worker takes; ``take()`` hands it over. Spares end with this process.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing as mp
import subprocess
import sys
from multiprocessing.connection import Connection
from typing import Any

_WAITING: list[tuple[Any, Connection]] = []


def spawn() -> tuple[Any, Connection]:
    """A worker process that imports the suite's side (``PRELOAD``) and waits for a module
    (warming the contracts up while nothing is sent)."""
    here, there = mp.Pipe()  # a socket pair: multiprocessing's pickled messages over it
    # a fresh interpreter (no fork of a process holding torch or jax, no re-run of the
    # caller's __main__ as multiprocessing's spawn does); the code drops the script's
    # folder or the cwd from sys.path before anything is imported
    code = "import sys; sys.path.pop(0); from gradverify.isolate_worker import _child; _child()"
    process = subprocess.Popen([sys.executable, "-c", code, str(there.fileno())],
                               pass_fds=[there.fileno()], stdin=subprocess.DEVNULL)
    there.close()
    return process, here


def waiting() -> int:
    """How many spares are waiting (alive)."""
    return sum(p.poll() is None for p, _ in _WAITING)


def take() -> tuple[Any, Connection] | None:
    while _WAITING:
        process, conn = _WAITING.pop()
        if process.poll() is None:
            return process, conn
        conn.close()
    return None


#: workers an isolated check takes: one for the module's calls, one for its contracts
#: (``gradverify.isolate_contracts``; with one, the first worker runs the contracts while
#: this process checks the matrix: what a class run with ``-j 2`` or more wants, where the
#: cores are busy with other modules)
PER_CHECK = 2


def keep(n: int | None = None) -> None:
    """Have ``n`` (default ``PER_CHECK``) workers waiting, booted, for the next isolated check
    (the next ``gradverify.check`` in a notebook then starts in milliseconds, not the ~0.4 s a
    Python with numpy and the suite takes to start); they end with this process."""
    while len(_WAITING) < (PER_CHECK if n is None else n):
        _WAITING.append(spawn())


def spares_wanted() -> bool:
    """Whether ``gradverify.check`` keeps a spare worker: in an interactive session (a
    notebook, IPython, the REPL) where the next check comes, or when ``SPARES`` says so
    (a class run); not in a one-shot script."""
    return SPARES or hasattr(sys, "ps1") or "IPython" in sys.modules


#: set by a caller that checks many modules in a row (``gradverify.classrun``)
SPARES = False


@atexit.register
def _drop_spares() -> None:
    while _WAITING:
        process, conn = _WAITING.pop()
        conn.close()
        process.kill()  # a spare holds nothing
        with contextlib.suppress(Exception):
            process.wait(1)
