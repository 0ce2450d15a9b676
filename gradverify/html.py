"""A ``Report`` as HTML: the notebook view (``Report._repr_html_``) and ``Report.to_html(path)``.

One row per function and check (``relu`` forward, ``relu_backward`` VJP, ``relu_jacobian``),
each with a mark that reads without colour (✓ right, ✗ wrong, ≈ convention difference,
Δ definition difference, ⊘ not supported, – not checked) and is coloured as well; the op ×
reference matrix; every failure expandable (``<details>``, no JavaScript) to its full
diagnosis, the case, its inputs (shape, dtype, seed) and a line that reproduces it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from .html_style import CSS, MARKS

if TYPE_CHECKING:
    from .api import Record, Report
    from .cases import Case

CHECK_LABELS = {"forward": "forward", "vjp": "backward (VJP)", "jacobian": "Jacobian",
                "special": "special values", "kink": "at kinks", "contracts": "contracts"}
MATRIX_TESTS = {"forward": "test_forward", "vjp": "test_vjp", "jacobian": "test_jacobian"}


def row_check(check: str) -> str:
    """The row a check belongs to: ``contract:no_mutation`` and the other contracts share one."""
    return "contracts" if check.startswith("contract") else check


MAX_FAILURES_SHOWN = 12  # per row; report.failures has them all


def mark_of(outcomes: Iterable[str]) -> str:
    """The mark of a group of outcomes: any failure makes it wrong; then a definition
    difference, a convention difference, a pass; else not supported, else not checked."""
    n = Counter(outcomes)
    if n["failed"]:
        return "wrong"
    if n["variant"]:
        return "variant"
    if n["convention"]:
        return "convention"
    if n["passed"]:
        return "right"
    return "unsupported" if n["unsupported"] else "unchecked"


def badge(mark: str) -> str:
    symbol, words, cls = MARKS[mark]
    return f'<span class="gv-mark {cls}" data-mark="{mark}">{symbol} {words}</span>'


def _counts(recs: Sequence[Record]) -> str:
    n = Counter(r.outcome for r in recs)
    ran = n["passed"] + n["failed"] + n["convention"] + n["variant"]
    if not ran:
        return f"{len(recs)} not run"
    extra = [_n(n[o], w) for o, w in (("failed", "failed"), ("convention", "convention difference"),
                                      ("variant", "definition difference"),
                                      ("unsupported", "not supported"),
                                      ("skipped", "skipped")) if n[o]]
    return ", ".join([f"{n['passed']}/{ran} passed", *extra])


def _n(k: int, words: str) -> str:
    """``1 convention difference``, ``2 convention differences`` (``failed`` stays)."""
    return f"{k} {words}" + ("s" if k != 1 and words.endswith("difference") else "")


def _worst(recs: Sequence[Record]) -> str:
    if any(r.outcome == "failed" for r in recs):
        return ""  # a passing case's small error says nothing next to a failure
    vals = [r.worst_rel for r in recs if r.outcome == "passed" and r.worst_rel is not None]
    return ("0" if max(vals) == 0 else f"{max(vals):.1e}") if vals else ""


EDGE_WORDS = {"empty": "empty batches", "size1": "axes of size 1"}


def _edge(recs: Sequence[Record]) -> str:
    """``only on empty batches: `` when every failure is on that edge and a case off it
    passed (``Record.edge``, set on failures and passes)."""
    edges = {getattr(r, "edge", "") for r in recs if r.outcome == "failed"}
    if len(edges) != 1 or (edge := edges.pop()) not in EDGE_WORDS:
        return ""
    off = any(r.outcome == "passed" and getattr(r, "edge", "") != edge for r in recs)
    return f"only on {EDGE_WORDS[edge]}: " if off else ""


def _finding(recs: Sequence[Record], mark: str) -> str:
    outcome = {"wrong": "failed", "variant": "variant", "convention": "convention",
               "unsupported": "unsupported"}.get(mark)
    first = next((r for r in recs if r.outcome == outcome), None) if outcome else None
    if first is None and mark == "unchecked":
        first = recs[0]
    if first is None or not first.verdict:
        return ""
    edge = _edge(recs) if mark == "wrong" else ""
    return (f"<b>{escape(edge)}</b>" if edge else "") + escape(first.verdict)


# -- a failure's case, inputs and reproduce line ------------------------------------------
def _case_index(records: Sequence[Record]) -> dict[str, Case]:
    """The catalog case behind each record's case id (declared ops have none)."""
    from .cases import all_cases

    refs = {r.reference for r in records}
    wanted = {r.case for r in records}
    index: dict[str, Case] = {}
    for case in all_cases():
        for ref in refs:
            cid = case.id(ref)
            if cid in wanted:
                index[cid] = case
    return index


