"""The edit-run loop, measured: a cold run (empty reference cache) against warm runs.

    python -m tools.bench_loop [--workers 2] [--impl impl] [--warm 3] [--full] [--cold-jax]
                               [--floor] [--env-bytecode]

In one invocation, with a fresh temporary ``GRADVERIFY_CACHE``: ``pytest tests -n W`` cold, then
the same command ``--warm`` times (the cache now full), then a serial warm run with per-phase
CPU times per case (setup, call, teardown, the whole protocol: this module is also the pytest
plugin that measures them), the collection time, and with ``--full`` the full default run
(tests and meta-tests) cold. ``--cold-jax`` also gives the cold run an empty JAX compilation
cache (a clean clone); by default jax's persistent compilation cache is left as it is, so the
cold run is what every run cost before the reference cache. ``--floor`` also times as many
trivial tests (``assert i >= 0``, pytest's default plugins, outside this project) with the same
workers and serially: what pytest and pytest-xdist cost per test doing nothing. Each run
records its wall time, its CPU time (children's user + system) and the load average before it,
since the machine may be shared: the CPU time is the steadier number. Python bytecode (and
pytest's rewritten test modules, hypothesis's among them) is cached under a temporary
``PYTHONPYCACHEPREFIX`` as a usual setup caches it; ``--env-bytecode`` keeps
``PYTHONDONTWRITEBYTECODE`` as the environment sets it.
Writes ``reports/bench_loop.md``.
Never part of the test suite (no timed assertions anywhere).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "reports" / "bench_loop.md"
PHASES_ENV = "GRADVERIFY_BENCH_PHASES"


# -- the pytest plugin (``-p tools.bench_loop``): CPU per phase per case ---------------------
_T: dict[str, float] = {"setup": 0.0, "call": 0.0, "teardown": 0.0, "protocol": 0.0, "n": 0}


def _timed(phase: str) -> Any:
    import pytest

    @pytest.hookimpl(hookwrapper=True)
    def hook(*args: Any, **kwargs: Any) -> Any:
        t = time.process_time()
        yield
        _T[phase] += time.process_time() - t
        _T["n"] += phase == "protocol"

    return hook


STATS_ENV = "GRADVERIFY_BENCH_STATS"

_MISSED: list[str] = []

if os.environ.get(STATS_ENV):
    import pytest

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(item: Any) -> Any:
        from gradverify.reference import cache

        misses = cache.STATS["misses"]
        yield
        if cache.STATS["misses"] != misses:
            _MISSED.append(f"{item.nodeid} ({cache.STATS['misses'] - misses})")

    def pytest_sessionfinish(session: Any) -> None:
        """Append this process's cache hits and misses (each xdist worker writes a line)."""
        from gradverify.reference import cache

        with open(os.environ[STATS_ENV], "a") as f:
            f.write(json.dumps({**cache.STATS, "missed": _MISSED}) + "\n")


if os.environ.get(PHASES_ENV):
    pytest_runtest_setup = _timed("setup")
    pytest_runtest_call = _timed("call")
    pytest_runtest_teardown = _timed("teardown")
    pytest_runtest_protocol = _timed("protocol")

    def pytest_unconfigure(config: Any) -> None:
        n = _T["n"] or 1
        out = {k: 1e6 * v / n for k, v in _T.items() if k != "n"} | {"n": _T["n"]}
        Path(os.environ[PHASES_ENV]).write_text(json.dumps(out))


