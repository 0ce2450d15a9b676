"""An install that stays out of the way (issue 23): the wheel claims no top-level name but
``gradverify`` (the formulas and references are ``gradverify.impl`` and
``gradverify.reference``), and the pytest plugin is dormant in other projects' runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("wheel")
    src = out / "src"  # a copy: setuptools builds in the source tree (build/), not in ours
    for part in ("gradverify", "impl", "reference"):
        shutil.copytree(ROOT / part, src / part, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / part, src / part)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                           "--no-build-isolation", str(src), "-w", str(out)],
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0 and "No module named" in done.stderr:  # no setuptools/wheel here
        pytest.skip(f"cannot build a wheel here: {done.stderr.strip().splitlines()[-1]}")
    assert done.returncode == 0, done.stderr[-2000:]
    (found,) = out.glob("gradverify-*.whl")
    with zipfile.ZipFile(found) as z:
        return z.namelist()


def test_the_wheel_claims_only_gradverify(wheel: list[str]) -> None:
    top = {name.split("/")[0] for name in wheel}
    assert {t for t in top if not t.endswith(".dist-info")} == {"gradverify"}, sorted(top)


def test_the_formulas_and_references_ship_inside_the_package(wheel: list[str]) -> None:
    shipped = set(wheel)
    for f in ("impl/__init__.py", "impl/activations.py", "impl/_blocked.py",
              "reference/__init__.py", "reference/torch_ref.py", "reference/cache.py"):
        assert f"gradverify/{f}" in shipped, f
    repo = {p.relative_to(ROOT).as_posix() for d in ("impl", "reference")
            for p in (ROOT / d).glob("*.py")}
    missing = {f"gradverify/{f}" for f in repo} - shipped
    assert not missing, f"not in the wheel: {sorted(missing)}"


def test_one_module_per_file_under_both_names() -> None:
    """``gradverify.impl`` is the repository's ``impl/`` (one file, not a copy)."""
    import gradverify.impl
    import gradverify.reference

    assert Path(gradverify.impl.__file__).resolve() == ROOT / "impl" / "__init__.py"
    assert Path(gradverify.reference.__file__).resolve() == ROOT / "reference" / "__init__.py"


def test_the_plugin_is_dormant_in_other_projects(tmp_path: Path) -> None:
    """A pytest run of an unrelated project: no gradverify header line, no numpy import
    from the plugin, and its own test passes."""
    (tmp_path / "test_other.py").write_text("import sys\n\ndef test_ok():\n"
                                            "    assert 'numpy' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "no:xdist", "-p", "no:benchmark", "-p", "no:hypothesispytest",
                           "test_other.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout
    for line in ("implementation under test", "references:", "reference cache"):
        assert line not in done.stdout, done.stdout[:2000]
    listed = subprocess.run([sys.executable, "-m", "pytest", "--help"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120).stdout
    assert "--impl" in listed  # the entry point is there, and only registers options
