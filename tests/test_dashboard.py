"""The standard dashboard picks the visuals a recording can show (binary, multiclass, regression, wide, high-D)."""

import warnings

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest

from deepreplay.callbacks import ReplayData
from deepreplay.dashboard import (
    DashboardPlan,
    build_dashboard,
    plan_dashboard,
    two_unit_layers,
    wide_layers,
)
from deepreplay.plot import compose_plots
from deepreplay.plot.cross_entropy import CrossEntropy
from deepreplay.plot.decision_boundary import DecisionBoundary
from deepreplay.plot.feature_space import FeatureSpace
from deepreplay.plot.loss_and_metric import LossAndMetric
from deepreplay.plot.loss_histogram import LossHistogram
from deepreplay.plot.probability_histogram import (
    MulticlassProbabilityHistogram,
    ProbabilityHistogram,
)
from deepreplay.replay import Replay

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """Initial states (no training) of models of every kind, in one file."""
    filename = str(tmp_path_factory.mktemp("dashboard") / "kinds.h5")
    X2 = RNG.normal(size=(30, 2)).astype(np.float32)
    X6 = RNG.normal(size=(30, 6)).astype(np.float32)

    def record(group, inputs, targets, layers, loss, metrics=("accuracy",)):
        model = keras.Sequential([keras.Input(inputs.shape[1:]), *layers])
        model.compile(optimizer="sgd", loss=loss, metrics=list(metrics))
        ReplayData(inputs, targets, filename, group, model=model)

    dense = keras.layers.Dense
    record("multiclass_2d", X2, np.arange(30) % 3,
           [dense(8, activation="tanh", name="hidden"), dense(3, activation="softmax", name="output")],
           "sparse_categorical_crossentropy")
    record("regression_wide", X6, X6[:, :1] * 2, [dense(5, activation="relu", name="wide"), dense(1, name="output")],
           "mse", metrics=("mae",))
    record("regression_plain", X2, X2[:, :1] * 2, [dense(1, name="output")], "huber", metrics=())
    record("binary_highd_wide", X6, (np.arange(30) % 2).astype(np.float32),
           [dense(4, activation="tanh", name="wide"), dense(1, activation="sigmoid", name="output")],
           "binary_crossentropy")
    record("binary_highd_plain", X6, (np.arange(30) % 2).astype(np.float32),
           [dense(1, activation="sigmoid", name="output")], "binary_crossentropy")
    record("logits", X2, (np.arange(30) % 2).astype(np.float32), [dense(1, name="output")],
           keras.losses.BinaryCrossentropy(from_logits=True))
    return filename


def visual_types(visuals):
    return [type(v) for v in visuals]


def test_binary_two_unit_layer(tiny_recording):
    filename, group, _, _ = tiny_recording
    with Replay(filename, group) as replay:
        assert two_unit_layers(replay) == ["hidden"] and wide_layers(replay) == []
        plan = plan_dashboard(replay)
        assert plan == DashboardPlan(layer_name="hidden", decision_boundary=False, metric_name="accuracy",
                                     probability_histograms=True, loss_histogram=True, cross_entropy=False,
                                     task="binary", projected=False)
        _fig, visuals = build_dashboard(replay, epoch_end=1)
        assert visual_types(visuals) == [FeatureSpace, LossAndMetric, ProbabilityHistogram, LossHistogram]
        _fig, visuals = build_dashboard(replay, cross_entropy=True, epoch_end=1)
        assert visual_types(visuals) == [FeatureSpace, LossAndMetric, CrossEntropy, ProbabilityHistogram,
                                         LossHistogram]
        compose_plots(visuals, 1)
        # the three visuals of the plane and curves share the top row, the histograms the bottom one
        tops = [round(v.axes[0].get_position().y0, 2) for v in visuals]
        assert tops[0] == tops[1] == tops[2] and tops[3] == tops[4] < tops[0]


def test_multiclass_with_2d_inputs_gets_the_decision_boundary(recordings):
    with Replay(recordings, "multiclass_2d") as replay:
        plan = plan_dashboard(replay, cross_entropy=True)
        assert (plan.task, plan.layer_name, plan.decision_boundary, plan.projected) == ("multiclass", None, True,
                                                                                         False)
        assert plan.probability_histograms and plan.cross_entropy
        _fig, visuals = build_dashboard(replay, cross_entropy=True)
        from deepreplay.plot.confusion_matrix import ConfusionMatrix

        assert plan.confusion_matrix  # multiclass: the row-normalised confusion matrix too
        assert visual_types(visuals) == [DecisionBoundary, LossAndMetric, CrossEntropy,
                                         MulticlassProbabilityHistogram, LossHistogram, ConfusionMatrix]
        # A wide layer asked for by name is drawn through its projection.
        plan = plan_dashboard(replay, layer_name="hidden")
        assert plan.layer_name == "hidden" and plan.projected


def test_regression_gets_feature_space_curves_and_losses_only(recordings):
    with Replay(recordings, "regression_wide") as replay:
        plan = plan_dashboard(replay, cross_entropy=True)
        assert (plan.task, plan.layer_name, plan.projected, plan.metric_name) == ("regression", "wide", True, "mae")
        assert not (plan.decision_boundary or plan.probability_histograms or plan.cross_entropy)
        _fig, visuals = build_dashboard(replay)
        assert visual_types(visuals) == [FeatureSpace, LossAndMetric, LossHistogram]
        compose_plots(visuals, 0)
        rows = {round(v.axes[0].get_position().y0, 2) for v in visuals}
        assert len(rows) == 1  # three visuals: one row
    with Replay(recordings, "regression_plain") as replay:
        plan = plan_dashboard(replay)
        assert (plan.layer_name, plan.decision_boundary, plan.metric_name) == (None, False, None)
        _fig, visuals = build_dashboard(replay)
        # no metric compiled: the loss curve is still drawn, alone
        assert visual_types(visuals) == [LossAndMetric, LossHistogram]
        assert visuals[0].data.metric is None


def test_high_dimensional_classifier(recordings):
    with Replay(recordings, "binary_highd_wide") as replay:
        plan = plan_dashboard(replay)
        assert (plan.layer_name, plan.decision_boundary, plan.projected) == ("wide", False, True)
    with Replay(recordings, "binary_highd_plain") as replay:
        plan = plan_dashboard(replay)
        assert (plan.layer_name, plan.decision_boundary, plan.projected) == (None, True, True)
        _fig, visuals = build_dashboard(replay)
        assert visuals[0].data.is_slice


