"""The standard dashboard: the visuals that apply to a recording, in one figure.

Used by the canonical demo and by ``deepreplay render``.  Which visuals:

* a plane of the model: the feature space of a hidden layer (the one asked
  for; else the last 2-unit hidden layer, drawn exactly), else the decision
  boundary for a classifier with 2-D inputs, else the feature space of the
  last wider hidden layer on its fixed PCA plane, else (a classifier without
  recorded hidden layers) the decision boundary on a slice of the inputs'
  PCA plane;
* loss and metric curves;
* probability histograms for classifiers with probability (or logit)
  outputs: negative and positive cases for binary models, own class and
  other classes for multiclass models;
* the per-sample loss histogram (any loss);
* optionally the cross-entropy view (classifiers).

Regressions get the feature space (points and output on a colour scale), the
curves and the loss histogram.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import compute


@dataclass(frozen=True)
class DashboardPlan:
    """What the dashboard shows for a recording."""

    layer_name: str | None      # feature space of this layer, or None
    decision_boundary: bool     # decision boundary in the input space (a PCA slice for more than 2 inputs)
    metric_name: str | None     # metric next to the loss
    probability_histograms: bool
    loss_histogram: bool
    cross_entropy: bool = False  # the cross-entropy view
    task: str = "binary"         # 'binary', 'multiclass' or 'regression'
    projected: bool = False      # the plane is a PCA projection (wide layer or inputs with more than 2 values)


def _task(replay) -> tuple[compute.Task, bool]:
    from .plot.common import model_task

    return model_task(replay)


def _is_binary(replay) -> bool:
    return replay.reader.has("predictions") and _task(replay)[0].kind == "binary"


def _hidden_widths(replay) -> dict[str, int]:
    """Hidden layers (output layer left out) with recorded activations, and their width."""
    epoch = int(replay.epochs[0])
    layers = replay.reader.output_layers("activations")
    widths = {}
    for name in layers[:-1]:
        values = replay.outputs_at(epoch, name)
        widths[name] = int(np.prod(values.shape[1:]))
    return widths


def two_unit_layers(replay) -> list[str]:
    """Hidden layers (output layer left out) whose recorded activations have 2 units."""
    return [name for name, width in _hidden_widths(replay).items() if width == 2]


def wide_layers(replay) -> list[str]:
    """Hidden layers whose recorded activations have more than 2 values (drawn through a PCA plane)."""
    return [name for name, width in _hidden_widths(replay).items() if width > 2]


def _probability_outputs(replay, task: compute.Task, from_logits: bool) -> bool:
    """Whether the recorded outputs are (or, from logits, give) class probabilities."""
    if not (task.is_classification and replay.reader.has("predictions")):
        return False
    predictions = np.asarray(replay.predictions_at(int(replay.epochs[0])))
    return compute.are_probabilities(compute.class_probabilities(predictions, task.n_classes, from_logits=from_logits))


def plan_dashboard(replay, *, layer_name: str | None = None, metric_name: str | None = None,
                   cross_entropy: bool = False) -> DashboardPlan:
    """Decide which visuals apply to ``replay``.

    Parameters
    ----------
    replay : Replay
    layer_name : str, optional
        Feature space of this hidden layer (at least 2 units).
    metric_name : str, optional
        Metric next to the loss (default: accuracy, else the first recorded).
    cross_entropy : bool, default False
        Add the cross-entropy view (classifiers only; ignored otherwise).

    Raises
    ------
    ValueError
        ``layer_name`` or ``metric_name`` given but not usable.
    """
    if not isinstance(cross_entropy, (bool, np.bool_)):
        raise TypeError(f"cross_entropy={cross_entropy!r} must be True or False.")
    task, from_logits = _task(replay)
    probabilities = _probability_outputs(replay, task, from_logits)
    widths = _hidden_widths(replay)
    inputs = np.asarray(replay.inputs)
    n_inputs = int(np.prod(inputs.shape[1:]))
    decision_boundary = False
    if layer_name is not None:
        candidates = [name for name, width in widths.items() if width >= 2]
        if layer_name not in candidates:
            raise ValueError(
                f"layer_name={layer_name!r} cannot be drawn as a feature space; hidden layers with at least 2 "
                f"units and recorded activations: {candidates or 'none'}."
            )
    else:
        two, wide = two_unit_layers(replay), wide_layers(replay)
        if two:
            layer_name = two[-1]
        elif task.is_classification and n_inputs == 2:
            decision_boundary = True
        elif wide:
            layer_name = wide[-1]
        elif task.is_classification and n_inputs > 2:
            decision_boundary = True
    projected = (layer_name is not None and widths[layer_name] != 2) or (decision_boundary and n_inputs != 2)
    metrics = replay.metric_names
    if metric_name is not None and metric_name not in metrics:
        raise ValueError(f"metric_name={metric_name!r} was not recorded; recorded metrics: {metrics or 'none'}.")
    if metric_name is None and metrics:
        metric_name = "accuracy" if "accuracy" in metrics else metrics[0]
    return DashboardPlan(
        layer_name=layer_name,
        decision_boundary=decision_boundary,
        metric_name=metric_name,
        probability_histograms=probabilities,
        loss_histogram=replay.reader.has("losses"),
        cross_entropy=bool(cross_entropy) and probabilities,
        task=task.kind,
        projected=projected,
    )


def build_dashboard(replay, *, layer_name: str | None = None, metric_name: str | None = None,
                    epoch_start: int | None = None, epoch_end: int | None = None, cross_entropy: bool = False):
    """Build the standard dashboard figure.

    Parameters
    ----------
    replay : Replay
    layer_name, metric_name, cross_entropy
        See :func:`plan_dashboard`.
    epoch_start, epoch_end : int, optional
        Inclusive epoch range of every visual.

    Returns
    -------
    fig, visuals
        The figure and the visuals, ready for ``compose_plots`` or
        ``compose_animations``.
    """
    import matplotlib.pyplot as plt

    plan = plan_dashboard(replay, layer_name=layer_name, metric_name=metric_name, cross_entropy=cross_entropy)
    span = {"epoch_start": epoch_start, "epoch_end": epoch_end}
    panels = [kind for kind, ok in (("space", plan.layer_name is not None or plan.decision_boundary),
                                    ("curves", True),  # the loss always; the metric when one was compiled
                                    ("cross_entropy", plan.cross_entropy),
                                    ("negative", plan.probability_histograms),
                                    ("positive", plan.probability_histograms),
                                    ("losses", plan.loss_histogram)) if ok]
    if not panels:
        raise ValueError("this recording has no data any dashboard visual can show (record predictions or losses).")
    if len(panels) <= 3:
        rows = [panels]
    else:
        top = [kind for kind in panels if kind in ("space", "curves", "cross_entropy")]
        bottom = [kind for kind in panels if kind not in top]
        rows = [row for row in (top, bottom) if row]
    fig = plt.figure(figsize=(13, 4.2 * len(rows) + (0.3 if plan.projected else 0.0)), layout="constrained")
    grid = fig.add_gridspec(len(rows), 12, height_ratios=(1.25, 1)[:len(rows)] if len(rows) > 1 else None)
    axes = {}
    for r, row in enumerate(rows):
        width = 12 // len(row)
        for c, kind in enumerate(row):
            axes[kind] = fig.add_subplot(grid[r, c * width:(c + 1) * width])
    visuals = []
    if plan.layer_name is not None:
        visuals.append(replay.build_feature_space(axes["space"], plan.layer_name, **span))
    elif plan.decision_boundary:
        visuals.append(replay.build_decision_boundary(axes["space"], **span))
    visuals.append(replay.build_loss_and_metric(axes["curves"], plan.metric_name, **span))
    if plan.cross_entropy:
        visuals.append(replay.build_cross_entropy(axes["cross_entropy"], **span))
    if plan.probability_histograms:
        visuals.append(replay.build_probability_histogram(axes["negative"], axes["positive"], **span))
    if plan.loss_histogram:
        visuals.append(replay.build_loss_histogram(axes["losses"], **span))
    return fig, visuals


def build_comparison(replays, *, layer_name: str | None = None, metric_name: str | None = None,
                     epoch_start: int | None = None, epoch_end: int | None = None):
    """Several runs side by side: each run's plane visual on top, every run's curves overlaid below.

    Used by ``deepreplay compare``.  The top row holds, per run, the visual
    :func:`plan_dashboard` picks for it (feature space of a hidden layer, or
    the decision boundary), titled with the run's name; the bottom row is
    :func:`deepreplay.plot.compare_loss_and_metric` of every run.  Compose
    the visuals with ``compose_animations``: runs recorded with different
    ``every`` step together by epoch.

    Parameters
    ----------
    replays : sequence of Replay
    layer_name, metric_name
        See :func:`plan_dashboard` (applied to every run).
    epoch_start, epoch_end : int, optional
        Inclusive epoch range of every visual.

    Returns
    -------
    fig, visuals
    """
    import matplotlib.pyplot as plt

    from .plot import compare_loss_and_metric

    replays = list(replays)
    if not replays:
        raise ValueError("replays is empty; give at least one recording to compare.")
    plans = [plan_dashboard(r, layer_name=layer_name, metric_name=metric_name) for r in replays]
    metric = plans[0].metric_name if all(p.metric_name == plans[0].metric_name for p in plans) else None
    has_space = [p.layer_name is not None or p.decision_boundary for p in plans]
    n = len(replays)
    rows = 2 if any(has_space) else 1
    fig = plt.figure(figsize=(max(4.2 * n, 8), 4.2 * rows), layout="constrained")
    grid = fig.add_gridspec(rows, n)
    span = {"epoch_start": epoch_start, "epoch_end": epoch_end}
    visuals = []
    for i, (replay, plan) in enumerate(zip(replays, plans)):
        if not has_space[i]:
            continue
        ax = fig.add_subplot(grid[0, i])
        if plan.layer_name is not None:
            visuals.append(replay.build_feature_space(ax, plan.layer_name, **span))
        else:
            visuals.append(replay.build_decision_boundary(ax, **span))
    visuals.append(compare_loss_and_metric(fig.add_subplot(grid[rows - 1, :]), replays, metric, **span))
    return fig, visuals
