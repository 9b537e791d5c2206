"""The layers of ARCHITECTURE.md, kept: imports walked with ``ast``, no module imported.

Lowest first; a module imports only from its own layer or below, never a
private name (leading underscore) of another module, and no import cycle:

    preprocess, io, geometry -> network, checkpoint, data, weights ->
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
    "sarfeat.preprocess": 0, "sarfeat.io": 0,
    "sarfeat.network": 1, "sarfeat.checkpoint": 1, "sarfeat.data": 1, "sarfeat.weights": 1,
    "sarfeat._inference": 1, "sarfeat._fused_heads": 1, "sarfeat._validation": 1,
    "sarfeat._fused_descriptors": 1, "sarfeat._fused_peaks": 1, "sarfeat._fused_steering": 1,
    "sarfeat._runtime": 1, "sarfeat._onnx": 1,
    "sarfeat.orientation": 1,
    "sarfeat.detector": 2, "sarfeat.descriptors": 2, "sarfeat.structural": 2,
    "sarfeat.matching": 3,
    "sarfeat.registration": 4, "sarfeat.metrics": 4, "sarfeat.viz": 4,
    "sarfeat.parallel": 5, "sarfeat.training": 5,
    "sarfeat.cli": 6, "sarfeat.__main__": 6,
    "sarfeat": 7,  # the package's lazy __init__ may name anything
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
    while module:
        if module in LAYERS:
            return LAYERS[module]
        module = module.rpartition(".")[0]
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
