"""Sphinx configuration for the sarfeat documentation.

Build from the repository root with::

    SARFEAT_DATA_DIR=../shared/data sphinx-build -W --keep-going -b html docs docs/_build/html

The build works offline. Links to the documentation of numpy, scipy,
scikit-image and torch (intersphinx) need their object inventories: set
``SARFEAT_DOCS_INTERSPHINX=1`` to download them, or point
``SARFEAT_DOCS_INVENTORIES`` at a folder holding ``numpy.inv``, ``scipy.inv``,
``skimage.inv`` and ``torch.inv`` (any subset) to use local copies.
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
# The public functions and classes are documented under their short names
# (sarfeat.normalize_sar), while docstrings inside the package may name them by
# their defining module (sarfeat.preprocess.normalize_sar, or normalize_sar
# within sarfeat.preprocess). Resolve those references to the documented name.


def _public_name(target: str, module: str | None) -> str | None:
    import importlib

    candidates = [target] + ([f"{module}.{target}"] if module else [])
    for candidate in candidates:
        path, _, attribute = candidate.rpartition(".")
        if not path.startswith("sarfeat"):
            continue
        try:
            obj = getattr(importlib.import_module(path), attribute)
        except (ImportError, AttributeError):
            continue
        if attribute in sarfeat.__all__ and getattr(sarfeat, attribute) is obj:
            return f"sarfeat.{attribute}"
    return None


def _resolve_reexports(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    public = _public_name(node["reftarget"], node.get("py:module"))
    if public is None or public == node["reftarget"]:
        return None
    domain = env.get_domain("py")
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], public, node, contnode
    )


def setup(app):
    app.connect("missing-reference", _resolve_reexports)