def _inputs(case: Case | None, seed: int) -> str:
    if case is None:
        return "not recorded (an op the module declares, or gradcheck's own inputs)"
    try:
        xs = case.inputs(case.rng(seed))
    except Exception as exc:  # a maker never fails on a catalog case; say so if it does
        return escape(f"could not be drawn again: {type(exc).__name__}: {exc}")
    parts = []
    for i, x in enumerate(xs):
        role = "differentiable" if i in case.spec.argnums else "not differentiated"
        parts.append(f"x{i}: {getattr(x, 'dtype', type(x).__name__)} "
                     f"{tuple(getattr(x, 'shape', ()))} ({role})")
    return escape("; ".join(parts) + f"; drawn with seed {seed}")


def _pytest_target(target: str) -> str | None:
    """``--impl`` for a report of a file or an importable module; None for a dict or gradcheck."""
    if target.endswith(".py") or "/" in target:
        return target
    if all(part.isidentifier() for part in target.split(".")) and target != "user_functions":
        return target
    return None


def reproduce(rec: Record, report: Report) -> list[str]:
    """Lines that rerun exactly this check: the Python call, and the pytest node id."""
    own = getattr(rec, "reproduce", None)
    if own:
        return [str(own)]
    from gradverify import reference
    target, seed = report.target, report.seed
    lines = []
    if not target.startswith("gradcheck("):
        what = "<the same dict>" if target == "user_functions" else repr(target)
        refs = f"references=[{rec.reference!r}], " if rec.reference in reference.NAMES else ""
        lines.append(f"gradverify.check({what}, ops=[{rec.op.split('[')[0]!r}], {refs}"
                     f"seed={seed})")
    impl = _pytest_target(target)
    if impl is not None and rec.check in MATRIX_TESTS:
        lines.append(f"python -m pytest 'tests/test_matrix.py::test_{rec.check}[{rec.case}]' "
                     f"--seed {seed} --impl={impl}")
    return lines


def _failure(rec: Record, report: Report, case: Case | None, is_open: bool) -> str:
    params = ", ".join(f"{k}={v!r}" for k, v in case.params) if case else ""
    where = (f"op {case.spec.label}, params ({params or 'defaults'}), shape {case.shape_id}, "
             f"dtype {case.dtype}" if case else rec.case)
    rows = [("case", f"<code>{escape(rec.case)}</code> ({escape(where)})"),
            ("reference", escape(rec.reference)), ("check", escape(rec.check)),
            ("inputs", _inputs(case, report.seed)), ("seed", str(report.seed))]
    rows += [("reproduce", "<br>".join(f"<code>{escape(line)}</code>"
                                       for line in reproduce(rec, report)) or "–")]
    rows += [("note", escape(n)) for n in rec.notes]
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    short = rec.verdict.split(f" vs {rec.reference}: ", 1)[-1]  # the case id names it
    return (f'<details class="gv-failure"{" open" if is_open else ""} '
            f'data-case="{escape(rec.case)}"><summary><code>{escape(rec.case)}</code>: '
            f"{escape(short)}</summary><pre>{escape(rec.diagnosis or rec.verdict)}</pre>"
            f"<dl>{dl}</dl></details>")


