"""What a new user meets first (issue 23): the CLI in a pipe, --device cuda without a GPU,
pytest --impl collecting only the ops the module provides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mistakes.check import ROOT, _Collect

USER = Path(__file__).resolve().parent / "user_modules"


def test_the_cli_in_a_pipe_ends_quietly() -> None:
    """``python -m gradverify my_grads.py | head -1``: no BrokenPipeError."""
    cmd = (f"{sys.executable} -m gradverify {ROOT / 'examples' / 'my_grads.py'} "
           "--references numeric | head -1")
    out = subprocess.run(cmd, shell=True, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.stdout.startswith("gradverify: "), out.stdout
    assert "BrokenPipeError" not in out.stderr and "Traceback" not in out.stderr, out.stderr


def _gpu() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


@pytest.mark.skipif(_gpu(), reason="a GPU is visible here: --device cuda is valid")
def test_device_cuda_without_a_gpu_is_a_usage_error(capsys) -> None:
    code = pytest.main([str(ROOT / "tests" / "test_matrix.py"), f"--rootdir={ROOT}", "-p",
                        "no:cacheprovider", "--device", "cuda", "--op", "relu", "-q"])
    assert code == pytest.ExitCode.USAGE_ERROR
    assert "no GPU is visible" in capsys.readouterr().err


def test_impl_collects_only_the_provided_ops() -> None:
    """A module with one op: only that op's cases are collected (not thousands of 'not
    provided' skips), and the header names the others in one line."""
    collect = _Collect()
    code = pytest.main([str(ROOT / "tests"), f"--rootdir={ROOT}", "-p", "no:cacheprovider",
                        f"--impl={USER / 'writes_dout.py'}", "--co", "-q"], plugins=[collect])
    assert code == pytest.ExitCode.OK
    items = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "tests"), f"--impl={USER / 'writes_dout.py'}",
         "--co", "-q", "-p", "no:cacheprovider"], capture_output=True, text=True, cwd=ROOT,
        timeout=300).stdout.splitlines()
    ids = [i for i in items if "::" in i]
    assert ids and all("relu" in i or "test_every_function_is_checked" in i for i in ids), \
        [i for i in ids if "relu" not in i][:5]
    header = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "tests" / "test_module.py"),
         f"--impl={USER / 'writes_dout.py'}", "-p", "no:cacheprovider"], capture_output=True,
        text=True, cwd=ROOT, timeout=300).stdout
    assert "provides 1 of" in header and "not provided, not collected: identity" in header
