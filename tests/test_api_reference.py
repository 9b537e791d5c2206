"""docs/api.rst: every function and class that a module it documents exports is listed.

A module's ``__all__`` is what other modules may import from it; where api.rst documents
the module, its functions and classes are in the reference too (constants are left to
the module's own page). A name added to ``__all__`` and not to api.rst fails here, as
does a listed name that no longer imports (moved or renamed)."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
API_RST = ROOT / "docs" / "api.rst"


def api_reference_names() -> set[str]:
    """The full names that docs/api.rst lists in its autosummary tables."""
    names, module, listing = set(), "sarfeat", False
    for line in API_RST.read_text().splitlines():
        current = re.match(r"\.\. currentmodule:: (\S+)", line)
        if current:
            module = current.group(1)
        elif line.startswith(".. autosummary::"):
            listing = True
        elif listing and line.startswith("   "):
            if not line.lstrip().startswith(":"):  # a name, not an option
                names.add(f"{module}.{line.strip()}")
        elif line.strip():  # the first unindented text after the table ends it
            listing = False
    return names


def documented_modules() -> list[str]:
    """The package and every module that api.rst documents (``.. automodule::``)."""
    return ["sarfeat"] + re.findall(r"^\.\. automodule:: (\S+)", API_RST.read_text(), re.M)


def imported(name: str):
    """The object a full name ``package.module.attribute...`` names."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            obj = getattr(obj, part)
        return obj
    raise ImportError(name)


def exported_object(module, name: str):
    """What ``from module import name`` gives: an attribute, or a submodule that a package's
    ``__all__`` names (imported only when asked for)."""
    if hasattr(module, name):
        return getattr(module, name)
    return importlib.import_module(f"{module.__name__}.{name}")


def test_every_listed_name_imports():
    names = api_reference_names()
    assert "sarfeat.io.read_raster" in names and "sarfeat.register" in names  # parsed
    broken = []
    for name in sorted(names):
        try:
            imported(name)
        except (ImportError, AttributeError):
            broken.append(name)
    assert not broken, f"docs/api.rst lists names that do not import: {broken}"


@pytest.mark.parametrize("module", documented_modules())
def test_every_exported_function_and_class_is_listed(module):
    listed = {id(imported(name)) for name in api_reference_names()}
    exported = importlib.import_module(module)
    objects = {name: exported_object(exported, name) for name in getattr(exported, "__all__", ())}
    missing = [name for name, obj in objects.items()
               if (inspect.isfunction(obj) or inspect.isclass(obj)) and id(obj) not in listed]
    assert not missing, f"docs/api.rst does not list {module}'s {missing}"


def modules_users_run() -> dict[str, str]:
    """Each module that the docs, the README, the examples or a docstring tell users to run
    (``python -m sarfeat...``), with a file that says so."""
    sources = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.rst")),
               *sorted((ROOT / "examples").glob("*.py")), *sorted((ROOT / "sarfeat").rglob("*.py"))]
    found = {}
    for source in sources:
        for module in re.findall(r"python -m (sarfeat(?:\.\w+)*)", source.read_text()):
            found.setdefault(module, str(source.relative_to(ROOT)))
    return found


def test_every_module_users_run_has_a_page():
    run = modules_users_run()
    assert {"sarfeat", "sarfeat.training", "sarfeat.training.open_sar"} <= set(run)  # parsed
    documented = set(documented_modules())
    missing = {module: source for module, source in run.items() if module not in documented}
    assert not missing, f"docs/api.rst has no automodule for these modules users run: {missing}"


#: Modules whose public functions (their own and those they re-export from other sarfeat
#: modules, as the package and ``sarfeat.io`` do) have type hints and numpydoc Parameters
#: and Returns (or Yields) sections throughout; add a module once its functions do.
FULLY_DOCUMENTED = ("sarfeat.network", "sarfeat.architecture", "sarfeat.structural",
                    "sarfeat.geotiff_options", "sarfeat.interrupts", "sarfeat.training.open_sar",
                    "sarfeat.training.patch_descriptor", "sarfeat.training.invariant_descriptor",
                    "sarfeat.data", "sarfeat", "sarfeat.registration", "sarfeat.checkpoint",
                    "sarfeat.metrics", "sarfeat.viz", "sarfeat.weights",
                    "sarfeat.parallel", "sarfeat.matching",
                    "sarfeat.io", "sarfeat.raster", "sarfeat.raster_read",
                    "sarfeat.raster_write", "sarfeat.raster_warp", "sarfeat.atomic_files",
                    "sarfeat.georeferencing", "sarfeat.preprocess", "sarfeat.image_checks",
                    "sarfeat.value_scale", "sarfeat.windowed_scaling", "sarfeat.input_kinds",
                    "sarfeat.nodata_fill", "sarfeat.nodata_regions", "sarfeat.tensor_input",
                    "sarfeat.geometry",
                    "sarfeat.tile_detection", "sarfeat.pyramid", "sarfeat.detector",
                    "sarfeat.confidence", "sarfeat.nodata_steps", "sarfeat.detector_input",
                    "sarfeat.orientation", "sarfeat.peaks", "sarfeat.learned_orientation",
                    "sarfeat.hand_descriptors", "sarfeat.descriptors", "sarfeat.polar_descriptor",
                    "sarfeat.runtime", "sarfeat.runtime.choice", "sarfeat.detector_network",
                    "sarfeat.learned_polar", "sarfeat.invariant_descriptor",
                    "sarfeat.matching.dense", "sarfeat.matching.dense_search",
                    "sarfeat.matching.dense_refine", "sarfeat.matching.dense_ties",
                    "sarfeat.matching.gray_check",
                    "sarfeat.matching.stretch_check", "sarfeat.training.orientation",
                    "sarfeat.training.onnx_models", "sarfeat.training.distill",
                    "sarfeat.training.learned_polar", "sarfeat.zero_edges")


def section(doc: str, title: str) -> str | None:
    """The text of a numpydoc section of ``doc`` (None when it has none)."""
    found = re.search(rf"^{title}\n-+\n(.*?)(?:^\S[^\n]*\n-+\n|\Z)", doc, re.M | re.S)
    return found.group(1) if found else None


@pytest.mark.parametrize("module", FULLY_DOCUMENTED)
def test_public_functions_have_type_hints_and_numpydoc_sections(module):
    exported = importlib.import_module(module)
    functions = {name: getattr(exported, name) for name in exported.__all__
                 if inspect.isfunction(getattr(exported, name, None))
                 and getattr(exported, name).__module__.split(".")[0] == "sarfeat"}
    assert functions, f"{module} exports no function"
    problems = []
    for name, function in functions.items():
        signature = inspect.signature(function)
        doc = inspect.getdoc(function) or ""
        if signature.return_annotation is inspect.Signature.empty:
            problems.append(f"{name}: no return annotation")
        parameters = section(doc, "Parameters") or ""
        for parameter in signature.parameters.values():
            if parameter.annotation is inspect.Parameter.empty:
                problems.append(f"{name}: {parameter.name} has no type hint")
            stars = r"\*{0,2}"  # *args, **kwargs
            if not re.search(rf"^({stars}\w+, )*{stars}{parameter.name}\b.* : ", parameters,
                             re.M):
                problems.append(f"{name}: {parameter.name} not in its Parameters section")
        returns_none = signature.return_annotation in (None, "None")
        if not returns_none and section(doc, "Returns") is None and section(doc, "Yields") is None:
            problems.append(f"{name}: no Returns or Yields section")
    assert not problems, problems
