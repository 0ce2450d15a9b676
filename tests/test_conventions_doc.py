"""docs/CONVENTIONS.md cannot go stale: it must equal what the suite measures now."""

from __future__ import annotations

import difflib

import pytest

from gradverify import reference
from gradverify.reference.conventions import MEASURED_ON


@pytest.mark.torch
@pytest.mark.jax
@pytest.mark.autograd
def test_conventions_page_matches_measurements(device):
    for name in ("torch", "jax", "autograd"):
        try:
            r = reference.get(name, device)
        except reference.BackendUnavailable as exc:
            pytest.skip(f"the page needs every framework: {exc}")
        if r.version != MEASURED_ON[name]:
            pytest.skip(f"the page records {name} {MEASURED_ON[name]}, this is {r.version}: "
                        "regenerate it with python -m tools.conventions")
    from tools.conventions import DOC, render

    text = render()
    committed = DOC.read_text() if DOC.is_file() else ""
    if text != committed:
        diff = "".join(list(difflib.unified_diff(committed.splitlines(True), text.splitlines(True),
                                                 "committed", "measured now"))[:40])
        pytest.fail("docs/CONVENTIONS.md differs from the measurements; regenerate it with "
                    f"`python -m tools.conventions`:\n{diff}", pytrace=False)
