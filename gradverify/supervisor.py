"""The parent's side of one worker process (``gradverify.isolate``): ``Worker`` starts it (a
spare one when waiting), sends it batches of calls, reads their outcomes in order, and stops
or restarts it when a call hangs, exits or crashes. ``Worker.submit`` sends a batch without
waiting for it (a writer thread, so that neither side blocks on a full pipe) and
``Worker.drain`` reads the replies: the next op's calls and the contracts run in the worker
while this process checks. Each batch carries numpy's error state here (``np.geterr()``):
the calls run under it there, as ``with np.errstate(...)`` around them would here."""

from __future__ import annotations

import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from . import spares
from .isolate_worker import CONTRACTS, Planned

#: seconds the worker may take to start (Python, numpy) before it loads the module
BOOT_TIMEOUT = 60.0
MEMO_SIZE = 4096  # batches; api.check clears the memo after each op


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
        ("loaded", name, file, attrs), or raise ``ImportError`` naming the cause."""
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
        data = pickle.dumps((name, calls, np.geterr()), protocol=pickle.HIGHEST_PROTOCOL)
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
        self.outbox.put(pickle.dumps((name, calls, np.geterr()), pickle.HIGHEST_PROTOCOL))
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
