"""Tests for deepreplay.compute: pure-NumPy helpers, no Keras, no figures."""

import re
import subprocess
import sys

import numpy as np
import pytest

from deepreplay import compute


def test_compute_imports_neither_keras_nor_matplotlib():
    code = (
        "import sys, deepreplay.compute; "
        "print(sorted(m for m in ('keras', 'tensorflow', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------
# to_numpy
# --------------------------------------------------------------------------
class _FakeTensor:
    def __init__(self, values):
        self.values = values

    def numpy(self):
        return np.asarray(self.values, dtype=np.float32)


def test_to_numpy():
    np.testing.assert_array_equal(compute.to_numpy([1, 2]), np.array([1, 2]))
    out = compute.to_numpy(_FakeTensor([[0.5], [1.5]]))
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (2, 1)
    array = np.arange(3.0)
    assert compute.to_numpy(array) is array


# --------------------------------------------------------------------------
# describe_epochs
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "epochs, text",
    [
        ([], "none"),
        ([0], "0"),
        ([0, 1], "0, 1"),
        ([0, 1, 2, 3], "0..3"),
        (np.arange(151), "0..150"),
        ([0, 3, 6], "0, 3, 6"),
        ([0, 2, 4, 5], "0, 2, 4, 5"),
        ([0, 2, 4, 6, 8, 10, 12, 14], "0, 2, 4, 6, 8, 10, 12, 14"),
        (list(range(0, 21, 2)), "0, 2, 4, 6, ..., 18, 20"),
        (np.array([5, 6, 7], dtype=np.int64), "5..7"),
    ],
)
def test_describe_epochs(epochs, text):
    assert compute.describe_epochs(epochs) == text


# --------------------------------------------------------------------------
# epoch_range
# --------------------------------------------------------------------------
EPOCHS = np.array([0, 2, 4, 5])


@pytest.mark.parametrize(
    "start, end, expected",
    [
        (None, None, [0, 2, 4, 5]),
        (0, 5, [0, 2, 4, 5]),
        (1, 4, [2, 4]),
        (2, 2, [2]),
        (3, None, [4, 5]),
        (None, 3, [0, 2]),
        (0, 100, [0, 2, 4, 5]),
        (np.int64(4), np.int32(5), [4, 5]),
    ],
)
def test_epoch_range_selects_inclusive(start, end, expected):
    out = compute.epoch_range(EPOCHS, start, end)
    np.testing.assert_array_equal(out, expected)


def test_epoch_range_start_after_end():
    with pytest.raises(ValueError, match=re.escape("epoch_start=4 is after epoch_end=2; give epoch_start <= epoch_end")):
        compute.epoch_range(EPOCHS, 4, 2)
    # An end left to its default is named as such, not as an epoch_end the caller never gave.
    with pytest.raises(ValueError, match=re.escape("epoch_start=7 is after the last recorded epoch (5)")):
        compute.epoch_range(EPOCHS, 7)
    with pytest.raises(ValueError, match=re.escape("the first recorded epoch (2) is after epoch_end=1")):
        compute.epoch_range(np.array([2, 3]), None, 1)


def test_epoch_range_empty_range_lists_recorded_epochs():
    with pytest.raises(ValueError, match=re.escape(
            "no recorded epoch between epoch_start=3 and epoch_end=3; recorded epochs: 0, 2, 4, 5.")):
        compute.epoch_range(EPOCHS, 3, 3)


@pytest.mark.parametrize("name, kwargs, which", [
    ("epoch_start", dict(epoch_start=-1), "first"),
    ("epoch_end", dict(epoch_end=-2), "last"),
])
def test_epoch_range_negative(name, kwargs, which):
    value = kwargs[name]
    with pytest.raises(ValueError, match=re.escape(f"{name}={value} must be 0 or more (use None for the {which}")):
        compute.epoch_range(EPOCHS, **kwargs)


