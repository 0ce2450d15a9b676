"""Regenerate docs/MISTAKES.md: each catalogued mistake next to the message the suite prints.

    python -m tools.mistakes_doc

Runs the matrix of each mistake's op (torch cases) against ``--impl
mistakes.<key>`` (``mistakes/``) and records which cases fail and the first failure, verbatim:
what a user reads first; for the contract mistakes (``mistakes/contracts.py``), the op's
contract cases (``tests/test_contracts.py``, no framework). ``meta_tests/test_mistakes.py`` and
``meta_tests/test_contract_mistakes.py`` check the page is current.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from gradverify import reference
from mistakes import MISTAKES, Mistake
from mistakes.check import ROOT, Outcome, caught_by, run_matrix
from mistakes.contracts import CONTRACT_MISTAKES

DOC = Path(__file__).resolve().parent.parent / "docs" / "MISTAKES.md"
CONTRACT_TESTS = ROOT / "tests" / "test_contracts.py"
CONTRACT_CASES = "not slow"  # the marker expression that selects them all (no backend marker)

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


CONTRACTS_INTRO = """\
## Contracts beyond values

These formulas return the right numbers, so the matrix above passes most of them, but they
break what a caller relies on besides the values: they write into their arguments, keep state
between calls, are not linear in the upstream gradient, depend on the arguments' memory layout
or contradict the module's own JVP
([`mistakes/contracts.py`](../mistakes/contracts.py)). The contract cases
([`tests/test_contracts.py`](../tests/test_contracts.py), no framework needed) ran against each;
below each one is the first failure, verbatim. `meta_tests/test_contract_mistakes.py` proves
that each fails exactly its contract, on its op's cases only, and that impl keeps every
contract.

| # | mistake | from | replaces | contract broken | failing cases |
|---|---|---|---|---|---|"""


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


ENGINES_HEAD = "## Autograd engines and custom backward passes"
ENGINES_INTRO = f"""\
{ENGINES_HEAD}

The engines students build and the custom backward passes framework users write
([`examples/engines/`](../examples/engines/), one mistake each, listed in
[`examples/engines/mistakes.py`](../examples/engines/mistakes.py)), checked by
`gradverify.check_engine` and `gradverify.check_function`; below each one is the verdict of the
check that catches it, verbatim (a random graph's is the one hypothesis shrank it to).
`meta_tests/test_engine.py` and `meta_tests/test_custom_backward.py` prove each is caught with its
cause named and that this section is current (`python -m tools.mistakes_doc --engines` rewrites
only this section).

| # | mistake | example | caught by | cause named |
|---|---|---|---|---|"""


def engine_section() -> list[str]:
    """The engine and custom-backward rows: each example's verdict from the check that
    catches it (``examples/engines/mistakes.py``)."""
    from examples.engines.mistakes import ENGINE_MISTAKES, first_failure

    rows, notes = [], []
    for i, m in enumerate(ENGINE_MISTAKES, 1):
        rec = first_failure(m.run(), m.check)
        verdict = (rec.diagnosis or rec.verdict) if rec is not None else "(not caught!)"
        rows.append(f"| E{i} | [{m.what}](#e{i}-{m.key}) | `{m.target}` | {m.check} | "
                    f"{m.cause} |")
        notes += [f"### E{i}. `{m.key}`", "", f"**{m.what}** `{m.target}`, check `{m.check}`:",
                  "", "```", verdict, "```", ""]
    return [ENGINES_INTRO, *rows, "", *notes]


def write_engine_section() -> None:
    """Replace only the engines section of docs/MISTAKES.md (the rest is left as it is)."""
    text = DOC.read_text()
    head = text.split("\n" + ENGINES_HEAD)[0].rstrip("\n")
    DOC.write_text(head + "\n\n" + "\n".join(engine_section()))


def main() -> int:
    import sys

    if "--engines" in sys.argv[1:]:
        write_engine_section()
        print(f"wrote the engines section of {DOC}")
        return 0
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
    contracts: list[str] = []
    notes: list[str] = []
    for i, m in enumerate(CONTRACT_MISTAKES, len(MISTAKES) + 1):
        outcome = run_matrix(m.module, m.op, refs=CONTRACT_CASES, path=CONTRACT_TESTS)
        contracts.append(f"| {i} | [{m.what}](#{i}-{m.key}) | {m.source} | `{m.replaces}` | "
                         f"{m.contract} | {len(outcome.failures)} |")
        notes += section(i, m, outcome)
    DOC.write_text("\n".join([INTRO, *table, "", *details, CONTRACTS_INTRO, *contracts, "",
                              *notes, *engine_section()]))
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
