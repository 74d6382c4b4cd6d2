"""An interactive epoch slider for notebooks (needs ``ipywidgets``: ``pip install "deepreplay[widgets]"``).

:func:`epoch_slider` shows one or several composed visuals of a figure as a
PNG in an ``ipywidgets.Image`` and redraws it when the slider moves.  It
works with Matplotlib's default inline backend (no ``ipympl`` needed): each
epoch is drawn with :func:`~deepreplay.plot.compose_plots` and saved with
``fig.savefig``, so the picture is exactly what ``savefig`` writes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .base import Plotter, common_epochs, common_figure, compose_plots, frame_label

if TYPE_CHECKING:
    import ipywidgets

INSTALL_HINT = 'pip install "deepreplay[widgets]"'


def _import_ipywidgets() -> Any:
    try:
        import ipywidgets
    except ImportError as exc:
        raise ImportError(f"epoch_slider needs ipywidgets; install it with: {INSTALL_HINT}") from exc
    return ipywidgets


def _as_visuals(objects: Plotter | Sequence[Plotter]) -> list[Plotter]:
    if isinstance(objects, Plotter):
        return [objects]
    if isinstance(objects, (str, bytes)) or not isinstance(objects, Sequence):
        raise TypeError(
            f"objects={objects!r} must be a deepreplay visual or a list of visuals of one figure, "
            "e.g. epoch_slider([fs, lm])."
        )
    return list(objects)


def _check_options(title: Any, dpi: Any, continuous_update: Any, interval: Any, play: Any) -> None:
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title={title!r} must be a string or None (no prefix before 'Epoch: ...').")
    if dpi is not None and (isinstance(dpi, (bool, np.bool_))
                            or not isinstance(dpi, (int, float, np.integer, np.floating))
                            or not math.isfinite(dpi) or dpi <= 0):
        raise ValueError(f"dpi={dpi!r} must be a positive number, e.g. 72, or None for rcParams['savefig.dpi'].")
    for name, value in (("continuous_update", continuous_update), ("play", play)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name}={value!r} must be True or False.")
    if isinstance(interval, (bool, np.bool_)) or not isinstance(interval, (int, np.integer)) or interval <= 0:
        raise ValueError(f"interval={interval!r} must be a positive integer number of milliseconds, e.g. 200.")


def _figure_png(fig: Any, *, dpi: float | None = None) -> bytes:
    """The figure as PNG bytes, as ``fig.savefig(buffer, format='png', dpi=dpi)`` writes them."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def epoch_slider(objects: Plotter | Sequence[Plotter], *, epoch_start: int | None = None,
                 epoch_end: int | None = None, title: str | None = None, dpi: float | None = None,
                 continuous_update: bool = False, play: bool = True,
                 interval: int = 200) -> ipywidgets.VBox:
    """Scrub through the epochs of one or several visuals of a figure in a notebook.

    The slider offers only the epochs the visuals share in
    ``[epoch_start, epoch_end]`` (a recording made with ``every=5`` gives
    0, 5, 10, ...).  When it moves, every visual is set to the epoch and the
    figure gets its epoch title (:func:`~deepreplay.plot.compose_plots`),
    then the figure is saved as a PNG into an ``ipywidgets.Image``.  It works
    with the default inline backend; ``ipympl`` is not needed.

    Parameters
    ----------
    objects : Plotter or sequence of Plotter
        One visual, or several built on axes of the same figure.
    epoch_start, epoch_end : int, optional
        The range of epochs offered (inclusive; ``None`` means the first /
        last epoch the visuals share).
    title : str, optional
        Prefix of the figure title ("<title> - Epoch: <epoch>").
    dpi : float, optional
        Resolution of the pictures (default ``rcParams['savefig.dpi']``,
        normally the figure's dpi).
    continuous_update : bool, default False
        Redraw while the slider is dragged, not only when it is released.
    play : bool, default True
        Put a play button (``ipywidgets.Play``) before the slider, stepping
        through the offered epochs.
    interval : int, default 200
        Milliseconds between epochs when playing.

    Returns
    -------
    ipywidgets.VBox
        Its children are an ``HBox`` of the controls (the ``Play`` button if
        ``play``, then the ``SelectionSlider`` whose ``value`` is the epoch)
        and the ``Image`` of the figure.  It starts at the first offered
        epoch; set ``box.children[0].children[-1].value = epoch`` to move it.

    Raises
    ------
    ImportError
        ipywidgets is not installed (``pip install "deepreplay[widgets]"``).
    TypeError, ValueError
        Not a visual or a list of visuals of one figure, or an epoch range,
        title, dpi or option that cannot be used.

    Notes
    -----
    The figure is closed with ``plt.close(fig)``, so that the notebook shows
    it only through the slider and not once more as a static picture at
    the end of the cell.  The visuals keep working: ``compose_plots``,
    ``animate`` and ``fig.savefig`` still draw it; ``display(fig)`` shows it
    again as a static picture.

    The visuals and the figure title always follow the slider, so
    ``fig.savefig`` saves the epoch it shows.  Each epoch's PNG is drawn
    once and kept for the slider's lifetime (a dict, epoch to PNG): at most
    one picture per offered epoch, typically 50 to 200 kB each at 100 dpi,
    so 150 epochs cost up to some 30 MB.  The cache does not see later
    changes to the figure (a new title, limits): build a new slider after
    changing the figure.  The pictures are saved with the figure's own
    layout, not cropped (``bbox_inches='tight'`` would change their size
    from epoch to epoch).

    Examples
    --------
    >>> fig, axs = plt.subplots(1, 2, figsize=(10, 4))          # doctest: +SKIP
    >>> fs = replay.build_feature_space(axs[0], "hidden")        # doctest: +SKIP
    >>> lm = replay.build_loss_and_metric(axs[1], "accuracy")    # doctest: +SKIP
    >>> epoch_slider([fs, lm], title="Sigmoid")                  # doctest: +SKIP
    """
    widgets = _import_ipywidgets()
    visuals = _as_visuals(objects)
    epochs = [int(e) for e in common_epochs(visuals, epoch_start, epoch_end)]
    fig = common_figure(visuals)
    _check_options(title, dpi, continuous_update, interval, play)

    import matplotlib.pyplot as plt

    plt.close(fig)  # shown through the slider only (a no-op for a figure pyplot does not manage)

    pngs: dict[int, bytes] = {}

    def picture(epoch: int) -> bytes:
        compose_plots(visuals, epoch, title=title)  # cheap, and keeps the figure at the slider's epoch
        if epoch not in pngs:
            pngs[epoch] = _figure_png(fig, dpi=dpi)  # the costly part: drawn once per epoch
        return pngs[epoch]

    image = widgets.Image(value=picture(epochs[0]), format="png")
    slider = widgets.SelectionSlider(options=epochs, value=epochs[0],
                                     description=frame_label(visuals[0].frame_unit),
                                     continuous_update=bool(continuous_update))

    def on_change(change: dict[str, Any]) -> None:
        image.value = picture(int(change["new"]))

    slider.observe(on_change, names="value")
    controls = [slider]
    if play:
        player = widgets.Play(min=0, max=len(epochs) - 1, step=1, value=0, interval=int(interval),
                              description="Play")
        widgets.link((player, "value"), (slider, "index"))
        controls.insert(0, player)
    return widgets.VBox([widgets.HBox(controls), image])
