"""Progress bars: shown when someone can see them, silent when asked or when not interactive."""

import io
import sys

import pytest
from matplotlib import pyplot as plt

from deepreplay import progress
from deepreplay.plot import ReplayAnimation


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv(progress.ENV_VAR, raising=False)
    monkeypatch.setattr(progress, "in_notebook", lambda: False)


def test_silent_when_stderr_is_not_a_terminal(no_env, monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert progress.progress_enabled() is False
    assert isinstance(progress.progress_bar(range(3)), progress.NullBar)


def test_shown_in_a_terminal(no_env, monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert progress.progress_enabled() is True


def test_shown_in_a_notebook(monkeypatch):
    monkeypatch.delenv(progress.ENV_VAR, raising=False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    assert progress.progress_enabled() is True


def test_a_missing_or_closed_stderr_is_not_a_terminal(no_env, monkeypatch):
    monkeypatch.setattr(sys, "stderr", None)
    assert progress.progress_enabled() is False
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr(sys, "stderr", closed)
    assert progress.progress_enabled() is False


@pytest.mark.parametrize("value, expected", [("0", False), ("false", False), ("off", False), ("no", False),
                                             ("1", True), ("yes", True), ("on", True), ("TRUE", True)])
def test_the_environment_variable_decides_over_the_terminal(no_env, monkeypatch, value, expected):
    monkeypatch.setattr(sys, "stderr", _Terminal() if not expected else io.StringIO())
    monkeypatch.setenv(progress.ENV_VAR, value)
    assert progress.progress_enabled() is expected


def test_an_unknown_environment_value_falls_back_on_the_terminal(no_env, monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    monkeypatch.setenv(progress.ENV_VAR, "maybe")
    assert progress.progress_enabled() is True


def test_an_explicit_choice_wins(no_env, monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    monkeypatch.setenv(progress.ENV_VAR, "1")
    assert progress.progress_enabled(False) is False
    monkeypatch.setenv(progress.ENV_VAR, "0")
    assert progress.progress_enabled(True) is True
    with pytest.raises(TypeError, match="progress='yes' must be True, False or None"):
        progress.progress_enabled("yes")


def test_the_silent_bar_iterates_and_counts():
    bar = progress.NullBar(range(4))
    assert list(bar) == [0, 1, 2, 3] and bar.n == 4
    with progress.NullBar(total=3) as bar:
        bar.update(2)
        bar.set_description("x")
    assert bar.n == 2


def test_a_shown_bar_is_tqdm(no_env, monkeypatch):
    stream = _Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    bar = progress.progress_bar(range(3), desc="work", unit="epoch")
    assert list(bar) == [0, 1, 2]
    bar.close()
    assert "work" in stream.getvalue() and "epoch" in stream.getvalue()


def _still_animation():
    fig, ax = plt.subplots(figsize=(1, 1), dpi=30)
    (line,) = ax.plot([0, 1], [0, 1])
    return ReplayAnimation(fig, lambda epoch: [line], [0, 1, 2])


def test_saving_shows_a_bar_only_when_interactive(no_env, monkeypatch, tmp_path):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    _still_animation().save(tmp_path / "quiet.gif")
    assert stream.getvalue() == ""

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    _still_animation().save(tmp_path / "shown.gif")
    assert "saving shown.gif" in terminal.getvalue() and "frame" in terminal.getvalue()

    silenced = _Terminal()
    monkeypatch.setattr(sys, "stderr", silenced)
    monkeypatch.setenv(progress.ENV_VAR, "0")
    _still_animation().save(tmp_path / "silenced.gif")
    _still_animation().save(tmp_path / "asked.gif", progress=False)
    assert silenced.getvalue() == ""


def test_a_finished_bar_shows_its_final_count(no_env, monkeypatch, tmp_path):
    """Frames that come faster than tqdm's refresh interval still end on '3/3' (shown, then cleared)."""
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    _still_animation().save(tmp_path / "fast.gif")
    assert "3/3" in terminal.getvalue()