def test_logit_outputs_get_probability_histograms(recordings):
    with Replay(recordings, "logits") as replay:
        plan = plan_dashboard(replay, cross_entropy=True)
        assert plan.probability_histograms and plan.cross_entropy and plan.decision_boundary


def test_bad_arguments(recordings, tiny_recording):
    filename, group, _, _ = tiny_recording
    with Replay(filename, group) as replay:
        with pytest.raises(ValueError, match=r"layer_name='output' cannot be drawn.*\['hidden'\]"):
            plan_dashboard(replay, layer_name="output")
        with pytest.raises(ValueError, match=r"metric_name='auc' was not recorded.*\['accuracy'\]"):
            plan_dashboard(replay, metric_name="auc")
        with pytest.raises(TypeError, match="cross_entropy='yes' must be True or False"):
            plan_dashboard(replay, cross_entropy="yes")
    plt.close("all")


# -- models beyond Dense: convolutional, recurrent, attention; what is skipped is said once -------------------
def test_convolutional_classifier_gets_confusion_matrix_feature_maps_filters_and_distributions(digits_cnn_recording):
    import warnings

    from deepreplay.dashboard import DashboardNote
    from deepreplay.plot.confusion_matrix import ConfusionMatrix
    from deepreplay.plot.feature_maps import FeatureMaps, Filters
    from deepreplay.plot.layer_distributions import LayerDistributions

    filename, group, _, _ = digits_cnn_recording
    with Replay(filename, group) as replay:
        plan = plan_dashboard(replay)
        assert (plan.task, plan.layer_name, plan.confusion_matrix, plan.feature_maps, plan.filters,
                plan.distributions, plan.skipped) == ("multiclass", "dense", True, "conv", "conv", "activations", ())
        with warnings.catch_warnings():
            warnings.simplefilter("error", DashboardNote)  # nothing skipped: nothing said
            fig, visuals = build_dashboard(replay)
        assert visual_types(visuals) == [FeatureSpace, LossAndMetric, MulticlassProbabilityHistogram, LossHistogram,
                                         LayerDistributions, ConfusionMatrix, FeatureMaps, Filters]
        assert visuals[5].data.normalize
        compose_plots(visuals, 1)
        rows = [v.axes[0].get_subplotspec().get_topmost_subplotspec().rowspan.start for v in visuals]
        assert rows == [0, 0, 1, 1, 1, 2, 2, 2]  # plane and curves; histograms and distributions; conv visuals


def test_what_cannot_be_drawn_is_said_once_in_words(tmp_path):
    """A CNN recorded without activations and weights: no feature maps, no filters, one note saying why."""
    from sklearn.datasets import load_digits

    from conftest import make_digits_cnn
    from deepreplay.dashboard import DashboardNote

    digits = load_digits()
    X, y = (digits.images[:50] / 16).astype(np.float32)[..., None], digits.target[:50]
    filename = str(tmp_path / "slim.h5")
    ReplayData(X, y, filename, "slim", model=make_digits_cnn(), record=["predictions", "losses"])
    with Replay(filename, "slim") as replay:
        plan = plan_dashboard(replay)
        assert plan.feature_maps is None and plan.filters is None and plan.layer_name is None
        text = " | ".join(plan.skipped)
        assert "feature maps: the outputs of the convolution layers were not recorded" in text
        assert "filters: the weights were not recorded" in text
        assert "not a table of numbers" in text  # images: no decision-boundary slice
        with pytest.warns(DashboardNote) as notes:
            _fig, visuals = build_dashboard(replay)
        assert len(notes) == 1 and "Traceback" not in str(notes[0].message)
        assert all(line in str(notes[0].message) for line in plan.skipped)
        compose_plots(visuals, 0)


def test_a_model_with_several_inputs_says_why_it_has_no_feature_space(tmp_path):
    """Two inputs and a 16-unit hidden layer: the note names the several inputs, not a missing layer."""
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    hidden = keras.layers.Dense(16, activation="relu", name="hidden")(keras.layers.Concatenate()([a, b]))
    model = keras.Model([a, b], keras.layers.Dense(1, activation="sigmoid", name="out")(hidden))
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    Xa, Xb = RNG.normal(size=(40, 3)).astype(np.float32), RNG.normal(size=(40, 2)).astype(np.float32)
    y = (Xa[:, 0] > 0).astype(np.float32)
    filename = str(tmp_path / "two.h5")
    ReplayData([Xa, Xb], y, filename, "two", model=model)
    with Replay(filename, "two") as replay:
        plan = plan_dashboard(replay)
        assert plan.layer_name is None and not plan.decision_boundary
        text = " | ".join(plan.skipped)
        assert "the model has several inputs" in text
        assert "no hidden layer with one vector" not in text


