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

#: Result classes whose every public attribute is documented on its own (linkable).
LINKABLE = [sarfeat.RegistrationResult]


def attribute_docs(cls) -> dict[str, str]:
    """Attribute name -> documentation that autodoc finds for the fields of ``cls``."""
    analyzer = pytest.importorskip("sphinx.pycode").ModuleAnalyzer.for_module(cls.__module__)
    return {name: "\n".join(lines).strip()
            for (owner, name), lines in analyzer.find_attr_docs().items()
            if owner == cls.__qualname__}


@pytest.mark.parametrize("cls", LINKABLE, ids=lambda cls: cls.__name__)
def test_every_public_field_has_its_own_documentation(cls):
    docs = attribute_docs(cls)
    fields = [field.name for field in dataclasses.fields(cls) if not field.name.startswith("_")]
    assert fields
    missing = [name for name in fields if not docs.get(name)]
    assert not missing, f"{cls.__name__}: fields without an attribute docstring: {missing}"


@pytest.mark.parametrize("cls", LINKABLE, ids=lambda cls: cls.__name__)
def test_every_public_property_has_a_docstring(cls):
    properties = [name for name, member in inspect.getmembers(cls)
                  if isinstance(member, property) and not name.startswith("_")]
    assert properties
    missing = [name for name in properties if not inspect.getdoc(getattr(cls, name))]
    assert not missing, f"{cls.__name__}: properties without a docstring: {missing}"


def test_the_attributes_named_in_the_class_docstring_exist():
    """The class docstring names its attributes as links; each must be a field or property."""
    cls = sarfeat.RegistrationResult
    named = re.findall(r":attr:`(\w+)`", cls.__doc__)
    members = {field.name for field in dataclasses.fields(cls)} | {
        name for name, member in inspect.getmembers(cls) if isinstance(member, property)}
    assert named and not set(named) - members, set(named) - members
