"""The main job: the full verification matrix with its report, then the studies, then a verdict.

    python -m tools.verify [--workers N] [pytest args...]

Runs the matrix (``pytest tests``, its progress shown as it goes) writing
``reports/summary.md`` and ``reports/summary.json``, then every report step registered in
``STEPS`` (conventions, API reference, vanishing-gradient study), and ends with one verdict
line, e.g. ``38 ops, 10,687 cases (11,126 tests ...): all agree with all four references;
0 convention differences; reports written: reports/summary.md, ...``.

One count: a *case* is one op × reference × check × dtype × shape × parameters test of the
matrix (``reports/summary.json``'s ``totals``); pytest's total adds the tests that are not
per op and reference (networks, documentation, properties), so it is larger; the verdict
names both, from the same run. "Reports written" lists only files this run wrote or changed.
Exits non-zero if any step fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "reports"
#: where the steps write: files here whose modification time changed are "reports written"
OUTPUT_DIRS: list[Path] = [REPORTS, ROOT / "docs"]
FOUR = ("torch", "jax", "autograd", "numeric")

#: further report steps: (title, module run with ``python -m``)
STEPS: list[tuple[str, str]] = [
    ("conventions report (docs/CONVENTIONS.md)", "tools.conventions"),
    ("API reference (docs/API.md)", "tools.api_doc"),
    ("vanishing-gradient study (reports/vanishing.md, .png)", "tools.vanishing"),
]


def run(title: str, cmd: list[str], step: str = "") -> int:
    print(f"\n=== {step}{title}: {' '.join(cmd)}", flush=True)
    t0 = time.perf_counter()
    rc = subprocess.call(cmd, cwd=ROOT)
    print(f"=== {step}{title}: exit {rc} in {time.perf_counter() - t0:.1f} s", flush=True)
    return rc


def snapshot(dirs: Iterable[Path]) -> dict[Path, int]:
    """Every file under ``dirs`` with its modification time (ns)."""
    return {p: p.stat().st_mtime_ns for d in dirs if d.is_dir() for p in d.rglob("*")
            if p.is_file()}


def written(before: dict[Path, int], dirs: Iterable[Path]) -> list[Path]:
    """Files under ``dirs`` that are new or changed since ``before``, oldest first."""
    now = snapshot(dirs)
    return sorted((p for p, t in now.items() if before.get(p) != t), key=lambda p: (now[p], p))


def _n(k: int, one: str, many: str | None = None) -> str:
    return f"{k:,} {one if k == 1 else many or one + 's'}"


def _rel(p: Path) -> str:
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


def verdict(summary: dict[str, Any] | None, matrix_rc: int, failed_steps: list[tuple[str, int]],
            files: list[Path]) -> str:
    """The one line the main job ends with (``summary``: reports/summary.json of this run)."""
    tail = [f"{title} FAILED (exit {rc})" for title, rc in failed_steps]
    tail.append("reports written: " + (", ".join(_rel(p) for p in files) or "none"))
    if summary is None:
        return (f"no verdict: the matrix wrote no summary (pytest exit {matrix_rc}); "
                + "; ".join(tail))
    t, cells = summary["totals"], summary["cells"]
    tests = summary.get("tests", {})
    total = int(tests.get("total", t["cases"]))
    ops = sorted({c["op"].split("[")[0] for c in cells if c["reference"] in FOUR})
    ran = [r for r in FOUR if any(c["reference"] == r and c["passed"] + c["failed"]
                                  + c["conventions"] for c in cells)]
    head = f"{_n(len(ops), 'op')}, {_n(t['cases'], 'case')}" + (
        f" (of {_n(total, 'test')}: the other {total - t['cases']:,} check networks, "
        "documentation and properties)" if total > t["cases"] else "")
    other_failed = int(tests.get("failed", t["failed"])) - t["failed"]
    if t["failed"]:
        bad = sorted({c["op"] for c in cells if c["failed"]})
        status = f"{_n(t['failed'], 'case')} FAILED, in {', '.join(bad)}"
    elif matrix_rc not in (0, 5) and not other_failed:
        status = f"pytest exited {matrix_rc} (see its output above)"
    else:
        missing = [r for r in FOUR if r not in ran]
        status = ("all agree with all four references" if not missing else
                  f"all agree with {', '.join(ran) or 'no reference'} ("
                  f"{', '.join(missing)}: not run or unavailable)")
    parts = [status]
    if other_failed:
        parts.append(f"{_n(other_failed, 'other test')} FAILED")
    parts.append(_n(t["conventions"], "convention difference"))
    if t.get("unsupported"):
        parts.append(f"{t['unsupported']:,} not supported by the module")
    if t.get("skipped"):
        parts.append(f"{t['skipped']:,} skipped (reasons in reports/summary.json)")
    return f"{head}: " + "; ".join(parts + tail)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workers", default=str(min(os.cpu_count() or 1, 4)),
                    help="pytest-xdist workers for the matrix (0 = serial)")
    args, rest = ap.parse_known_args(argv)
    xdist = ["-n", args.workers] if args.workers != "0" else []
    before = snapshot(OUTPUT_DIRS)
    n = 1 + len(STEPS)
    matrix_rc = run("verification matrix", [sys.executable, "-m", "pytest", "tests", "-q",
                                            "--report-dir", str(REPORTS), *xdist, *rest],
                    f"[1/{n}] ")
    failed = [("verification matrix", matrix_rc)] if matrix_rc not in (0, 1, 5) else []
    for i, (title, module) in enumerate(STEPS, start=2):
        rc = run(title, [sys.executable, "-m", module], f"[{i}/{n}] ")
        if rc:
            failed.append((title, rc))
    files = written(before, OUTPUT_DIRS)
    path = REPORTS / "summary.json"
    summary = json.loads(path.read_text()) if path in files else None
    print("\n" + verdict(summary, matrix_rc, failed, files), flush=True)
    return max([matrix_rc] + [rc for _, rc in failed])


if __name__ == "__main__":
    raise SystemExit(main())