@pytest.mark.parametrize("bad", [1.0, 2.5, True, np.bool_(False), "2", [2]])
@pytest.mark.parametrize("name", ["epoch_start", "epoch_end"])
def test_epoch_range_non_integer(name, bad):
    with pytest.raises(TypeError, match=re.escape(f"{name}={bad!r} must be an integer epoch or None")):
        compute.epoch_range(EPOCHS, **{name: bad})


def test_epoch_range_no_epochs():
    with pytest.raises(ValueError, match="epochs is empty"):
        compute.epoch_range(np.array([], dtype=int))


# --------------------------------------------------------------------------
# check_limits, check_resolution
# --------------------------------------------------------------------------
@pytest.mark.parametrize("limits", [(-1, 1), [0.0, 2.5], np.array([-3, 4]), (np.float32(0.5), np.int64(2))])
def test_check_limits_accepts_pairs(limits):
    out = compute.check_limits("xlim", limits)
    assert out == (float(limits[0]), float(limits[1]))
    assert all(type(v) is float for v in out)


@pytest.mark.parametrize("limits", [None, 3, (1,), (1, 2, 3), ("a", 1), "01", ("0", "1"), (False, True), [None, 1]])
def test_check_limits_rejects_non_pairs(limits):
    with pytest.raises(TypeError, match=re.escape(f"ylim={limits!r} must be a pair of numbers (low, high)")):
        compute.check_limits("ylim", limits)


@pytest.mark.parametrize("limits", [(1, 1), (2, -2), (0, np.nan), (-np.inf, 1), (0, np.inf)])
def test_check_limits_rejects_bad_values(limits):
    with pytest.raises(ValueError, match=re.escape(f"xlim={limits!r} must be two finite numbers with low < high")):
        compute.check_limits("xlim", limits)


def test_check_resolution():
    assert compute.check_resolution("contour_points", 50) == 50
    assert compute.check_resolution("bins", np.int64(1), minimum=1) == 1
    assert type(compute.check_resolution("bins", np.int32(7))) is int
    with pytest.raises(ValueError, match=re.escape("contour_points=1 must be at least 2")):
        compute.check_resolution("contour_points", 1)
    with pytest.raises(ValueError, match=re.escape("bins=0 must be at least 1")):
        compute.check_resolution("bins", 0, minimum=1)
    for bad in (2.0, True, "10", None):
        with pytest.raises(TypeError, match=re.escape(f"n_grid_lines={bad!r} must be an integer")):
            compute.check_resolution("n_grid_lines", bad)


# --------------------------------------------------------------------------
# make_grid, grid_lines
# --------------------------------------------------------------------------
def test_make_grid():
    xx, yy, points = compute.make_grid((-1, 3), (0, 2), 5)
    assert xx.shape == yy.shape == (5, 5)
    assert points.shape == (25, 2) and points.dtype == np.float32
    np.testing.assert_allclose(xx[0], [-1, 0, 1, 2, 3])
    np.testing.assert_allclose(yy[:, 0], [0, 0.5, 1, 1.5, 2])
    assert np.all(xx == xx[0]) and np.all(yy.T == yy[:, 0])
    # Points are the grid's nodes, in the row-major order of xx and yy (for contour plots).
    np.testing.assert_array_equal(points[:, 0].reshape(5, 5), xx)
    np.testing.assert_array_equal(points[:, 1].reshape(5, 5), yy)
    assert len({tuple(p) for p in points}) == 25


def test_make_grid_50_by_50():
    _, _, points = compute.make_grid((-1, 1), (-1, 1), 50)
    assert points.shape == (2500, 2)
    np.testing.assert_allclose(points.min(axis=0), [-1, -1])
    np.testing.assert_allclose(points.max(axis=0), [1, 1])