def test_the_feature_space_is_not_chosen_on_a_dropout_layer_that_repeats_the_layer_before_it(tmp_path):
    """Dense(8) -> Dropout -> Dense(1): the recorded Dropout outputs equal the Dense's (inference mode), so the
    automatic choice draws 'hidden', not 'drop'; asking for 'drop' still works."""
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    dropped = keras.layers.Dropout(0.5, name="drop")(hidden)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="out")(dropped))
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    X = RNG.normal(size=(40, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.float32)
    filename = str(tmp_path / "drop.h5")
    ReplayData(X, y, filename, "drop", model=model)
    with Replay(filename, "drop") as replay:
        epoch = int(replay.epochs[0])
        np.testing.assert_array_equal(replay.outputs_at(epoch, "drop"), replay.outputs_at(epoch, "hidden"))
        assert plan_dashboard(replay).layer_name == "hidden"
        assert plan_dashboard(replay, layer_name="drop").layer_name == "drop"


@keras.saving.register_keras_serializable(package="test_dashboard")
class Positions(keras.layers.Layer):
    """Learned positional embeddings: one (steps, dim) array whatever the batch (no sample axis)."""

    def __init__(self, steps=6, dim=8, **kwargs):
        super().__init__(**kwargs)
        self.steps, self.dim = steps, dim
        self.table = keras.layers.Embedding(steps, dim, name="table")

    def call(self, x):
        return self.table(keras.ops.arange(self.steps))

    def get_config(self):
        return {**super().get_config(), "steps": self.steps, "dim": self.dim}


def test_a_layer_output_without_a_sample_axis_is_not_drawn_as_a_feature_space(tmp_path):
    """A positional embedding's output (steps, dim) was taken for 'steps' samples of dim values: the dashboard
    chose it and failed ('cannot reshape array of size 48 into shape (40,8)'); asked for, it says why not."""
    inputs = keras.Input((6, 8))
    h = inputs + Positions(name="pos")(inputs)
    h = keras.layers.Dense(3, activation="tanh", name="hidden")(keras.layers.Flatten(name="flat")(h))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="out")(h))
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    X = RNG.normal(size=(40, 6, 8)).astype(np.float32)
    y = (X[:, 0, 0] > 0).astype(np.float32)
    filename = str(tmp_path / "positions.h5")
    ReplayData(X, y, filename, "pos", model=model)
    with Replay(filename, "pos") as replay:
        assert replay.outputs_at(0, "pos").shape == (6, 8)
        assert "pos" not in wide_layers(replay)
        assert plan_dashboard(replay).layer_name == "hidden"
        fig, ax = plt.subplots()
        with pytest.raises(ValueError, match=r"layer 'pos' outputs one array of shape \(6, 8\) whatever the "
                                             r"samples \(no axis of the 40 recorded samples"):
            replay.build_feature_space(ax, "pos")


def test_a_visual_that_fails_on_a_model_is_left_out_and_named(digits_cnn_recording, monkeypatch):
    from deepreplay.dashboard import DashboardNote
    from deepreplay.plot.feature_maps import Filters

    filename, group, _, _ = digits_cnn_recording
    with Replay(filename, group) as replay:
        def broken(*args, **kwargs):
            raise NotImplementedError("this layer cannot be drawn")

        monkeypatch.setattr(replay, "build_filters", broken)
        with pytest.warns(DashboardNote, match=r"filters of 'conv': could not be drawn on this model "
                                               r"\(NotImplementedError: this layer cannot be drawn\)"):
            fig, visuals = build_dashboard(replay)
        assert Filters not in visual_types(visuals) and len(fig.axes) - len(visuals) < 4  # its panel is gone
        compose_plots(visuals, 0)


@pytest.mark.parametrize("kind", ["lstm", "attention"])
def test_recurrent_and_attention_models_get_distributions_curves_and_histograms(kind, tmp_path):
    from deepreplay.plot.layer_distributions import LayerDistributions

    X = RNG.normal(size=(24, 5, 3)).astype(np.float32)
    y = np.arange(24) % 3
    inputs = keras.Input((5, 3))
    if kind == "lstm":
        hidden = keras.layers.LSTM(4, name="lstm")(inputs)
    else:
        attended = keras.layers.MultiHeadAttention(2, 4, name="attention")(inputs, inputs)
        hidden = keras.layers.GlobalAveragePooling1D(name="pool")(attended)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="output")(hidden))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    filename = str(tmp_path / f"{kind}.h5")
    ReplayData(X, y, filename, kind, model=model)
    with Replay(filename, kind) as replay:
        plan = plan_dashboard(replay)
        assert plan.distributions == "activations" and plan.feature_maps is None and plan.filters is None
        fig, visuals = build_dashboard(replay)
        types = visual_types(visuals)
        assert {LayerDistributions, LossAndMetric, LossHistogram, MulticlassProbabilityHistogram} <= set(types)
        compose_plots(visuals, 0)
        fig.savefig(tmp_path / f"{kind}.png")


def test_a_convolution_whose_kernels_are_not_drawn_is_said(tmp_path):
    from deepreplay.dashboard import DashboardNote
    from deepreplay.plot.feature_maps import FeatureMaps

    X = RNG.normal(size=(20, 6, 6, 2)).astype(np.float32)
    model = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.SeparableConv2D(3, 3, name="sep"),
                              keras.layers.GlobalAveragePooling2D(name="gap"),
                              keras.layers.Dense(3, activation="softmax", name="output")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    filename = str(tmp_path / "sep.h5")
    ReplayData(X, np.arange(20) % 3, filename, "sep", model=model)
    with Replay(filename, "sep") as replay:
        with pytest.warns(DashboardNote, match="filters: the kernels of SeparableConv2D layers are not drawn"):
            _fig, visuals = build_dashboard(replay)
        assert FeatureMaps in visual_types(visuals)


def test_a_convolution_whose_outputs_are_not_images_is_said_so(tmp_path):
    """Conv3D outputs are recorded but are volumes: the note says so, not that they were not recorded."""
    from deepreplay.dashboard import DashboardNote

    X = RNG.normal(size=(12, 4, 4, 4, 1)).astype(np.float32)
    model = keras.Sequential([keras.Input((4, 4, 4, 1)), keras.layers.Conv3D(2, 3, padding="same", name="c3"),
                              keras.layers.Flatten(name="flat"), keras.layers.Dense(2, activation="softmax", name="output")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    filename = str(tmp_path / "c3.h5")
    ReplayData(X, np.arange(12) % 2, filename, "c3", model=model)
    with Replay(filename, "c3") as replay:
        with pytest.warns(DashboardNote) as notes:
            build_dashboard(replay)
        text = str(notes[0].message)
        assert "feature maps: the outputs of Conv3D layers are not images" in text and "not recorded" not in text



def test_a_shared_convolution_is_said_to_have_no_single_output(tmp_path):
    """A Conv2D called twice in one forward pass (a shared layer): its outputs are not recorded (the recording
    warns so), and the note said 'ReplayData(record=...) without activations', which the user never gave."""
    from deepreplay.dashboard import DashboardNote

    X = RNG.normal(size=(12, 6, 6, 2)).astype(np.float32)
    inputs = keras.Input((6, 6, 2))
    conv = keras.layers.Conv2D(2, 3, padding="same", name="conv")
    h = keras.layers.GlobalAveragePooling2D(name="gap")(conv(conv(inputs)))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="output")(h))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    filename = str(tmp_path / "shared.h5")
    with pytest.warns(UserWarning, match=r"conv \(called 2 times\)"):
        ReplayData(X, np.arange(12) % 3, filename, "shared", model=model)
    with Replay(filename, "shared") as replay:
        with pytest.warns(DashboardNote) as notes:
            build_dashboard(replay)
        text = str(notes[0].message)
        assert "feature maps: the outputs of 'conv' were not recorded (layers called more than once" in text
        assert "record=" not in text
        # Asked for by name (render --layer conv): the same reason, not 'layers with recorded activations'.
        with pytest.raises(ValueError, match="'conv' cannot be drawn as a feature space; its outputs were not "
                                             "recorded \\(layers called more than once"):
            build_dashboard(replay, layer_name="conv")


