"""The layers of ARCHITECTURE.md, kept: imports walked with ``ast``, no module imported.

Lowest first; a module imports only from its own layer or below, never a
private name (leading underscore) of another module nor a private module of
another package, and no import cycle (imports inside functions included):

    preprocess, input_kinds, io, geometry -> network, checkpoint, data, weights ->
    detector, descriptors -> matching -> registration, metrics, viz ->
    parallel, training -> cli
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sarfeat"

#: Module (or package prefix) -> layer. A new module must be placed here.
LAYERS = {
    "sarfeat.preprocess": 0, "sarfeat.input_kinds": 0, "sarfeat.io": 0, "sarfeat.geometry": 0,
    "sarfeat.resample": 0, "sarfeat.canvas_fill": 0, "sarfeat.georeferencing": 0,
    "sarfeat.atomic_files": 0, "sarfeat.argument_checks": 0, "sarfeat.nodata_steps": 0,
    "sarfeat.raster": 0, "sarfeat.raster_read": 0, "sarfeat.raster_write": 0,
    "sarfeat.raster_warp": 0, "sarfeat.geotiff_options": 0, "sarfeat.wording": 0,
    "sarfeat.interrupts": 0, "sarfeat.tensor_input": 0, "sarfeat.image_checks": 0,
    "sarfeat.value_scale": 0, "sarfeat.nodata_fill": 0, "sarfeat.windowed_scaling": 0,
    "sarfeat.nodata_regions": 0,
    "sarfeat.handover": 0,
    "sarfeat.architecture": 1, "sarfeat.network": 1, "sarfeat.checkpoint": 1, "sarfeat.data": 1,
    "sarfeat.weights": 1, "sarfeat.optical_sar_evaluation": 1, "sarfeat.optical_sar_s1s2": 1,
    "sarfeat.registry": 1,
    "sarfeat.runtime": 2, "sarfeat._validation": 2, "sarfeat.orientation": 2,
    "sarfeat.learned_orientation": 2, "sarfeat.polar_descriptor": 2, "sarfeat.pyramid": 2,
    "sarfeat.peaks": 2, "sarfeat.invariant_descriptor": 2, "sarfeat.hand_descriptors": 2,
    "sarfeat.learned_polar": 2, "sarfeat.tile_detection": 2,
    "sarfeat.detector_network": 2, "sarfeat.detector_input": 2,
    "sarfeat.detector": 3, "sarfeat.descriptors": 3, "sarfeat.structural": 3,
    "sarfeat.patch_descriptor": 3,
    "sarfeat.matching": 4,
    "sarfeat.registration": 5, "sarfeat.registration_result": 5,
    "sarfeat.pair_inputs": 5, "sarfeat.confidence": 5, "sarfeat.zero_edges": 5,
    "sarfeat.metrics": 5, "sarfeat.viz": 5, "sarfeat.viz_display": 5,
    "sarfeat.viz_registration": 5,
    "sarfeat.parallel": 6, "sarfeat.training": 6,
    "sarfeat.cli": 7, "sarfeat.__main__": 7,
    "sarfeat": 8,  # the package's lazy __init__ may name anything
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if "_bundled" in path.parts:
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _layer(module: str) -> int | None:
    """The layer of ``module`` or of the nearest package above it that LAYERS places; the
    bare package's entry places only the package itself (a new top-level module is None)."""
    while module:
        if module in LAYERS:
            return LAYERS[module]
        module = module.rpartition(".")[0]
        if module == "sarfeat":
            return None
    return None