# -- the benchmark -----------------------------------------------------------------------------
def run(cmd: list[str], env: dict[str, str], cwd: Path = ROOT,
        plugin: bool = True) -> dict[str, Any]:
    """Run ``cmd`` in ``cwd`` (at the repository root with this module as a plugin): wall and
    CPU seconds, load, the last line, and the reference cache's hits and misses summed over
    the processes."""
    stats = Path(env["GRADVERIFY_CACHE"] + ".stats")
    stats.unlink(missing_ok=True)
    env = {**env, STATS_ENV: str(stats)}
    cmd = [*cmd, "-p", "tools.bench_loop"] if cwd == ROOT and plugin else cmd
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]
    lines = stats.read_text().splitlines() if stats.is_file() else []
    hits = sum(json.loads(x)["hits"] for x in lines)
    misses = sum(json.loads(x)["misses"] for x in lines)
    missed = [m for x in lines for m in json.loads(x)["missed"]]
    if missed and hits:
        print(f"  missed: {missed[:10]}", flush=True)
    print(f"  {wall:6.1f} s wall, {cpu:6.1f} s CPU, load {load:.1f}, cache {hits} hits "
          f"{misses} misses: {tail}", flush=True)
    return {"wall": wall, "cpu": cpu, "load": load, "rc": done.returncode, "tail": tail,
            "hits": hits, "misses": misses, "missed": missed}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", default="2", help="pytest-xdist workers (default 2)")
    ap.add_argument("--impl", default="impl", help="a correct module under test (default impl)")
    ap.add_argument("--warm", type=int, default=3, help="warm runs (default 3; the median counts)")
    ap.add_argument("--full", action="store_true", help="also the full default run, cold")
    ap.add_argument("--cold-jax", action="store_true",
                    help="an empty jax compilation cache for the cold runs too")
    ap.add_argument("--floor", action="store_true",
                    help="also time as many trivial tests: pytest's and xdist's own cost")
    ap.add_argument("--env-bytecode", action="store_true",
                    help="keep PYTHONDONTWRITEBYTECODE as the environment sets it (default: "
                    "write bytecode under a temporary PYTHONPYCACHEPREFIX, as a usual setup "
                    "caches it; pytest's rewritten test modules and hypothesis included)")
    ap.add_argument("--student", default="examples/three_ops.py",
                    help="the student's loop: a module with a few ops, timed warm with "
                    "pytest --impl= and python -m gradverify (default examples/three_ops.py)")
    ap.add_argument("--no-write", action="store_true", help=f"do not write {REPORT.name}")
    args = ap.parse_args(argv)

    py = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--impl={args.impl}"]
    tests = [*py, "tests", "-n", args.workers]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="gradverify-bench-") as tmp:
        env = {**os.environ, "GRADVERIFY_CACHE": str(Path(tmp) / "cache")}
        if not args.env_bytecode:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        cold_env = dict(env)
        if args.cold_jax:
            cold_env["GRADVERIFY_JAX_CACHE"] = str(Path(tmp) / "jax")
        print(f"cold: {' '.join(tests[1:])}", flush=True)
        results["cold"] = run(tests, cold_env)
        results["warm"] = []
        for i in range(args.warm):
            print(f"warm {i + 1}:", flush=True)
            results["warm"].append(run(tests, env))
        print("collection only:", flush=True)
        results["collect"] = run([*py, "tests", "-p", "no:xdist", "--collect-only"], env)
        student = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                   f"--impl={args.student}", "tests"]
        print(f"the student's loop, warm: pytest --impl={args.student} (serial), twice; "
              f"the same for --impl={args.impl}", flush=True)
        results["student"] = [run(student, env) for _ in range(2)]
        results["whole_serial"] = run([*py, "tests", "-p", "no:xdist"], env)
        cli = [sys.executable, "-m", "gradverify", args.student]
        print(f"python -m gradverify {args.student}, warm, twice", flush=True)
        results["cli"] = [run(cli, env, plugin=False) for _ in range(2)]
        phases = Path(tmp) / "phases.json"
        print("serial warm run, CPU per phase per case:", flush=True)
        results["serial"] = run([*py, "tests", "-p", "no:xdist"], {**env, PHASES_ENV: str(phases)})
        results["phases"] = json.loads(phases.read_text()) if phases.is_file() else {}
        if args.floor:
            floor = Path(tmp) / "floor"
            floor.mkdir()
            (floor / "pytest.ini").write_text("[pytest]\n")  # not this project's options
            n = int(results["phases"].get("n", 0)) or 11126
            (floor / "test_floor.py").write_text(
                f"import pytest\n\n\n@pytest.mark.parametrize('i', range({n}))\n"
                "def test_floor(i):\n    assert i >= 0\n")
            trivial = [sys.executable, "-m", "pytest", "-q", "test_floor.py"]
            print(f"floor: {n} trivial tests, -n {args.workers} and serial", flush=True)
            results["floor"] = run([*trivial, "-n", args.workers], env, floor)
            results["floor_serial"] = run([*trivial, "-p", "no:xdist"], env, floor)
            results["floor_n"] = n
        if args.full:
            full_env = {**cold_env, "GRADVERIFY_CACHE": str(Path(tmp) / "full")}
            print(f"full default run, cold: pytest -n {args.workers}", flush=True)
            results["full"] = run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                                   "-n", args.workers], full_env)
    text = render(results, args)
    print(text)
    if not args.no_write:
        REPORT.write_text(text)
        print(f"written to {REPORT.relative_to(ROOT)}")
    return 0


