"""What isolating the module under test costs (issue 22's target: a warm check grows by at
most 20%), and a class run's time.

    python -m tools.bench_isolation [--module examples/three_ops.py] [--repeat 7] [--class-size 30]

Measured, warm (the reference cache filled first), with the in-process and the isolated runs
alternated and the median taken, since the machine may be shared:
- ``gradverify.check(module)`` in one Python process (a notebook): ``isolate=False`` against
  the default (supervised workers: one for the calls, one for the contracts, which run on
  the other core meanwhile; spares wait for the next check, as in a notebook), 1.5 s apart;
- ``python -m gradverify module`` (the student's loop in a shell): ``--no-isolate`` against
  the default; the same for the whole of impl (``gradverify.impl``: all its ops, a correct
  module of every shape), ``--whole-repeat`` times; ``pytest --impl=module tests`` against
  ``--isolate`` (opt-in there), ``--whole-repeat`` + 2 times;
- a worker's start (fresh, and from a spare) and one round trip of a small call;
- a class run of ``--class-size`` modules (copies of the module, every third with a wrong
  backward) with ``-j 1`` and ``-j 2``.
Bytecode is written under a temporary ``PYTHONPYCACHEPREFIX`` (``--env-bytecode``: as the
environment says). Writes ``reports/bench_isolation.md``. Never part of the test suite (no
timed assertions).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "reports" / "bench_isolation.md"
WRONG = "\n\ndef sigmoid_backward(g, z):  # the mistake: the derivative without g\n" \
    "    s = 1 / (1 + np.exp(-z))\n    return s * (1 - s)\n"


def _wall(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def in_one_process(module: str, repeat: int) -> dict[str, float]:
    import gradverify
    from gradverify import spares

    spares.SPARES = True  # as in a notebook: the next check's worker waits, booted
    warnings.simplefilter("ignore")
    gradverify.check(module, isolate=False)
    gradverify.check(module, isolate=True)
    runs: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(repeat):
        for iso in (False, True):
            time.sleep(1.5)  # as between a notebook's checks: the spares are booted, idle
            runs[iso].append(_wall(lambda iso=iso: gradverify.check(module, isolate=iso)))
    return {"in-process": statistics.median(runs[False]),
            "isolated": statistics.median(runs[True])}


def cli(module: str, repeat: int, pytest: bool = False) -> dict[str, float]:
    """Alternated shell runs: ``python -m gradverify module`` (``--no-isolate`` against the
    default) or, with ``pytest``, ``pytest --impl=module tests`` (against ``--isolate``)."""
    base = [sys.executable, "-m", "gradverify", module]
    local, isolated = ["--no-isolate"], []
    if pytest:
        base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                f"--impl={module}", "tests"]
        local, isolated = [], ["--isolate"]
    run = lambda extra: _wall(lambda: subprocess.run(  # noqa: E731
        [*base, *extra], cwd=ROOT, capture_output=True, check=False))
    run(local)
    run(isolated)
    runs: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(repeat):
        runs[False].append(run(local))
        runs[True].append(run(isolated))
    return {"in-process": statistics.median(runs[False]),
            "isolated": statistics.median(runs[True])}


def worker_costs(module: str) -> dict[str, float]:
    import numpy as np

    from gradverify import isolate, spares
    from gradverify.catalog import OP_NAMES

    names = isolate.wanted_names(OP_NAMES)
    spares.SPARES = False
    while (spare := spares.take()) is not None:  # measure a fresh start
        spare[0].kill()
        spare[1].close()
    fresh = []
    for _ in range(3):
        t = time.perf_counter()
        m = isolate.open_isolated(module, names)
        fresh.append(time.perf_counter() - t)
        m.close()
    spares.keep()
    time.sleep(3)  # booted and warmed up
    t = time.perf_counter()
    m = isolate.open_isolated(module, names)
    spare = time.perf_counter() - t
    z, g = np.random.default_rng(0).standard_normal((2, 3, 4))
    m.sigmoid_backward(g, z)
    n = 300
    t = time.perf_counter()
    for _ in range(n):
        m.sigmoid_backward(g, z)
    call = (time.perf_counter() - t) / n
    m.close()
    return {"fresh": statistics.median(fresh), "spare": spare, "call": call}


def class_run(module: str, size: int) -> dict[str, float]:
    source = (ROOT / module).read_text()
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="gradverify-class-") as tmp:
        folder = Path(tmp) / "submissions"
        folder.mkdir()
        for k in range(size):
            text = source + (WRONG if k % 3 == 2 else "")
            if k % 3 == 2 and "import numpy as np" not in text:
                text = "import numpy as np\n" + text
            (folder / f"student_{k:02d}.py").write_text(text)
        for jobs in (1, 2):
            dest = Path(tmp) / f"out{jobs}"
            t = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "gradverify", str(folder), "-j",
                                   str(jobs), "--out", str(dest)], cwd=ROOT, capture_output=True)
            out[f"j{jobs}"] = time.perf_counter() - t
            out[f"rc{jobs}"] = done.returncode
            table = dest / "class.md"
            out[f"rows{jobs}"] = table.read_text().count("student_") if table.is_file() else 0
    return out


def render(args: argparse.Namespace, nb: dict, sh: dict, whole: dict, pt: dict, w: dict,
           cls: dict) -> str:
    def grow(d: dict) -> str:
        g = d["isolated"] / d["in-process"] - 1
        return f"{100 * g:+.0f}% ({'met' if g <= 0.20 else 'missed'}: target ≤ +20%)"

    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "# What isolation costs",
        "",
        f"`python -m tools.bench_isolation --module {args.module} --repeat {args.repeat} "
        f"--whole-repeat {args.whole_repeat} --class-size {args.class_size}`, "
        f"{os.cpu_count()} cores, bytecode "
        f"{'as the environment says' if args.env_bytecode else 'cached'}, {when}, load "
        f"{os.getloadavg()[0]:.1f}. Warm reference cache; medians of alternated runs.",
        "",
        "| warm check of a correct module | in-process s | isolated s | growth |",
        "|---|---|---|---|",
        f"| `gradverify.check` in one process (a notebook) | {nb['in-process']:.3f} | "
        f"{nb['isolated']:.3f} | {grow(nb)} |",
        f"| `python -m gradverify` (a shell) | {sh['in-process']:.3f} | {sh['isolated']:.3f} | "
        f"{grow(sh)} |",
        f"| `python -m gradverify gradverify.impl` (all {whole['ops']} ops, a shell) | "
        f"{whole['in-process']:.3f} | {whole['isolated']:.3f} | {grow(whole)} |",
        f"| `pytest --impl={args.module} tests` against `--isolate` (opt-in) | "
        f"{pt['in-process']:.3f} | {pt['isolated']:.3f} | {grow(pt)} |",
        "",
        f"A worker's start: {1e3 * w['fresh']:.0f} ms fresh (Python, numpy, the loader and impl, "
        f"the module), {1e3 * w['spare']:.0f} ms from a spare worker; one round trip of a "
        f"small call: {1e6 * w['call']:.0f} µs.",
        "",
        f"A class run of {args.class_size} modules (every third with a wrong backward): "
        f"{cls['j1']:.1f} s with `-j 1` ({cls['j1'] / args.class_size:.2f} s a module), "
        f"{cls['j2']:.1f} s with `-j 2`; exit status {cls['rc1']:.0f}, "
        f"{cls['rows1']:.0f} rows in class.md.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--module", default="examples/three_ops.py")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--class-size", type=int, default=30)
    ap.add_argument("--whole-repeat", type=int, default=3)
    ap.add_argument("--env-bytecode", action="store_true",
                    help="keep PYTHONDONTWRITEBYTECODE as the environment sets it (default: "
                    "bytecode under a temporary PYTHONPYCACHEPREFIX, as a usual setup caches "
                    "it: otherwise each process compiles numpy and the suite again)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gradverify-bench-") as tmp:
        if not args.env_bytecode:  # for the shells and workers started from here
            os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
            os.environ["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        return _measure(args)


def _measure(args: argparse.Namespace) -> int:
    print("gradverify.check, in one process ...", flush=True)
    nb = in_one_process(args.module, args.repeat)
    print(f"  {nb}\npython -m gradverify ...", flush=True)
    sh = cli(args.module, args.repeat)
    print(f"  {sh}\npython -m gradverify gradverify.impl ...", flush=True)
    from gradverify.catalog import OP_NAMES

    whole = {**cli("gradverify.impl", args.whole_repeat), "ops": len(OP_NAMES)}
    print(f"  {whole}\npytest --impl={args.module} tests [--isolate] ...", flush=True)
    pt = cli(args.module, args.whole_repeat + 2, pytest=True)
    print(f"  {pt}\nworker start and round trip ...", flush=True)
    w = worker_costs(args.module)
    print(f"  {w}\nclass run ...", flush=True)
    cls = class_run(args.module, args.class_size)
    text = render(args, nb, sh, whole, pt, w, cls)
    print(text)
    if not args.no_write:
        REPORT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