def test_a_layer_of_a_model_with_several_inputs_asked_for_as_feature_space_says_why_not(tmp_path):
    """Two inputs: the feature space is left out; asked for by name, the refusal said 'hidden layers with at
    least 2 units and recorded activations: none', though the layer has 5 units and its outputs are recorded."""
    a, b = keras.Input((3,), name="a"), keras.Input((3,), name="b")
    h = keras.layers.Dense(5, activation="relu", name="hidden")(keras.layers.Concatenate(name="cat")([a, b]))
    model = keras.Model([a, b], keras.layers.Dense(1, activation="sigmoid", name="output")(h))
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    X = [RNG.normal(size=(12, 3)).astype(np.float32) for _ in range(2)]
    filename = str(tmp_path / "two.h5")
    ReplayData(X, (np.arange(12) % 2).astype(np.float32), filename, "two", model=model)
    with Replay(filename, "two") as replay:
        assert replay.outputs_at(0, "hidden").shape == (12, 5)
        with pytest.raises(ValueError, match="'hidden' cannot be drawn as a feature space; the model has several "
                                             "inputs"):
            build_dashboard(replay, layer_name="hidden")


def test_the_note_on_class_visuals_reads_the_loss_of_the_output_shown(tmp_path):
    """Outputs 'seq' (a regression per step, mse) and 'cls' (binary_crossentropy): the dashboard shows 'seq',
    and said its (6, 1) targets were 'a class per time step' because the model's loss name holds
    'crossentropy' (of the other output)."""
    from deepreplay.dashboard import DashboardNote

    inputs = keras.Input((6, 2))
    h = keras.layers.Dense(3, activation="tanh", name="step")(inputs)
    seq = keras.layers.Dense(1, name="seq")(h)
    cls = keras.layers.Dense(1, activation="sigmoid", name="cls")(keras.layers.GlobalAveragePooling1D(name="gap")(h))
    model = keras.Model(inputs, [seq, cls])
    model.compile(optimizer="sgd", loss=["mse", "binary_crossentropy"])
    X = RNG.normal(size=(12, 6, 2)).astype(np.float32)
    y = [RNG.normal(size=(12, 6, 1)).astype(np.float32), (np.arange(12) % 2).astype(np.float32)]
    filename = str(tmp_path / "two.h5")
    ReplayData(X, y, filename, "two", model=model)
    with Replay(filename, "two") as replay:
        with pytest.warns(DashboardNote) as notes:
            build_dashboard(replay)
        text = " ".join(str(note.message) for note in notes)
        assert "outputs other than 'seq'" in text and "class per time step" not in text

def test_a_deep_model_gets_the_distributions_of_a_few_evenly_spaced_layers_with_short_labels(tmp_path):
    """A deep model (MobileNet has 162 layers with names like 'expanded_conv_3_squeeze_excite_conv_1'): the
    dashboard draws 8 layers' distributions, first and last included, says so, and shortens long names, so the
    figure keeps its layout (constrained layout collapsed, with a warning, on every layer's long name)."""
    from deepreplay.dashboard import MAX_DISTRIBUTION_LAYERS, DashboardNote

    layers = [keras.Input((4,))]
    for i in range(14):
        layers.append(keras.layers.Dense(4, activation="tanh", name=f"expanded_conv_{i}_squeeze_excite_dense"))
        layers.append(keras.layers.LayerNormalization(name=f"expanded_conv_{i}_norm"))
    model = keras.Sequential(layers + [keras.layers.Dense(3, activation="softmax", name="output")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    filename = str(tmp_path / "deep.h5")
    ReplayData(RNG.normal(size=(12, 4)).astype(np.float32), np.arange(12) % 3, filename, "deep", model=model)
    with Replay(filename, "deep") as replay:
        plan = plan_dashboard(replay)
        every = [layer.name for layer in model.layers[:-1]]
        assert plan.distribution_layers is not None and len(plan.distribution_layers) == MAX_DISTRIBUTION_LAYERS
        assert plan.distribution_layers[0] == every[0] and plan.distribution_layers[-1] == every[-1]
        assert f"layer distributions of {len(every) - MAX_DISTRIBUTION_LAYERS} of the {len(every)} layers" in \
            " | ".join(plan.skipped)
        with pytest.warns(DashboardNote):
            fig, visuals = build_dashboard(replay)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no "constrained_layout not applied"
            compose_plots(visuals, 0)
            fig.savefig(tmp_path / "deep.png")
        ax = next(v for v in visuals if type(v).__name__ == "LayerDistributions").ax
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert len(labels) == MAX_DISTRIBUTION_LAYERS + 1  # the inputs first
        assert len(set(labels)) == len(labels) and max(len(t) for t in labels) <= 16  # short, yet told apart
        assert "expande\u2026v_7_norm" in labels and "expande\u20260_squeez" in labels


def test_default_png_is_readable_on_a_projector(replay, tmp_path):
    """At the default size: 1280+ pixels wide, tick labels 12+ px and legends/notes 11+ px tall."""
    import io

    from matplotlib.text import Text
    from PIL import Image

    fig, visuals = build_dashboard(replay, layer_name="hidden", metric_name="accuracy")
    compose_plots(visuals, int(replay.epochs[1]), title="Tiny")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")  # the default dpi, as deepreplay render FILE GROUP -o x.png
    width, _ = Image.open(io.BytesIO(buffer.getvalue())).size
    assert width >= 1280
    renderer = fig.canvas.get_renderer()  # the figure's dpi is the save dpi

    def heights(texts):
        return [t.get_window_extent(renderer).height for t in texts if t.get_visible() and t.get_text().strip()]

    axes = fig.axes
    ticks = heights([t for ax in axes for t in ax.get_xticklabels() + ax.get_yticklabels()])
    legends = heights([t for ax in axes if ax.get_legend() is not None for t in ax.get_legend().get_texts()])
    notes = heights([c for ax in axes for c in ax.texts if isinstance(c, Text)])
    assert ticks and legends and notes
    print(f"width {width} px; tick labels {min(ticks):.1f} px, legends {min(legends):.1f} px, "
          f"notes {min(notes):.1f} px tall")
    assert min(ticks) >= 12
    assert min(legends) >= 11
    assert min(notes) >= 11


def test_a_layer_inside_a_nested_model_gets_the_regions_of_its_feature_space(tmp_path):
    """inner/b (2 units) is followed by inner/c, then by the outer model's layer: a chain, so regions are drawn."""
    keras.utils.set_random_seed(0)
    X = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.float32)
    inner = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, activation="relu", name="a"),
                              keras.layers.Dense(2, activation="tanh", name="b"),
                              keras.layers.Dense(3, activation="relu", name="c")], name="inner")
    inp = keras.Input((2,))
    model = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid", name="out")(inner(inp)))
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    filename = str(tmp_path / "nested.h5")
    ReplayData(X, y, filename, "nested", model=model)
    with Replay(filename, "nested") as replay:
        plan = plan_dashboard(replay)
        assert plan.layer_name == "inner/b" and plan.display_regions is None, plan
        assert not any("regions" in line for line in plan.skipped), plan.skipped
        replay.model_at(0)
        tail = replay.tail_function("inner/b")
        np.testing.assert_allclose(tail(replay.outputs_at(0, "inner/b")), keras.ops.convert_to_numpy(model(X)),
                                   rtol=1e-5, atol=1e-6)
    # A residual inner model: what follows its 2-unit layer is no chain; the regions are left out and said.
    x = keras.Input((2,))
    h = keras.layers.Dense(4, activation="relu", name="a")(x)
    b = keras.layers.Dense(2, activation="tanh", name="b")(h)
    res = keras.Model(x, keras.layers.Add(name="add")([b, keras.layers.Dense(2, name="skip")(h)]), name="res")
    model = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid", name="out")(res(inp)))
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    ReplayData(X, y, filename, "residual", model=model)
    with Replay(filename, "residual") as replay:
        with pytest.raises(ValueError, match="do not form a chain"):
            replay.tail_function("res/b")
        plan = plan_dashboard(replay, layer_name="res/b")
        assert plan.display_regions is False
        assert any("regions of the feature space of 'res/b'" in line for line in plan.skipped), plan.skipped



