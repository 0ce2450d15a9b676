"""What a check found: ``Record`` (one check of one case against one reference, and how it
ended), ``settle`` (run a check and record its outcome) and ``Report`` (the records of a module:
``passed``, one verdict per function, the op × reference matrix, Markdown, HTML and JSON).

``pytest.fail`` is a wrong formula (its message the diagnosis, its first line the verdict),
``pytest.skip`` a case not run (not provided, not supported by the module, a reference
unavailable), ``pytest.xfail`` a convention difference, or a definition difference when its
reason says so. ``gradverify.api`` builds the records; every checker reports through these.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .verdicts import checks_run, function_verdicts


@dataclass
class Record:
    """One check of one case against one reference, and how it ended."""

    function: str  # the function under test: relu, relu_backward or relu_jacobian
    op: str
    check: str  # forward | vjp | jacobian
    reference: str
    case: str  # the case's id, as the matrix spells it
    outcome: str  # one of OUTCOMES: passed, failed, convention, unsupported, not provided, ...
    verdict: str = ""  # the diagnosis' first line, or the reason of a skip
    diagnosis: str = ""  # the full diagnosis of a failure
    worst_rel: float | None = None
    notes: list[str] = field(default_factory=list)  # warnings (elements left out at a kink)
    shape: str = ""  # the first input's shape (``0x4``), on failures
    edge: str = ""  # "empty" or "size1" when that input has such an axis (on failures)


SKIPS = (("not provided by", "not provided"), ("not supported by", "unsupported"),
         ("reference unavailable", "unavailable"))



def settle(rec: Record, thunk: Callable[[], Any]) -> Record:
    """Run ``thunk`` (a check) and record how it ended: ``pytest.fail`` is a failure (its
    message the diagnosis), ``pytest.skip`` a case not run, ``pytest.xfail`` a convention
    difference, or a definition difference when its reason says so."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            worst = thunk()
            rec.worst_rel = float(worst) if isinstance(worst, (int, float)) else None
        except pytest.xfail.Exception as exc:  # before fail: xfail's exception is a Failed
            reason = str(exc.msg)
            rec.outcome = "variant" if reason.startswith("definition difference") \
                else "convention"
            rec.verdict = reason
        except pytest.fail.Exception as exc:
            rec.outcome, rec.diagnosis = "failed", str(exc.msg)
            rec.verdict = rec.diagnosis.splitlines()[0] if rec.diagnosis else "failed"
        except pytest.skip.Exception as exc:
            reason = str(exc.msg)
            rec.outcome = next((o for key, o in SKIPS if key in reason), "skipped")
            rec.verdict = reason
    rec.notes = [str(w.message) for w in caught
                 if not issubclass(w.category, DeprecationWarning)]
    return rec


OUTCOMES = ("passed", "failed", "convention", "variant", "unsupported", "skipped",
            "unavailable", "not provided")


