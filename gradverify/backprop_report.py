"""The verdict of ``gradverify.check_backprop``: one ``Row`` per gradient in forward order, the
first wrong one (in backward order) marked, printed as a table (``str``), a Markdown table in
Jupyter (``_repr_markdown_``) and JSON (``to_json``), in the spirit of ``gradverify.api.Report``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Row:
    """One gradient: the user's ``name`` for ∂loss/∂``of``, and what the references said."""

    index: int
    name: str
    of: str
    kind: str  # intermediate | parameter
    shape: tuple[int, ...]
    status: str = "ok"  # ok | wrong | not returned | unchecked
    verdict: str = ""
    diagnosis: str = ""
    worst_rel: float | None = None
    references: dict[str, str] = field(default_factory=dict)  # ref -> ok | wrong | why not
    failed_in: list[str] = field(default_factory=list)  # "seed 3, float32"
    first_wrong: bool = False
    notes: list[str] = field(default_factory=list)


class BackpropReport:
    """What ``check_backprop`` found: ``passed``, ``rows`` (forward order), ``failures``,
    ``first_wrong``, the verdict table (``str``), ``_repr_markdown_`` and ``to_json()``."""

    def __init__(self, target: str, rows: list[Row], skipped: dict[str, str], ran: list[str],
                 runs: list[str], first_wrong: str | None, first_note: str, unmatched: list[str],
                 seconds: float) -> None:
        self.target, self.rows, self.skipped, self.ran = target, rows, skipped, ran
        self.runs, self.first_wrong, self.first_note = runs, first_wrong, first_note
        self.unmatched, self.seconds = unmatched, seconds

    @property
    def failures(self) -> list[Row]:
        return [r for r in self.rows if r.status == "wrong"]

    @property
    def passed(self) -> bool:
        """No gradient wrong, and at least one reference ran."""
        return bool(self.ran) and not self.failures

    def row(self, name: str) -> Row:
        """The row of the gradient ``name`` (``dW1``) or of the quantity it differentiates."""
        return next(r for r in self.rows if name in (r.name, r.of))

    def head(self) -> str:
        if not self.ran:
            return f"{self.target}: nothing checked: no reference could run the forward"
        checked = sum(r.status in ("ok", "wrong") for r in self.rows)
        verdict = "all right" if self.passed else f"{len(self.failures)} wrong"
        return (f"{self.target}: {checked} gradients checked, {verdict}"
                + (f"; first wrong: {self.first_wrong}" if self.first_wrong else ""))

    def _refs_line(self) -> str:
        why = [f"{r} skipped ({w})" for r, w in self.skipped.items()]
        return f"references: {', '.join(self.ran) or 'none'} ran" + \
            ("; " + "; ".join(why) if why else "") + f"; checked at {self._runs()}"

    def _runs(self) -> str:
        seeds = list(dict.fromkeys(r.rpartition(", ")[0] for r in self.runs if ", " in r))
        dtypes = list(dict.fromkeys(r.rpartition(", ")[2] for r in self.runs))
        return (f"{', '.join(seeds)} " if seeds else "the inputs given, ") + \
            f"in {' and '.join(dtypes)}"

    def __str__(self) -> str:
        w = max((len(r.name) for r in self.rows), default=8)
        o = max((len(r.of) for r in self.rows), default=2)
        s = max((len(str(r.shape)) for r in self.rows), default=5)
        lines = [self.head(), "  " + self._refs_line(),
                 f"   #  {'gradient':<{w}}  {'of':<{o}}  {'shape':<{s}}  verdict"]
        for r in self.rows:
            mark = "  <-- first wrong" if r.first_wrong else ""
            lines.append(f"  {r.index:>2}  {r.name:<{w}}  {r.of:<{o}}  {str(r.shape):<{s}}  "
                         f"{r.status.upper() if r.status == 'wrong' else r.status}: "
                         f"{r.verdict}{mark}")
        if self.unmatched:
            lines.append(f"  returned but matched to nothing: {', '.join(self.unmatched)}")
        if self.first_wrong:
            lines.append(f"first wrong: {self.first_wrong}; {self.first_note}")
        for r in self.failures:
            if r.first_wrong or len(self.failures) <= 3:
                shown = "; ".join(r.failed_in[:2]) + ("; ..." if len(r.failed_in) > 2 else "")
                lines += [f"\n--- {r.name}: wrong in {len(r.failed_in)} of {len(self.runs)} "
                          f"runs ({shown}); the first:", r.diagnosis]
        lines.append(f"({self.seconds:.1f} s)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<gradverify.BackpropReport {self.head()}>"

    def _repr_markdown_(self) -> str:
        lines = [f"**{self.head()}**", "", self._refs_line(), "",
                 "| # | gradient | of | shape | verdict |", "|---|---|---|---|---|"]
        for r in self.rows:
            status = f"**{r.status}**" if r.status == "wrong" else r.status
            mark = " ← **first wrong**" if r.first_wrong else ""
            text = f"{status}: {r.verdict}{mark}".replace("|", "&#124;")
            lines.append(f"| {r.index} | `{r.name}` | `{r.of}` | {r.shape} | {text} |")
        if self.first_wrong:
            lines += ["", f"first wrong: `{self.first_wrong}`; {self.first_note}"]
        return "\n".join(lines)

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps({"target": self.target, "passed": self.passed,
                           "first_wrong": self.first_wrong, "references_ran": self.ran,
                           "references_skipped": self.skipped, "runs": self.runs,
                           "unmatched": self.unmatched, "seconds": self.seconds,
                           "rows": [dataclasses.asdict(r) for r in self.rows]}, **kwargs)