def test_a_functional_model_with_an_operation_after_the_layer_draws_its_feature_space_without_regions(tmp_path):
    """keras.ops between two layers of a functional model (h = tanh(dense(x)) * 2): no chain of layers follows
    'hidden', so the regions cannot be computed. The whole feature space was left out ('could not be drawn on
    this model (ValueError: ...)'); its points and grid lines are drawn, only the regions are left out and said."""
    from deepreplay.dashboard import DashboardNote
    from deepreplay.plot.feature_space import FeatureSpace

    inp = keras.Input((2,))
    h = keras.ops.tanh(keras.layers.Dense(2, name="hidden")(inp)) * 2.0
    model = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid", name="out")(h))
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    X = RNG.normal(size=(20, 2)).astype(np.float32)
    filename = str(tmp_path / "ops.h5")
    ReplayData(X, (X[:, :1] > 0).astype(np.float32), filename, "ops", model=model)
    with Replay(filename, "ops") as replay:
        plan = plan_dashboard(replay)
        assert plan.layer_name == "hidden" and plan.display_regions is False, plan
        with pytest.warns(DashboardNote) as notes:
            _fig, visuals = build_dashboard(replay)
        text = " ".join(str(note.message) for note in notes)
        assert "the regions of the feature space of 'hidden': what follows it in the model is not a chain" in text
        assert "ValueError" not in text and FeatureSpace in visual_types(visuals)


class _ChainNet(keras.Model):
    """A subclassed model whose call is a plain chain: a -> hidden (2 units) -> c -> out."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.a = keras.layers.Dense(6, activation="relu", name="a")
        self.hidden = keras.layers.Dense(2, activation="tanh", name="hidden")
        self.c = keras.layers.Dense(4, activation="relu", name="c")
        self.out = keras.layers.Dense(1, activation="sigmoid", name="out")

    def call(self, x, training=False):
        return self.out(self.c(self.hidden(self.a(x))))


class _SkipNet(_ChainNet):
    """The same layers, but the inputs are added again after 'hidden': its outputs alone do not give the model's."""

    def call(self, x, training=False):
        return self.out(self.c(self.hidden(self.a(x)) + x))


def test_a_subclassed_model_gets_the_regions_of_its_feature_space_when_its_tail_is_verified(tmp_path):
    from deepreplay.plot.common import region_grid

    keras.utils.set_random_seed(0)
    X = np.random.default_rng(0).normal(size=(60, 2)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.float32)
    filename = str(tmp_path / "sub.h5")
    models = {}
    for cls in (_ChainNet, _SkipNet):
        # Not "_chainnet": Keras' own fit cannot trace a model whose name starts with "_".
        model = models[cls.__name__] = cls(name=cls.__name__.lower().lstrip("_"))
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
        model.fit(X, y, epochs=4, batch_size=20, verbose=0, callbacks=[ReplayData(X, y, filename, cls.__name__)])
    objects = {"_ChainNet": _ChainNet, "_SkipNet": _SkipNet}
    with Replay(filename, "_ChainNet", custom_objects=objects) as replay:
        plan = plan_dashboard(replay)
        assert plan.layer_name == "hidden" and plan.display_regions is None, plan
        assert not any("regions" in line for line in plan.skipped), plan.skipped
        tail = replay.tail_function("hidden")
        for epoch in replay.epochs:  # the recorded layer outputs give the recorded predictions
            replay.model_at(int(epoch))
            np.testing.assert_allclose(tail(replay.outputs_at(int(epoch), "hidden")), replay.predictions_at(int(epoch)),
                                       rtol=1e-5, atol=1e-6)
        fig, ax = plt.subplots()
        fs = replay.build_feature_space(ax, "hidden")
        data = fs.data
        assert data.probabilities is not None
        # The last epoch's regions are what the trained model's own layers after 'hidden' give on the grid.
        trained = models["_ChainNet"]
        grid = region_grid(data.xlims[-1], data.ylims[-1], data.probabilities.shape[1])
        want = keras.ops.convert_to_numpy(trained.out(trained.c(grid)))[:, 0]
        np.testing.assert_allclose(data.probabilities[-1].reshape(-1), want, rtol=1e-5, atol=1e-6)
    with Replay(filename, "_SkipNet", custom_objects=objects) as replay:
        replay.model_at(2)
        with pytest.raises(ValueError, match=r"applied to its outputs, do not give the model's outputs at epoch 0 "
                                             r".*\(tail not verified\)"):
            replay.tail_function("hidden")
        plan = plan_dashboard(replay)
        assert plan.display_regions is False
        notes = [line for line in plan.skipped if "regions of the feature space of 'hidden'" in line]
        assert len(notes) == 1 and "tail not verified" in notes[0], plan.skipped
        # The check went through other records' weights and put those of epoch 2 back.
        np.testing.assert_allclose(keras.ops.convert_to_numpy(replay.model(X)), replay.predictions_at(2),
                                   rtol=1e-5, atol=1e-6)
        fig, ax = plt.subplots()
        assert replay.build_feature_space(ax, "hidden", display_regions=False).data.probabilities is None


