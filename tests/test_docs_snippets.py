"""The documentation's code runs: every Python block of the pages and the README, and the
options of every ``sarfeat`` command they show.

Users copy these snippets, so each Python block (``.. code-block:: python`` in the pages,
a ````python`` fence in README.md) is run, in the page's order, in one namespace per page
(later blocks build on earlier ones, as a reader reads the page), in a temporary working
directory. A block that cannot run here is marked just above it with a comment that says
why: ``.. not run: needs X`` in a page, ``<!-- not run: needs X -->`` in README.md. Such a
block still has its imports run, so that its names exist. A block that fails and is not
marked fails its page's test. Every page's blocks but the training page's run with torch
hidden, as ``pip install sarfeat`` (no torch) runs them.

The commands of the ``bash`` blocks and the one-line inline commands are parsed with
``sarfeat``'s own argument parser (and ``python -m sarfeat.training``'s, with torch), so an
option that does not exist, or a value it refuses, fails.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import re
import shlex
import sys
import textwrap
import traceback
from dataclasses import dataclass

import numpy as np
import pytest
from conftest import REPO_ROOT, require_data

PAGES = ("README.md", "docs/index.rst", "docs/install.rst", "docs/user_guide.rst",
         "docs/registration.rst", "docs/metrics.rst", "docs/training.rst",
         "docs/model_card.rst")
#: The marker of a block that is not run, and its reason.
NOT_RUN = re.compile(r"^(?:\.\.|<!--)\s*not run:\s*(needs\s.+?)\s*(?:-->)?$")
#: At most this many blocks may be marked: a marker is the exception.
MOST_NOT_RUN = 3
#: Pages whose blocks may need torch (the ``train`` extra); the others' blocks run as the plain
#: install runs them, without torch (a block of the user guide once needed it).
NEED_TORCH = ("docs/training.rst",)
#: Files of the shared data folder (not bundled) that a page's snippets read.
SHARED_FILES = {"README.md": ("sar_pairs/l1.png", "sar_pairs/l2.png")}
RST_BLOCK = re.compile(r"^(\s*)\.\. code-block::\s*(\S+)\s*$")


@dataclass(frozen=True)
class Block:
    """One code block of a page: its first line of code, language, code, reason not run."""

    page: str
    line: int
    language: str
    code: str
    not_run: str | None

    @property
    def where(self) -> str:
        return f"{self.page} line {self.line}"


def _marker(lines: list[str], start: int) -> str | None:
    """The reason of a ``not run`` marker on the last non-blank line before ``start``."""
    before = start - 1
    while before >= 0 and not lines[before].strip():
        before -= 1
    found = NOT_RUN.match(lines[before].strip()) if before >= 0 else None
    return found.group(1) if found else None


def _rst_blocks(page: str, lines: list[str]) -> list[Block]:
    blocks = []
    for index, text in enumerate(lines):
        directive = RST_BLOCK.match(text)
        if not directive:
            continue
        indent, body = len(directive.group(1)), []
        end = index + 1
        while end < len(lines) and (not lines[end].strip()
                                    or len(lines[end]) - len(lines[end].lstrip()) > indent):
            body.append(lines[end])
            end += 1
        while body and (not body[0].strip() or body[0].strip().startswith(":")):
            body.pop(0)  # the directive's options and the blank line after them
        first = end - len(body) + 1
        blocks.append(Block(page, first, directive.group(2),
                            textwrap.dedent("\n".join(body)).strip() + "\n",
                            _marker(lines, index)))
    return blocks


def _md_blocks(page: str, lines: list[str]) -> list[Block]:
    blocks, index = [], 0
    while index < len(lines):
        fence = re.match(r"^```(\w+)\s*$", lines[index].strip())
        if fence:
            end = lines.index("```", index + 1)
            blocks.append(Block(page, index + 2, fence.group(1),
                                "\n".join(lines[index + 1:end]) + "\n",
                                _marker(lines, index)))
            index = end
        index += 1
    return blocks


def blocks_of(page: str) -> list[Block]:
    """Every code block of a page, in order."""
    lines = (REPO_ROOT / page).read_text(encoding="utf-8").splitlines()
    return (_md_blocks if page.endswith(".md") else _rst_blocks)(page, lines)


def python_blocks(page: str) -> list[Block]:
    return [block for block in blocks_of(page) if block.language in ("python", "py")]


ALL_PYTHON = [block for page in PAGES for block in python_blocks(page)]


# What the pages say their snippets give, checked right after the block that contains the
# text (the page's namespace then).

def _index(ns):
    assert len(ns["detector"].keypoints) > 50
    assert np.allclose(ns["result"].transform.translation, (-20, -30), atol=1)


def _readme_usage(ns):
    assert ns["matches"].shape[1] == 2 and len(ns["matches"]) > 20


def _readme_register(ns):
    assert 0 < ns["result"].confidence <= 1 and ns["result"].warped.shape == ns["image0"].shape


def _quick_start(ns):
    assert ns["detector0"].descriptors.shape[1] == 378
    assert len(ns["matches"]) > 20


def _mask(ns):
    keypoints = ns["detector"].keypoints
    assert len(keypoints) > 10 and keypoints[:, 1].min() >= 60  # none in the fill


def _workflow(ns):
    assert ns["inliers"].sum() >= 10
    assert np.allclose(ns["model"].translation, (-20, -30), atol=1)


def _register(ns):
    result = ns["result"]
    assert not result.coarse_failed and 0.3 < result.confidence <= 1
    assert np.allclose(result.transform.params[:2, :2], np.eye(2), atol=0.01)
    assert np.allclose(result.transform.translation, (-20, -30), atol=1)
    assert np.isnan(result.warped).any()  # NaN outside the moving image


def _many_pairs(ns):
    transform = ns["result"].transform  # the last pair: VV against VH, the same grid
    assert np.allclose(transform.params[:2, :2], np.eye(2), atol=0.01)
    assert np.abs(transform.translation).max() < 1


def _optical_sar(ns):
    assert np.abs(ns["result"].transform.translation).max() < 3  # a co-registered tile


def _metrics(ns):
    assert ns["rmse"] < 1 and ns["ncm"] >= 20 and ns["cmr"] > 0.8


CHECKS = {
    ("docs/index.rst", "register(fixed, moving)"): _index,
    ("README.md", "match_descriptors("): _readme_usage,
    ("README.md", "register(image0, image1)"): _readme_register,
    ("docs/user_guide.rst", "detector0 = SARR2D2Detector()"): _quick_start,
    ("docs/user_guide.rst", "mask=valid"): _mask,
    ("docs/user_guide.rst", "ransac("): _workflow,
    ("docs/registration.rst", "result = register(fixed, moving)  #"): _register,
    ("docs/registration.rst", "for fixed, moving in pairs"): _many_pairs,
    ("docs/registration.rst", 'modality="optical-sar"'): _optical_sar,
    ("docs/metrics.rst", "registration_rmse("): _metrics,
}


def _imports_only(code: str) -> str:
    """The import statements of a block, to run where the block itself is not run."""
    tree = ast.parse(code)
    tree.body = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return ast.unparse(tree)


def _run(block: Block, namespace: dict) -> None:
    code = _imports_only(block.code) if block.not_run else block.code
    try:
        exec(compile(code, block.where, "exec"), namespace)
    except ModuleNotFoundError as error:
        if block.not_run and error.name and error.name.split(".")[0] == "torch":
            return  # the imports of a training block need torch
        raise


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A temporary working directory, and matplotlib drawing off screen."""
    import matplotlib
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    plt.close("all")


