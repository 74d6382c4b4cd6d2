"""The suite fails on an unexpected warning (pyproject.toml: filterwarnings = error, third-party ones listed)."""

import tomllib
import warnings
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_the_suite_turns_unexpected_warnings_into_errors():
    filters = tomllib.loads(PYPROJECT.read_text())["tool"]["pytest"]["ini_options"]["filterwarnings"]
    assert filters[0] == "error"
    # every exception to it is an explicit ignore, never a blanket one for deepreplay
    assert all(f.startswith("ignore:") for f in filters[1:])
    assert not any("deepreplay" in f for f in filters[1:])
    with pytest.raises(UserWarning, match="unexpected"):
        warnings.warn("unexpected", UserWarning)  # as a deepreplay module's warning would be


def test_a_deepreplay_warning_fails_a_test_unless_it_is_expected(monkeypatch):
    from deepreplay.plot import render

    monkeypatch.setenv("DEEPREPLAY_WORKERS", "many")  # deepreplay warns and renders in this process
    with pytest.raises(UserWarning, match="DEEPREPLAY_WORKERS='many' is not an integer"):
        render.auto_workers(100)
    with pytest.warns(UserWarning, match="not an integer"):  # expected: the test says so
        assert render.auto_workers(100) == 1
