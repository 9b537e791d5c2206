"""Every Examples section of the sarfeat package runs and shows what it says.

The docstrings' examples are collected with :mod:`doctest` from each module of the
package (one test per docstring, named after it) and run with ELLIPSIS and
NORMALIZE_WHITESPACE, so that ``python -m pytest -q`` (the README's command) runs
them with the rest of the suite and gets the conftest's data set-up. An example
is skipped only with a reason in its own comment; a module that needs an optional
package which is not installed (``sarfeat.training`` without torch) has its
examples skipped, saying so.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re

import pytest
from conftest import require_data

import sarfeat

#: How the examples' output is compared: ``...`` stands for any text, and runs of
#: white space are equal.
OPTION_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
#: Optional packages: a module that cannot be imported without one is skipped.
OPTIONAL_PACKAGES = {"torch", "onnx", "numba", "dask", "distributed", "rasterio", "cv2"}
#: Docstrings (or prefixes of their names) whose examples need an optional package.
NEEDS_PACKAGE = {
    "sarfeat.weights.resolve_weights": "torch",  # it returns the torch network
    "sarfeat.parallel.": "distributed",
}
#: Docstrings whose examples read files of the shared data folder (not bundled).
SHARED_FILES = {
    "sarfeat.data.fetch": ("sar_pairs/l1.png",),
    "sarfeat.data.load_pair": ("sar_pairs/l1.png", "sar_pairs/l2.png"),
}


def _docstrings() -> list:
    """One pytest parameter per docstring with examples, in the package's module order."""
    found = []
    for info in pkgutil.walk_packages(sarfeat.__path__, "sarfeat."):
        if info.name.rsplit(".", 1)[-1] == "__main__":  # runs a command line when imported
            continue
        try:
            module = importlib.import_module(info.name)
        except ModuleNotFoundError as error:
            if (error.name or "").split(".")[0] not in OPTIONAL_PACKAGES:
                raise
            found.append(pytest.param(None, id=info.name, marks=pytest.mark.skip(
                reason=f"{info.name} needs {error.name}, which is not installed")))
            continue
        found.extend(pytest.param(test, id=test.name)
                     for test in doctest.DocTestFinder().find(module) if test.examples)
    return found


DOCSTRINGS = _docstrings()


@pytest.mark.parametrize("test", DOCSTRINGS)
def test_docstring_examples_run_and_show_what_they_say(test):
    for prefix, package in NEEDS_PACKAGE.items():
        if test.name.startswith(prefix):
            pytest.importorskip(package)
    for name in SHARED_FILES.get(test.name, ()):
        require_data(name)
    report: list[str] = []
    result = doctest.DocTestRunner(optionflags=OPTION_FLAGS).run(test, out=report.append)
    if result.failed:
        pytest.fail(f"{result.failed} of {result.attempted} examples of {test.name} "
                    "failed:\n" + "".join(report), pytrace=False)


def test_no_example_is_skipped_without_a_reason():
    """``# doctest: +SKIP`` hides a failing example unless its comment says why it cannot
    run here (data outside the shared folder, a network)."""
    unexplained = []
    for param in DOCSTRINGS:
        (test,) = param.values
        for example in test.examples if test is not None else ():
            comment = re.sub(r"#\s*doctest:.*", "", example.source)
            if example.options.get(doctest.SKIP) and "#" not in comment:
                unexplained.append(f"{test.name} line {test.lineno + example.lineno + 1}")
    assert not unexplained, "skipped without a reason: " + ", ".join(unexplained)


def test_the_package_has_examples():
    """The collection finds the package's docstrings (a broken walk would pass vacuously)."""
    names = {param.id for param in DOCSTRINGS}
    assert {"sarfeat.registration.register", "sarfeat.detector.SARR2D2Detector",
            "sarfeat.parallel.stack.register_stack"} <= names
    assert len(names) >= 40