def test_many_classes_get_a_colour_bar_of_the_classes_thinned_names_and_a_layout_that_fits(tmp_path):
    """50 classes: no 50-line legend running over the next panels; the layout is applied (no collapse warning)."""
    from deepreplay.plot.common import MAX_CLASS_TICKS
    from deepreplay.plot.confusion_matrix import ConfusionMatrix

    n_classes = 50
    X = RNG.normal(size=(150, 5)).astype(np.float32)
    filename = str(tmp_path / "many.h5")
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="relu", name="hidden"),
                              keras.layers.Dense(n_classes, activation="softmax", name="output")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ReplayData(X, np.arange(150) % n_classes, filename, "many", model=model)
    with Replay(filename, "many") as replay:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # matplotlib's "constrained_layout not applied" included
            fig, visuals = build_dashboard(replay)
            compose_plots(visuals, 0).savefig(tmp_path / "many.png", dpi=40)
        assert fig.get_layout_engine() is not None
        space = next(v for v in visuals if isinstance(v, FeatureSpace))
        histogram = next(v for v in visuals if isinstance(v, MulticlassProbabilityHistogram))
        matrix = next(v for v in visuals if isinstance(v, ConfusionMatrix))
        assert space.ax.get_legend() is None
        bars = [ax for ax in fig.axes if ax.get_ylabel() == f"class ({n_classes} classes)"]
        assert len(bars) == 2  # beside the feature space and the other-classes histogram
        for bar in bars:
            names = [t.get_text() for t in bar.get_yticklabels()]
            assert 1 < len(names) <= MAX_CLASS_TICKS and names[0] == "class 0", names
        legend = histogram.ax_other.get_legend()
        assert [t.get_text() for t in legend.get_texts()] == ["misclassified"]
        assert 1 < len(matrix.ax.get_xticklabels()) <= MAX_CLASS_TICKS
        assert matrix.image.get_array().shape == (n_classes, n_classes)  # one cell per class still
        assert not matrix.texts and matrix.title == "Confusion Matrix (row-normalised)"  # no cell text, no "%"
        renderer = fig.canvas.get_renderer()  # the panels of one row do not overlap
        boxes = sorted((ax.get_window_extent(renderer) for ax in (space.ax, *bars)), key=lambda b: b.x0)
        assert all(a.x1 <= b.x0 + 1 for a, b in zip(boxes, boxes[1:]) if abs(a.y0 - b.y0) < 50)


def test_a_multi_label_model_is_said_to_be_one_and_its_feature_space_names_the_label_it_colours(tmp_path):
    """Sigmoid outputs with several 1s per row: no class visuals, said in words; the colour bar names label 1."""
    from deepreplay import compute

    X = RNG.normal(size=(40, 3)).astype(np.float32)
    y = np.stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 2] > 0.3], axis=1).astype(np.float32)
    assert compute.infer_task(y, 3).multilabel and not compute.infer_task(np.eye(3)[np.arange(40) % 3], 3).multilabel
    filename = str(tmp_path / "multilabel.h5")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu", name="hidden"),
                              keras.layers.Dense(3, activation="sigmoid", name="output")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    ReplayData(X, y, filename, "multilabel", model=model, max_samples=30)
    with Replay(filename, "multilabel") as replay:
        plan = plan_dashboard(replay)
        assert plan.task == "regression" and not plan.probability_histograms and not plan.confusion_matrix
        assert any("the targets are multi-label (3 0/1 labels" in line for line in plan.skipped), plan.skipped
        fig, ax = plt.subplots()
        space = replay.build_feature_space(ax, "hidden")
        space.plot(0)
        assert space.colorbar.ax.get_ylabel() == "label 1 of 3"
        with pytest.raises(ValueError, match="a multi-label classifier \\(3 independent 0/1 labels"):
            replay.build_probability_histogram(*plt.subplots(1, 2)[1])


@pytest.mark.parametrize("kind", ["per_step_classes", "per_step_binary", "soft_labels"])
def test_a_classifier_without_one_class_per_sample_is_said_so(kind, tmp_path):
    """A class per time step (sparse or 0/1 targets) or soft labels: the class visuals are left out, and said."""
    layers = keras.layers
    X = RNG.normal(size=(30, 7, 3)).astype(np.float32)
    if kind == "soft_labels":
        y = np.full((30, 3), 0.1, np.float32)
        y[np.arange(30), np.arange(30) % 3] = 0.8
        head = [layers.GRU(4, name="gru"), layers.Dense(3, activation="softmax", name="output")]
        loss, phrase = "categorical_crossentropy", "shape (3,) and is not a 0/1 or one-hot row (soft labels)"
    elif kind == "per_step_classes":
        y = np.argmax(X, axis=-1)
        head = [layers.GRU(4, return_sequences=True, name="gru"),
                layers.TimeDistributed(layers.Dense(3, activation="softmax"), name="output")]
        loss, phrase = "sparse_categorical_crossentropy", "shape (7,) (a class per time step or pixel)"
    else:
        y = (np.argmax(X, axis=-1) == 0).astype(np.float32)[..., None]
        head = [layers.GRU(4, return_sequences=True, name="gru"),
                layers.TimeDistributed(layers.Dense(1, activation="sigmoid"), name="output")]
        loss, phrase = "binary_crossentropy", "shape (7, 1) (a class per time step or pixel)"
    model = keras.Sequential([keras.Input((7, 3)), *head])
    model.compile(optimizer="sgd", loss=loss)
    filename = str(tmp_path / "k.h5")
    ReplayData(X, y, filename, kind, model=model)
    with Replay(filename, kind) as replay:
        plan = plan_dashboard(replay)
        assert not plan.probability_histograms and not plan.confusion_matrix
        said = [line for line in plan.skipped if line.startswith("probability histograms and confusion matrix")]
        assert len(said) == 1 and phrase in said[0] and "multi-label" not in said[0], plan.skipped


