"""The main job: the full verification matrix with its report, then the studies.

    python -m tools.verify [--workers N] [pytest args...]

Runs the matrix (``pytest tests``) writing ``reports/summary.md`` and ``reports/summary.json``,
then every report step registered in ``STEPS`` (conventions, vanishing-gradient study, ...).
Exits non-zero if any step fails.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "reports"

#: further report steps: (title, module run with ``python -m``)
STEPS: list[tuple[str, str]] = [
    ("conventions report (docs/CONVENTIONS.md)", "tools.conventions"),
    ("vanishing-gradient study (reports/vanishing.md, .png)", "tools.vanishing"),
]


def run(title: str, cmd: list[str]) -> int:
    print(f"\n=== {title}: {' '.join(cmd)}", flush=True)
    t0 = time.perf_counter()
    rc = subprocess.call(cmd, cwd=ROOT)
    print(f"=== {title}: exit {rc} in {time.perf_counter() - t0:.1f} s", flush=True)
    return rc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workers", default=str(min(os.cpu_count() or 1, 4)),
                    help="pytest-xdist workers for the matrix (0 = serial)")
    args, rest = ap.parse_known_args(argv)
    xdist = ["-n", args.workers] if args.workers != "0" else []
    codes = [run("verification matrix", [sys.executable, "-m", "pytest", "tests", "-q",
                                         "--report-dir", str(REPORTS), *xdist, *rest])]
    for title, module in STEPS:
        codes.append(run(title, [sys.executable, "-m", module]))
    print(f"\nreports under {REPORTS}: " + ", ".join(sorted(p.name for p in REPORTS.glob("*"))))
    return max(codes)


if __name__ == "__main__":
    raise SystemExit(main())