class Report:
    """What ``check`` or ``gradcheck`` found: ``passed``, ``failures``, ``records``, one verdict
    per function (``str(report)``), the op × reference matrix (``_repr_markdown_`` in Jupyter)
    and ``to_json()``."""

    def __init__(self, target: str, records: list[Record], seed: int = 0,
                 seconds: float = 0.0, unused: list[tuple[str, str | None]] | None = None,
                 incomplete: list[str] | None = None) -> None:
        self.target, self.records, self.seed, self.seconds = target, records, seed, seconds
        #: public functions no check called, each with a did-you-mean (or None)
        self.unused = list(unused or [])
        #: ops with a forward but no backward, or the reverse
        self.incomplete = list(incomplete or [])

    @property
    def passed(self) -> bool:
        """No check failed and every public function was checked (cases not provided, not
        supported or skipped are no failures; a function no check calls is)."""
        return not self.failures and not self.unused

    @property
    def checks_run(self) -> list[str]:
        """The kinds of check that ran: forward, vjp, jacobian, contracts, special, kink."""
        return checks_run(self.records)

    @property
    def failures(self) -> list[Record]:
        return [r for r in self.records if r.outcome == "failed"]

    def totals(self) -> dict[str, int]:
        counts = {o: 0 for o in OUTCOMES}
        for r in self.records:
            counts[r.outcome] += 1
        return {"checks": len(self.records), **counts}

    def verdicts(self) -> dict[str, str]:
        """One verdict per function (``gradverify.verdicts``): ok / wrong (with the first
        diagnosis; "wrong only on empty batches" when only those fail) / definition
        difference / not provided / not supported / skipped (with the reason)."""
        return function_verdicts(self.records, OUTCOMES)

    def matrix(self) -> tuple[list[str], list[str], dict[tuple[str, str], dict[str, int]]]:
        cells: dict[tuple[str, str], dict[str, int]] = defaultdict(
            lambda: {o: 0 for o in OUTCOMES})
        for r in self.records:
            cells[(r.op, r.reference)][r.outcome] += 1
        ops = list(dict.fromkeys(r.op for r in self.records))
        refs = list(dict.fromkeys(r.reference for r in self.records))
        return ops, refs, cells

    @staticmethod
    def _cell(c: dict[str, int] | None) -> str:
        if not c:
            return ""
        ran = c["passed"] + c["failed"] + c["convention"] + c["variant"]
        if not ran:
            return "not supported" if c["unsupported"] else \
                "not provided" if c["not provided"] else "skipped"
        text = f"{c['passed']}/{ran}" + (f", **{c['failed']} failed**" if c["failed"] else "")
        text += f", {c['convention']} convention" if c["convention"] else ""
        text += f", {c['variant']} definition difference" if c["variant"] else ""
        return text + (f", {c['unsupported']} not supported" if c["unsupported"] else "")

    def summary_line(self) -> str:
        t = self.totals()
        return (f"{t['checks']} checks: {t['passed']} passed, {t['failed']} failed, "
                f"{t['convention']} convention differences, {t['variant']} definition "
                f"differences, {t['unsupported']} not supported, {t['not provided']} not "
                f"provided, {t['skipped'] + t['unavailable']} skipped ({self.seconds:.1f} s)")

    def headline(self) -> str:
        """The report's first line: the verdict on the whole module."""
        wrong = len({r.function for r in self.failures})
        if wrong:
            what = f"{wrong} function(s) wrong"
        elif not self.records and not self.unused:
            return (f"gradverify: {self.target} (seed {self.seed}): nothing checked: it "
                    "provides none of the catalog's ops (impl's names: relu, relu_backward, "
                    "...) and declares none")
        elif not self.records:
            what = "nothing checked"
        else:
            what = "every checked function is right"
        if self.unused:
            what += f", but {len(self.unused)} function(s) never checked"
        elif not wrong:
            what = "all provided functions are right"
        return f"gradverify: {self.target} (seed {self.seed}): {what}"

    def __str__(self) -> str:
        verdicts = self.verdicts()
        width = max((len(f) for f in verdicts), default=0)
        lines = [self.headline()] + [f"  {fn:<{width}}  {v}" for fn, v in verdicts.items()]
        for name, hint in self.unused:
            lines.append(f"  {name:<{width}}  never checked: no check calls it"
                         + (f" (did you mean {hint}?)" if hint else " (list helpers in "
                            "GRADVERIFY_HELPERS = [...] to leave them out)"))
        lines += [f"  note: {note}" for note in self.incomplete]
        unavailable = sorted({r.reference for r in self.records if r.outcome == "unavailable"})
        if unavailable:
            lines.append(f"  references unavailable: {', '.join(unavailable)}")
        reasons: dict[str, int] = defaultdict(int)
        for r in self.records:
            if r.outcome == "skipped":
                reasons[r.verdict] += 1
        lines += [f"  skipped {n}: {why}" for why, n in list(reasons.items())[:3]]
        if self.records:
            lines.append(f"  checks run: {', '.join(self.checks_run) or 'none'}")
        return "\n".join(lines + [self.summary_line()])

    def __repr__(self) -> str:
        return f"<gradverify.Report {self.target}: {self.summary_line()}>"

    def _repr_markdown_(self) -> str:
        ops, refs, cells = self.matrix()
        lines = [f"**gradverify: `{self.target}`** (seed {self.seed}): "
                 + ("**passed**" if self.passed else "**failed**"), "",
                 "| op | " + " | ".join(refs) + " |", "|---|" + "---|" * len(refs)]
        lines += [f"| {op} | " + " | ".join(self._cell(cells.get((op, ref))) for ref in refs)
                  + " |" for op in ops]
        lines += ["", "| function | verdict |", "|---|---|"]
        lines += [f"| `{fn}` | {v.replace('|', '&#124;')} |" for fn, v in self.verdicts().items()]
        return "\n".join(lines + ["", self.summary_line()])

    def _repr_html_(self) -> str:
        """The notebook view (``gradverify.html.fragment``): one row per function and check,
        the op × reference matrix, each failure expandable to its diagnosis."""
        from . import html

        return html.fragment(self)

    def to_html(self, path: str | Path) -> Path:
        """Write the same view as a self-contained HTML page to ``path``; returns the path."""
        from . import html

        return html.write(self, path)

    def to_json(self, **kwargs: Any) -> str:
        """Totals, verdicts and every record (failures with their full diagnosis) as JSON."""
        return json.dumps({"target": self.target, "seed": self.seed, "passed": self.passed,
                           "seconds": self.seconds, "totals": self.totals(),
                           "verdicts": self.verdicts(), "checks_run": self.checks_run,
                           "unused": [{"function": n, "did_you_mean": h} for n, h in self.unused],
                           "incomplete": self.incomplete,
                           "records": [dataclasses.asdict(r) for r in self.records]}, **kwargs)
