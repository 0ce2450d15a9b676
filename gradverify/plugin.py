"""The suite's pytest options, registered at pytest start-up through an entry point.

Registered this early (not in conftest.py) so that ``pytest --impl path/to/my_grads.py``
parses the path as the option's value: an option pytest does not know yet makes it read the
path as a test file, and take the rootdir from it. conftest.py falls back to registering
them itself when the project is not installed.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradient verification")
    group.addoption("--impl", default="impl", help="module or .py file under test "
                    "(same API as impl); default: impl")
    group.addoption("--seed", type=int, default=0, help="seed of every case's inputs (default 0)")
    group.addoption("--op", action="append", default=[], metavar="NAME[,NAME]",
                    help="only the cases of these catalog ops (repeatable): tests not "
                    "parametrized by one (networks, meta-tests) are deselected, and the "
                    "other ops' matrix cases are not even collected")
    group.addoption("--device", default="cpu", choices=("cpu", "cuda"),
                    help="device of the torch and jax references")
    group.addoption("--report-dir", default=None, help="write the summary matrix here")
    group.addoption("--no-cache", action="store_true", default=False,
                    help="compute every reference value afresh: neither read nor write the "
                    "reference cache (.cache/reference, GRADVERIFY_CACHE)")
    group.addoption("--clear-cache", action="store_true", default=False,
                    help="delete the reference cache before the run (python -m "
                    "gradverify.reference.cache --clear does the same)")
    group.addoption("--isolate", action="store_true", default=False,
                    help="call the module under test in a supervised worker process "
                    "(gradverify.isolate): a call that hangs past --call-timeout, exits or crashes "
                    "fails its case with the cause, and the run goes on")
    group.addoption("--call-timeout", type=float, default=None, metavar="S",
                    help="with --isolate: seconds one call of the module may take (default 5)")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser,
                                  args: list[str]) -> None:
    """With ``--isolate``, the worker for the module under test starts booting now, while
    pytest imports the suite (it is taken when conftest.py loads the module)."""
    if "--isolate" in args:
        from gradverify import spares

        spares.keep(1)