def test_grid_lines():
    lines = compute.grid_lines((-2, 2), (0, 1), n_lines=3, n_points=5)
    assert lines.shape == (6, 5, 2) and lines.dtype == np.float32
    vertical, horizontal = lines[:3], lines[3:]
    # Vertical lines: constant x at -2, 0, 2, y running over ylim.
    np.testing.assert_allclose(vertical[:, :, 0], np.repeat([[-2.0], [0.0], [2.0]], 5, axis=1))
    for line in vertical:
        np.testing.assert_allclose(line[:, 1], [0, 0.25, 0.5, 0.75, 1])
    # Horizontal lines: constant y at 0, 0.5, 1, x running over xlim.
    np.testing.assert_allclose(horizontal[:, :, 1], np.repeat([[0.0], [0.5], [1.0]], 5, axis=1))
    for line in horizontal:
        np.testing.assert_allclose(line[:, 0], [-2, -1, 0, 1, 2])


def test_grid_lines_defaults():
    lines = compute.grid_lines((-1, 1), (-1, 1))
    assert lines.shape == (22, 101, 2)


# --------------------------------------------------------------------------
# padded_limits
# --------------------------------------------------------------------------
def test_padded_limits_covers_every_array_with_padding():
    a = np.array([[0.0, 10.0], [1.0, 20.0]])
    b = np.array([[[2.0, 15.0]], [[-1.0, 12.0]]])  # (2, 1, 2): any shape ending in 2
    xlim, ylim = compute.padded_limits([a, b], pad=0.1)
    assert xlim == pytest.approx((-1.0 - 0.3, 2.0 + 0.3))
    assert ylim == pytest.approx((10.0 - 1.0, 20.0 + 1.0))
    assert all(type(v) is float for v in xlim + ylim)


def test_padded_limits_default_pad():
    xlim, ylim = compute.padded_limits([np.array([[0.0, 0.0], [10.0, 100.0]])])
    assert xlim == pytest.approx((-0.5, 10.5))
    assert ylim == pytest.approx((-5.0, 105.0))


def test_padded_limits_ignores_non_finite_points():
    points = np.array([[0.0, 0.0], [1.0, 1.0], [np.nan, 50.0], [100.0, np.inf], [-np.inf, 0.5]])
    xlim, ylim = compute.padded_limits([points], pad=0.0)
    assert xlim == (0.0, 1.0)
    assert ylim == (0.0, 1.0)


def test_padded_limits_all_nan_falls_back():
    all_nan = np.full((4, 2), np.nan)
    assert compute.padded_limits([all_nan]) == ((-1.0, 1.0), (-1.0, 1.0))
    assert compute.padded_limits([]) == ((-1.0, 1.0), (-1.0, 1.0))
    assert compute.padded_limits([np.empty((0, 2))]) == ((-1.0, 1.0), (-1.0, 1.0))
    # An all-NaN array next to a finite one does not change the finite one's limits.
    finite = np.array([[0.0, 0.0], [2.0, 4.0]])
    assert compute.padded_limits([all_nan, finite]) == compute.padded_limits([finite])


def test_padded_limits_single_point_gets_a_width():
    xlim, ylim = compute.padded_limits([np.array([[3.0, -2.0]])], pad=0.5)
    assert xlim == pytest.approx((2.5, 3.5))
    assert ylim == pytest.approx((-2.5, -1.5))
    assert xlim[0] < xlim[1] and ylim[0] < ylim[1]


# --------------------------------------------------------------------------
# class_labels, positive_probability
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "targets, expected",
    [
        (np.array([[0.0], [1.0], [1.0], [0.0]], dtype=np.float32), [0, 1, 1, 0]),  # binary, (n, 1)
        (np.array([0.0, 1.0, 1.0]), [0, 1, 1]),  # binary, (n,)
        (np.array([2, 0, 1, 2]), [2, 0, 1, 2]),  # integer classes
        (np.array([[2], [0], [1]]), [2, 0, 1]),  # integer classes, (n, 1)
        (np.eye(3)[[2, 0, 1, 1]], [2, 0, 1, 1]),  # one-hot
        (np.array([[1, 0], [0, 1]], dtype=np.float32), [0, 1]),  # one-hot, two classes
    ],
)
def test_class_labels(targets, expected):
    labels = compute.class_labels(targets)
    assert labels.shape == (len(expected),)
    assert labels.dtype.kind == "i"
    np.testing.assert_array_equal(labels, expected)


