"""The HTML report (``gradverify.html``, ``Report._repr_html_``, ``Report.to_html``): its
structure, as a headless Chromium renders it, and as a real Jupyter kernel displays it."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import gradverify
from gradverify import html
from gradverify.api import Record, Report

#: a framework-light reference pair: autograd (no compilation) and finite differences
REFS = tuple(r for r in ("autograd", "numeric")
             if r == "numeric" or importlib.util.find_spec(r) is not None)

USER_MODULE = '''"""A student's module: sigmoid right, tanh's backward written with the input."""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def sigmoid_backward(g, z):
    s = sigmoid(z)
    return g * s * (1 - s)


def tanh(z):
    return np.tanh(z)


def tanh_backward(g, z):
    return g * (1 - z**2)  # the mistake: 1 - tanh(z)**2 written with z
'''


class Elements(HTMLParser):
    """Every element's tag and attributes, and the text inside each ``<pre>``."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.pres: list[str] = []
        self._in_pre = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag == "pre":
            self._in_pre, self.pres = True, [*self.pres, ""]

    def handle_endtag(self, tag: str) -> None:
        self._in_pre = self._in_pre and tag != "pre"

    def handle_data(self, data: str) -> None:
        if self._in_pre:
            self.pres[-1] += data

    def rows(self) -> dict[tuple[str, str], str]:
        """(function, check) -> mark of every function row."""
        return {(a["data-function"], a["data-check"]): a["data-mark"]
                for t, a in self.elements if t == "tr" and "data-function" in a}

    def count(self, tag: str, cls: str = "") -> int:
        return sum(t == tag and cls in (a.get("class") or "").split() or (t == tag and not cls)
                   for t, a in self.elements)


@pytest.fixture(scope="module")
def wrong_report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    path = tmp_path_factory.mktemp("user") / "my_grads.py"
    path.write_text(USER_MODULE)
    return gradverify.check(str(path), references=REFS)


def test_rows_marks_and_failure_details(wrong_report: Report) -> None:
    r = wrong_report
    assert not r.passed and {f.function for f in r.failures} == {"tanh_backward"}
    text = r._repr_html_()
    assert text == html.fragment(r) and "<script" not in text
    doc = Elements(text)
    rows = doc.rows()
    # forward, VJP and the Jacobian assembled from the backward are rows of their own
    assert rows[("tanh_backward", "vjp")] == rows[("tanh_backward", "jacobian")] == "wrong"
    assert rows[("sigmoid_backward", "vjp")] == rows[("sigmoid_backward", "jacobian")] == "right"
    if "autograd" in REFS:
        assert rows[("sigmoid", "forward")] == rows[("tanh", "forward")] == "right"
    # marks read without colour: the symbol and the words are in the text
    assert "✗ wrong" in text and "✓ right" in text
    # each failure (up to MAX_FAILURES_SHOWN per row) expands to its diagnosis, case, inputs
    failed_rows = [k for k, m in rows.items() if m == "wrong"]
    shown = sum(min(sum(f.function == fn and f.check == c for f in r.failures),
                    html.MAX_FAILURES_SHOWN) for fn, c in failed_rows)
    assert doc.count("details", "gv-failure") == shown > 0
    assert doc.count("details", "gv-failures") == len(failed_rows)
    first = r.failures[0]
    assert first.diagnosis in doc.pres  # the full diagnosis, not just its first line
    case = next(a["data-case"] for t, a in doc.elements if t == "details" and "data-case" in a)
    assert case == first.case
    dtype = "float32" if "float32" in first.case else "float64"
    assert f"x0: {dtype} (" in text and "(differentiable)" in text
    assert f"--impl={r.target}" in text and f"test_{first.check}[{first.case}]" in text
    assert escape(f"gradverify.check({r.target!r}, ops=['tanh'], references=") in text
    # the matrix: one row per op, one column per reference, the wrong op's cells marked
    cells = [a for t, a in doc.elements if t == "td" and "gv-cell" in (a.get("class") or "")]
    assert len(cells) == 2 * len({rec.reference for rec in r.records})
    assert sum(c.get("data-mark") == "wrong" for c in cells) == len(REFS)


