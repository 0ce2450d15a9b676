"""A class at once (gradverify.classrun): ``python -m gradverify FOLDER -j 2`` writes one
function × student table as Markdown, CSV, JSON and JUnit XML; and Ctrl-C stops a run at once
with the partial report. Finite differences only (no framework needed)."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from gradverify import classrun

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ROOT / "meta_tests" / "hostile"
RIGHT = "import numpy as np\ndef relu(x):\n    return np.maximum(x, 0)\n" \
    "def relu_backward(g, x):\n    return g * (x > 0)\n"
WRONG = RIGHT.replace("(x > 0)", "(x >= 0) * 2")


def _class(folder: Path) -> dict[str, str]:
    folder.mkdir()
    files = {"ada": RIGHT, "bob": WRONG, "cy": RIGHT + "def relu_jacobian(x):\n    while True:"
             "\n        pass\n", "dee": "def relu(x:\n"}
    for name, text in files.items():
        (folder / f"{name}.py").write_text(text)
    (folder / "_helpers.py").write_text("raise SystemExit('not a submission')\n")
    (folder / "notes.txt").write_text("not a module")
    return files


def test_a_folder_of_modules_gives_one_table(tmp_path: Path) -> None:
    _class(tmp_path / "subs")
    out = tmp_path / "out"
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "gradverify", str(tmp_path / "subs"), "-j", "2",
                          "--references", "numeric", "--timeout", "1", "--out", str(out)],
                         capture_output=True, text=True, cwd=ROOT, timeout=180)
    assert time.perf_counter() - start < 90
    assert run.returncode == 1, run.stderr  # bob is wrong, cy hangs, dee does not load
    progress = [ln for ln in run.stderr.splitlines() if ln.startswith("[")]
    assert len(progress) == 4 and progress[-1].startswith("[4/4] ")
    assert "4 of 4 modules checked" in run.stdout and "1 modules that do not load" in run.stdout
    rows = list(csv.reader((out / "class.csv").open()))
    assert rows[0] == ["function", "ada", "bob", "cy", "dee"]
    table = {r[0]: r[1:] for r in rows[1:]}
    assert table["relu"] == ["ok", "ok", "ok", "load error"]
    assert table["relu_backward"] == ["ok", "wrong", "ok", "load error"]
    assert table["relu_jacobian"] == ["not provided", "not provided", "wrong", "load error"]
    data = json.loads((out / "class.json").read_text())
    assert data["table"]["relu_backward"] == table["relu_backward"]
    cy = next(m for m in data["modules"] if m["target"].endswith("cy.py"))
    assert cy["verdicts"]["relu_jacobian"].endswith("relu_jacobian did not return within 1 s")
    md = (out / "class.md").read_text()
    assert "| `relu_backward` | ok | **wrong** | ok | load error |" in md
    suites = {s.get("name"): s for s in ET.parse(out / "junit.xml").getroot()}
    assert set(suites) == {"ada", "bob", "cy", "dee"}
    assert suites["bob"].get("failures") == "1" and suites["ada"].get("failures") == "0"
    assert suites["dee"].get("errors") == "1"
    assert "SyntaxError" in suites["dee"].find("testcase/error").get("message")


def test_expand_and_student_names(tmp_path: Path) -> None:
    _class(tmp_path / "a")
    found = classrun.expand([str(tmp_path / "a")])
    assert [Path(f).name for f in found] == ["ada.py", "bob.py", "cy.py", "dee.py"]
    assert classrun.is_class_run([str(tmp_path / "a")])
    assert not classrun.is_class_run([str(tmp_path / "a" / "ada.py")])
    assert classrun.students(["x/ada.py", "y/ada.py", "z/bob.ipynb"]) == \
        ["x/ada.py", "y/ada.py", "bob"]
    assert classrun.short("wrong (3 of 5 checks failed): ...") == "wrong"


def test_ctrl_c_stops_at_once_with_the_partial_report() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "gradverify", str(HOSTILE / "hang.py"),
                             "--references", "numeric", "--timeout", "60"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(6)  # inside sigmoid_backward's endless loop by now
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert time.perf_counter() - sent < 10
    assert proc.returncode == 130, stderr
    assert "interrupted (Ctrl-C): the report above is partial" in stderr
    assert stdout.startswith("gradverify: ") and "relu_backward" in stdout