def _imports(name: str, path: Path, modules: dict) -> list[tuple[str, str]]:
    """(imported module, imported name or '') of every sarfeat import in ``path``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            if not base.startswith("sarfeat"):
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.append((full, "") if full in modules else (base, alias.name))
        elif isinstance(node, ast.Import):
            found += [(a.name, "") for a in node.names if a.name.startswith("sarfeat")]
    return found


MODULES = _modules()


def test_every_module_has_a_layer():
    missing = sorted(name for name in MODULES if _layer(name) is None)
    assert not missing, f"place these modules in LAYERS of tests/test_layers.py: {missing}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_respect_the_layers(name):
    own = _layer(name)
    for target, imported in _imports(name, MODULES[name], MODULES):
        if target == name or target.startswith(name + ".") or name.startswith(target + "."):
            continue  # a package and its own submodules
        layer = _layer(target)
        assert layer is None or layer <= own, \
            f"{name} (layer {own}) imports {target} (layer {layer}): a higher layer"


#: Private names imported across modules on 2026-11-30, being removed by other issues: the
#: list may only shrink (a new private import fails the test below).
KNOWN_PRIVATE: set[tuple[str, str]] = set()


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_new_private_imports(name):
    for target, imported in _imports(name, MODULES[name], MODULES):
        if imported.startswith("_") and not imported.startswith("__"):
            assert (name, imported) in KNOWN_PRIVATE, \
                f"{name} imports the private name {imported} of {target}: make it public"


def _foreign_private_module(name: str, target: str) -> str:
    """The private module (a ``_part`` of the dotted path) of ``target`` that ``name`` imports
    from outside the package holding it ('' for none): a private module is its package's."""
    parts = target.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            package = ".".join(parts[:i])
            if not (name == package or name.startswith(package + ".")):
                return ".".join(parts[:i + 1])
    return ""


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_module_imported_from_another_package(name):
    """``from ..parallel._client import client_for`` names no private name, yet reads a
    private module of another package (``sarfeat.cli.register_stack`` did, in a function)."""
    for target, _ in _imports(name, MODULES[name], MODULES):
        private = _foreign_private_module(name, target)
        assert not private, f"{name} imports the private module {private}: import a public name"


def test_the_import_walk_reads_imports_inside_functions(tmp_path):
    path = tmp_path / "command.py"
    path.write_text("def run():\n    from ..parallel._client import client_for\n"
                    "    from .._validation import check_integer\n", encoding="utf-8")
    found = _imports("sarfeat.cli.command", path, MODULES)
    assert ("sarfeat.parallel._client", "client_for") in found
    assert [_foreign_private_module("sarfeat.cli.command", target) for target, _ in found] \
        == ["sarfeat.parallel._client", ""]  # sarfeat._validation is the whole package's
    assert _foreign_private_module("sarfeat.parallel.stack", "sarfeat.parallel._client") == ""


def test_no_import_cycle():
    graph = {name: {t for t, _ in _imports(name, path, MODULES)
                    if t in MODULES and t != name and not t.startswith(name + ".")
                    and not name.startswith(t + ".")}
             for name, path in MODULES.items()}
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(trail + [nxt]))
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def _own_names(tree: ast.AST) -> set[str]:
    """Names a module defines itself: functions, classes, and the names and attributes it
    assigns (so ``self._x`` and ``obj._x`` of its own objects)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def _attribute_read(node: ast.AST) -> str | None:
    """The attribute that ``node`` reads: ``obj.name``, or ``getattr(obj, "name", ...)`` and
    ``hasattr(obj, "name")`` (a name in a string is read all the same)."""
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id in ("getattr", "hasattr") and len(node.args) >= 2 \
            and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
        return node.args[1].value
    return None


def _foreign_private_attributes(path: Path) -> list[str]:
    """``obj._name`` reads of a private name the module does not define itself (each ends
    with ``.name``, the name read)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = _own_names(tree)
    found = []
    for node in ast.walk(tree):
        name = _attribute_read(node)
        if name and name.startswith("_") and not name.startswith("__") and name not in own:
            found.append(f"line {node.lineno}: {ast.unparse(node)} .{name}")
    return found


def test_a_private_attribute_read_by_its_name_is_found(tmp_path):
    """``getattr(warnings, "_filters_mutated", None)`` read the standard library's private
    function unseen (sarfeat.parallel.task_warnings did)."""
    path = tmp_path / "module.py"
    path.write_text("import warnings\nchanged = getattr(warnings, '_filters_mutated', None)\n"
                    "there = hasattr(warnings, '_x')\nmine = getattr(warnings, 'filters')\n",
                    encoding="utf-8")
    assert [hit.rpartition(".")[2] for hit in _foreign_private_attributes(path)] == [
        "_filters_mutated", "_x"]


#: Private attributes of other libraries read on purpose (module -> attribute names).
KNOWN_FOREIGN_PRIVATE: dict[str, set[str]] = {}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_attribute_of_another_module(name):
    """``obj._name`` across modules is a private import the import walk cannot see
    (``parallel`` read the detector's ``_runner``, ``_detect_tile``, ``_get_runner``)."""
    known = KNOWN_FOREIGN_PRIVATE.get(name, set())
    found = [hit for hit in _foreign_private_attributes(MODULES[name])
             if hit.rpartition(".")[2] not in known]
    assert not found, f"{name} reads private attributes it does not define: {found}"
