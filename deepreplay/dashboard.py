"""The standard dashboard: the visuals that apply to a recording, in one figure.

Used by the canonical demo and by ``deepreplay render``.  Which visuals:

* the feature space of a 2-unit layer (the one asked for, else the last
  2-unit hidden layer), or else the decision boundary when inputs are 2-D;
* loss and metric curves;
* probability histograms (negative and positive cases) for binary classifiers;
* the per-sample loss histogram.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DashboardPlan:
    """What the dashboard shows for a recording."""

    layer_name: str | None      # feature space of this layer, or None
    decision_boundary: bool     # decision boundary in the input space
    metric_name: str | None     # metric next to the loss
    probability_histograms: bool
    loss_histogram: bool


def _is_binary(replay) -> bool:
    predictions = replay.predictions_at(int(replay.epochs[0]))
    targets = np.asarray(replay.targets)
    width = predictions.shape[-1] if predictions.ndim > 1 else 1
    values = np.unique(targets)
    return width in (1, 2) and values.size <= 2 and np.all(np.isin(values, (0, 1)))


def two_unit_layers(replay) -> list[str]:
    """Hidden layers (output layer left out) whose recorded activations have 2 units."""
    epoch = int(replay.epochs[0])
    layers = replay.reader.output_layers("activations")
    found = []
    for name in layers[:-1]:
        values = replay.outputs_at(epoch, name)
        if values.ndim == 2 and values.shape[1] == 2:
            found.append(name)
    return found


def plan_dashboard(replay, *, layer_name: str | None = None, metric_name: str | None = None) -> DashboardPlan:
    """Decide which visuals apply to ``replay``.

    Raises
    ------
    ValueError
        ``layer_name`` or ``metric_name`` given but not usable.
    """
    binary = _is_binary(replay) and replay.reader.has("predictions")
    if layer_name is not None:
        candidates = two_unit_layers(replay)
        if layer_name not in candidates:
            raise ValueError(
                f"layer_name={layer_name!r} cannot be drawn as a feature space; 2-unit hidden layers with "
                f"recorded activations: {candidates or 'none'}."
            )
    elif binary:
        candidates = two_unit_layers(replay)
        layer_name = candidates[-1] if candidates else None
    metrics = replay.metric_names
    if metric_name is not None and metric_name not in metrics:
        raise ValueError(f"metric_name={metric_name!r} was not recorded; recorded metrics: {metrics or 'none'}.")
    if metric_name is None and metrics:
        metric_name = "accuracy" if "accuracy" in metrics else metrics[0]
    return DashboardPlan(
        layer_name=layer_name,
        decision_boundary=layer_name is None and binary and replay.inputs.ndim == 2 and replay.inputs.shape[1] == 2,
        metric_name=metric_name,
        probability_histograms=binary,
        loss_histogram=replay.reader.has("losses"),
    )


def build_dashboard(replay, *, layer_name: str | None = None, metric_name: str | None = None,
                    epoch_start: int | None = None, epoch_end: int | None = None):
    """Build the standard dashboard figure.

    Returns
    -------
    fig, visuals
        The figure and the visuals, ready for ``compose_plots`` or
        ``compose_animations``.
    """
    import matplotlib.pyplot as plt

    plan = plan_dashboard(replay, layer_name=layer_name, metric_name=metric_name)
    span = {"epoch_start": epoch_start, "epoch_end": epoch_end}
    top = [kind for kind, ok in (("space", plan.layer_name is not None or plan.decision_boundary),
                                 ("curves", plan.metric_name is not None)) if ok]
    bottom = [kind for kind, ok in (("negative", plan.probability_histograms), ("positive", plan.probability_histograms),
                                    ("losses", plan.loss_histogram)) if ok]
    if not top and not bottom:
        raise ValueError("this recording has no data any dashboard visual can show (record predictions or losses).")
    rows = [row for row in (top, bottom) if row]
    fig = plt.figure(figsize=(13, 4.2 * len(rows)), layout="constrained")
    grid = fig.add_gridspec(len(rows), 6, height_ratios=(1.25, 1)[:len(rows)] if len(rows) > 1 else None)
    axes = {}
    for r, row in enumerate(rows):
        width = 6 // len(row)
        for c, kind in enumerate(row):
            axes[kind] = fig.add_subplot(grid[r, c * width:(c + 1) * width])
    visuals = []
    if plan.layer_name is not None:
        visuals.append(replay.build_feature_space(axes["space"], plan.layer_name, **span))
    elif plan.decision_boundary:
        visuals.append(replay.build_decision_boundary(axes["space"], **span))
    if plan.metric_name is not None:
        visuals.append(replay.build_loss_and_metric(axes["curves"], plan.metric_name, **span))
    if plan.probability_histograms:
        visuals.append(replay.build_probability_histogram(axes["negative"], axes["positive"], **span))
    if plan.loss_histogram:
        visuals.append(replay.build_loss_histogram(axes["losses"], **span))
    return fig, visuals
