"""Every command in the READMEs is real (issue 23): the Quickstart is the command CI runs, each
pytest command collects, each ``python -m`` module answers ``--help``, each script, link and
repository path exists.

The pytest commands are collected (``--co``) by one worker process that calls ``pytest.main``
once per command (a fresh process each would cost ~4 s of imports per command, and they are
many); ``-n auto`` is checked as ``-n 0`` (the same collection, without spawning workers).
Run as a script, this file is that worker: ``python meta_tests/test_readme.py IN.json OUT.json``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
READMES = [p for p in (ROOT / "README.md", ROOT / "examples" / "README.md",
                       ROOT / "examples" / "backprop" / "README.md") if p.is_file()]
SHELL = {"", "bash", "sh", "shell", "console", "zsh"}
TOP = ("impl/", "reference/", "tests/", "meta_tests/", "examples/", "tools/", "docs/",
       "reports/", "gradverify/", "benchmarks/", "mistakes/")
STOP = {"|", "||", ">", ">>", "<", ";", "&", "&&", "2>&1"}  # a command ends at these tokens
GPU_ABSENT = "--device cuda: no GPU is visible"


@dataclass
class Command:
    """One shell command of a README, with where it was written."""

    text: str  # as written, prompt and "reproduce: " removed
    where: str  # README:line
    words: list[str] = field(default_factory=list)  # shell words up to the first pipe or ;

    @property
    def placeholder(self) -> bool:
        """A stand-in the reader replaces (``<name>``, ``PATH``, ``N``, ``...``, ``$f``)."""
        return bool(re.search(r"<[^>]*>|\.\.\.|\$|\*", self.text)) or any(
            re.fullmatch(r"[A-Z]+", w.split("=")[-1]) for w in self.words[1:])

    @property
    def pytest_args(self) -> list[str] | None:
        """The arguments after ``pytest`` / ``python -m pytest``; None for other commands."""
        if self.words[:1] == ["pytest"]:
            return self.words[1:]
        if self.words[:3] == ["python", "-m", "pytest"]:
            return self.words[3:]
        return None

    @property
    def module(self) -> str | None:
        """MODULE of ``python -m MODULE ...`` (pytest included)."""
        return self.words[2] if self.words[:2] == ["python", "-m"] and len(self.words) > 2 \
            else None


def _words(text: str) -> list[str]:
    lex = shlex.shlex(text, posix=True, punctuation_chars=True)
    lex.whitespace_split, lex.commenters = True, "#"
    words: list[str] = []
    for w in lex:
        if w in STOP:
            break
        words.append(w)
    return words


def _split(text: str) -> list[str]:
    """``a && b; c`` -> its commands (outside quotes)."""
    parts: list[str] = []
    cur, quote = "", ""
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            quote = "" if c == quote else quote
        elif c in "\"'":
            quote = c
        elif text.startswith("&&", i) or c == ";":
            parts.append(cur)
            cur, i = "", i + (2 if c == "&" else 1)
            continue
        cur += c
        i += 1
    return [p.strip() for p in [*parts, cur] if p.strip()]


@dataclass
class Readme:
    """A README's fenced blocks (info string, first line number, lines) and inline code."""

    path: Path
    blocks: list[tuple[str, int, list[str]]] = field(default_factory=list)
    inline: list[tuple[int, str]] = field(default_factory=list)
    prose: list[tuple[int, str]] = field(default_factory=list)  # lines outside fences

    @classmethod
    def read(cls, path: Path) -> Readme:
        r, fence = cls(path), None
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith("```"):
                if fence is None:
                    fence = (line.strip()[3:].strip().lower(), n + 1, [])
                else:
                    r.blocks.append(fence)
                    fence = None
            elif fence is not None:
                fence[2].append(line)
            else:
                r.prose.append((n, line))
                r.inline += [(n, m) for m in re.findall(r"`([^`]+)`", line)]
        return r

    @property
    def name(self) -> str:
        return str(self.path.relative_to(ROOT)) if self.path.is_relative_to(ROOT) else \
            self.path.name

    def section(self, heading: str) -> list[tuple[str, int, list[str]]]:
        """The fenced blocks between ``heading`` and the next heading of its level or above."""
        level = heading.split()[0]
        lines = self.path.read_text(encoding="utf-8").splitlines()
        start = lines.index(heading) + 1
        end = next((i for i in range(start, len(lines)) if re.match(
            rf"#{{1,{len(level)}}} ", lines[i]) and not self._fenced(i + 1)), len(lines))
        return [b for b in self.blocks if start < b[1] <= end]

    def _fenced(self, n: int) -> bool:
        return any(start <= n < start + len(body) for _, start, body in self.blocks)

    def commands(self) -> list[Command]:
        """Shell commands: lines of shell/untyped blocks, ``reproduce:`` lines, inline code."""
        found: list[tuple[int, str]] = []
        for info, start, body in self.blocks:
            if info in SHELL:
                joined = re.sub(r"\\\n(.*)", r" \1\n", "\n".join(body))  # keeps line numbers
                for k, line in enumerate(joined.split("\n")):
                    line = re.sub(r"^\s*(\$ |reproduce: )", "", line).strip()
                    if re.match(r"(python|pytest) ", line):
                        found.append((start + k, line))
        found += [(n, c.strip()) for n, c in self.inline if re.match(r"(python|pytest) ", c)]
        out = []
        for n, text in found:
            for part in _split(text):
                if re.match(r"(python|pytest) ", part):
                    out.append(Command(part, f"{self.name}:{n}", _words(part)))
        return out