def test_class_labels_rounds_float_binary_targets():
    np.testing.assert_array_equal(compute.class_labels(np.array([[0.9999999], [1e-8]])), [1, 0])


@pytest.mark.parametrize(
    "predictions, expected",
    [
        (np.array([[0.1], [0.8]]), [0.1, 0.8]),  # sigmoid output, (n, 1)
        (np.array([0.3, 0.6]), [0.3, 0.6]),  # (n,)
        (np.array([[0.9, 0.1], [0.25, 0.75]]), [0.1, 0.75]),  # softmax over two classes
    ],
)
def test_positive_probability(predictions, expected):
    p = compute.positive_probability(predictions)
    assert p.shape == (len(expected),)
    np.testing.assert_allclose(p, expected)


# --------------------------------------------------------------------------
# histogram_counts
# --------------------------------------------------------------------------
EDGES = np.linspace(0.0, 1.0, 5)  # bins [0, .25), [.25, .5), [.5, .75), [.75, 1]


def test_histogram_counts_inside():
    counts = compute.histogram_counts(np.array([0.0, 0.1, 0.3, 0.6, 0.8, 1.0]), EDGES)
    np.testing.assert_array_equal(counts, [2, 1, 1, 2])


def test_histogram_counts_clips_values_beyond_the_edges():
    counts = compute.histogram_counts(np.array([-5.0, -0.01, 0.4, 1.01, 7.0]), EDGES)
    np.testing.assert_array_equal(counts, [2, 1, 0, 2])
    assert counts.sum() == 5


def test_histogram_counts_drops_non_finite_values():
    values = np.array([[np.nan, 0.1], [np.inf, -np.inf], [0.9, np.nan]])  # any shape is flattened
    counts = compute.histogram_counts(values, EDGES)
    np.testing.assert_array_equal(counts, [1, 0, 0, 1])


def test_histogram_counts_all_nan_or_empty():
    np.testing.assert_array_equal(compute.histogram_counts(np.full(3, np.nan), EDGES), [0, 0, 0, 0])
    np.testing.assert_array_equal(compute.histogram_counts(np.array([]), EDGES), [0, 0, 0, 0])
    assert compute.histogram_counts(np.array([]), EDGES).shape == (len(EDGES) - 1,)


# --------------------------------------------------------------------------
# infer_task
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "targets, n_outputs, kind, n_classes",
    [
        (np.array([[0.0], [1.0], [1.0]]), 1, "binary", 2),  # sigmoid, (n, 1)
        (np.array([0.0, 1.0, 0.0]), 1, "binary", 2),  # sigmoid, (n,)
        (np.array([0, 1, 1]), 2, "binary", 2),  # 2-unit softmax, integer labels
        (np.eye(2)[[0, 1, 1]], 2, "binary", 2),  # 2-unit softmax, one-hot
        (np.array([0, 2, 1, 2]), 3, "multiclass", 3),  # sparse labels
        (np.array([[0], [2], [1]]), 3, "multiclass", 3),  # sparse labels, (n, 1)
        (np.array([0.0, 1.0, 1.0]), 4, "multiclass", 4),  # labels need not cover every class
        (np.eye(5)[[0, 4, 2]], 5, "multiclass", 5),  # one-hot
        (np.array([[0.5], [2.0]]), 1, "regression", None),  # values other than 0/1
        (np.array([0, 1, 2]), 1, "regression", None),  # integer targets, one output: a count
        (np.array([0, 3, 1]), 3, "regression", None),  # label 3 out of range for 3 outputs
        (np.array([[0.2, 0.8], [1.0, 0.0]]), 2, "regression", None),  # not one-hot
        (np.array([[1.0, 1.0], [0.0, 1.0]]), 2, "regression", None),  # two 1s in a row
        (np.array([[0.5, 1.5, 2.0]]), 3, "regression", None),  # three outputs
        (np.array([0.5, 1.5]), 2, "regression", None),  # non-integer labels
    ],
)
def test_infer_task(targets, n_outputs, kind, n_classes):
    task = compute.infer_task(targets, n_outputs)
    assert (task.kind, task.n_classes, task.n_outputs) == (kind, n_classes, n_outputs)
    assert task.is_classification == (kind != "regression")