def test_the_token_ids_of_an_embedding_model_are_left_out_of_the_layer_distributions(tmp_path):
    """Integer inputs (0 to the vocabulary size) on the layers' shared scale flattened every violin: left out, said."""
    from deepreplay.plot.layer_distributions import LayerDistributions

    X = RNG.integers(0, 50, size=(24, 6)).astype(np.int32)
    model = keras.Sequential([keras.Input((6,), dtype="int32"), keras.layers.Embedding(50, 4, name="embed"),
                              keras.layers.GRU(3, name="gru"), keras.layers.Dense(1, activation="sigmoid", name="output")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    filename = str(tmp_path / "tokens.h5")
    ReplayData(X, (np.arange(24) % 2).astype(np.float32), filename, "tokens", model=model)
    with Replay(filename, "tokens") as replay:
        plan = plan_dashboard(replay)
        assert any(line.startswith("the inputs in the layer distributions: they are integer ids")
                   for line in plan.skipped), plan.skipped
        with pytest.warns(Warning):
            _fig, visuals = build_dashboard(replay)
        violins = next(v for v in visuals if isinstance(v, LayerDistributions))
        compose_plots(visuals, 0)
        labels = [t.get_text() for t in violins.ax.get_xticklabels()]
        assert labels == ["embed", "gru"], labels
        assert violins.ax.get_ylim()[1] < 5  # the embeddings' scale, not the token ids' (0..49)


def test_hinge_classifiers_get_the_classification_visuals(hinge_recordings):
    with hinge_recordings.open("hinge") as (replay, _, _):
        plan = plan_dashboard(replay, cross_entropy=True)
        assert (plan.task, plan.probability_histograms, plan.cross_entropy) == ("binary", True, False)
        assert plan.layer_name == "hidden"
        assert any(line.startswith("cross-entropy view: the model is trained with a hinge loss ('hinge')")
                   for line in plan.skipped)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fig, visuals = build_dashboard(replay)
        assert ProbabilityHistogram in visual_types(visuals)
        plt.close(fig)
    with hinge_recordings.open("categorical_hinge") as (replay, _, _):
        plan = plan_dashboard(replay)
        assert (plan.task, plan.probability_histograms, plan.confusion_matrix, plan.skipped) == \
            ("multiclass", True, True, ())


def _texts(fig):
    import matplotlib.text

    return [t.get_text() for t in fig.findobj(matplotlib.text.Text)]


def test_an_accuracy_that_misreads_a_hinge_classifier_is_noted_under_the_picture(tmp_path):
    """Keras' BinaryAccuracy compares targets with 0/1 predictions: on -1/1 targets no -1 is ever right, and on
    0/1 targets its 0.5 threshold is not the hinge loss's 0.  The dashboard says so once (and under the figure),
    and prefers a recorded metric that counts as the histograms do."""
    from sklearn.datasets import make_moons

    from deepreplay.dashboard import DashboardNote
    from deepreplay.plot.probability_histogram import ProbabilityHistogram

    X, labels = make_moons(120, noise=0.25, random_state=0)
    X = X.astype(np.float32)
    filename = str(tmp_path / "hinge.h5")
    runs = {
        "minus_one": ((2.0 * labels - 1).astype(np.float32), "hinge", ["accuracy"]),
        "zero_one_half": (labels.astype(np.float32), "squared_hinge", ["binary_accuracy"]),
        "zero_one_both": (labels.astype(np.float32), "hinge",
                          ["accuracy", keras.metrics.BinaryAccuracy(threshold=0, name="acc0")]),
    }
    for group, (targets, loss, metrics) in runs.items():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, activation="tanh", name="hidden"),
                                  keras.layers.Dense(1, name="output")])
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss=loss, metrics=metrics)
        model.fit(X, targets, epochs=3, batch_size=32, verbose=0,
                  callbacks=[ReplayData(X, targets, filename, group)])

    with Replay(filename, "minus_one") as replay:
        plan = plan_dashboard(replay)
        assert plan.metric_name == "accuracy" and len(plan.notes) == 1
        assert "never counts a -1 target as right" in plan.notes[0]
        assert "BinaryAccuracy(threshold=0)" in plan.notes[0] and "0/1 targets" in plan.notes[0]
        # What the note says: the curve counts positives above 0.5 only, not 1 - the histograms' misclassified share.
        scores = replay.predictions_at(3).ravel()
        accuracy = replay.get_training_metric("accuracy")[-1]
        assert accuracy == pytest.approx(np.mean((scores > 0.5) & (labels == 1)), abs=1e-6)
        assert abs(accuracy - np.mean((scores > 0) == (labels == 1))) > 0.2
        with pytest.warns(DashboardNote) as said:
            fig, visuals = build_dashboard(replay)
        assert len(said) == 1 and str(said[0].message) == f"the dashboard of 'minus_one': {plan.notes[0]}."
        assert ProbabilityHistogram in visual_types(visuals)
        assert f"Note: {plan.notes[0]}." in [" ".join(text.split("\n")) for text in _texts(fig)]
        compose_plots(visuals, 3).savefig(tmp_path / "minus_one.png")
        plt.close(fig)
    with Replay(filename, "zero_one_half") as replay:
        plan = plan_dashboard(replay)
        assert plan.metric_name == "binary_accuracy"
        assert plan.notes and "counts an output above 0.5 as class 1" in plan.notes[0]
    with Replay(filename, "zero_one_both") as replay:
        plan = plan_dashboard(replay)
        assert (plan.metric_name, plan.notes) == ("acc0", ())  # the curve that reads right, nothing to say
        right = (replay.predictions_at(3).ravel() > 0) == (labels == 1)
        assert replay.get_training_metric("acc0")[-1] == pytest.approx(right.mean(), abs=1e-6)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fig, _ = build_dashboard(replay)
        assert not any(text.startswith("Note:") for text in _texts(fig))
        plt.close(fig)