DOCS = [Readme.read(p) for p in READMES]
COMMANDS = [c for d in DOCS for c in d.commands()]


def _ci_pytest() -> list[str]:
    lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()
             if re.match(r"\s*python -m pytest\b", ln)]
    assert len(lines) == 1, f".ci/run runs pytest {len(lines)} times: {lines}"
    return _words(lines[0])


def _without_n(words: list[str]) -> list[str]:
    """The words without xdist's ``-n X`` (it changes how the tests are run, not which)."""
    out, skip = [], False
    for w in words:
        if skip:
            skip = False
        elif w in ("-n", "--numprocesses"):
            skip = True
        elif not re.match(r"(-n|--numprocesses=)\S", w):
            out.append(w)
    return out


def test_quickstart_is_two_commands_and_the_second_is_what_ci_runs() -> None:
    blocks = DOCS[0].section("## Quickstart")
    assert len(blocks) == 1, f"## Quickstart holds {len(blocks)} fenced blocks, not one"
    lines = [ln.strip() for ln in blocks[0][2] if ln.strip() and not ln.strip().startswith("#")]
    assert len(lines) == 2, lines
    test_cmd, ci = _words(lines[1]), _ci_pytest()
    assert test_cmd[:3] == ["python", "-m", "pytest"], lines[1]
    assert _without_n(test_cmd) == _without_n(ci), (lines[1], " ".join(ci))


# -- pytest commands: collected in one worker process ----------------------------------------

def _collect_args(args: list[str]) -> list[str]:
    """The command's arguments with -n auto as -n 0, collecting only."""
    args = ["0" if a == "auto" and i and args[i - 1] in ("-n", "--numprocesses") else a
            for i, a in enumerate(args)]
    return [*args, "--co", "-q", "-p", "no:cacheprovider"]


def _distinct(cmds: list[Command]) -> dict[str, list[Command]]:
    """Commands by a short readable id; the same words written twice share one id."""
    by_words: dict[tuple[str, ...], list[Command]] = {}
    for c in cmds:
        by_words.setdefault(tuple(c.words), []).append(c)
    out: dict[str, list[Command]] = {}
    for words, group in by_words.items():
        short = " ".join(w if " " not in w else repr(w) for w in words)
        short = re.sub(r"\S*::(\w+)\[([^\]]{0,12})[^\]]*\]", r"\1(\2...)",
                       short.removeprefix("python -m "))
        short = short if len(short) <= 70 else short[:67] + "..."
        key, k = short, 2
        while key in out:
            key, k = f"{short} #{k}", k + 1
        out[key] = group
    return out


PYTEST = _distinct([c for c in COMMANDS if c.pytest_args is not None and not c.placeholder])
PYTEST_PLACEHOLDER = _distinct([c for c in COMMANDS if c.pytest_args is not None
                                and c.placeholder])