@pytest.mark.parametrize("page", [page for page in PAGES if python_blocks(page)])
def test_python_blocks_run_and_give_what_the_page_says(page, workdir, monkeypatch):
    for name in SHARED_FILES.get(page, ()):
        require_data(name)
    if page not in NEED_TORCH:  # run as the plain install (no torch) runs them
        monkeypatch.setitem(sys.modules, "torch", None)
    namespace: dict = {"__name__": "__docs__"}
    checked = set()
    for block in python_blocks(page):
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                _run(block, namespace)
        except Exception:
            pytest.fail(f"the Python block at {block.where} fails (fix it, or mark it "
                        f"'not run: needs ...'):\n{block.code}\n{traceback.format_exc()}",
                        pytrace=False)
        for (where, text), check in CHECKS.items():
            if where == page and text in block.code and not block.not_run:
                check(namespace)
                checked.add(text)
    expected = {text for where, text in CHECKS if where == page}
    assert checked == expected, f"checks whose block is gone: {expected - checked}"


def test_blocks_are_found_and_few_are_not_run():
    """The extraction finds the pages' blocks (a broken one would pass vacuously), and
    every marker names what is missing, sits above a Python block, and is rare."""
    pages = {block.page for block in ALL_PYTHON}
    assert {"README.md", "docs/index.rst", "docs/user_guide.rst", "docs/registration.rst",
            "docs/metrics.rst", "docs/training.rst"} <= pages
    assert len(ALL_PYTHON) >= 12
    marked = [block for block in ALL_PYTHON if block.not_run]
    assert len(marked) <= MOST_NOT_RUN, [block.where for block in marked]
    markers = sum(1 for page in PAGES for line in
                  (REPO_ROOT / page).read_text(encoding="utf-8").splitlines()
                  if NOT_RUN.match(line.strip()))
    assert markers == len(marked), "a 'not run' marker that is not above a Python block"


