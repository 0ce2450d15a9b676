"""One verdict per function from the records of every check that called it.

The words a verdict uses:

- **ok**: every check that ran agrees with the references (within the allowance);
- **wrong**: a check failed; its first diagnosis follows. **wrong only on empty batches** (or
  **only on axes of size 1**): every failure is on such a case and the others pass, the sign of
  code right for real batches that does not handle the edge (``x.reshape(x.shape[0], -1)``,
  ``max`` over an empty axis); ``GRADVERIFY_SUPPORTS = {"<op>": {"empty": [False]}}`` leaves
  them out;
- **convention difference**: another valid value at a kink or a tie (relu'(0) = 1), not wrong;
- **definition difference**: the function matches a known variant of the op (batch norm with
  Bessel's correction, non-inverted dropout, ...): another definition, not a wrong derivative;
- **not supported**: the module says so (``NotImplementedError``, ``GRADVERIFY_SUPPORTS``,
  an adapter's ``fixed=``); **not provided**: the module has no such function.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

EDGES = (("empty", "empty batches"), ("size1", "axes of size 1"))
_RAN = ("passed", "failed", "convention", "variant")


def edge_of(shape: Sequence[int]) -> str:
    """``"empty"`` for an input with an axis of length 0, ``"size1"`` for one of length 1."""
    if 0 in shape:
        return "empty"
    return "size1" if 1 in shape else ""


def _only_on_edge(recs: list[Any]) -> tuple[str, str]:
    """("empty batches (0x4), ...", hint) when every failure is on that edge and a case off
    it passed, else ("", "")."""
    failed = [r for r in recs if r.outcome == "failed"]
    passed = [r for r in recs if r.outcome == "passed"]
    for key, words in EDGES:
        if failed and all(getattr(r, "edge", "") == key for r in failed) and \
                any(getattr(r, "edge", "") != key for r in passed):
            shapes = sorted({getattr(r, "shape", "") for r in failed} - {""})
            op = failed[0].op.split("[")[0]
            return (f"{words} ({', '.join(shapes)}), right on every other case",
                    f" (not meant for them? GRADVERIFY_SUPPORTS = {{{op!r}: {{{key!r}: "
                    "[False]}} leaves them out)")
    return "", ""


def function_verdicts(records: Sequence[Any], outcomes: Sequence[str]) -> dict[str, str]:
    """``{function: verdict}`` in the order the records first name each function."""
    by: dict[str, list[Any]] = defaultdict(list)
    for r in records:
        by[r.function].append(r)
    out = {}
    for fn, recs in by.items():
        n = {o: sum(r.outcome == o for r in recs) for o in outcomes}
        ran = sum(n.get(o, 0) for o in _RAN)
        apart = "".join(f", {n[o]} {words}" for o, words in (
            ("unsupported", "not supported"), ("convention", "convention differences"),
            ("variant", "definition differences")) if n.get(o))
        if n["failed"]:
            first = next(r for r in recs if r.outcome == "failed")
            edge, hint = _only_on_edge(recs)
            out[fn] = (f"wrong only on {edge}: {first.verdict}{hint}" if edge else
                       f"wrong ({n['failed']} of {ran} checks failed): {first.verdict}")
        elif n.get("variant"):  # a known variant on some cases (the others agree)
            first = next(r for r in recs if r.outcome == "variant")
            out[fn] = (f"definition difference ({n['variant']} of {ran} checks; "
                       f"{n['passed']} passed): {first.verdict}")
        elif n["passed"] or n["convention"] or n.get("variant"):
            out[fn] = f"ok ({n['passed']}/{ran} checks passed{apart})"
        elif n["not provided"] == len(recs):
            out[fn] = "not provided"
        elif n["unsupported"]:
            first = next(r for r in recs if r.outcome == "unsupported")
            out[fn] = f"not supported ({n['unsupported']} checks): {first.verdict}"
        else:
            out[fn] = f"skipped: {recs[0].verdict}"
    return out


def checks_run(records: Sequence[Any]) -> list[str]:
    """The kinds of check that ran on at least one case: forward, vjp, jacobian, contracts,
    special, kink."""
    kinds = [r.check.split(":")[0].replace("contract", "contracts") for r in records
             if r.outcome in _RAN]
    return list(dict.fromkeys(kinds))




class EdgeDigest:
    """pytest plugin: at the end of the run, one line per op whose failures are all on empty
    batches (or all on axes of size 1) while its other cases pass: "wrong only on empty
    batches", with the ``GRADVERIFY_SUPPORTS`` line that leaves them out. Reads the ``op`` and
    ``edge`` properties the matrix tests record."""

    def __init__(self) -> None:
        self.failed: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.passed_off: dict[str, set[str]] = defaultdict(set)

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when != "call" or not (report.failed or report.passed):
            return
        props = dict(report.user_properties)
        op = props.get("op")
        if not isinstance(op, str):
            return
        edge, shape = props.get("edge", ""), props.get("shape", "")
        if report.failed:
            self.failed[op].append((edge, shape))
        else:
            self.passed_off[op] |= {key for key, _ in EDGES if key != edge}

    def lines(self) -> list[str]:
        out = []
        for op, fails in self.failed.items():
            for key, words in EDGES:
                if all(e == key for e, _ in fails) and key in self.passed_off[op]:
                    shapes = ", ".join(sorted({s for _, s in fails}))
                    out.append(f"{op}: wrong only on {words} ({shapes}), right on every other "
                               f"case; not meant for them? GRADVERIFY_SUPPORTS = "
                               f"{{{op.split('[')[0]!r}: {{{key!r}: [False]}}}}")
        return out

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        lines = self.lines()
        if lines:
            terminalreporter.section("failures only on edge cases")
            for line in lines:
                terminalreporter.write_line(line)


__all__ = ["EDGES", "EdgeDigest", "checks_run", "edge_of", "function_verdicts"]
