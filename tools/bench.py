"""The benchmark job: run the benchmarks, measure this machine's ceilings, write the report.

    python -m tools.bench [--quick] [--sizes 1e6,1e7] [--threads N] [--baseline REV]
                          [pytest-benchmark options, e.g. --benchmark-compare]

Every contender gets the same threads (``--threads``, default: the usable cores): the run sets
OMP_NUM_THREADS, MKL_NUM_THREADS, OPENBLAS_NUM_THREADS and GRADVERIFY_NUM_THREADS, lets XLA
use its thread pool, and unsets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE for its own command (the
kernel numpy's OpenBLAS runs is printed in the report). ``--baseline REV`` times impl as it was
at git revision REV beside the current one ("impl@base"): before/after under the same load.

Writes reports/benchmarks.json (per benchmark: group, name, extra_info and summary statistics;
the ceilings and threads under ``machine_info``), reports/benchmarks.md and reports/bench_*.png.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from tools.bench_report import FRAMEWORKS, _fmt, _plots, _primitives, _targets

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "reports"
JSON = REPORTS / "benchmarks.json"
STATS = ("min", "median", "mean", "stddev", "rounds")


def ceilings() -> dict[str, float]:
    """A large copy's bandwidth (bytes read + written per second) and a large matmul's FLOP/s."""
    a = np.random.default_rng(0).standard_normal(2**25)  # 256 MiB
    b = np.empty_like(a)
    best = min(_time(lambda: np.copyto(b, a)) for _ in range(5))
    m = np.random.default_rng(1).standard_normal((2048, 2048))
    mm = min(_time(lambda: m @ m) for _ in range(3))
    return {"copy_GBps": 2 * a.nbytes / best / 1e9, "matmul_GFLOPs": 2 * 2048**3 / mm / 1e9}


def primitives() -> dict[str, dict[str, float]]:
    """Milliseconds per 10⁶ elements of the ufuncs the formulas are made of (one thread)."""
    return {dtype: _costs(np.random.default_rng(0).standard_normal(10**6).astype(dtype))
            for dtype in ("float32", "float64")}


def _costs(z: np.ndarray) -> dict[str, float]:
    from scipy.special import expit, ndtr

    o = np.empty_like(z)
    rows = z.reshape(-1, 100)
    fns = {"copy": lambda: np.copyto(o, z), "multiply": lambda: np.multiply(z, z, out=o),
           "divide": lambda: np.divide(z, z, out=o), "exp": lambda: np.exp(z, out=o),
           "tanh": lambda: np.tanh(z, out=o), "expit (scipy)": lambda: expit(z, out=o),
           "ndtr = Φ (scipy)": lambda: ndtr(z, out=o),
           "row max, rows of 100": lambda: np.max(rows, axis=1),
           "row sum, rows of 100": lambda: np.sum(rows, axis=1)}
    return {k: 1e3 * min(_time(f) for _ in range(5)) for k, f in fns.items()}


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_env(threads: int) -> dict[str, str]:
    """The environment of the benchmark's own commands: the same threads for everyone."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "GRADVERIFY_NUM_THREADS"):
        env[var] = str(threads)
    env["XLA_FLAGS"] = "" if threads > 1 else "--xla_cpu_multi_thread_eigen=false"
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(var, None)
    return env


