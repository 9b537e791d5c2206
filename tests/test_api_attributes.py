"""Attributes of the documented result classes are linkable in the API reference.

A numpydoc ``Attributes`` section renders as a list without link targets, so a reference
such as ``:attr:`sarfeat.RegistrationResult.transform``` found nothing to point at. A
dataclass field is documented (and gets a target) when its declaration carries a
docstring or a ``#:`` comment, which autodoc reads with Sphinx's module analyzer; a
property by its own docstring. These tests ask the same analyzer, without a docs build.
"""

from __future__ import annotations

import dataclasses
import inspect
import re

import pytest

import sarfeat
import sarfeat.io
import sarfeat.matching
import sarfeat.parallel
import sarfeat.preprocess
import sarfeat.registration
from test_api_reference import api_reference_names, imported

#: Result and input classes whose every public attribute is documented on its own (linkable).
LINKABLE = [sarfeat.RegistrationResult, sarfeat.matching.MatchResult,
            sarfeat.registration.PairInputs, sarfeat.io.Raster, sarfeat.parallel.PairOutcome,
            sarfeat.parallel.SceneFeatures, sarfeat.io.WarpedWindows,
            sarfeat.preprocess.NormalizedImage, sarfeat.preprocess.SARScaling]


def public_fields(cls) -> list[str]:
    """The public fields of a dataclass or named tuple, [] for another class."""
    if dataclasses.is_dataclass(cls):
        names = [field.name for field in dataclasses.fields(cls)]
    elif issubclass(cls, tuple) and hasattr(cls, "_fields"):
        names = list(cls._fields)
    else:
        names = []
    return [name for name in names if not name.startswith("_")]


def missing_docs(cls) -> list[str]:
    """The public fields of ``cls`` that have no documentation of their own."""
    docs = attribute_docs(cls)
    return [name for name in public_fields(cls) if not docs.get(name)]


def attribute_docs(cls) -> dict[str, str]:
    """Attribute name -> documentation that autodoc finds for the fields of ``cls``."""
    analyzer = pytest.importorskip("sphinx.pycode").ModuleAnalyzer.for_module(cls.__module__)
    return {name: "\n".join(lines).strip()
            for (owner, name), lines in analyzer.find_attr_docs().items()
            if owner == cls.__qualname__}


@pytest.mark.parametrize("cls", LINKABLE, ids=lambda cls: cls.__name__)
def test_every_public_field_has_its_own_documentation(cls):
    assert public_fields(cls)
    missing = missing_docs(cls)
    assert not missing, f"{cls.__name__}: fields without an attribute docstring: {missing}"


def test_every_documented_record_type_has_linkable_fields():
    """Every dataclass and named tuple that docs/api.rst lists documents each field at its
    declaration, not only in an Attributes or Parameters section (which makes no target)."""
    records = {name: imported(name) for name in api_reference_names()
               if isinstance(imported(name), type) and public_fields(imported(name))}
    assert {cls.__name__ for cls in LINKABLE} <= {cls.__name__ for cls in records.values()}
    undocumented = {name: missing_docs(cls) for name, cls in records.items() if missing_docs(cls)}
    assert not undocumented, f"fields without a docstring: {undocumented}"


def test_every_public_property_has_a_docstring():
    properties = [(cls, name) for cls in LINKABLE for name, member in inspect.getmembers(cls)
                  if isinstance(member, property) and not name.startswith("_")]
    assert len(properties) > len(LINKABLE)  # most have some
    missing = [f"{cls.__name__}.{name}" for cls, name in properties
               if not inspect.getdoc(getattr(cls, name))]
    assert not missing, f"properties without a docstring: {missing}"

def test_the_attributes_named_in_the_class_docstring_exist():
    """The class docstring names its attributes as links; each must be a field or property."""
    cls = sarfeat.RegistrationResult
    named = re.findall(r":attr:`(\w+)`", cls.__doc__)
    members = {field.name for field in dataclasses.fields(cls)} | {
        name for name, member in inspect.getmembers(cls) if isinstance(member, property)}
    assert named and not set(named) - members, set(named) - members
