"""Progress bars for long steps (building visuals over many epochs, rendering and saving animations).

Bars come from ``tqdm.auto`` (a text bar in terminals, a widget in Jupyter)
and are shown only when someone can see them:

* ``progress=True`` / ``progress=False`` given to the step decides;
* else the environment variable ``DEEPREPLAY_PROGRESS`` decides: ``0``
  (or ``false``, ``no``, ``off``) silences every bar, ``1`` (``true``,
  ``yes``, ``on``) shows them even when the output is not a terminal;
* else a bar is shown when the session is interactive: standard error is a
  terminal, or the code runs in a Jupyter kernel.  CI jobs, pipes and test
  runs (no TTY, no notebook) stay silent.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["ENV_VAR", "NullBar", "fit_progress", "in_notebook", "progress_bar", "progress_enabled"]

#: Environment variable that turns progress bars off (``0``) or on (``1``).
ENV_VAR = "DEEPREPLAY_PROGRESS"

_OFF = ("0", "false", "no", "off")
_ON = ("1", "true", "yes", "on")


def in_notebook() -> bool:
    """Whether this code runs in a Jupyter (IPython kernel) session."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:
        return False
    if shell is None:
        return False
    try:
        return "IPKernelApp" in shell.config
    except Exception:
        return type(shell).__name__ == "ZMQInteractiveShell"


def _stderr_is_terminal() -> bool:
    stream = sys.stderr
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def progress_enabled(progress: bool | None = None) -> bool:
    """Whether a progress bar should be shown (see the module notes for the rules).

    Parameters
    ----------
    progress : bool, optional
        An explicit choice; ``None`` follows ``DEEPREPLAY_PROGRESS``, then
        whether the session is interactive.
    """
    if progress is not None:
        if not isinstance(progress, bool):
            raise TypeError(f"progress={progress!r} must be True, False or None (automatic).")
        return progress
    env = os.environ.get(ENV_VAR)
    if env is not None and env.strip():
        value = env.strip().lower()
        if value in _OFF:
            return False
        if value in _ON:
            return True
    return in_notebook() or _stderr_is_terminal()


class NullBar:
    """A silent stand-in for a tqdm bar: iterates, updates and closes without output."""

    def __init__(self, iterable: Iterable[Any] | None = None, total: int | None = None) -> None:
        self.iterable = iterable
        self.total = total
        self.n = 0

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            self.n += 1
            yield item

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        pass

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> NullBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str | None = None,
                 unit: str = "it", progress: bool | None = None, leave: bool = False) -> Any:
    """A ``tqdm.auto`` bar over ``iterable`` (or updated by hand), or a silent :class:`NullBar`.

    Parameters
    ----------
    iterable : iterable, optional
        What to iterate over; leave it out and call ``update(n)``.
    total : int, optional
        Number of steps (default: ``len(iterable)`` when it has one).
    desc : str, optional
        Label in front of the bar.
    unit : str, default "it"
        What a step is ("epoch", "frame").
    progress : bool, optional
        Show it or not; ``None`` decides as :func:`progress_enabled`.
    leave : bool, default False
        Keep the finished bar on screen.
    """
    if total is None and iterable is not None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    if not progress_enabled(progress):
        return NullBar(iterable, total)
    try:
        import warnings

        with warnings.catch_warnings():
            # Without ipywidgets, tqdm.auto falls back on the text bar and warns; the text bar is fine.
            warnings.simplefilter("ignore")
            from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return NullBar(iterable, total)
    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, dynamic_ncols=True)


def fit_progress(epochs: int, *, desc: str = "training", progress: bool | None = None) -> Any:
    """A Keras callback showing a per-epoch bar during ``fit`` (total ``epochs``), with the loss.

    Use it with ``fit(..., verbose=0)`` so that Keras' own per-step lines do
    not interleave with it.  Silent when :func:`progress_enabled` says so.
    """
    import keras

    class _FitProgress(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.bar: Any = None

        def on_train_begin(self, logs: dict | None = None) -> None:
            self.bar = progress_bar(total=epochs, desc=desc, unit="epoch", progress=progress, leave=True)

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if self.bar is None:
                return
            if logs and "loss" in logs:
                self.bar.set_postfix_str(f"loss {float(logs['loss']):.4f}", refresh=False)
            self.bar.update(1)

        def on_train_end(self, logs: dict | None = None) -> None:
            if self.bar is not None:
                self.bar.refresh()  # the final count is shown even when the last epochs came within tqdm's interval
                self.bar.close()
                self.bar = None

    return _FitProgress()