def test_a_block_is_extracted_with_its_marker():
    lines = ["Text.", "", ".. not run: needs a GPU", "", ".. code-block:: python",
             "   :caption: x", "", "   import os", "   if os.sep:", "       pass", "",
             "After."]
    (block,) = _rst_blocks("page.rst", lines)
    assert block.code == "import os\nif os.sep:\n    pass\n"
    assert (block.line, block.not_run) == (8, "needs a GPU")
    (fenced,) = _md_blocks("README.md", ["<!-- not run: needs X -->", "```python", "x = 1",
                                         "```"])
    assert (fenced.code, fenced.line, fenced.not_run) == ("x = 1\n", 3, "needs X")
    assert _imports_only("import os\nx = os.sep\nfrom math import pi\n") == (
        "import os\nfrom math import pi")


# The commands the pages show.

#: Inline commands: `sarfeat ...` in README.md, ``sarfeat ...`` in the pages, on one line.
INLINE = re.compile(r"(?<!`)(``?)((?:python3? -m )?sarfeat(?:\.training)?\s[^`]+?)\1(?!`)")
PROGRAMS = ("sarfeat", "sarfeat.training")


@dataclass(frozen=True)
class Command:
    """One command of a page: the program (sarfeat or sarfeat.training), its arguments,
    and whether it is whole (a code block, README's inline commands) or a fragment."""

    where: str
    program: str
    args: tuple[str, ...]
    whole: bool


def _command(where: str, text: str, whole: bool) -> Command | None:
    words = shlex.split(text, comments=True)
    while words and re.match(r"^[A-Z_]+=", words[0]):
        words.pop(0)  # VARIABLE=value before the command
    if words[:2] in (["python", "-m"], ["python3", "-m"]):
        words = words[2:]
    if not words or words[0] not in PROGRAMS:
        return None
    return Command(where, words[0], tuple(word for word in words[1:] if word != "..."), whole)


def commands_of(page: str) -> list[Command]:
    """The sarfeat commands of a page's shell blocks and of its one-line inline literals."""
    found = []
    for block in blocks_of(page):
        if block.language not in ("bash", "sh", "shell", "console"):
            continue
        pending, first = "", block.line
        for number, line in enumerate(block.code.splitlines(), block.line):
            first = number if not pending else first
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            line, pending = pending + line, ""
            for part in re.split(r"&&|;", line):
                command = _command(f"{block.page} line {first}", part, True)
                found += [command] if command else []
    text = (REPO_ROOT / page).read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), 1):
        for match in INLINE.finditer(line):
            command = _command(f"{page} line {number}", match.group(2), page == "README.md")
            found += [command] if command else []
    return found