@pytest.mark.parametrize(
    "targets, n_outputs, loss, kind, scores",
    [
        (np.array([[-1.0], [1.0], [1.0]]), 1, "hinge", "binary", True),  # -1/1 targets: a hinge classifier
        (np.array([-1.0, 1.0]), 1, "squared_hinge", "binary", True),
        (np.array([[0.0], [1.0]]), 1, "hinge", "binary", True),  # 0/1: Keras' hinge makes them -1/1
        (np.array([[0.0], [1.0]]), 1, "binary_crossentropy", "binary", False),
        (np.array([[-1.0], [1.0]]), 1, "mse", "regression", False),  # -1/1 without a hinge loss: values
        (np.array([[-1.0], [0.0], [1.0]]), 1, "hinge", "regression", False),  # three values
        (np.array([[-1.0, 1.0], [1.0, -1.0]]), 2, "hinge", "regression", False),  # several -1/1 labels
        (np.eye(3)[[0, 2, 1]], 3, "categorical_hinge", "multiclass", True),
        (np.eye(2)[[0, 1, 1]], 2, "categorical_hinge", "binary", True),
        (np.array([0, 2, 1]), 3, "categorical_hinge", "multiclass", False),  # not one-hot: Keras' scores differ
        (np.eye(3)[[0, 2, 1]], 3, None, "multiclass", False),
    ],
)
def test_infer_task_of_hinge_losses(targets, n_outputs, loss, kind, scores):
    task = compute.infer_task(targets, n_outputs, loss=loss)
    assert (task.kind, task.scores) == (kind, scores)
    assert task.threshold == (0.0 if scores else 0.5)


def test_hinge_targets_classes_and_predictions():
    np.testing.assert_array_equal(compute.class_labels(np.array([[-1.0], [1.0], [-1.0]])), [0, 1, 0])
    np.testing.assert_array_equal(compute.class_labels(np.array([0, 1, 2])), [0, 1, 2])
    task = compute.Task("binary", 2, 1, scores=True)
    outputs = np.array([[-0.3], [0.0], [1e-20], [0.4], [np.nan], [2.5]])
    probabilities, predicted = compute.classify_outputs(outputs, task)
    np.testing.assert_array_equal(predicted, [0, 0, 1, 1, -1, 1])  # positive above 0, as BinaryAccuracy(0)
    np.testing.assert_allclose(probabilities[[0, 1, 3, 5], 1], [0.35, 0.5, 0.7, 1.0])  # margins -1, 1 at 0, 1
    multi = compute.Task("multiclass", 3, 3, scores=True)
    scores = np.array([[2.0, -1.0, 0.5], [-3.0, -2.0, -2.5]])
    probabilities, predicted = compute.classify_outputs(scores, multi)
    np.testing.assert_array_equal(predicted, [0, 1])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    np.testing.assert_allclose(compute.positive_score(np.array([[0.2, 0.9]])), [0.7])
    with pytest.raises(TypeError, match="loss=3 must be a loss name"):
        compute.infer_task(np.zeros(3), 1, loss=3)


def test_task_describe_and_bad_width():
    assert compute.Task("binary", 2, 1).describe() == "a binary classifier"
    assert compute.Task("multiclass", 3, 3).describe() == "a 3-class classifier"
    assert compute.Task("regression", None, 1).describe() == "a regression (1 output)"
    assert compute.Task("regression", None, 2).describe() == "a regression (2 outputs)"
    with pytest.raises(ValueError, match="n_outputs=0 must be a positive integer"):
        compute.infer_task(np.zeros(3), 0)


