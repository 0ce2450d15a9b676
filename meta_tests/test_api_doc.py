"""docs/API.md cannot go stale: it must equal what ``tools.api_doc`` reads from impl and the
catalog now, and it must say what they say."""

from __future__ import annotations

import difflib
import inspect
from pathlib import Path

import pytest

from gradverify import impl
from gradverify.catalog import CATALOG, OP_NAMES
from gradverify.reference.conventions import DECLARED, KINKS
from tools import api_doc


@pytest.fixture(scope="module")
def page() -> str:
    return api_doc.render()


def test_committed_page_is_current(page: str) -> None:
    committed = api_doc.DOC.read_text(encoding="utf-8") if api_doc.DOC.is_file() else ""
    if page != committed:
        diff = "".join(list(difflib.unified_diff(committed.splitlines(True), page.splitlines(True),
                                                 "committed", "generated now"))[:40])
        pytest.fail("docs/API.md differs from impl and the catalog; regenerate it with "
                    f"`python -m tools.api_doc`:\n{diff}", pytrace=False)


def _section(page: str, op: str) -> str:
    start = page.index(f"\n### `{op}`\n")
    end = page.find("\n### ", start + 1)
    return page[start:end if end > 0 else len(page)]


def test_every_op_and_function_with_its_exact_signature(page: str) -> None:
    assert f"{len(OP_NAMES)} ops, {len(CATALOG)} catalog entries" in page
    for op in OP_NAMES:
        section = _section(page, op)
        for suffix in api_doc.SUFFIXES:
            fn = getattr(impl, op + suffix, None)
            if callable(fn):
                params = ", ".join(inspect.signature(fn).parameters)
                assert f"`{op}{suffix}(" in section, (op, suffix)
                for name, p in inspect.signature(fn).parameters.items():
                    written = f"{name}: {p.annotation}" if p.annotation is not p.empty else name
                    if p.default is not p.empty:
                        written += f" = {p.default!r}"
                    assert written.replace("|", "\\|") in section, (op + suffix, written, params)
    # a signature as it reads in impl, quotes of postponed annotations removed
    assert ("`softmax_backward(grad_out: np.ndarray, z: np.ndarray, axis: int = -1) "
            "-> np.ndarray`") in page
    assert "`mse(y_pred: np.ndarray, y_true: np.ndarray, reduction: str = 'mean')" in page


def test_shapes_parameters_inputs_conventions_and_variants(page: str) -> None:
    for spec in CATALOG:
        section = _section(page, spec.name)
        shapes = ", ".join(f"`{spec.spell(s)}`" for s in spec.shapes)
        assert f"checked on shapes {shapes} × float32 and float64" in section, spec.label
        if spec.variant:
            assert f"**Input domain `{spec.variant}`** ({spec.label})" in section
    relu = _section(page, "relu")
    assert "`z`: float32 and float64, differentiable; shape (5,) in case `5`" in relu
    assert "kinks at 0" in relu and "leaky_relu's" not in relu  # another op's default
    labels = _section(page, "softmax_cross_entropy")
    assert "`y_true`: integers, not differentiated" in labels  # the int_labels domain
    for kink in KINKS:
        assert f"{kink.label}: impl returns {DECLARED[kink.label]['impl']:g}" in \
            _section(page, kink.op)
    assert "parameters (defaults); (negative_slope=0.2)" in _section(page, "leaky_relu")
    assert "tied maxima" in _section(page, "max_pool2d")
    assert "**Conventions**: none" in _section(page, "dense")
    for spec in CATALOG:
        for v in getattr(spec, "variants", ()):
            assert f"- `{v.name}`: {v.description}" in _section(page, spec.name)
    if any(getattr(s, "variants", ()) for s in CATALOG if s.name == "batchnorm"):
        assert "Bessel" in _section(page, "batchnorm")


def test_check_mode_reports_a_stale_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "API.md"
    monkeypatch.setattr(api_doc, "DOC", doc)
    assert api_doc.main([]) == 0 and api_doc.main(["--check"]) == 0
    doc.write_text(doc.read_text(encoding="utf-8").replace("relu(z", "relu(x", 1))
    assert api_doc.main(["--check"]) == 1
    assert "STALE" in capsys.readouterr().out
