"""A live view while training: :class:`LiveDashboard`, a Keras callback beside ``ReplayData``.

In Jupyter it shows one output, created when training starts and *updated in
place* (an IPython display handle's ``update``: no ``clear_output``, no
flicker, other outputs untouched) every ``every`` epochs with the standard
dashboard (:func:`deepreplay.dashboard.build_dashboard`) of what has been
recorded so far; when ``fit`` returns, the same output becomes the epoch
slider over the whole run (:func:`deepreplay.plot.epoch_slider`, when
ipywidgets is installed; else the dashboard at the last epoch).  In a
terminal it prints a one-line summary per epoch.

It reads the recording as any reader does: the records already on disk (the
record of the epoch just ended may still be in ``ReplayData``'s background
writer, so a picture may be one record behind until ``fit`` returns).
"""

from __future__ import annotations

import io
import sys
import warnings
from typing import Any

import keras

from .progress import in_notebook

__all__ = ["LiveDashboard"]


class LiveDashboard(keras.callbacks.Callback):
    """Show a recording's dashboard while the model trains.

    Put it after the ``ReplayData`` it watches::

        replaydata = ReplayData(X, y, filename="run.h5", group_name="run")
        model.fit(X, y, epochs=60, callbacks=[replaydata, LiveDashboard(replaydata, every=5)], verbose=0)

    Parameters
    ----------
    replaydata : ReplayData
        The callback recording this run (its ``filename`` and ``group_name`` are read).
    every : int, default 5
        Redraw the dashboard every ``every`` epochs (and once when training ends).
    layer_name, metric_name : str, optional
        As for :func:`~deepreplay.dashboard.build_dashboard`.
    dpi : float, default 60
        Resolution of the live pictures (small: they are redrawn often).
    notebook : bool, optional
        Force the notebook view (``True``) or the terminal lines (``False``);
        default: the notebook view in a Jupyter kernel.
    slider : bool, default True
        In a notebook, end with the epoch slider when ``fit`` returns.
    """

    def __init__(self, replaydata: Any, *, every: int = 5, layer_name: str | None = None,
                 metric_name: str | None = None, dpi: float = 60, notebook: bool | None = None,
                 slider: bool = True) -> None:
        super().__init__()
        for name in ("filename", "group_name"):
            if not hasattr(replaydata, name):
                raise TypeError(f"replaydata={replaydata!r} must be the ReplayData callback of this run "
                                f"(it has no {name!r}).")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every={every!r} must be a positive whole number of epochs.")
        if notebook is not None and not isinstance(notebook, bool):
            raise TypeError(f"notebook={notebook!r} must be True, False or None (automatic).")
        self.filename = replaydata.filename
        self.group_name = replaydata.group_name
        self.every = every
        self.layer_name = layer_name
        self.metric_name = metric_name
        self.dpi = dpi
        self.notebook = notebook
        self.slider = slider
        #: How many times the notebook output was updated in place (for tests and curiosity).
        self.updates = 0
        self.replay: Any = None
        self._handle: Any = None
        self._epochs = 0

    # -- Keras hooks ----------------------------------------------------------------------------
    def on_train_begin(self, logs: dict | None = None) -> None:
        self._epochs = int(self.params.get("epochs", 0)) if self.params else 0
        self._in_notebook = in_notebook() if self.notebook is None else self.notebook
        if self._in_notebook:
            from IPython.display import HTML, display

            self._handle = display(HTML(f"<i>deepreplay: training {self.group_name!r}; the dashboard "
                                        f"appears after epoch {self.every}.</i>"), display_id=True)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        done = epoch + 1
        if not self._in_notebook:
            print(self.summary(done, logs or {}), file=sys.stdout, flush=True)
            return
        if done % self.every == 0:
            self._update(self._dashboard_png())

    def on_train_end(self, logs: dict | None = None) -> None:
        if not self._in_notebook:
            return
        # ReplayData (before this callback) has written every record by now.
        final = self._final_view()
        if final is not None:
            self._update(final)

    # -- pieces -------------------------------------------------------------------------------------
    def summary(self, epoch: int, logs: dict) -> str:
        """The terminal line of an epoch: ``epoch 3/20  loss 0.4123  accuracy 0.8750``."""
        width = len(str(self._epochs)) if self._epochs else 1
        total = f"/{self._epochs}" if self._epochs else ""
        values = "  ".join(f"{name} {float(value):.4f}" for name, value in logs.items()
                           if isinstance(value, (int, float)) or hasattr(value, "__float__"))
        return f"epoch {epoch:>{width}}{total}  {values}".rstrip()

    def _update(self, obj: Any) -> None:
        if obj is None or self._handle is None:
            return
        self._handle.update(obj)
        self.updates += 1

    def _open(self) -> Any:
        from .replay import Replay

        with warnings.catch_warnings():
            # While training, the recording is incomplete by design: no warning about it here.
            warnings.filterwarnings("ignore", message=r"the recording .* is incomplete")
            return Replay(self.filename, self.group_name)

    def _build(self, replay: Any) -> tuple[Any, list[Any]]:
        from .dashboard import DashboardNote, build_dashboard

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DashboardNote)
            return build_dashboard(replay, layer_name=self.layer_name, metric_name=self.metric_name)

    def _dashboard_png(self) -> Any:
        """The dashboard at the last record on disk, as an IPython Image (None before the first records)."""
        import matplotlib.pyplot as plt
        from IPython.display import Image

        from .plot import compose_plots
        from .storage import RecordingError

        try:
            replay = self._open()
        except (RecordingError, OSError, KeyError):
            return None  # nothing on disk yet
        try:
            with replay:
                if len(replay.epochs) < 2:
                    return None
                fig, visuals = self._build(replay)
                try:
                    compose_plots(visuals, int(visuals[0].epochs[-1]), title=f"{self.group_name} (training)")
                    buffer = io.BytesIO()
                    fig.savefig(buffer, format="png", dpi=self.dpi)
                finally:
                    plt.close(fig)
        except ValueError:
            return None  # too few records for some visual yet
        return Image(data=buffer.getvalue(), format="png")

    def _final_view(self) -> Any:
        """The epoch slider over the whole run (or the dashboard at its last epoch without ipywidgets)."""
        if self.slider:
            try:
                import ipywidgets  # noqa: F401
            except ImportError:
                pass
            else:
                import matplotlib.pyplot as plt

                from .plot import epoch_slider

                self.replay = self._open()
                fig, visuals = self._build(self.replay)
                widget = epoch_slider(visuals, title=self.group_name, dpi=self.dpi)
                plt.close(fig)
                return widget
        return self._dashboard_png()

    def close(self) -> None:
        """Close the recording the final slider reads."""
        if self.replay is not None:
            self.replay.close()
            self.replay = None