# --------------------------------------------------------------------------
# probabilities, true class, cross-entropy terms
# --------------------------------------------------------------------------
def test_class_probabilities_of_one_sigmoid_unit_and_of_columns():
    np.testing.assert_allclose(compute.class_probabilities(np.array([[0.2], [0.9]]), 2), [[0.8, 0.2], [0.1, 0.9]])
    np.testing.assert_allclose(compute.class_probabilities(np.array([0.3]), 2), [[0.7, 0.3]])
    probabilities = np.array([[0.1, 0.7, 0.2]])
    np.testing.assert_array_equal(compute.class_probabilities(probabilities, 3), probabilities)


def test_class_probabilities_from_logits():
    logits = np.array([[0.0], [np.log(3.0)]])  # sigmoid: 0.5 and 0.75
    np.testing.assert_allclose(compute.class_probabilities(logits, 2, from_logits=True), [[0.5, 0.5], [0.25, 0.75]])
    logits = np.array([[np.log(1.0), np.log(2.0), np.log(5.0)], [1000.0, 0.0, 0.0]])
    np.testing.assert_allclose(compute.class_probabilities(logits, 3, from_logits=True),
                               [[0.125, 0.25, 0.625], [1.0, 0.0, 0.0]], atol=1e-12)
    assert np.isfinite(compute.class_probabilities(np.array([[-1000.0]]), 2, from_logits=True)).all()


def test_class_probabilities_width_errors():
    with pytest.raises(ValueError, match="n_classes=3 does not fit one output unit"):
        compute.class_probabilities(np.zeros((2, 1)), 3)
    with pytest.raises(ValueError, match="n_classes=4 does not fit outputs with 3 columns"):
        compute.class_probabilities(np.zeros((2, 3)), 4)


def test_are_probabilities():
    assert compute.are_probabilities(np.array([0.0, 0.5, 1.0 + 1e-9, np.nan]))
    assert not compute.are_probabilities(np.array([0.5, 1.2]))
    assert not compute.are_probabilities(np.array([-0.1]))
    assert compute.are_probabilities(np.array([np.nan]))


def test_true_class_probability_and_cross_entropy_terms():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.25, 0.5, 0.25], [0.05, 0.9, 0.05]])
    p = compute.true_class_probability(probabilities, np.array([0, 2, 0]))
    np.testing.assert_allclose(p, [0.7, 0.25, 0.05])
    np.testing.assert_allclose(compute.cross_entropy_terms(p), [0.356674944, 1.386294361, 2.995732274], rtol=1e-9)
    # Clipped as Keras clips: a probability of 0 or 1 gives a finite loss.
    eps = compute.CROSS_ENTROPY_EPSILON
    np.testing.assert_allclose(compute.cross_entropy_terms(np.array([0.0, 1.0])), [-np.log(eps), -np.log(1 - eps)])
    assert np.isnan(compute.cross_entropy_terms(np.array([np.nan]))[0])


def test_predicted_classes():
    np.testing.assert_array_equal(compute.predicted_classes(np.array([[0.2, 0.8], [0.6, 0.4]])), [1, 0])
    assert compute.predicted_classes(np.zeros((2, 3, 4))).shape == (2, 3)


# --------------------------------------------------------------------------
# class_region_rgba
# --------------------------------------------------------------------------
COLOURS3 = np.array([[0.0, 0.0, 1.0], [0.0, 0.5, 0.0], [1.0, 0.0, 0.0]])


def test_class_region_rgba_colour_of_the_winner_lighter_when_unsure():
    probabilities = np.array([[1.0, 0.0, 0.0],          # sure: full class-0 colour
                              [0.1, 0.1, 0.8],          # fairly sure of class 2
                              [1 / 3, 1 / 3, 1 / 3],    # undecided: white
                              [np.nan, 0.5, 0.5]])      # not finite: transparent
    rgba = compute.class_region_rgba(probabilities, COLOURS3)
    assert rgba.dtype == np.uint8 and rgba.shape == (4, 4)
    np.testing.assert_array_equal(rgba[0], [0, 0, 255, 255])
    strength = (0.8 - 1 / 3) / (1 - 1 / 3)
    np.testing.assert_array_equal(rgba[1], np.rint(255 * np.array([1, 1 - strength, 1 - strength, 1])))
    np.testing.assert_array_equal(rgba[2], [255, 255, 255, 255])
    assert rgba[3, 3] == 0