def _detail(recs: Sequence[Record], report: Report, cases: dict[str, Case], first: bool) -> str:
    failed = [r for r in recs if r.outcome == "failed"]
    shown = failed[:MAX_FAILURES_SHOWN]
    body = "".join(_failure(r, report, cases.get(r.case), first and i == 0)
                   for i, r in enumerate(shown))
    if len(failed) > len(shown):
        body += (f"<p>… and {len(failed) - len(shown)} more failed checks "
                 "(<code>report.failures</code> has them all)</p>")
    return (f'<details class="gv-failures"{" open" if first else ""}><summary>'
            f"{len(failed)} failed check{'s' * (len(failed) != 1)}: full diagnosis, case, "
            f"inputs and reproduce line</summary>{body}</details>")


def _reasons(recs: Sequence[Record], outcome: str, title: str) -> str:
    n = Counter(r.verdict for r in recs if r.outcome == outcome)
    items = "".join(f"<li>{escape(why)}" + (f" ({k}×)" if k > 1 else "") + "</li>"
                    for why, k in n.most_common())
    return f"<details><summary>{title}: {sum(n.values())}</summary><ul>{items}</ul></details>"


# -- the page ---------------------------------------------------------------------------------
def _rows(report: Report) -> str:
    groups: dict[tuple[str, str], list[Record]] = {}
    order = {c: i for i, c in enumerate(CHECK_LABELS)}
    for r in report.records:
        groups.setdefault((r.function, row_check(r.check)), []).append(r)
    ops = list(dict.fromkeys(r.op for r in report.records))
    keys = sorted(groups, key=lambda k: (ops.index(groups[k][0].op), order.get(k[1], 9), k[0]))
    cases = _case_index(report.failures) if report.failures else {}
    head = ("<tr><th>function</th><th>check</th><th>verdict</th><th>checks</th>"
            "<th>worst rel. err.</th><th>first finding</th></tr>")
    out, first_failure = [], True
    for fn, check in keys:
        recs = groups[(fn, check)]
        mark = mark_of(r.outcome for r in recs)
        label = CHECK_LABELS.get(check, check)
        if check == "jacobian" and fn.endswith("_backward"):
            label += " (from the backward)"
        title = ""
        if check == "contracts":
            names = [n for n in dict.fromkeys(r.check.partition(":")[2] for r in recs) if n]
            title = f' title="{escape(", ".join(names))}"'
            label += f" ({len(names)} kinds)" if names else ""
        out.append(f'<tr class="gv-row" data-function="{escape(fn)}" data-check="{check}" '
                   f'data-mark="{mark}"><td><code>{escape(fn)}</code></td>'
                   f'<td class="gv-check"{title}>{label}</td>'
                   f"<td>{badge(mark)}</td><td class=\"gv-num\">{_counts(recs)}</td>"
                   f'<td class="gv-num">{_worst(recs)}</td>'
                   f'<td class="gv-find">{_finding(recs, mark)}</td></tr>')
        extra = []
        if mark == "wrong":
            extra.append(_detail(recs, report, cases, first_failure))
            first_failure = False
        for outcome, title in (("variant", "definition differences, and why"),
                               ("convention", "convention differences, and why"),
                               ("unsupported", "checks not supported, and why")):
            if any(r.outcome == outcome for r in recs) and mark != "wrong":
                extra.append(_reasons(recs, outcome, title))
        if extra:
            out.append(f'<tr class="gv-detail"><td colspan="6">{"".join(extra)}</td></tr>')
    cols = "".join(f'<col style="width:{w}%">' for w in (19, 14, 16, 13, 8, 30))
    return (f'<table class="gv-functions"><colgroup>{cols}</colgroup><thead>{head}</thead>'
            f'<tbody>{"".join(out)}</tbody></table>')


