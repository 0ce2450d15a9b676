"""What keeps isolation cheap (issue 22: a warm check grows by at most 20%, measured by
``python -m tools.bench_isolation``) without changing a verdict: an op's matrix calls in one
round trip per function (gradverify.prefetch), spare workers (gradverify.spares), and the
user's warnings relayed as notes. Finite differences only: no framework needed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import gradverify
from gradverify import isolate, prefetch, spares

ROOT = Path(__file__).resolve().parent.parent
MODULE = str(ROOT / "examples" / "three_ops.py")
REFS = ["numeric"]


def _trips(monkeypatch: pytest.MonkeyPatch, **kw) -> tuple[dict[str, str], int]:
    """Verdicts of an isolated check and the round trips its worker made."""
    seen: list[int] = []
    close = isolate.close

    def counting(module):
        worker = getattr(module, "gradverify_worker", None)
        seen.append(worker.trips if worker is not None else -1)
        close(module)

    monkeypatch.setattr(isolate, "close", counting)
    report = gradverify.check(MODULE, references=REFS, **kw)
    return report.verdicts(), seen[0]


def test_prefetch_answers_an_op_in_a_few_round_trips_and_changes_no_verdict(
        monkeypatch: pytest.MonkeyPatch) -> None:
    verdicts, trips = _trips(monkeypatch)
    with monkeypatch.context() as m:
        m.setattr(prefetch, "plan", lambda *a, **k: {})  # every call its own round trip
        plain, plain_trips = _trips(m)
    local = gradverify.check(MODULE, references=REFS, isolate=False).verdicts()
    assert verdicts == plain == local
    assert all(v.startswith("ok (") for k, v in verdicts.items() if k != "mse_jacobian"), verdicts
    assert 0 < trips * 3 < plain_trips, (trips, plain_trips)


def test_a_spare_worker_serves_the_next_check_with_the_callers_folder_and_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A spare started before the caller changed folder and environment still loads the
    module from the folder and sees the variable (both are sent when it is taken)."""
    spares.keep()
    time.sleep(0.5)
    (tmp_path / "env_grads.py").write_text(
        "import os\nimport numpy as np\n\n\ndef relu(x):\n"
        "    return np.maximum(x, 0) * float(os.environ['GV_SCALE'])\n\n\n"
        "def relu_backward(g, x):\n    return g * (x > 0)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GV_SCALE", "1")
    monkeypatch.setattr(spares, "spares_wanted", lambda: False)  # as in a script
    waiting = len(spares._WAITING)
    report = gradverify.check("env_grads.py", references=REFS, ops=["relu"])
    assert waiting == 2 and len(spares._WAITING) == 0  # both spares taken, none kept
    assert report.verdicts()["relu"].startswith("ok ("), report.verdicts()
    assert report.verdicts()["relu_backward"].startswith("ok (")


def test_an_interactive_session_keeps_spares_and_a_script_does_not() -> None:
    code = ("import sys, gradverify; from gradverify import spares\n"
            f"gradverify.check({MODULE!r}, references=['numeric'], ops=['sigmoid'])\n"
            "print(len(spares._WAITING))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "0", out.stderr[-1500:]
    code = code.replace("import sys, gradverify;", "import sys, gradverify; sys.ps1 = '>>> ';")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)  # an interactive session keeps two
    assert out.stdout.strip().splitlines()[-1] == "2", out.stderr[-1500:]


def test_the_users_warnings_are_notes_not_the_workers_stderr(tmp_path: Path) -> None:
    (tmp_path / "warns.py").write_text(
        "import warnings\nimport numpy as np\n\n\ndef relu(x):\n    return np.maximum(x, 0)\n"
        "\n\ndef relu_backward(g, x):\n    warnings.warn('my relu_backward is careful')\n"
        "    return g * (x > 0)\n")
    out = subprocess.run([sys.executable, "-m", "gradverify", str(tmp_path / "warns.py"),
                          "--references", "numeric"], capture_output=True, text=True,
                         cwd=ROOT, timeout=120, env={**os.environ, "PYTHONWARNINGS": "default"})
    assert out.returncode == 0, out.stdout[-1500:] + out.stderr[-1500:]
    assert "careful" not in out.stderr, out.stderr[-1500:]
    report = gradverify.check(str(tmp_path / "warns.py"), references=REFS)
    notes = {n for r in report.records if r.function == "relu_backward" for n in r.notes}
    assert "my relu_backward is careful" in notes, notes


def test_batches_asked_ahead_never_block_on_a_full_pipe(tmp_path: Path) -> None:
    """``Worker.submit`` (the next op's calls and the contracts, asked for while this process
    checks): messages far larger than a socket's buffer, each way, with nothing read until
    ``drain``: a writer thread sends them, so neither side waits on the other forever."""
    import threading

    import numpy as np

    (tmp_path / "echo.py").write_text("def relu(x):\n    return x + 1\n")
    module = isolate.open_isolated(str(tmp_path / "echo.py"), ["relu"])
    worker = module.gradverify_worker
    got: list[tuple[int, float]] = []
    big = np.zeros(2**20)  # 8 MB a message and a reply

    def ask() -> None:
        for k in range(4):
            worker.submit("relu", [((big + k,), {})],
                          lambda out, k=k: got.append((k, float(out[0][1][0]))))
        worker.drain()

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    thread.join(60)
    alive = thread.is_alive()
    module.close()
    assert not alive, "submit/drain blocked on a full pipe"
    assert got == [(k, k + 1.0) for k in range(4)]
    assert worker.trips == 4


def test_a_hang_in_a_call_asked_ahead_fails_only_that_function(tmp_path: Path) -> None:
    """The worker hangs on a batch asked ahead (the second op's, while the first is checked):
    that function fails with the cause, the others are checked as without the hang."""
    source = (ROOT / "examples" / "three_ops.py").read_text()
    (tmp_path / "slow_mse.py").write_text(
        source + "\n\ndef mse_backward(*args, **kwargs):\n    while True:\n        pass\n")
    t = time.perf_counter()
    report = gradverify.check(str(tmp_path / "slow_mse.py"), references=REFS, timeout=1.0)
    wall = time.perf_counter() - t
    verdicts = report.verdicts()
    assert "did not return within 1 s" in verdicts["mse_backward"], verdicts
    assert all(verdicts[f].startswith("ok (") for f in verdicts if not f.startswith("mse")), \
        verdicts
    assert wall < 30, wall


@pytest.mark.parametrize("op", ["dense", "conv2d", "batchnorm", "softmax"])
def test_the_plan_answers_every_matrix_call_of_a_correct_module(
        op: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The calls ``gradverify.prefetch`` plans are those the checks make, down to the pickled
    bytes (a batch's kwargs: one dict each, as the check builds them): while the matrix of a
    correct layer runs, no call goes to the worker (each would be a round trip)."""
    from gradverify import api

    (tmp_path / "layer.py").write_text(f"from gradverify.impl import {op}, {op}_backward\n")
    during: list[int] = []
    runs = api._runs

    def counted(cases, module, *args, **kwargs):
        worker = module.gradverify_worker
        before = worker.trips
        out = runs(cases, module, *args, **kwargs)
        during.append(worker.trips - before)
        return out

    monkeypatch.setattr(api, "_runs", counted)
    report = gradverify.check(str(tmp_path / "layer.py"), references=REFS)
    assert report.passed, report
    assert during == [0], during