def test_class_region_rgba_for_two_classes_is_the_binary_colour_map():
    """Two classes: the negative colour, white at 0.5 and the positive colour, linearly in between."""
    negative, positive = np.array([0.1, 0.4, 0.7]), np.array([0.2, 0.6, 0.2])
    p = np.linspace(0, 1, 11)
    rgba = compute.class_region_rgba(np.column_stack([1 - p, p]), np.array([negative, positive]))
    t = np.abs(p - 0.5) * 2
    colour = np.where((p > 0.5)[:, None], positive, negative)
    np.testing.assert_allclose(rgba[:, :3] / 255, 1 - t[:, None] * (1 - colour), atol=1 / 255)


def test_class_region_rgba_keeps_grid_shape_and_needs_a_colour_per_class():
    assert compute.class_region_rgba(np.full((5, 6, 3), 1 / 3), COLOURS3).shape == (5, 6, 4)
    with pytest.raises(ValueError, match="colors has 3 colours for 4 classes"):
        compute.class_region_rgba(np.full((2, 4), 0.25), COLOURS3)


# --------------------------------------------------------------------------
# multiclass_histograms
# --------------------------------------------------------------------------
def test_multiclass_histograms_match_numpy():
    rng = np.random.default_rng(3)
    probabilities = rng.dirichlet(np.ones(3), size=200)
    labels = rng.integers(0, 3, size=200)
    edges = np.linspace(0, 1, 11)
    counts = compute.multiclass_histograms(probabilities, labels, edges)
    predicted = probabilities.argmax(axis=1)
    for c in range(3):
        p = probabilities[:, c]
        member, called = labels == c, predicted == c
        for name, mask in (("own", member & called), ("own_misclassified", member & ~called),
                           ("other", ~member & ~called), ("other_misclassified", ~member & called)):
            np.testing.assert_array_equal(counts[name][c], np.histogram(p[mask], bins=edges)[0], err_msg=name)
    # Every sample once on each side; the misclassified ones once as a member and once as a wrong call.
    assert counts["own"].sum() + counts["own_misclassified"].sum() == 200
    assert counts["other"].sum() + counts["other_misclassified"].sum() == 200 * 2
    assert counts["own_misclassified"].sum() == counts["other_misclassified"].sum() == np.sum(predicted != labels)
    np.testing.assert_array_equal(counts["left_out"], [0, 0, 0])


def test_multiclass_histograms_leave_out_non_finite_rows():
    probabilities = np.array([[0.8, 0.1, 0.1], [np.nan, 0.5, 0.5], [0.2, 0.3, 0.5]])
    counts = compute.multiclass_histograms(probabilities, np.array([0, 1, 1]), np.linspace(0, 1, 5))
    np.testing.assert_array_equal(counts["left_out"], [0, 1, 0])
    assert counts["own"].sum() + counts["own_misclassified"].sum() == 2


# --------------------------------------------------------------------------
# emptiest_corner
# --------------------------------------------------------------------------
def test_emptiest_corner():
    rng = np.random.default_rng(0)
    cloud = rng.uniform(0, 1, size=(300, 2))
    assert compute.emptiest_corner(cloud[(cloud[:, 0] > 0.5) | (cloud[:, 1] < 0.5)], (0, 1), (0, 1)) == "upper left"
    assert compute.emptiest_corner(cloud[(cloud[:, 0] < 0.5) | (cloud[:, 1] > 0.5)], (0, 1), (0, 1)) == "lower right"
    assert compute.emptiest_corner(np.zeros((0, 2)), (0, 1), (0, 1)) == "upper right"  # ties: upper right
    # Points of several epochs (E, n, 2) count together; non-finite points are ignored.
    epochs = np.stack([cloud, cloud + [0, 0.6]])
    epochs[0, 0] = np.nan
    assert compute.emptiest_corner(epochs, (0, 1.6), (0, 1.6)) in compute.LEGEND_CORNERS