def _matrix(report: Report) -> str:
    cells: dict[tuple[str, str], list[Record]] = {}
    for r in report.records:
        cells.setdefault((r.op, r.reference), []).append(r)
    ops = list(dict.fromkeys(r.op for r in report.records))
    refs = list(dict.fromkeys(r.reference for r in report.records))
    rows = []
    for op in ops:
        tds = []
        for ref in refs:
            recs = cells.get((op, ref), [])
            if not recs:
                tds.append('<td class="gv-cell"></td>')
                continue
            mark = mark_of(r.outcome for r in recs)
            symbol, words, cls = MARKS[mark]
            tds.append(f'<td class="gv-cell {cls}" data-mark="{mark}" title="{words}">'
                       f"{symbol} {_counts(recs)}</td>")
        rows.append(f"<tr><th><code>{escape(op)}</code></th>{''.join(tds)}</tr>")
    head = "<tr><th>op</th>" + "".join(f"<th>{escape(r)}</th>" for r in refs) + "</tr>"
    return (f'<table class="gv-matrix"><thead>{head}</thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _headline(report: Report) -> tuple[str, str]:
    wrong = sorted({r.function for r in report.failures})
    if wrong:
        return "wrong", (f"✗ {len(wrong)} function{'s' * (len(wrong) != 1)} wrong: "
                         + ", ".join(wrong))
    mark = mark_of(r.outcome for r in report.records)
    unused = len(getattr(report, "unused", None) or [])
    never = f"; {unused} function{'s' * (unused != 1)} never checked (below)" if unused else ""
    if mark == "unchecked" or not report.records:
        return "unchecked", "– nothing checked" + never
    return mark, "✓ all checked functions are right" + (
        " (up to conventions or definitions, below)" if mark in ("convention", "variant")
        else "") + never


def _unused(report: Report) -> str:
    unused = getattr(report, "unused", None) or []
    if not unused:
        return ""
    items = []
    for entry in unused:
        name, hint = (entry, None) if isinstance(entry, str) else (entry[0], entry[1])
        items.append(f"<code>{escape(str(name))}</code>"
                     + (f" (did you mean <code>{escape(str(hint))}</code>?)" if hint else ""))
    return ('<div class="gv-warn gv-unused"><b>Never checked</b> (defined, but no check uses '
            "them): " + ", ".join(items) + "</div>")


WORDS = {"passed": "passed", "failed": "failed", "convention": "convention difference",
         "variant": "definition difference", "unsupported": "not supported",
         "not provided": "not provided", "skipped": "skipped", "unavailable": "unavailable"}


def summary(report: Report) -> str:
    """``N checks: a passed, b failed, ...`` naming only the outcomes that occurred."""
    n = Counter(r.outcome for r in report.records)
    parts = [_n(n[o], w) for o, w in WORDS.items() if n[o]]
    parts += [f"{k} {o}" for o, k in n.items() if o not in WORDS]
    return f"{len(report.records)} checks: " + ", ".join(parts or ["none"])


def fragment(report: Report) -> str:
    """The report as an HTML fragment with its own scoped stylesheet (what Jupyter shows)."""
    mark, head = _headline(report)
    checks_run = getattr(report, "checks_run", None)
    sub = [f"seed {report.seed}", f"{len(report.records)} checks", f"{report.seconds:.1f} s"]
    if checks_run:
        sub.append("checks run: " + ", ".join(map(str, checks_run)))
    legend = " ".join(badge(m) for m in MARKS)
    return (f'<div class="gradverify"><style>{CSS}</style>'
            f"<h2>gradverify: <code>{escape(report.target)}</code></h2>"
            f'<div class="gv-verdict {MARKS[mark][2]}" data-mark="{mark}">{escape(head)}</div>'
            f'<p class="gv-sub">{escape(" · ".join(sub))}</p>'
            f'<p class="gv-sub gv-summary">{escape(summary(report))}</p>'
            f"{_unused(report)}<h3>Functions</h3>{_rows(report)}"
            f"<h3>Op × reference</h3>{_matrix(report)}"
            f'<p class="gv-legend">{legend}</p></div>')


def page(report: Report) -> str:
    """A self-contained HTML page (no script, no external resource)."""
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>gradverify: {escape(report.target)}</title></head>"
            f'<body style="margin:16px;background:#fff">{fragment(report)}</body></html>\n')


def write(report: Report, path: str | Path) -> Path:
    """Write ``page(report)`` to ``path`` (its folder created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page(report), encoding="utf-8")
    return path