ALL_COMMANDS = [command for page in PAGES for command in commands_of(page)]


def _parsers(program: str, args: tuple[str, ...]) -> tuple[argparse.ArgumentParser, list]:
    """The parser of a command's subcommand, and the arguments after the subcommand."""
    if program == "sarfeat.training":
        pytest.importorskip("torch")  # sarfeat.training needs it
        from sarfeat.training import cli

        if args[:1] == ("distill",):
            return cli._distill_parser(), list(args[1:])
        return cli._parser(), list(args)
    from sarfeat.cli import build_parser

    parser = build_parser()
    subcommands = next(action for action in parser._actions
                       if isinstance(action, argparse._SubParsersAction))
    assert args and args[0] in subcommands.choices, f"no sarfeat command {args[:1]}"
    return subcommands.choices[args[0]], list(args[1:])


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=lambda command: command.where)
def test_commands_use_options_that_exist(command):
    parser, args = _parsers(command.program, command.args)
    known = parser._option_string_actions
    unknown = [word.split("=")[0] for word in args
               if word.startswith("-") and word.split("=")[0] not in known]
    assert not unknown, f"{command.where}: {' '.join(command.args)}: no option {unknown}"
    if not command.whole or "--help" in args:
        return
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors), pytest.raises(SystemExit) as refused:
        parser.parse_args(args)
        raise SystemExit(0)
    assert refused.value.code == 0, f"{command.where}: {errors.getvalue()}"


def test_the_commands_are_found():
    pages = {command.where.split(" ")[0] for command in ALL_COMMANDS}
    assert {"README.md", "docs/registration.rst", "docs/training.rst"} <= pages
    programs = {(command.program, command.args[0]) for command in ALL_COMMANDS}
    assert {("sarfeat", "register"), ("sarfeat", "register-stack"), ("sarfeat", "detect"),
            ("sarfeat.training", "distill")} <= programs


def test_a_wrong_option_or_value_fails():
    """The check refuses an option the command does not have, and a whole command whose
    value the parser refuses."""
    (command,) = _command_list("sarfeat register a.tif b.tif --no-such-option")
    with pytest.raises(AssertionError, match="no option"):
        test_commands_use_options_that_exist(command)
    (command,) = _command_list("sarfeat register a.tif b.tif --modality radar")
    with pytest.raises(AssertionError, match="invalid choice"):
        test_commands_use_options_that_exist(command)
    assert _command_list("pip install sarfeat") == []
    (command,) = _command_list("X=1 python -m sarfeat detect --example  # a comment")
    assert (command.program, command.args) == ("sarfeat", ("detect", "--example"))


def _command_list(text: str) -> list[Command]:
    command = _command("test", text, True)
    return [command] if command else []


#: The import names of the plain install's requirements (pyproject's ``dependencies``).
PLAIN_INSTALL = {"sarfeat", "numpy", "scipy", "skimage", "pooch", "platformdirs", "tqdm",
                 "onnxruntime"}


def test_the_gallery_names_what_its_examples_need_beyond_the_plain_install():
    """The gallery's header said that the examples run on what comes with sarfeat, but
    in a plain install each stops at ``import matplotlib`` (and the training example at
    ``import torch``): every package an example imports beyond the plain install (and
    Python's own modules) is named there."""
    header = (REPO_ROOT / "examples" / "README.rst").read_text(encoding="utf-8")
    needed = set()
    for path in sorted((REPO_ROOT / "examples").glob("plot_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                needed |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                needed.add(node.module.split(".")[0])
    needed -= PLAIN_INSTALL | set(sys.stdlib_module_names)
    assert "matplotlib" in needed  # the extraction finds the examples' imports
    assert not [name for name in sorted(needed) if name not in header], header