def test_labels_1_and_2_for_a_binary_crossentropy_are_noted_under_the_picture(tmp_path):
    """Drawn as what they are (a regression with a loss below 0), with the note that says why and the way out."""
    from conftest import make_tiny_model, tiny_data

    from deepreplay.dashboard import DashboardNote

    X, y = tiny_data(20)
    with pytest.warns(UserWarning, match="give y - 1"):
        make_tiny_model().fit(X, y + 1, epochs=2, verbose=0,
                              callbacks=[ReplayData(X, y + 1, tmp_path / "r.h5", "g")])
    with Replay(tmp_path / "r.h5", "g") as replay:
        plan = plan_dashboard(replay)
        assert plan.task == "regression" and len(plan.notes) == 1
        assert plan.notes[0].startswith("the targets run from 1 to 2, outside the 0/1 labels")
        with pytest.warns(DashboardNote, match="give y - 1"):
            fig, visuals = build_dashboard(replay)
        assert f"Note: {plan.notes[0]}." in [" ".join(text.split("\n")) for text in _texts(fig)]
        curves = next(v for v in visuals if isinstance(v, LossAndMetric))
        low, high = curves.ax.get_ylim()
        assert low <= replay.training_loss.min() and high >= replay.training_loss.max()
        plt.close(fig)


def test_an_accuracy_on_logits_thresholded_at_half_is_noted(tmp_path):
    """'accuracy' on one logit is BinaryAccuracy(threshold=0.5) on the logit (a probability of 0.62); the
    histograms split at a probability of 0.5 (a logit of 0): noted, and the threshold-0 metric preferred."""
    from sklearn.datasets import make_moons

    X, labels = make_moons(100, noise=0.25, random_state=0)
    X, y = X.astype(np.float32), labels.astype(np.float32)
    for group, metrics in (("half", ["accuracy"]), ("both", ["accuracy", keras.metrics.BinaryAccuracy(threshold=0)])):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, activation="tanh", name="hidden"),
                                  keras.layers.Dense(1, name="output")])
        model.compile(optimizer=keras.optimizers.Adam(0.05), metrics=metrics,
                      loss=keras.losses.BinaryCrossentropy(from_logits=True))
        model.fit(X, y, epochs=2, batch_size=32, verbose=0, callbacks=[ReplayData(X, y, tmp_path / "r.h5", group)])
    with Replay(tmp_path / "r.h5", "half") as replay:
        plan = plan_dashboard(replay)
        assert plan.metric_name == "accuracy" and len(plan.notes) == 1
        assert "counts a logit above 0.5 (a probability of 0.62) as class 1" in plan.notes[0]
        logits = replay.predictions_at(0).ravel()  # what the curve counts: logits above 0.5, not above 0
        assert replay.get_training_metric("accuracy")[0] == pytest.approx(np.mean((logits > 0.5) == (labels == 1)))
    with Replay(tmp_path / "r.h5", "both") as replay:
        plan = plan_dashboard(replay)
        assert (plan.metric_name, plan.notes) == ("binary_accuracy", ())
        logits = replay.predictions_at(0).ravel()
        assert replay.get_training_metric("binary_accuracy")[0] == \
            pytest.approx(np.mean((logits > 0) == (labels == 1)))


def test_an_accuracy_on_targets_other_than_0_and_1_is_noted(tmp_path):
    """Soft labels (0.1/0.9) with a sigmoid: Keras' BinaryAccuracy never equals them, its curve stays at 0."""
    from conftest import make_tiny_model, tiny_data

    X, y = tiny_data(20)
    soft = np.where(y == 1, 0.9, 0.1).astype(np.float32)
    make_tiny_model().fit(X, soft, epochs=1, verbose=0, callbacks=[ReplayData(X, soft, tmp_path / "r.h5", "g")])
    with Replay(tmp_path / "r.h5", "g") as replay:
        assert np.all(replay.get_training_metric("accuracy") == 0)
        plan = plan_dashboard(replay)
        assert plan.notes == (f"the 'accuracy' curve (Keras' BinaryAccuracy) compares each target with a 0/1 "
                              f"prediction, and {len(y)} of the {len(y)} targets are neither 0 nor 1 (from 0.1 to "
                              "0.9), so it never counts those as right: it is not a share of right answers here",)


def test_the_comparison_notes_a_misreading_accuracy_of_a_run_under_the_picture(tmp_path):
    from sklearn.datasets import make_moons

    from deepreplay.dashboard import DashboardNote, build_comparison

    X, labels = make_moons(60, noise=0.25, random_state=0)
    X = X.astype(np.float32)
    for group, targets in (("minus_one", 2.0 * labels - 1), ("zero_one", labels * 1.0)):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="tanh", name="hidden"),
                                  keras.layers.Dense(1, name="output")])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="hinge", metrics=["accuracy"])
        targets = targets.astype(np.float32)
        model.fit(X, targets, epochs=1, verbose=0, callbacks=[ReplayData(X, targets, tmp_path / "r.h5", group)])
    with Replay(tmp_path / "r.h5", "minus_one") as a, Replay(tmp_path / "r.h5", "zero_one") as b:
        with pytest.warns(DashboardNote, match=r"^the comparison notes: run 'minus_one': the 'accuracy' curve .* "
                                               r"never counts a -1 target as right.*; run 'zero_one': the "
                                               r"'accuracy' curve .* counts an output above 0.5 as class 1"):
            fig, _ = build_comparison([a, b])
        texts = [" ".join(text.split("\n")) for text in _texts(fig)]
        assert any(text.startswith("Note: run 'minus_one': the 'accuracy' curve") and
                   "Note: run 'zero_one'" in text for text in texts)
        plt.close(fig)