def baseline(rev: str) -> str:
    """impl/ as it was at git revision ``rev``, extracted to a temporary directory."""
    tmp = Path(tempfile.mkdtemp(prefix="gradverify-base-"))
    archive = subprocess.run(["git", "archive", rev, "impl"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=__import__("io").BytesIO(archive)) as tar:
        tar.extractall(tmp, filter="data")
    return str(tmp / "impl")


def run(quick: bool, sizes: str, env: dict[str, str], extra: list[str]) -> int:
    REPORTS.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "pytest", "benchmarks", "-q", "-p", "no:cacheprovider",
           f"--benchmark-json={JSON}", "--benchmark-sort=name", "--benchmark-columns=mean",
           *(["--bench-quick"] if quick else []), *([f"--bench-sizes={sizes}"] if sizes else []),
           *extra]
    print(" ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT, env=env)


def _measure(env: dict[str, str]) -> dict:
    """Ceilings and primitive costs, measured in a process with the benchmark's threads."""
    code = ("import json; from tools.bench import ceilings, primitives; "
            "print(json.dumps({'ceilings': ceilings(), 'primitives': primitives()}))")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def _merge(previous: dict, selection: str, load: list[float]) -> None:
    """This run's benchmarks replace the previous JSON's of the same name; the rest stay."""
    data = json.loads(JSON.read_text())
    names = {b["name"] for b in data["benchmarks"]}
    data["benchmarks"] += [b for b in _trim(previous)["benchmarks"] if b["name"] not in names]
    mi = previous["machine_info"]
    data["machine_info"]["merged"] = [*mi.get("merged", []), {
        "selection": selection, "count": len(names),
        "load": f"{load[0]:.1f} to {load[1]:.1f}"}]
    data["machine_info"]["load"] = mi.get("load")
    JSON.write_text(json.dumps(data, indent=0))


def _trim(data: dict) -> dict:
    """Summary statistics only (pytest-benchmark also stores every round: megabytes)."""
    keep = ("group", "name", "extra_info")
    data["benchmarks"] = [{**{k: b[k] for k in keep},
                           "stats": {k: b["stats"][k] for k in STATS}} for b in data["benchmarks"]]
    return data


def report(measured: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ceil, prims = measured["ceilings"], measured.get("primitives", {})
    data = _trim(json.loads(JSON.read_text()))
    data["machine_info"].update(ceilings=ceil, primitives=prims, load=measured.get("load"))
    JSON.write_text(json.dumps(data, indent=0))  # ceilings: as measured before the run
    rows = [{**b["extra_info"], "mean": b["stats"]["mean"], "min": b["stats"]["min"],
             "group": b["group"]} for b in data["benchmarks"]]
    for r in rows:  # the ceilings measured inside the run replace the ones measured before it
        if r["kind"] == "ceiling" and r["op"] == "copy":
            ceil["copy_GBps"] = r["bytes"] / r["min"] / 1e9
        elif r["kind"] == "ceiling":
            ceil["matmul_GFLOPs"] = r["flops"] / r["min"] / 1e9
    mi = data["machine_info"]
    threads = mi.get("threads", {})
    lines = [
        "# Benchmarks: hand-written formulas against autodiff",
        "",
        f"Machine: {mi.get('cpu', {}).get('brand_raw', '?')}, {os.cpu_count()} cores (shared "
        f"with other jobs: expect noise); python {mi.get('python_version')}; measured "
        f"ceilings: copy **{ceil['copy_GBps']:.1f} GB/s** (bytes read + written, one thread), "
        f"2048² float64 matmul **{ceil['matmul_GFLOPs']:.0f} GFLOP/s** (numpy BLAS, same "
        "threads as the run), both measured inside the run (benchmarks `test_ceiling`). "
        "Times are the minimum over the rounds (pytest-benchmark), inputs "
        "converted before timing; jax.jit excludes its compile time (reported separately). "
        "Generated by `python -m tools.bench`.",
        "",
        *([f"Load average (1 min) at the start and the end of the run: "
           f"{measured['load'][0]:.1f} and {measured['load'][1]:.1f} on {os.cpu_count()} cores "
           "(other jobs share the machine: ratios move by ±50% between runs at this load).",
           ""] if measured.get("load") else []),
        *[f"Re-measured in a separate run (`{m['selection']}`, {m['count']} benchmarks, load "
          f"{m['load']}), merged into this report (those rows come from that run; "
          "ceilings from the last run that measured them)." for m in mi.get("merged", [])],
        "",
        "Threads per contender in this run:",
        "",
        *[f"- {who}: {n}" for who, n in threads.items()],
        "",
        "## VJP per op: impl / fastest framework, and impl's fraction of the copy bandwidth",
        "",
        "Bandwidth counts the bytes a backward must move at least (read z, the cotangent and "
        "targets, write dz); identity's VJP returns the cotangent itself (no bytes moved). "
        "`impl@base` (when present) is impl before issue 15, timed in the same run.",
        "",
    ]
    groups: dict[tuple, dict[str, dict]] = defaultdict(dict)
    for r in rows:
        if r["kind"] in ("elementwise", "axis", "loss"):
            groups[(r["op"], r["dtype"], r["size"])][r["who"]] = r
    base = any("impl@base" in by for by in groups.values())
    who_cols = ("impl", *(("impl@base",) if base else ()), *FRAMEWORKS)
    lines += ["| op | dtype | size | " + " | ".join(who_cols) + " | impl / fastest | "
              + ("base / fastest | " if base else "") + "impl GB/s (% of copy) | jax compile |",
              "|---" * (len(who_cols) + 6 + base) + "|"]
    for (op, dtype, size), by in sorted(groups.items()):
        if "impl" not in by:
            continue
        t = {w: by[w]["min"] for w in by}
        fw = min((t[w] for w in FRAMEWORKS if w in t), default=float("nan"))
        ratio = t["impl"] / fw
        gbps = by["impl"]["bytes"] / t["impl"] / 1e9
        comp = by.get("jax.jit", {}).get("compile_s", 0.0)
        mark = "**" if ratio > 1 else ""
        before = f" {t['impl@base'] / fw:.2f} |" if base and "impl@base" in t else (
            " – |" if base else "")
        bw = ("no copy" if op == "identity" else
              f"{gbps:.2f} ({100 * gbps / ceil['copy_GBps']:.0f}%)")
        lines.append(f"| {op} | {dtype} | {size:.0e} | "
                     + " | ".join(_fmt(t.get(w)) for w in who_cols)
                     + f" | {mark}{ratio:.2f}{mark} |{before} {bw} | {comp * 1e3:.0f} ms |")
    lines += ["", "## Dense backward (dX, dW, db): GFLOP/s against the matmul ceiling", "",
              "| shape | who | time | GFLOP/s | % of matmul |", "|---|---|---|---|---|"]
    for r in sorted((r for r in rows if r["kind"] in ("layer", "conv")),
                    key=lambda r: (r["kind"], r["size"], r["who"])):
        gf = r["flops"] / r["min"] / 1e9
        label = ("conv2d x (32, 64, 32, 32), w (64, 64, 3, 3)" if r["kind"] == "conv" else
                 r["group"].removeprefix("dense-float64-").replace("x", " × ", 1)
                 .replace("to", " → "))
        lines.append(f"| {label} | {r['who']} | {_fmt(r['min'])} | {gf:.0f} | "
                     f"{100 * gf / ceil['matmul_GFLOPs']:.0f}% |")
    lines += ["", "## Jacobian vs VJP (softmax over n logits)", "",
              "| n | impl VJP | impl Jacobian | torch.func.jacrev | Jacobian / VJP |",
              "|---|---|---|---|---|"]
    jac: dict[int, dict[str, float]] = defaultdict(dict)
    for r in rows:
        if r["kind"] == "jac":
            jac[r["size"]][r["who"]] = r["min"]
    for n, by in sorted(jac.items()):
        ratio = f"{by['jacobian'] / by['vjp']:.0f}x" if "jacobian" in by and "vjp" in by \
            else "–"
        lines.append(f"| {n} | {_fmt(by.get('vjp'))} | {_fmt(by.get('jacobian'))} | "
                     f"{_fmt(by.get('torch.jacrev'))} | {ratio} |")
    lines.append("\nJacobians beyond the 256 MiB budget (n = 10⁴: 763 MiB) are not built.")
    lines += ["", "## impl's vectorized Jacobians vs seed 000's Python loops, (100, 8)", "",
              "| op | seed 000 loops | impl | speed-up |", "|---|---|---|---|"]
    seed: dict[str, dict[str, float]] = defaultdict(dict)
    for r in rows:
        if r["kind"] == "seed000":
            seed[r["op"]][r["who"]] = r["min"]
    for op, by in sorted(seed.items()):
        if {"seed000-loops", "impl"} <= by.keys():
            lines.append(f"| {op} | {_fmt(by['seed000-loops'])} | {_fmt(by['impl'])} | "
                         f"{by['seed000-loops'] / by['impl']:.0f}x |")
    lines += _targets(groups, rows, ceil)
    lines += _primitives(prims)
    mlp = {r["who"]: r["min"] for r in rows if r["kind"] == "mlp"}
    if mlp:
        lines += ["", f"MLP backward (4 layers of 256, batch 256, float64): impl "
                  f"{_fmt(mlp.get('impl'))}, torch.func {_fmt(mlp.get('torch.func'))}."]
    (REPORTS / "benchmarks.md").write_text("\n".join(lines) + "\n")
    _plots(plt, groups, jac, REPORTS)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="sizes ≤ 1e4 only (a smoke run)")
    ap.add_argument("--sizes", default="", help="VJP sizes to run, e.g. 1e6,1e7")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0))
                    if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    ap.add_argument("--baseline", default="", help="git revision of impl to time beside it")
    ap.add_argument("--merge", action="store_true", help="keep the benchmarks of the previous "
                    "JSON that this run does not repeat (e.g. re-run `-k dense` at a quiet "
                    "moment); the report lists the merged runs and their load")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite the Markdown and plots from reports/benchmarks.json")
    args, extra = ap.parse_known_args(argv)
    if args.report_only:
        mi = json.loads(JSON.read_text())["machine_info"]
        report({"ceilings": mi["ceilings"], "primitives": mi.get("primitives", {}),
                "load": mi.get("load")})
        print(f"wrote {REPORTS / 'benchmarks.md'}, bench_vjp.png, bench_jacobian.png")
        return 0
    previous = json.loads(JSON.read_text()) if args.merge and JSON.is_file() else None
    env = bench_env(args.threads)
    if args.baseline:
        env["GRADVERIFY_BENCH_BASELINE"] = baseline(args.baseline)
    load = os.getloadavg()[0]
    measured = _measure(env)
    print(f"ceilings: {measured['ceilings']}", flush=True)
    code = run(args.quick, args.sizes, env, extra)
    measured["load"] = [load, os.getloadavg()[0]]
    if previous is not None and JSON.is_file():
        _merge(previous, " ".join(filter(None, [args.sizes and f"--sizes {args.sizes}",
                                                *extra])), measured["load"])
        measured["load"] = previous["machine_info"].get("load") or measured["load"]
    if JSON.is_file():
        report(measured)
        print(f"wrote {REPORTS / 'benchmarks.md'}, bench_vjp.png, bench_jacobian.png")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
