"""A class at once: ``python -m gradverify submissions/*.py`` (or a folder of modules).

Each module is checked as ``gradverify.check`` checks one (isolated in its own supervised
worker: one student's hang or crash costs that student's function, nothing else), ``-j N``
modules at a time (a process pool: the checks are CPU-bound Python). The result is one table,
function × student, each cell the function's verdict (``ok``, ``wrong``, ``not provided``,
``not supported``, ``skipped``; ``load error`` for a module that does not load), written as
Markdown, CSV and JSON, plus JUnit XML (one test suite per student, one test case per
function) for CI. Progress goes to stderr as each module finishes.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import json
import multiprocessing as mp
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: a module's files in a folder of submissions
SUFFIXES = (".py", ".ipynb")


def expand(targets: Sequence[str]) -> list[str]:
    """The modules named by ``targets``: files as given, a folder that is not a package as its
    ``.py`` and ``.ipynb`` files (sorted; names starting with ``_`` or ``.`` left out)."""
    out: list[str] = []
    for t in targets:
        p = Path(t)
        if p.is_dir() and not (p / "__init__.py").is_file():
            out += [str(f) for f in sorted(p.iterdir()) if f.suffix in SUFFIXES
                    and f.is_file() and not f.name.startswith(("_", "."))]
        else:
            out.append(t)
    return out


def is_class_run(targets: Sequence[str]) -> bool:
    """Several targets, or one folder that is not a package."""
    return len(targets) > 1 or (len(targets) == 1 and Path(targets[0]).is_dir()
                                and not (Path(targets[0]) / "__init__.py").is_file())


def students(modules: Sequence[str]) -> list[str]:
    """A column name per module: its file's stem, or its path where stems repeat."""
    stems = [Path(m).stem if m.endswith(SUFFIXES) else Path(m).name for m in modules]
    return [s if stems.count(s) == 1 else m for s, m in zip(stems, modules)]


def short(verdict: str) -> str:
    """A table cell from a function's verdict: its first word(s)."""
    for word in ("ok", "wrong", "not provided", "not supported", "skipped"):
        if verdict.startswith(word):
            return word
    return verdict.split(" ", 1)[0]


def check_one(target: str, options: dict[str, Any], workers: int = 2) -> dict[str, Any]:
    """One module's row: verdicts per function (``gradverify.check``), or its load error.
    ``workers``: per check (``spares.PER_CHECK``): 2 alone, 1 beside other checks (then the
    contracts run in the first worker instead of booting a second: 30 modules with ``-j 2``
    on 2 cores took 10.8 s instead of 18.1 s; alone, 2 took 18.2 s and 1 20.5 s)."""
    from . import spares
    from .api import check
    from .loader import ImplLoadError

    wanted, spares.SPARES = spares.SPARES, True  # the next module's workers boot meanwhile
    per_check, spares.PER_CHECK = spares.PER_CHECK, workers
    start = time.perf_counter()
    try:
        report = check(target, **options)
    except (ImplLoadError, ValueError) as exc:
        return {"target": target, "error": str(exc), "verdicts": {}, "passed": False,
                "seconds": time.perf_counter() - start}
    finally:
        spares.SPARES, spares.PER_CHECK = wanted, per_check
    return {"target": target, "error": None, "verdicts": report.verdicts(),
            "passed": report.passed, "totals": report.totals(),
            "seconds": time.perf_counter() - start}


def run(modules: Sequence[str], options: dict[str, Any], jobs: int = 1,
        progress: Callable[[str], None] | None = None) -> tuple[list[dict[str, Any]], bool]:
    """Every module's row, in the order given, and whether the run was interrupted (Ctrl-C:
    the rows finished so far)."""
    rows: dict[str, dict[str, Any]] = {}
    say = progress or (lambda line: None)

    def done(row: dict[str, Any]) -> None:
        rows[row["target"]] = row
        wrong = sum(short(v) == "wrong" for v in row["verdicts"].values())
        what = f"load error: {row['error']}" if row["error"] else \
            f"{wrong} wrong" if wrong else "all right"
        say(f"[{len(rows)}/{len(modules)}] {row['target']}: {what} ({row['seconds']:.1f} s)")

    interrupted = False
    try:
        if jobs <= 1:
            for m in modules:
                done(check_one(m, options))
        else:
            with cf.ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
                futures = [pool.submit(check_one, m, options, 1) for m in modules]
                try:
                    for f in cf.as_completed(futures):
                        done(f.result())
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
    except KeyboardInterrupt:
        interrupted = True
    return [rows[m] for m in modules if m in rows], interrupted


