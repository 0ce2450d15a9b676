"""The main job's verdict (tools/verify.py): one line, one count, only the files it wrote."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tools import verify


def _summary(failed: int = 0, conventions: int = 0, refs: tuple[str, ...] = verify.FOUR,
             other_failed: int = 0) -> dict:
    cells = [{"op": op, "reference": ref, "cases": 10, "passed": 10 - failed - conventions,
              "failed": failed, "conventions": conventions, "unsupported": 0, "skipped": 0}
             for op in ("relu", "softmax_cross_entropy[one_hot]",
                        "softmax_cross_entropy[int_labels]") for ref in (*refs, "contracts")]
    cases = len(cells) * 10
    t = {"cases": cases, "passed": sum(c["passed"] for c in cells), "conventions":
         sum(c["conventions"] for c in cells), "failed": sum(c["failed"] for c in cells),
         "unsupported": 0, "skipped": 0}
    return {"totals": t, "cells": cells,
            "tests": {"total": cases + 7, "failed": t["failed"] + other_failed}}


def test_verdict_one_line_one_count() -> None:
    files = [verify.REPORTS / "summary.md", verify.ROOT / "docs" / "API.md"]
    line = verify.verdict(_summary(conventions=1), 0, [], files)
    assert "\n" not in line
    assert line == ("2 ops, 150 cases (of 157 tests: the other 7 check networks, documentation "
                    "and properties): all agree with all four references; 15 convention "
                    "differences; reports written: reports/summary.md, docs/API.md")


def test_verdict_failures_missing_references_and_failed_steps() -> None:
    line = verify.verdict(_summary(failed=2, refs=("torch", "numeric"), other_failed=3), 1,
                          [("vanishing-gradient study", 2)], [])
    assert line.startswith("2 ops, 90 cases (of 97 tests")
    assert "18 cases FAILED, in relu, softmax_cross_entropy[int_labels], " in line
    assert "3 other tests FAILED" in line
    assert "vanishing-gradient study FAILED (exit 2); reports written: none" in line
    line = verify.verdict(_summary(refs=("torch", "numeric")), 0, [], [])
    assert "all agree with torch, numeric (jax, autograd: not run or unavailable)" in line
    assert verify.verdict(None, 4, [], []).startswith("no verdict: the matrix wrote no summary")


def test_written_names_only_new_or_changed_files(tmp_path: Path) -> None:
    old, kept, new = tmp_path / "old.md", tmp_path / "kept.md", tmp_path / "sub" / "new.png"
    old.write_text("a")
    kept.write_text("b")
    before = verify.snapshot([tmp_path])
    time.sleep(0.01)
    old.write_text("changed")
    os.utime(old, ns=(time.time_ns(), before[old] + 10**6))
    new.parent.mkdir()
    new.write_bytes(b"png")
    assert verify.written(before, [tmp_path]) == sorted([old, new], key=lambda p: (
        p.stat().st_mtime_ns, p))
    assert kept not in verify.written(before, [tmp_path])


def test_main_job_end_to_end_on_one_op(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    reports = tmp_path / "reports"
    monkeypatch.setattr(verify, "REPORTS", reports)
    monkeypatch.setattr(verify, "OUTPUT_DIRS", [reports])
    monkeypatch.setattr(verify, "STEPS", [("a step that fails", "tools.no_such_step")])
    rc = verify.main(["--workers", "0", "--op", "relu", "-m", "numeric", "-p",
                      "no:cacheprovider"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "=== [1/2] verification matrix" in out and "=== [2/2] a step that fails" in out
    line = out.rstrip().splitlines()[-1]
    t = json.loads((reports / "summary.json").read_text())
    assert t["tests"]["total"] == t["totals"]["cases"]  # only matrix tests were selected
    assert line.startswith(f"1 op, {t['totals']['cases']:,} cases: all agree with numeric ")
    assert t["totals"]["cases"] > 0 and t["totals"]["failed"] == 0
    assert "all agree with numeric (torch, jax, autograd: not run or unavailable)" in line
    head, files = line.split("; a step that fails FAILED (exit 1); reports written: ")
    assert sorted(files.split(", ")) == [str(reports / "summary.json"), str(reports / "summary.md")]
    print(line)
