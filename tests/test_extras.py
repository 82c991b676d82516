"""The optional parts: a missing one is one line that names the extra to install."""

from __future__ import annotations

import pytest

from tracebed import extras


def test_an_installed_extra_passes() -> None:
    extras.require("reference")  # the dev install has it


def test_a_missing_extra_names_itself_and_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        extras.EXTRAS, "reference", ("the stand-in", ("json", "no_such_module_xyz", "nope.sub"))
    )
    assert extras.missing("reference") == ["no_such_module_xyz", "nope.sub"]
    with pytest.raises(extras.MissingExtraError) as err:
        extras.require("reference")
    message = str(err.value)
    assert message == (
        "the stand-in is not installed (missing: no_such_module_xyz, nope.sub): "
        "pip install 'tracebed[reference]'"
    )
