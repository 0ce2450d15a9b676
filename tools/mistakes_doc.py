"""Regenerate docs/MISTAKES.md: each catalogued mistake next to the message the suite prints.

    python -m tools.mistakes_doc

Runs the matrix of each mistake's op (torch and finite differences) against a module with
that one mistake (``mistakes/``) and records the first failure, which is what a user reads.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import reference
from mistakes import MISTAKES
from mistakes.check import run_matrix

DOC = Path(__file__).resolve().parent.parent / "docs" / "MISTAKES.md"


def _check_of(test: str) -> str:
    kind = test.split("[", 1)[0].removeprefix("test_")
    return {"forward": "forward value", "vjp": "VJP (backward)", "jacobian": "Jacobian"}.get(
        kind, kind)


def _first_kind(message: str) -> str:
    first = message.splitlines()[0] if message else ""
    for label, says in (("wrong shape", "wrong shape"), ("wrong dtype", "wrong dtype"),
                        ("non-finite", "NaN or inf"), ("gradient(s), expected",
                                                      "wrong number of gradients"),
                        (" raised ", "the formula raised")):
        if label in first:
            return says
    return "values (worst element, errors, agreement)"


def main() -> int:
    reference.get("torch")  # load torch once, before the in-process runs
    lines = [
        "# How gradient formulas go wrong: a catalog, and what the suite says",
        "",
        "Each entry is a real mistake (from the seeds this project grew from, or a classic), "
        "written as one replaced function of `impl` (`mistakes/__init__.py`). The suite is run "
        "on that op's cases against torch and finite differences (`python -m tools.mistakes_doc` "
        "regenerates this page; `meta_tests/test_mistakes.py` proves every one is caught). "
        "Below each mistake: the first failure the suite reports, verbatim.",
        "",
        "| # | mistake | from | replaces | caught first by | how |",
        "|---|---|---|---|---|---|",
    ]
    details = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, m in enumerate(MISTAKES, 1):
            module = Path(tmp) / f"mistake_{m.key}.py"
            module.write_text(m.module_source())
            outcome = run_matrix(module, m.op)
            test, message = outcome.first or ("(not caught!)", "")
            message = re.sub(r"/tmp/[^ ']*/", "", message)
            lines.append(f"| {i} | {m.what} | {m.source} | `{m.replaces}` | "
                         f"{_check_of(test)} | {_first_kind(message)} |")
            details += [f"## {i}. `{m.key}`: {m.what}", "", f"`{test}`", "", "```",
                        message.strip(), "```", ""]
    DOC.write_text("\n".join(lines + [""] + details))
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