def test_every_outcome_and_the_lead_fields() -> None:
    def rec(fn: str, check: str, outcome: str, why: str = "") -> Record:
        op = fn.removesuffix("_backward")
        return Record(fn, op, check, "torch", f"{op}-torch-float64-3x4", outcome, why)

    records = [rec("batchnorm_backward", "vjp", "variant", "Bessel-corrected variance"),
               rec("relu_backward", "vjp", "convention", "relu'(0) = 1: another subgradient"),
               rec("relu_backward", "vjp", "passed"),
               rec("mse", "forward", "unsupported", "not supported by m: reduction sum"),
               rec("conv2d", "forward", "not provided", "conv2d not provided by m"),
               rec("dense", "forward", "passed")]
    report = Report("m.py", records, seed=3)
    doc = Elements(report._repr_html_())
    assert doc.rows() == {("batchnorm_backward", "vjp"): "variant",
                          ("relu_backward", "vjp"): "convention",
                          ("mse", "forward"): "unsupported",
                          ("conv2d", "forward"): "unchecked",
                          ("dense", "forward"): "right"}
    text = report._repr_html_()
    for words in ("Δ definition difference", "≈ convention difference", "⊘ not supported",
                  "– not checked", "Bessel-corrected variance", "reduction sum"):
        assert words in text
    assert "Never checked" not in text and "never checked" not in text
    checks_run = getattr(report, "checks_run", None)  # the lead's Report: from the records
    if checks_run:
        assert "checks run: " + ", ".join(checks_run) in text
    report.unused = [("relu_backwrd", "relu_backward"), ("helper", None)]
    text = report._repr_html_()
    assert "<code>relu_backwrd</code> (did you mean <code>relu_backward</code>?)" in text
    assert "<code>helper</code>," not in text and "<code>helper</code></div>" in text
    assert "2 functions never checked" in text
    assert html.mark_of(["passed", "convention", "failed"]) == "wrong"
    assert html.mark_of(["not provided", "skipped"]) == "unchecked"


def test_to_html_writes_a_self_contained_page(wrong_report: Report, tmp_path: Path) -> None:
    out = wrong_report.to_html(tmp_path / "sub" / "report.html")
    assert out == tmp_path / "sub" / "report.html"
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and html.fragment(wrong_report) in page
    for loads in ("<script", "src=", "href=", "url(", "@import"):  # nothing from elsewhere
        assert loads not in page, loads


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
SIZE = (1200, 900)


def _chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args,
                           page.as_uri()], capture_output=True, text=True, timeout=90)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install "
                    "chromium): the page is not rendered in a browser")
def test_headless_chromium_renders_the_page(wrong_report: Report, tmp_path: Path) -> None:
    page = wrong_report.to_html(tmp_path / "report.html")
    dom = _chromium(page, tmp_path / "profile-dom", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    ours, browser = Elements(html.fragment(wrong_report)), Elements(dom.stdout)
    assert browser.rows() == ours.rows() and len(ours.rows()) >= 4
    for tag, cls in (("details", "gv-failure"), ("details", "gv-failures"), ("td", "gv-cell"),
                     ("span", "gv-mark")):
        assert browser.count(tag, cls) == ours.count(tag, cls) > 0, (tag, cls)
    shot = tmp_path / "report.png"
    run = _chromium(page, tmp_path / "profile-png", f"--screenshot={shot}",
                    f"--window-size={SIZE[0]},{SIZE[1]}", "--hide-scrollbars")
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    rgb = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert rgb.shape == (SIZE[1], SIZE[0], 3)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    assert rgb.std() > 10  # not blank
    # the red headline and ✗ wrong marks (~11,000 pixels here; the red borders of the
    # failures alone ~1,100), the green ✓ right marks (~6,000)
    reddish = int(((r > 170) & (g < 90) & (b < 90)).sum())
    greenish = int(((g > 110) & (r < 90) & (b < 110)).sum())
    assert reddish > 4000 and greenish > 3000, (reddish, greenish)


def test_jupyter_kernel_displays_the_html(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat", reason="nbformat not installed (the test extra)")
    nbclient = pytest.importorskip("nbclient", reason="nbclient not installed (the test extra)")
    pytest.importorskip("ipykernel", reason="ipykernel not installed (the test extra)")
    (tmp_path / "my_grads.py").write_text(USER_MODULE)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        f"import gradverify\nr = gradverify.check('my_grads.py', references={list(REFS)!r})\nr")]
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[0].outputs
    data = next(o["data"] for o in outputs if o.get("output_type") == "execute_result")
    assert "text/html" in data and "text/plain" in data
    rows = Elements(data["text/html"]).rows()
    assert rows[("tanh_backward", "vjp")] == "wrong"
    assert rows[("sigmoid_backward", "vjp")] == "right"
    assert "gradverify: <code>my_grads.py</code>" in data["text/html"]