def render(r: dict[str, Any], args: argparse.Namespace) -> str:
    cold, warm = r["cold"], r["warm"]
    walls = [w["wall"] for w in warm] or [float("nan")]
    med = statistics.median(walls)
    med_cpu = statistics.median([w["cpu"] for w in warm] or [float("nan")])
    ph = r.get("phases", {})

    def row(name: str, x: dict[str, Any]) -> str:
        return (f"| {name} | {x['wall']:.1f} | {x['cpu']:.1f} | {x['load']:.1f} | "
                f"{x['hits']} / {x['misses']} | {x['rc']} | {x['tail']} |")

    lines = [
        "# The edit-run loop: cold against warm",
        "",
        f"`python -m tools.bench_loop --workers {args.workers} --impl {args.impl} "
        f"--warm {args.warm}{' --full' if args.full else ''}"
        f"{' --cold-jax' if args.cold_jax else ''}{' --floor' if 'floor' in r else ''}"
        f"{' --env-bytecode' if args.env_bytecode else ''}`, on {os.cpu_count()} cores "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}). CPU is the children's user + "
        "system time; load is the 1-minute load average just before the run (this machine is "
        "shared: wall times move with it, CPU times much less).",
        "",
        "| run | wall s | CPU s | load | cache hits / misses | exit | result |",
        "|---|---|---|---|---|---|---|",
        row("cold (empty reference cache)", cold),
        *(row(f"warm {i + 1}", w) for i, w in enumerate(warm)),
        row("collection only (serial)", r["collect"]),
        row("serial warm, phases measured", r["serial"]),
        *([row(f"floor: {r['floor_n']} trivial tests, -n {args.workers}", r["floor"]),
           row(f"floor: {r['floor_n']} trivial tests, serial", r["floor_serial"])]
          if "floor" in r else []),
        *([row("full default run (tests + meta-tests), cold", r["full"])] if "full" in r else []),
        *(row(f"student: pytest --impl={args.student}, warm {i + 1}", x)
          for i, x in enumerate(r.get("student", []))),
        *([row(f"pytest --impl={args.impl} tests, serial warm", r["whole_serial"])]
          if "whole_serial" in r else []),
        *(row(f"student: python -m gradverify {args.student}, warm {i + 1}", x)
          for i, x in enumerate(r.get("cli", []))),
        "",
        f"Warm / cold: {med / cold['wall']:.1%} of the wall time (median warm {med:.1f} s against "
        f"{cold['wall']:.1f} s), {med_cpu / cold['cpu']:.1%} of the CPU time.",
    ]
    if r.get("student") and "whole_serial" in r:
        st = min(x["wall"] for x in r["student"])
        whole = r["whole_serial"]["wall"]
        cli = min(x["wall"] for x in r["cli"])
        lines += [
            "",
            f"The student's loop (targets: pytest --impl on a module with 3 ops ≤ 20% of the "
            f"warm run of the whole impl, python -m gradverify on it ≤ 2 s): pytest "
            f"{st:.1f} s = {st / whole:.1%} of {whole:.1f} s "
            f"({'met' if st <= 0.2 * whole else 'missed'}); python -m gradverify {cli:.1f} s "
            f"({'met' if cli <= 2 else 'missed'}).",
        ]
    if "floor" in r:
        f = r["floor"]
        lines += [
            "",
            f"Above the floor: the median warm run takes {med - f['wall']:.1f} s wall and "
            f"{med_cpu - f['cpu']:.1f} s CPU more than {r['floor_n']} tests that do nothing "
            f"({f['wall']:.1f} s wall, {f['cpu']:.1f} s CPU with -n {args.workers}).",
        ]
    if ph:
        lines += [
            "",
            f"Serial warm run, CPU µs per case ({ph['n']} cases): setup {ph['setup']:.0f}, "
            f"call {ph['call']:.0f}, teardown {ph['teardown']:.0f}; whole protocol (with "
            f"reporting) {ph['protocol']:.0f}.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
