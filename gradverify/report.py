"""The summary matrix: op × reference with cases, passed and worst relative error.

Each matrix item carries ``op``/``reference``/``check`` in its user_properties (set at
collection) and ``worst_rel`` (recorded by the test), so the controller can aggregate the
reports of every xdist worker. Printed at the end of the run; written as Markdown and JSON
under ``--report-dir``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from gradverify import reference

from .catalog import CATALOG


class Summary:
    def __init__(self) -> None:
        self.cells: dict[tuple[str, str], dict[str, Any]] = defaultdict(
            lambda: {"cases": 0, "passed": 0, "failed": 0, "skipped": 0, "conventions": 0,
                     "variants": 0, "unsupported": 0,
                     "worst_rel": 0.0, "reasons": set()})
        #: every test of the run, matrix or not (pytest's own total): outcome -> count
        self.tests: dict[str, int] = defaultdict(int)

    def add(self, report: pytest.TestReport) -> None:
        props: dict[str, Any] = dict(report.user_properties)
        done = report.when == "call" or (report.when == "setup" and not report.passed)
        if not done:
            return
        self.tests["xfailed" if hasattr(report, "wasxfail") else report.outcome] += 1
        if "op" not in props:
            return
        cell = self.cells[(props["op"], props["reference"])]
        cell["cases"] += 1
        if hasattr(report, "wasxfail"):  # xfail: a convention or a definition difference
            outcome = "variants" if report.wasxfail.startswith("definition difference") \
                else "conventions"
            cell["reasons"].add(report.wasxfail)
        else:
            outcome = "passed" if report.passed else "skipped" if report.skipped else "failed"
        if outcome == "skipped" and isinstance(report.longrepr, tuple):
            reason = report.longrepr[2].removeprefix("Skipped: ")
            cell["reasons"].add(reason)
            if reason.startswith("not supported by "):  # the module says so: not a failure
                outcome = "unsupported"
        cell[outcome] += 1
        cell["worst_rel"] = max(cell["worst_rel"], float(props.get("worst_rel", 0.0)))

    def table(self) -> list[str]:
        ops = sorted({op for op, _ in self.cells}, key=_op_order)
        refs = sorted({ref for _, ref in self.cells}, key=_ref_order)
        lines = ["| op | " + " | ".join(refs) + " |", "|---|" + "---|" * len(refs)]
        for op in ops:
            row = []
            for ref in refs:
                c = self.cells.get((op, ref))
                if c is None:
                    row.append("")
                elif c["cases"] == c["skipped"]:
                    row.append(f"skipped {c['skipped']}")
                elif c["cases"] == c["skipped"] + c["unsupported"]:
                    row.append(f"not supported {c['unsupported']}")
                else:
                    fail = f", **{c['failed']} failed**" if c["failed"] else ""
                    conv = f", {c['conventions']} convention" if c["conventions"] else ""
                    conv += f", {c['variants']} definition" if c["variants"] else ""
                    conv += f", {c['unsupported']} not supported" if c["unsupported"] else ""
                    row.append(f"{c['passed']}/{c['cases']}{fail}{conv}, "
                               f"worst {c['worst_rel']:.1e}")
            lines.append(f"| {op} | " + " | ".join(row) + " |")
        return lines

    def totals(self) -> dict[str, int]:
        return {k: sum(c[k] for c in self.cells.values())
                for k in ("cases", "passed", "failed", "conventions", "variants", "unsupported",
                          "skipped")}


def _op_order(op: str) -> tuple[int, str]:
    """Rows in catalog order (not in the order xdist's reports arrived): the same table
    from every run."""
    labels = [spec.label for spec in CATALOG]
    return (labels.index(op), op) if op in labels else (len(labels), op)


def _ref_order(ref: str) -> tuple[int, str]:
    """Columns: contracts, the references in their usual order, then anything else."""
    order = ["contracts", *reference.NAMES]
    return (order.index(ref), ref) if ref in order else (len(order), ref)


class SummaryPlugin:
    """Registered by conftest: aggregates every report, prints and writes the matrix."""

    def __init__(self, report_dir: str | None) -> None:
        self.summary = Summary()
        self.report_dir = report_dir

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.summary.add(report)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        summary, tr = self.summary, terminalreporter
        if not summary.cells:
            return
        tr.section("verification matrix: op × reference (passed/cases, worst normwise rel. error)")
        for line in summary.table():
            tr.write_line(line)
        t = summary.totals()
        tr.write_line(f"{t['cases']} of the {sum(summary.tests.values())} tests are op × reference "
                      f"cases: {t['passed']} passed, {t['failed']} failed, "
                      f"{t['conventions']} convention differences, {t['variants']} definition "
                      f"differences, {t['unsupported']} not supported by the module, "
                      f"{t['skipped']} skipped")
        if self.report_dir:
            path = Path(self.report_dir)
            self.write(path)
            tr.write_line(f"summary written to {path / 'summary.md'} and summary.json")

    def write(self, path: Path) -> None:
        summary, t = self.summary, self.summary.totals()
        path.mkdir(parents=True, exist_ok=True)
        (path / "summary.md").write_text(
            "# Verification matrix\n\nEach cell: passed/cases (forward, VJP and Jacobian checks "
            "over shapes, dtypes and parameters) and the worst relative error seen.\n\n"
            + "\n".join(summary.table()) + "\n\n"
            + f"{t['cases']} cases: {t['passed']} passed, {t['failed']} failed, "
            f"{t['conventions']} convention differences (xfail, counted apart), "
            f"{t['variants']} definition differences (a known variant of the op's definition: "
            "xfail, counted apart), "
            f"{t['unsupported']} not supported by the module (skipped, counted apart), "
            f"{t['skipped']} skipped.\n")
        cells = [{"op": op, "reference": ref, **{k: v for k, v in c.items() if k != "reasons"},
                  "skip_reasons": sorted(c["reasons"])}
                 for (op, ref), c in sorted(summary.cells.items(),
                                            key=lambda kv: (_op_order(kv[0][0]),
                                                            _ref_order(kv[0][1])))]
        tests = {"total": sum(summary.tests.values()), **summary.tests}
        (path / "summary.json").write_text(json.dumps({"totals": t, "tests": tests,
                                                       "cells": cells}, indent=1))
