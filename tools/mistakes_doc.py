"""Regenerate docs/MISTAKES.md: each catalogued mistake next to the message the suite prints.

    python -m tools.mistakes_doc

Runs the matrix of each mistake's op (torch cases) against ``--impl
mistakes.<key>`` (``mistakes/``) and records which cases fail and the first failure, verbatim:
what a user reads first. ``meta_tests/test_mistakes.py`` checks the page is current.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import reference
from mistakes import MISTAKES, Mistake
from mistakes.check import Outcome, caught_by, run_matrix

DOC = Path(__file__).resolve().parent.parent / "docs" / "MISTAKES.md"

INTRO = """\
# How gradient formulas go wrong: a catalog, and what the suite says

Each entry is a real mistake, from the documents this project grew from (`../shared/seeds/`:
seed 004's notebook, Park's paper) or a classic, written as one replaced function of `impl`
in [`mistakes/__init__.py`](../mistakes/__init__.py): a few lines and one sentence. Every entry
is importable as impl with that one mistake, so you can watch the suite catch it:

```bash
python -m pytest --impl mistakes.tanh_of_square -k "[tanh-"
```

The suite ran each op's matrix (`-m torch`: forward, VJP and Jacobian checks against torch, over
shapes, dtypes and parameters) against each mistake; below each one is the first failure it
reports, verbatim, with what the other references (jax, autograd, finite differences) say.
`python -m tools.mistakes_doc` regenerates this page; `meta_tests/test_mistakes.py` proves that
every mistake fails exactly the cases of the function it replaces, that the correct version
passes them, and that this page is current.

How to read a message: [README, "Reading a failure"](../README.md#reading-a-failure).
"""


def failing(outcome: Outcome) -> str:
    """'12 cases (test_vjp 12)': how many cases fail, per check."""
    per = Counter(test.split("[", 1)[0] for test, _ in outcome.failures)
    return (f"{len(outcome.failures)} of {len(outcome.failures) + outcome.passed} cases ("
            + ", ".join(f"{k} {v}" for k, v in sorted(per.items())) + ")")


def section(i: int, m: Mistake, outcome: Outcome) -> list[str]:
    test, message = outcome.first or ("(not caught!)", "")
    return [f"## {i}. `{m.key}`", "", f"**{m.what}** Replaces `{m.replaces}`; from {m.source}.",
            "", f"Failing: {failing(outcome)}. First failure: `{test}`", "", "```",
            message.strip(), "```", ""]


def main() -> int:
    reference.get("torch")  # load torch once, before the in-process runs
    table = ["| # | mistake | from | replaces | caught first by | failing cases |",
             "|---|---|---|---|---|---|"]
    details: list[str] = []
    for i, m in enumerate(MISTAKES, 1):
        outcome = run_matrix(m.module, m.op, refs="torch")
        test, message = outcome.first or ("", "")
        table.append(f"| {i} | [{m.what}](#{i}-{m.key}) | {m.source} | "
                     f"`{m.replaces}` | {caught_by(test, message)} | "
                     f"{len(outcome.failures)} |")
        details += section(i, m, outcome)
    DOC.write_text("\n".join([INTRO, *table, "", *details]))
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
