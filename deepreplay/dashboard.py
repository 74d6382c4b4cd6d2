"""The standard dashboard: the visuals that apply to a recording, in one figure.

Used by the canonical demo and by ``deepreplay render``.  Which visuals:

* a plane of the model: the feature space of a hidden layer (the one asked
  for; else the last 2-unit hidden layer, drawn exactly), else the decision
  boundary for a classifier with 2-D inputs, else the feature space of the
  last wider hidden layer on its fixed PCA plane, else (a classifier with
  tabular inputs and no recorded hidden layers) the decision boundary on a
  slice of the inputs' PCA plane;
* loss and metric curves;
* probability histograms for classifiers with probability (or logit)
  outputs: negative and positive cases for binary models, own class and
  other classes for multiclass models; for a hinge loss (``hinge``,
  ``squared_hinge``, ``categorical_hinge``), the same histograms of the raw
  scores (binary: positive above 0);
* the per-sample loss histogram (any loss);
* optionally the cross-entropy view (classifiers);
* the confusion matrix (row-normalised) of multiclass models;
* for convolutional models, the feature maps of the first convolution layer
  (one probe sample per class) and its filters;
* for models with layers other than Dense (convolution, recurrent,
  attention, embedding, normalisation), the distributions of the layers'
  outputs (or weights, when outputs were not recorded).

Regressions get the feature space (points and output on a colour scale), the
curves and the loss histogram.  What the dashboard leaves out that the
recording's kind of model could have shown is listed, with the reason, in
:attr:`DashboardPlan.skipped`; :func:`build_dashboard` says it once, as one
:class:`DashboardNote` warning (``deepreplay render`` prints it), never as a
traceback: a visual that fails to build on a model it cannot draw is left out
and named there too.  A curve that reads otherwise than it looks (Keras'
binary accuracy on a hinge loss's -1/1 targets, which never counts a -1 as
right, or on logits, thresholded at 0.5 instead of 0) is noted in :attr:`DashboardPlan.notes`, said in the same warning and
written under the figure.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from . import compute, storage

__all__ = ["DashboardNote", "DashboardPlan", "build_dashboard", "plan_dashboard", "two_unit_layers", "wide_layers"]


class DashboardNote(UserWarning):
    """What the standard dashboard left out of a recording, and why (one warning per dashboard)."""


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
    confusion_matrix: bool = False     # multiclass: the row-normalised confusion matrix
    feature_maps: str | None = None    # convolutional: feature maps of this layer
    filters: str | None = None         # convolutional: kernels of this layer
    distributions: str | None = None   # 'activations' or 'weights': per-layer distributions (non-Dense models)
    distribution_layers: tuple[str, ...] | None = None  # the layers of those distributions (None: every layer)
    display_grid: bool = True          # grid lines of the feature space (False: the model cannot be rebuilt)
    display_regions: bool | None = None  # regions of the feature space (None: its default; False: cannot be drawn)
    skipped: tuple[str, ...] = ()      # one line per visual left out, and why
    notes: tuple[str, ...] = ()        # one line per thing drawn that reads otherwise than it looks, and why


#: Resolution of the dashboard figure, and of its saved frames by default (1300 pixels wide).
DASHBOARD_DPI = 100

def _task(replay) -> tuple[compute.Task, bool]:
    from .plot.common import model_task

    return model_task(replay)


def _shown_loss_name(replay) -> str:
    from .plot.common import shown_loss_name

    return shown_loss_name(replay)


def _is_binary(replay) -> bool:
    return replay.reader.has("predictions") and _task(replay)[0].kind == "binary"


def _hidden_widths(replay) -> dict[str, int]:
    """Hidden layers (output layer left out) with recorded activations, and their width."""
    return {name: int(np.prod(shape)) for name, shape in _per_sample_shapes(replay, skip_outputs=False).items()}


def two_unit_layers(replay) -> list[str]:
    """Hidden layers (output layer left out) whose recorded activations have 2 units."""
    return [name for name, width in _hidden_widths(replay).items() if width == 2]


def wide_layers(replay) -> list[str]:
    """Hidden layers whose recorded activations have more than 2 values (drawn through a PCA plane)."""
    return [name for name, width in _hidden_widths(replay).items() if width > 2]


def _probability_outputs(replay, task: compute.Task, from_logits: bool) -> bool:
    """Whether the recorded outputs are (or, from logits, give) class probabilities."""
    if not (task.is_classification and replay.reader.has("predictions")) or task.scores:
        return False
    predictions = np.asarray(replay.predictions_at(int(replay.epochs[0])))
    return compute.are_probabilities(compute.class_probabilities(predictions, task.n_classes, from_logits=from_logits))


#: Layer kinds of plain Dense networks; a model with any other kind gets the layer distributions.
DENSE_KINDS = frozenset({"InputLayer", "Dense", "Dropout", "Activation"})
#: Layer kinds whose output, in inference mode (how every output is recorded), is their input: their
#: feature space would repeat the layer before them under another name, so it is not chosen by default.
INFERENCE_IDENTITY_KINDS = frozenset({"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
                                      "AlphaDropout", "GaussianDropout", "GaussianNoise", "ActivityRegularization",
                                      "Identity"})


def _layer_kinds(replay) -> dict[str, str]:
    """``{layer name: class name}``, from the recording (else the rebuilt model; {} when neither has them)."""
    return replay.layer_kinds


def _has_layer_graph(replay) -> bool:
    from .layer_tree import has_layer_graph

    return has_layer_graph(replay.model)


def model_problem(replay) -> str | None:
    """Why the recording's model cannot be rebuilt here, with the way out; None when it can.

    The visuals that compute on the model (grid lines and regions of the
    feature space, the decision boundary) need it; the others draw recorded
    data only.
    """
    try:
        replay.model
    except Exception as exc:  # noqa: BLE001 - any reason is said, none raised
        missing = replay.missing_custom_objects()
        if missing:
            return (f"it needs the custom objects {missing} (not found here): import the module defining them "
                    "first ('deepreplay render --import MODULE'; in Python, import it or pass "
                    "Replay(..., custom_objects=...))")
        return str(exc).rstrip(".")
    return None


def _hidden_shapes(replay) -> dict[str, tuple[int, ...]]:
    """Per-sample output shapes of the hidden layers (output layer left out) with recorded activations."""
    return _per_sample_shapes(replay, skip_outputs=True)


def _per_sample_shapes(replay, *, skip_outputs: bool) -> dict[str, tuple[int, ...]]:
    """Per-sample output shapes of the hidden layers with recorded activations (``skip_outputs``: and not an
    output of a model with several); a layer whose output has no sample axis (a positional embedding) has none."""
    from .plot.common import layer_width

    epoch = int(replay.epochs[0])
    # The last layer is the output; a model with several outputs leaves every output layer out.
    outputs = set(replay.output_names) if skip_outputs and len(replay.output_names) > 1 else set()
    shapes = {}
    for name in replay.reader.output_layers("activations")[:-1]:
        if name not in outputs:
            try:
                shapes[name] = layer_width(replay, name, epoch)
            except ValueError:
                continue
    return shapes


def _conv_plan(replay, kinds: dict[str, str], skipped: list[str]) -> tuple[str | None, str | None]:
    """``(feature-map layer, filters layer)`` of a convolutional model (None where it does not apply)."""
    from .plot.feature_maps import conv_layers, image_layers

    if not any("Conv" in kind for kind in kinds.values()):
        return None, None
    maps = image_layers(replay)
    recorded = set(replay.reader.output_layers("activations"))
    conv_recorded = sorted({kind for name, kind in kinds.items() if "Conv" in kind and name in recorded})
    if not maps and conv_recorded:  # e.g. Conv3D: volumes per sample, not images
        skipped.append(f"feature maps: the outputs of {', '.join(conv_recorded)} layers are not images (the "
                       "feature-map visual draws 1-D and 2-D maps with channels)")
    elif not maps and "activations" not in replay.reader.quantities:
        skipped.append("feature maps: the outputs of the convolution layers were not recorded "
                       "(ReplayData(record=...) without 'activations')")
    elif not maps:  # recorded, but not theirs: the probe skips a layer with no single output per call
        unrecorded = sorted(name for name, kind in kinds.items() if "Conv" in kind and name not in recorded)
        skipped.append(f"feature maps: the outputs of {', '.join(map(repr, unrecorded))} were not recorded (layers called "
                       "more than once per call of the model, such as a shared layer, or outside its graph have no "
                       "single output; their weights are recorded)")
    convs = conv_layers(replay)  # the kernels it can draw (not those of separable convolutions)
    weights = replay.reader.has("weights")
    if not convs:
        kinds_seen = sorted({kind for kind in kinds.values() if "Conv" in kind})
        skipped.append(f"filters: the kernels of {', '.join(kinds_seen)} layers are not drawn (the filters visual "
                       "draws Conv1D, Conv2D, DepthwiseConv and transposed convolutions)")
    elif not weights:
        skipped.append("filters: the weights were not recorded (ReplayData(record=...) without 'weights')")
    return (maps[0] if maps else None), (convs[0] if convs and weights else None)


#: At most this many layers in the dashboard's layer distributions (one violin each: more would not be read).
MAX_DISTRIBUTION_LAYERS = 8


def integer_inputs(replay) -> bool:
    """Whether the recorded inputs are integers (ids, such as an Embedding's tokens), every input array."""
    from . import structure

    return all(np.asarray(a).dtype.kind in "biu" for a in structure.leaves(replay.inputs))


def _distributions_plan(replay, kinds: dict[str, str],
                        skipped: list[str]) -> tuple[str | None, tuple[str, ...] | None]:
    """``('activations' (else 'weights'), layers)`` for models with layers other than Dense; ``(None, None)``
    for Dense networks.  ``layers`` is None for every layer, or :data:`MAX_DISTRIBUTION_LAYERS` of them
    evenly spaced (the first and last kept) for a deeper model, which ``skipped`` then says."""
    from . import diagnostics

    if not kinds or set(kinds.values()) <= DENSE_KINDS:
        return None, None
    for quantity in ("activations", "weights"):
        try:
            layers = diagnostics.select_layers(replay, quantity)
        except ValueError:
            continue
        if not layers:
            continue
        if quantity == "activations" and integer_inputs(replay):
            skipped.append("the inputs in the layer distributions: they are integer ids (an Embedding's tokens), "
                           "not values on the layers' scale")
        if len(layers) <= MAX_DISTRIBUTION_LAYERS:
            return quantity, None
        picked = tuple(layers[int(i)] for i in np.linspace(0, len(layers) - 1, MAX_DISTRIBUTION_LAYERS).round())
        build = "build_outputs" if quantity == "activations" else "build_weights"
        skipped.append(f"layer distributions of {len(layers) - len(picked)} of the {len(layers)} layers: "
                       f"{len(picked)} evenly spaced ones are drawn (replay.{build}(ax, layer_names=[...]) draws "
                       "the others)")
        return quantity, picked
    return None, None


def plan_dashboard(replay, *, layer_name: str | None = None, metric_name: str | None = None,
                   cross_entropy: bool = False) -> DashboardPlan:
    """Decide which visuals apply to ``replay``.

    Parameters
    ----------
    replay : Replay
    layer_name : str, optional
        Feature space of this hidden layer (at least 2 units).
    metric_name : str, optional
        Metric next to the loss (default: accuracy, else the first recorded;
        on a hinge or logit classifier, one that counts as its histograms when recorded).
    cross_entropy : bool, default False
        Add the cross-entropy view (classifiers only; ignored otherwise).

    Returns
    -------
    DashboardPlan
        Its ``skipped`` lists, one line each, the visuals this kind of model
        could have had that the recording cannot show, and why; its
        ``notes``, what a drawn visual shows otherwise than it looks (the
        metric curve of a hinge or logit classifier, see above).

    Raises
    ------
    ValueError
        ``layer_name`` or ``metric_name`` given but not usable.
    """
    if not isinstance(cross_entropy, (bool, np.bool_)):
        raise TypeError(f"cross_entropy={cross_entropy!r} must be True or False.")
    skipped: list[str] = []
    task, from_logits = _task(replay)
    probabilities = _probability_outputs(replay, task, from_logits)
    # A hinge classifier's histograms show its raw scores (no probabilities: no cross-entropy view).
    histograms = probabilities or (task.scores and replay.reader.has("predictions"))
    target_shape = tuple(np.shape(replay.targets)[1:])
    if task.multilabel:
        skipped.append(f"probability histograms and confusion matrix: the targets are multi-label ({task.n_outputs} "
                       "0/1 labels, several 1s in a row), and both visuals need one class per sample; the "
                       "feature space colours the samples by the first label")
    elif not task.is_classification and "crossentropy" in _shown_loss_name(replay) and int(np.prod(target_shape)) > 1:
        values = np.asarray(replay.targets, dtype=np.float64)
        per_position = len(target_shape) >= 2 or bool(np.all(values == np.rint(values)))
        skipped.append(f"probability histograms and confusion matrix: each sample's target has shape {target_shape} "
                       + ("(a class per time step or pixel)" if per_position else
                          "and is not a 0/1 or one-hot row (soft labels)")
                       + ", and both visuals need one class per sample")
    if cross_entropy and task.scores:
        skipped.append(f"cross-entropy view: the model is trained with a hinge loss ({_shown_loss_name(replay)!r}), "
                       "so its outputs are raw scores, not probabilities (the histograms show those scores)")
    if task.is_classification and replay.reader.has("predictions") and not histograms:
        skipped.append("probability histograms: the outputs are not probabilities (no sigmoid or softmax output, "
                       "and the loss is not compiled with from_logits=True)")
    shapes = _hidden_shapes(replay)
    kinds = _layer_kinds(replay)  # {} for a recording that predates them (said below)
    several_inputs = bool(getattr(replay, "several_inputs", False))
    if several_inputs:
        shapes = {}  # the feature space draws one input array (and its grid); said below
    if len(replay.output_names) > 1 and replay.output is None:
        skipped.append(f"outputs other than {replay.output_names[0]!r}: the visuals show the first output "
                       "(Replay(..., output=...) chooses another); the loss is the weighted total")
    widths = {name: int(np.prod(shape)) for name, shape in shapes.items()}
    problem = model_problem(replay)
    needs_model: list[str] = []  # visuals left out (or drawn in part) because the model cannot be rebuilt
    inputs = replay.inputs
    tabular = isinstance(inputs, np.ndarray) and inputs.ndim == 2
    n_inputs = int(inputs.shape[1]) if tabular else 0
    decision_boundary = False
    if layer_name is not None:
        candidates = [name for name, width in widths.items() if width >= 2]
        if layer_name not in candidates:
            recorded = replay.reader.output_layers("activations")
            if layer_name in replay.layer_names and layer_name not in recorded and \
                    "activations" in replay.reader.quantities:
                why = ("its outputs were not recorded (layers called more than once per call of the model, such "
                       "as a shared layer, or outside its graph have no single output)")
            elif several_inputs:
                why = ("the model has several inputs, and the feature space draws the samples of one input array "
                       f"(replay.outputs_at(epoch, {layer_name!r}) gives the layer's outputs)")
            else:
                why = f"hidden layers with at least 2 units and recorded activations: {candidates or 'none'}"
            raise ValueError(f"layer_name={layer_name!r} cannot be drawn as a feature space; {why}.")
    else:
        # Automatic choice among layers giving one vector per sample (Dense-like): the feature
        # space of a flattened image or sequence says little.
        vectors = [name for name, shape in shapes.items() if len(shape) == 1]
        # A Dropout (or noise) layer's outputs are its input's at inference: the layer before it is drawn.
        vectors = [name for name in vectors if kinds.get(name) not in INFERENCE_IDENTITY_KINDS] or vectors
        two = [name for name in vectors if widths[name] == 2]
        wide = [name for name in vectors if widths[name] > 2]
        boundary = task.is_classification and n_inputs >= 2
        if boundary and problem is not None and not (two or wide):
            needs_model.append("decision boundary")
            boundary = False
        if two:
            layer_name = two[-1]
        elif boundary and n_inputs == 2:
            decision_boundary = True
        elif wide:
            layer_name = wide[-1]
        elif boundary:
            decision_boundary = True
        elif needs_model:
            pass
        elif several_inputs:
            skipped.append("feature space and decision boundary: the model has several inputs, and both visuals "
                           "draw the samples of one input array (a hidden layer's outputs are still in "
                           "replay.outputs_at)")
        elif task.is_classification:
            shape = tuple(inputs.shape[1:]) if isinstance(inputs, np.ndarray) else "several arrays"
            skipped.append(f"feature space and decision boundary: no hidden layer with one vector of 2 or more "
                           f"values per sample was recorded, and the inputs (per sample: {shape}) are not a table "
                           "of numbers to slice")
        elif shapes:
            skipped.append("feature space: no hidden layer with one vector of 2 or more values per sample "
                           "was recorded")
    projected = (layer_name is not None and widths[layer_name] != 2) or (decision_boundary and n_inputs != 2)
    metrics = replay.metric_names
    shown = replay.output or replay.output_names[0]
    if metric_name is not None and metric_name not in metrics and f"{shown}_{metric_name}" in metrics:
        metric_name = f"{shown}_{metric_name}"  # a several-output model's metrics are named per output
    if metric_name is not None and metric_name not in metrics:
        raise ValueError(f"metric_name={metric_name!r} was not recorded; recorded metrics: {metrics or 'none'}.")
    misread: dict[str, float] = {}
    if task.n_outputs == 1 and not task.multilabel and replay.reader.has("predictions"):
        from .metrics import misread_binary_accuracies

        misread = misread_binary_accuracies(replay.reader.model_config, shown, list(replay.output_names),
                                            replay.metric_names, replay.targets,
                                            split_at_zero=task.kind == "binary" and (task.scores or from_logits))
    if metric_name is None and metrics:
        # Several outputs: their metrics are recorded per output ("cls_accuracy"); take the shown output's.
        own = [m for m in metrics if m.startswith(f"{shown}_")] if len(replay.output_names) > 1 else []
        candidates = own or metrics
        # A curve that reads as it looks first (not an accuracy that misreads a hinge loss's or logits' classes).
        candidates = [m for m in candidates if m not in misread] or candidates
        accuracy = [m for m in candidates if m in ("accuracy", f"{shown}_accuracy")]
        metric_name = accuracy[0] if accuracy else candidates[0]
    from .losses import binary_crossentropy_misfit

    notes = [misfit] if (misfit := binary_crossentropy_misfit(replay.targets, _shown_loss_name(replay))) else []
    if metric_name in misread and not notes:  # (targets a cross-entropy cannot take: said above, the cause)
        from .metrics import binary_accuracy_note

        split = "hinge" if task.scores else "logits" if from_logits else "probability"
        notes.append(binary_accuracy_note(metric_name, misread[metric_name], replay.targets, split=split))
    display_grid, display_regions = True, None
    if layer_name is not None and problem is not None:
        display_grid, display_regions = False, False
        if widths[layer_name] == 2 or n_inputs == 2:  # what the model would have added
            needs_model.insert(0, f"the grid lines and regions of the feature space of {layer_name!r} "
                                  "(its points are drawn)")
    elif layer_name is not None and not _has_layer_graph(replay):
        display_regions = False
        if widths[layer_name] == 2:  # a subclassed model: regions when the layers it calls after this one
            try:                     # verifiably give its outputs (see Replay.tail_function)
                replay.tail_function(layer_name)
                display_regions = None
            except ValueError:
                skipped.append(f"the regions of the feature space of {layer_name!r}: the model is subclassed (no "
                               "layer graph), and the layers it calls after this one, applied to its outputs, do "
                               "not give the model's outputs on the recorded samples (tail not verified), so what "
                               "the rest of the network makes of its outputs cannot be computed alone")
    elif layer_name is not None:  # a model with a layer graph
        try:  # the layers after it (inside a nested model and around it) must form a chain
            replay.tail_function(layer_name)
        except ValueError:
            display_regions = False
            if widths[layer_name] == 2:
                container = layer_name.split(storage.NESTED_LAYER_SEPARATOR)[0]
                if storage.NESTED_LAYER_SEPARATOR in layer_name:
                    why = f"the layers after it (inside {container!r} and after it) do not form a chain of layers"
                else:
                    why = "what follows it in the model is not a chain of layers (an operation or a branch between them)"
                skipped.append(f"the regions of the feature space of {layer_name!r}: {why}, so what they make of "
                               "its outputs cannot be computed alone (its points and grid lines are drawn)")
    if not kinds:
        needs_model.append("feature maps, filters and layer distributions (this recording predates the "
                           "recorded layer kinds)")
    if needs_model:
        skipped.append(f"{'; '.join(needs_model)}: they need the rebuilt model, and {problem}")
    feature_maps, filters = _conv_plan(replay, kinds, skipped) if kinds else (None, None)
    loss_histogram = replay.reader.has("losses")
    if not loss_histogram:
        skipped.append("loss histogram: the per-sample losses were not recorded")
    distributions, distribution_layers = _distributions_plan(replay, kinds, skipped)
    return DashboardPlan(
        layer_name=layer_name,
        decision_boundary=decision_boundary,
        metric_name=metric_name,
        probability_histograms=histograms,
        loss_histogram=loss_histogram,
        cross_entropy=bool(cross_entropy) and probabilities,
        task=task.kind,
        projected=projected,
        confusion_matrix=task.kind == "multiclass" and replay.reader.has("predictions"),
        feature_maps=feature_maps,
        filters=filters,
        distributions=distributions,
        distribution_layers=distribution_layers,
        display_grid=display_grid,
        display_regions=display_regions,
        skipped=tuple(skipped),
        notes=tuple(notes),
    )


#: Relative widths of the panels in their row (the feature maps need room for their grid).
_PANEL_WEIGHTS = {"confusion": 1.0, "maps": 1.3, "filters": 0.8}
_ROW_HEIGHTS = {0: 1.25, 1: 1.0, 2: 1.3}


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

    Warns
    -----
    DashboardNote
        Once, listing what was left out and why (see :func:`plan_dashboard`),
        including a visual that could not be built on this model (its panel
        is removed; no exception escapes for it).
    """
    import matplotlib.pyplot as plt

    plan = plan_dashboard(replay, layer_name=layer_name, metric_name=metric_name, cross_entropy=cross_entropy)
    span = {"epoch_start": epoch_start, "epoch_end": epoch_end}
    rows = [
        [kind for kind, ok in (("space", plan.layer_name is not None or plan.decision_boundary),
                               ("curves", True),  # the loss always; the metric when one was compiled
                               ("cross_entropy", plan.cross_entropy)) if ok],
        [kind for kind, ok in (("negative", plan.probability_histograms),
                               ("positive", plan.probability_histograms),
                               ("losses", plan.loss_histogram),
                               ("distributions", plan.distributions is not None)) if ok],
        [kind for kind, ok in (("confusion", plan.confusion_matrix),
                               ("maps", plan.feature_maps is not None),
                               ("filters", plan.filters is not None)) if ok],
    ]
    heights = [_ROW_HEIGHTS[r] for r, row in enumerate(rows) if row]
    rows = [row for row in rows if row]
    if sum(len(row) for row in rows) <= 3:
        rows, heights = [[kind for row in rows for kind in row]], [1.0]
    height = 4.2 * len(rows) + (2.0 if any("maps" in row for row in rows) else 0.0)
    # 13 inches at 100 dpi: 1300 pixels wide, text readable on a projector (ticks ~14 px tall).
    fig = plt.figure(figsize=(13, height + (0.3 if plan.projected else 0.0)), dpi=DASHBOARD_DPI,
                     layout="constrained")
    grid = fig.add_gridspec(len(rows), 1, height_ratios=heights if len(rows) > 1 else None)
    axes = {}
    for r, row in enumerate(rows):
        # Each row has its own columns: a colour bar beside a panel (a regression's values, many classes)
        # widens only its own row's column; on columns shared by rows whose panels span different numbers
        # of them, it fell inside a panel of another row, and the constrained layout collapsed.
        sub = grid[r, :].subgridspec(1, len(row), width_ratios=[_PANEL_WEIGHTS.get(k, 1) for k in row])
        for c, kind in enumerate(row):
            axes[kind] = fig.add_subplot(sub[0, c])
    builders = []
    if plan.layer_name is not None:
        plane = {"display_grid": plan.display_grid, "display_regions": plan.display_regions}
        builders.append(("space", f"feature space of {plan.layer_name!r}",
                         lambda ax: replay.build_feature_space(ax, plan.layer_name, **plane, **span)))
    elif plan.decision_boundary:
        builders.append(("space", "decision boundary", lambda ax: replay.build_decision_boundary(ax, **span)))
    builders.append(("curves", "loss and metric",
                     lambda ax: replay.build_loss_and_metric(ax, plan.metric_name, **span)))
    if plan.cross_entropy:
        builders.append(("cross_entropy", "cross-entropy view", lambda ax: replay.build_cross_entropy(ax, **span)))
    if plan.probability_histograms:
        builders.append(("negative", "probability histograms", lambda ax: replay.build_probability_histogram(
            ax, axes["positive"], **span)))
    if plan.loss_histogram:
        builders.append(("losses", "loss histogram", lambda ax: replay.build_loss_histogram(ax, **span)))
    if plan.distributions == "activations":
        # Integer inputs are ids (of tokens, for an Embedding), not values on the layers' scale: drawn with
        # the layers, their range (0 to the vocabulary size) flattened every layer's violin.
        builders.append(("distributions", "layer distributions (activations)",
                         lambda ax: replay.build_outputs(ax, layer_names=plan.distribution_layers and
                                                         list(plan.distribution_layers),
                                                         include_inputs=not integer_inputs(replay), **span)))
    elif plan.distributions is not None:
        builders.append(("distributions", f"layer distributions ({plan.distributions})",
                         lambda ax: replay.build_weights(ax, layer_names=plan.distribution_layers and
                                                         list(plan.distribution_layers), **span)))
    if plan.confusion_matrix:
        builders.append(("confusion", "confusion matrix",
                         lambda ax: replay.build_confusion_matrix(ax, normalize=True, **span)))
    if plan.feature_maps is not None:
        builders.append(("maps", f"feature maps of {plan.feature_maps!r}",
                         lambda ax: replay.build_feature_maps(ax, plan.feature_maps, **span)))
    if plan.filters is not None:
        builders.append(("filters", f"filters of {plan.filters!r}",
                         lambda ax: replay.build_filters(ax, plan.filters, **span)))
    visuals, skipped = [], list(plan.skipped)
    for kind, name, builder in builders:
        try:
            visuals.append(builder(axes[kind]))
        except Exception as exc:  # never a traceback for a model a visual cannot draw: say so once, below
            skipped.append(f"{name}: could not be drawn on this model ({type(exc).__name__}: {exc})")
            for key in ((kind, "positive") if kind == "negative" else (kind,)):
                fig.delaxes(axes.pop(key))
    if not visuals:
        plt.close(fig)
        raise ValueError("this recording has no data any dashboard visual can show (record predictions or "
                         "losses); " + "; ".join(skipped))
    if skipped or plan.notes:
        said = f"the dashboard of {replay.group_name!r}" + (f" leaves out: {'; '.join(skipped)}" if skipped else "")
        said += "".join(f". Note: {note}" if skipped or i else f": {note}" for i, note in enumerate(plan.notes))
        warnings.warn(DashboardNote(said + "."), stacklevel=2)
    if plan.notes:  # what a drawn curve means goes with the picture too, under it
        _note_under(fig, list(plan.notes))
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

    Warns
    -----
    DashboardNote
        Once, with the notes of :func:`plan_dashboard` on the overlaid
        curves (also written under the figure).
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
    fig = plt.figure(figsize=(max(5.0 * n, 13), 4.4 * rows), dpi=DASHBOARD_DPI, layout="constrained")
    grid = fig.add_gridspec(rows, n)
    span = {"epoch_start": epoch_start, "epoch_end": epoch_end}
    visuals = []
    for i, (replay, plan) in enumerate(zip(replays, plans)):
        if not has_space[i]:
            continue
        ax = fig.add_subplot(grid[0, i])
        # Short titles: the run's name goes before them.
        if plan.layer_name is not None:
            plane = {"display_grid": plan.display_grid, "display_regions": plan.display_regions}
            visuals.append(replay.build_feature_space(ax, plan.layer_name, title=f"layer {plan.layer_name}",
                                                      **plane, **span))
        else:
            visuals.append(replay.build_decision_boundary(ax, title="decision boundary", **span))
    visuals.append(compare_loss_and_metric(fig.add_subplot(grid[rows - 1, :]), replays, metric, **span))
    notes = [f"run {replay.group_name!r}: {note}" for replay, plan in zip(replays, plans)
             for note in plan.notes if plan.metric_name == metric]  # on the curves drawn
    if notes:
        warnings.warn(DashboardNote("the comparison notes: " + "; ".join(notes) + "."), stacklevel=2)
        _note_under(fig, notes)
    return fig, visuals


def _note_under(fig, notes: list[str]) -> None:
    """Write ``notes`` under the figure, one paragraph each."""
    import textwrap

    # Lines of at most ~170 characters: at 9 points they keep a margin on the 13-inch figure.
    fig.supxlabel("\n".join(textwrap.fill(f"Note: {n}.", 170) for n in notes), fontsize=9, color="0.3")
