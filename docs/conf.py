"""Sphinx configuration for the sarfeat documentation.

Build from the repository root with::

    SARFEAT_DATA_DIR=../shared/data sphinx-build -W --keep-going -b html docs docs/_build/html

The build works offline. Links to the documentation of numpy, scipy,
scikit-image, torch, matplotlib and Python (intersphinx) need their object
inventories: set ``SARFEAT_DOCS_INTERSPHINX=1`` to download them, or point
``SARFEAT_DOCS_INVENTORIES`` at a folder holding ``numpy.inv``, ``scipy.inv``,
``skimage.inv``, ``torch.inv``, ``matplotlib.inv`` and ``python.inv`` (any
subset) to use local copies.
Without either, intersphinx is configured with no targets and nothing is
fetched, so an offline build has no warnings.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # the gallery and any plot directive render without a display

DOCS_DIR = Path(__file__).resolve().parent
ROOT = DOCS_DIR.parent
sys.path.insert(0, str(ROOT))  # document the working tree, not an older installed copy

import sarfeat  # noqa: E402

# -- Project -----------------------------------------------------------------------------------

project = "sarfeat"
author = "The sarfeat developers"
copyright = "The sarfeat developers"  # noqa: A001 - the name Sphinx reads
version = ".".join(sarfeat.__version__.split(".")[:2])
release = sarfeat.__version__

# -- Extensions --------------------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**/*.ipynb", "**/*.py.md5"]

# autodoc / autosummary
autosummary_generate = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc's Parameters sections already give the types
autodoc_inherit_docstrings = False  # no torch docstrings on R2D2Net.forward and friends
add_module_names = False

# numpydoc
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- Intersphinx (offline unless asked) --------------------------------------------------------

_INTERSPHINX_TARGETS = {
    "numpy": "https://numpy.org/doc/stable/",
    "scipy": "https://docs.scipy.org/doc/scipy/",
    "skimage": "https://scikit-image.org/docs/stable/",
    "torch": "https://docs.pytorch.org/docs/stable/",
    "matplotlib": "https://matplotlib.org/stable/",
    "python": "https://docs.python.org/3/",
}


def _intersphinx_mapping() -> dict:
    local = os.environ.get("SARFEAT_DOCS_INVENTORIES")
    if local:
        folder = Path(local)
        return {
            name: (url, str(folder / f"{name}.inv"))
            for name, url in _INTERSPHINX_TARGETS.items()
            if (folder / f"{name}.inv").is_file()
        }
    if os.environ.get("SARFEAT_DOCS_INTERSPHINX") == "1":
        return {name: (url, None) for name, url in _INTERSPHINX_TARGETS.items()}
    return {}


intersphinx_mapping = _intersphinx_mapping()
intersphinx_timeout = 10

# -- Sphinx-gallery ----------------------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "show_memory": False,
}

# -- HTML --------------------------------------------------------------------------------------

try:
    import pydata_sphinx_theme  # noqa: F401
except ImportError:  # fall back to Sphinx's built-in theme
    html_theme = "alabaster"
    html_theme_options: dict = {}
else:
    html_theme = "pydata_sphinx_theme"
    html_theme_options = {
        "navigation_with_keys": False,
        "show_toc_level": 2,
        "secondary_sidebar_items": ["page-toc"],
    }

html_title = f"sarfeat {release}"
html_static_path = ["_static"]
html_show_sourcelink = False


# -- Links to re-exported names ----------------------------------------------------------------
#
# A function or class is documented once, under one of the names it is imported by:
# its short name (sarfeat.normalize_sar), a module that gives it to users
# (sarfeat.io.write_raster, defined in sarfeat.raster_write) or its defining module
# (sarfeat.detector_input.NoKeypointsError, also sarfeat.NoKeypointsError).
# Docstrings inside the package may name it by any other of those names, or by its
# bare name within a module that imports it. A reference that finds no target is
# resolved to the documented name of the same object, members of a class included.


def _imported(name: str):
    """(object, members) for ``sarfeat.module.NAME.member...``: the module's NAME and the
    names after it; None when no module along ``name`` has such an attribute."""
    import importlib

    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):  # the longest importable module first
        try:
            owner = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        if not hasattr(owner, parts[cut]):
            return None
        return getattr(owner, parts[cut]), parts[cut + 1:]
    return None


def _documented_names(env, target: str, module: str | None) -> list[str]:
    """The documented names of the object that ``target`` names (within ``module``)."""
    documented = env.get_domain("py").objects
    found = []
    for candidate in [target] + ([f"{module}.{target}"] if module else []):
        if not candidate.startswith("sarfeat."):
            continue
        imported = _imported(candidate)
        if imported is None:
            continue
        obj, members = imported
        short = candidate.split(".")[-1 - len(members)]
        for name in documented:
            if name.rpartition(".")[2] != short or not name.startswith("sarfeat"):
                continue
            other = _imported(name)
            if other is not None and other[0] is obj and not other[1]:
                found.append(".".join([name, *members]))
    return [name for name in dict.fromkeys(found) if name != target]


def _resolve_reexports(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    domain = env.get_domain("py")
    for name in _documented_names(env, node["reftarget"], node.get("py:module")):
        resolved = domain.resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], name, node, contnode
        )
        if resolved is not None:
            return resolved
    return None


def setup(app):
    app.connect("missing-reference", _resolve_reexports)