def table(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[str], list[list[str]]]:
    """(functions, students, cells[function][student]) of the rows."""
    names = students([r["target"] for r in rows])
    functions = sorted({fn for r in rows for fn in r["verdicts"]})
    cells = [["load error" if r["error"] else short(r["verdicts"].get(fn, "not provided"))
              for r in rows] for fn in functions]
    return functions, names, cells


def write(rows: Sequence[dict[str, Any]], out: Path) -> list[Path]:
    """class.md, class.csv, class.json and junit.xml in ``out``; their paths."""
    out.mkdir(parents=True, exist_ok=True)
    functions, names, cells = table(rows)
    md = ["| function | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    md += [f"| `{fn}` | " + " | ".join("**wrong**" if c == "wrong" else c for c in row) + " |"
           for fn, row in zip(functions, cells)]
    md += ["", "| student | passed | seconds | note |", "|---|---|---|---|"]
    md += [f"| {n} | {'yes' if r['passed'] else 'no'} | {r['seconds']:.1f} | "
           f"{(r['error'] or '').replace('|', '&#124;')} |" for n, r in zip(names, rows)]
    paths = [out / "class.md", out / "class.csv", out / "class.json", out / "junit.xml"]
    paths[0].write_text("\n".join(md) + "\n")
    with paths[1].open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["function", *names])
        w.writerows([fn, *row] for fn, row in zip(functions, cells))
    paths[2].write_text(json.dumps({"students": names, "functions": functions,
                                    "table": dict(zip(functions, cells)),
                                    "modules": list(rows)}, indent=1))
    paths[3].write_bytes(junit(rows, names))
    return paths


def junit(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> bytes:
    """JUnit XML: a test suite per student, a test case per function (a load error is one
    errored case)."""
    root = ET.Element("testsuites", name="gradverify")
    for name, r in zip(names, rows):
        cases = r["verdicts"] or {"<module>": ""}
        suite = ET.SubElement(root, "testsuite", name=name, tests=str(len(cases)),
                              time=f"{r['seconds']:.3f}")
        for fn, verdict in cases.items():
            case = ET.SubElement(suite, "testcase", classname=name, name=fn)
            if r["error"]:
                ET.SubElement(case, "error", message=r["error"])
            elif short(verdict) == "wrong":
                ET.SubElement(case, "failure", message=verdict)
            elif short(verdict) in ("not provided", "not supported", "skipped"):
                ET.SubElement(case, "skipped", message=verdict)
        suite.set("failures", str(len(suite.findall("testcase/failure"))))
        suite.set("errors", str(len(suite.findall("testcase/error"))))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def cli(targets: Sequence[str], options: dict[str, Any], jobs: int, out: str) -> int:
    """``python -m gradverify`` with several modules: 2 when there is none, 1 when a function
    is wrong or a module does not load, 130 on Ctrl-C (the tables of what finished), else 0."""
    modules = expand(targets)
    if not modules:
        print(f"gradverify: error: no modules (.py, .ipynb) in {' '.join(targets)}",
              file=sys.stderr)
        return 2
    start = time.perf_counter()
    rows, interrupted = run(modules, options, jobs,
                            lambda line: print(line, file=sys.stderr, flush=True))
    paths = write(rows, Path(out))
    functions, names, cells = table(rows)
    wrong = sum(c == "wrong" for row in cells for c in row)
    errors = sum(bool(r["error"]) for r in rows)
    print(f"gradverify: {len(rows)} of {len(modules)} modules checked in "
          f"{time.perf_counter() - start:.1f} s (-j {jobs}): {wrong} wrong functions, "
          f"{errors} modules that do not load" + (" (interrupted)" if interrupted else ""))
    print("tables: " + ", ".join(str(p) for p in paths))
    return 130 if interrupted else 1 if wrong or errors else 0