def _run_worker(runs: dict[str, list[str]], tmp: Path) -> dict[str, dict[str, Any]]:
    src, dst = tmp / "in.json", tmp / "out.json"
    src.write_text(json.dumps(runs))
    proc = subprocess.run([sys.executable, str(Path(__file__)), str(src), str(dst)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and dst.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return dict(json.loads(dst.read_text()))


def _worker(src: str, dst: str) -> None:
    """Collect each run of ``src`` with pytest.main in this process; write rc, count, output."""
    class Count:
        n = 0

        def pytest_collection_finish(self, session: pytest.Session) -> None:
            self.n = len(session.items)

    results = {}
    for key, args in json.loads(Path(src).read_text()).items():
        count, buf, t0 = Count(), io.StringIO(), time.perf_counter()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            rc = int(pytest.main(args, plugins=[count]))
        out = buf.getvalue()
        results[key] = {"rc": rc, "n": count.n, "s": round(time.perf_counter() - t0, 1),
                        "out": out if key == "--help" else out[-4000:]}
    Path(dst).write_text(json.dumps(results))


@pytest.fixture(scope="session")
def collected(request: pytest.FixtureRequest,
              tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """One worker run for the selected commands (all of them in a whole run), plus --help."""
    wanted = {it.callspec.params["key"] for it in request.session.items  # type: ignore[attr-defined]
              if it.originalname == "test_pytest_command_collects"
              and hasattr(it, "callspec")}
    runs = {k: _collect_args(PYTEST[k][0].pytest_args or []) for k in PYTEST if k in wanted}
    if any(it.originalname == "test_pytest_placeholder_options_exist"
           for it in request.session.items):  # type: ignore[attr-defined]
        runs["--help"] = ["--help", "-p", "no:cacheprovider"]
    return _run_worker(runs, tmp_path_factory.mktemp("readme"))


@pytest.mark.parametrize("key", list(PYTEST))
def test_pytest_command_collects(key: str, collected: dict[str, dict[str, Any]]) -> None:
    """The command, with --co -q, exits 0 and collects at least one test (--device cuda on a
    machine without a GPU: the usage error the README promises)."""
    where = ", ".join(c.where for c in PYTEST[key])
    r = collected[key]
    if "--device" in PYTEST[key][0].words and r["rc"] == 4 and GPU_ABSENT in r["out"]:
        print(f"{key}: no GPU here, a usage error as documented")
        return
    skips = [line for line in r["out"].splitlines() if line.startswith("SKIPPED")]
    if r["rc"] == 5 and skips and find_spec("torch") is None:  # tox -e numpy
        pytest.skip(f"`{PYTEST[key][0].text}` collects nothing without torch: {skips[0]}")
    assert r["rc"] == 0, f"{where}: `{PYTEST[key][0].text}` exited {r['rc']}:\n{r['out']}"
    assert r["n"] >= 1, f"{where}: `{PYTEST[key][0].text}` collects no test:\n{r['out']}"


@pytest.mark.parametrize("key", list(PYTEST_PLACEHOLDER))
def test_pytest_placeholder_options_exist(key: str,
                                          collected: dict[str, dict[str, Any]]) -> None:
    """``pytest --impl=PATH``: a stand-in is not run, but each option is in pytest --help."""
    assert collected["--help"]["rc"] == 0, collected["--help"]["out"]
    helptext = collected["--help"]["out"]
    options = [w.split("=")[0] for w in PYTEST_PLACEHOLDER[key][0].pytest_args or []
               if w.startswith("-")]
    assert options, key
    for opt in options:
        assert re.search(rf"(^|[\s,]){re.escape(opt)}[\s=,]", helptext, re.M), \
            f"{PYTEST_PLACEHOLDER[key][0].where}: {opt} is not an option of pytest"


# -- python -m MODULE, python path/to/script.py ----------------------------------------------

MODULES: dict[str, list[Command]] = {}
for _c in COMMANDS:
    if _c.module and _c.module != "pytest":
        MODULES.setdefault(_c.module, []).append(_c)
SCRIPTS = sorted({(c.words[1], c.where) for c in COMMANDS
                  if c.words[:1] == ["python"] and len(c.words) > 1
                  and c.words[1].endswith(".py")})


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_exists_and_answers_help(module: str) -> None:
    where = ", ".join(c.where for c in MODULES[module])
    assert importlib.util.find_spec(module) is not None, f"{where}: no module {module}"
    proc = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"{where}: python -m {module} --help: {proc.stderr[-2000:]}"
    assert "usage" in proc.stdout.lower(), proc.stdout[:500]


@pytest.mark.parametrize("script,where", SCRIPTS)
def test_script_exists(script: str, where: str) -> None:
    assert (ROOT / script).is_file(), f"{where}: python {script}: no such file"


# -- links and repository paths ---------------------------------------------------------------

def _ignored(rel: str) -> bool:
    """A path missing in a clean clone that a run generates: .gitignore lists it."""
    proc = subprocess.run(["git", "check-ignore", "-q", "--no-index", rel], cwd=ROOT)
    return proc.returncode == 0


def _links(doc: Readme) -> tuple[int, list[str]]:
    """How many relative links ``doc`` has, and those that point at nothing."""
    missing, links = [], 0
    for n, line in doc.prose:
        for target in re.findall(r"\]\(([^)\s]+)\)", line):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            links += 1
            if not (doc.path.parent / target.split("#")[0]).exists():
                missing.append(f"{doc.name}:{n}: ({target})")
    return links, missing


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_relative_links_exist(doc: Readme) -> None:
    links, missing = _links(doc)
    assert links >= 1, f"{doc.name} has no relative link: the pattern is wrong"
    assert not missing, "links to nothing:\n" + "\n".join(missing)


def _repo_paths(doc: Readme) -> list[tuple[int, str]]:
    """Inline code that is a repository path, and the path words of inline commands."""
    found = []
    for n, code in doc.inline:
        words = _words(code) if re.match(r"(python|pytest) ", code) else [code.strip()]
        for w in words:
            w = w.split("=", 1)[-1].split("::")[0]
            if w.startswith(TOP) and not re.search(r"[<*$]|\.\.\.|\bN\b", w):
                found.append((n, w))
    return found


def _missing_paths(doc: Readme) -> list[str]:
    return [f"{doc.name}:{n}: `{p}`" for n, p in _repo_paths(doc)
            if not (ROOT / p).exists() and not _ignored(p)]


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_repository_paths_exist(doc: Readme) -> None:
    if doc.path == ROOT / "README.md":
        assert len(_repo_paths(doc)) >= 10  # the README names many: the pattern is not broken
    missing = _missing_paths(doc)
    assert not missing, "paths that do not exist:\n" + "\n".join(missing)


def test_a_wrong_readme_is_caught(tmp_path: Path) -> None:
    """The checks fail on a README with a wrong option, a dead link and a missing path."""
    md = tmp_path / "README.md"
    md.write_text("# x\n\n```bash\npython -m pytest --op softmax --no-such-option  # c\n```\n\n"
                  "See [a](nowhere.md), [b](README.md#x), `docs/NOWHERE.md`, `docs/API.md`, "
                  "`python -m pytest -k 'relu and jax' | tail -1`.\n", encoding="utf-8")
    doc = Readme.read(md)
    cmds = doc.commands()
    assert [c.words for c in cmds] == [
        ["python", "-m", "pytest", "--op", "softmax", "--no-such-option"],
        ["python", "-m", "pytest", "-k", "relu and jax"]]
    assert _links(doc) == (2, ["README.md:7: (nowhere.md)"])
    assert _missing_paths(doc) == ["README.md:7: `docs/NOWHERE.md`"]
    r = _run_worker({"bad": _collect_args(cmds[0].pytest_args or [])}, tmp_path)["bad"]
    assert r["rc"] == 4 and "--no-such-option" in r["out"], r


def test_the_shapes_table_and_loop_list_every_example() -> None:
    """examples/README.md: the table and the regeneration loop name every examples/shapes/ file."""
    doc = next(d for d in DOCS if d.path == ROOT / "examples" / "README.md")
    files = {p.stem for p in (ROOT / "examples" / "shapes").glob("*.py")}
    text = doc.path.read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| \[`(\w+)\.py`\]\(shapes/\1\.py\)", text, re.M))
    assert rows == files, f"table rows {sorted(rows)} vs files {sorted(files)}"
    loop = re.search(r"^for f in ([\w \\\n]+); do$", text, re.M)
    assert loop and set(loop.group(1).replace("\\", " ").split()) == files, loop
    assert all((ROOT / "examples" / "shapes" / f"{f}_output.txt").is_file() for f in files)


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2])
