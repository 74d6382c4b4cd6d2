"""Tests for deepreplay.plot.feature_maps (FeatureMaps, Filters)."""

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from conftest import keras_at
from deepreplay import compute
from deepreplay.callbacks import ReplayData
from deepreplay.plot import compose_animations, compose_plots
from deepreplay.plot.feature_maps import FeatureMaps, Filters, conv_layers, default_probes, image_layers, kernel_tiles
from deepreplay.replay import Replay


@pytest.fixture
def digits(digits_cnn_recording):
    filename, group, _, _ = digits_cnn_recording
    with Replay(filename, group) as rp:
        yield rp


def tile(mosaic, i, j, h, w):
    """The (i, j) image of a mosaic with 1-pixel gaps."""
    return mosaic[i * (h + 1):i * (h + 1) + h, j * (w + 1):j * (w + 1) + w]


# -- feature maps ----------------------------------------------------------------------------------------
def test_default_probes_are_one_recorded_sample_per_class(digits, digits_cnn_recording):
    _, _, _, y = digits_cnn_recording
    _, ax = plt.subplots()
    fm = digits.build_feature_maps(ax)
    d = fm.data
    assert d.layer_name == "conv" and image_layers(digits) == ["conv", "pool"]
    recorded = digits.output_rows("conv")
    assert len(recorded) < len(y)  # the conv outputs are 'wide': recorded for a subset, as in real runs
    assert set(d.samples) <= set(recorded.tolist())
    assert sorted(y[d.samples].tolist()) == list(range(10))
    assert d.sample_labels[0] == f"class {y[d.samples[0]]} (#{d.samples[0]})"


def test_maps_are_the_conv_layer_of_the_model_at_each_epoch(digits, digits_cnn_recording):
    _, _, X, _ = digits_cnn_recording
    _, ax = plt.subplots()
    d = digits.build_feature_maps(ax, samples=[int(digits.output_rows("conv")[3])]).data
    (h, w), probe = d.tile_shape, int(d.samples[0])
    assert (h, w) == (8, 8) and d.n_channels == 8 and d.mosaic.shape == (len(d.epochs), 8, 8 * 9 - 1)
    for i, epoch in enumerate(d.epochs):
        expected = keras.ops.convert_to_numpy(keras_at(digits, int(epoch)).get_layer("conv")(X[probe:probe + 1]))[0]
        for c in range(8):  # recorded rounded to 11 significant bits
            np.testing.assert_allclose(tile(d.mosaic[i], 0, c, h, w), expected[..., c], rtol=2e-3, atol=1e-6)
    assert np.isnan(d.mosaic[:, :, 8]).all()  # a gap between channels
    np.testing.assert_array_equal(d.inputs[0], X[probe, ..., 0])


def test_colour_scale_is_fixed_over_the_epochs_and_frames_update_in_place(digits):
    fig, ax = plt.subplots()
    fm = digits.build_feature_maps(ax)
    low, high = fm.data.limits
    assert low == 0.0 and high > 0  # ReLU maps: from 0
    n_artists = None
    for epoch in fm.data.epochs:
        changed = fm.set_epoch(int(epoch))
        assert changed == [fm.image]
        assert fm.image.get_clim() == (low, high)
        np.testing.assert_array_equal(fm.image.get_array().filled(np.nan), fm.data.mosaic[fm.data.index(epoch)])
        n_artists = n_artists or len(ax.get_children())
        assert len(ax.get_children()) == n_artists
    assert ax.get_title() == "Feature Maps - Layer: conv"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["input", *map(str, range(8))]


def test_chosen_samples_channels_and_layer(digits, digits_cnn_recording):
    _, _, _, y = digits_cnn_recording
    rows = digits.output_rows("pool")
    _, ax = plt.subplots()
    fm = digits.build_feature_maps(ax, "pool", samples=[int(rows[5]), int(rows[1])], channels=[6, 2],
                                   class_names=[f"digit {k}" for k in range(10)])
    d = fm.data
    assert d.samples.tolist() == [rows[5], rows[1]] and d.channels.tolist() == [6, 2]
    assert d.tile_shape == (4, 4) and d.mosaic.shape[1:] == (2 * 5 - 1, 2 * 5 - 1)
    assert d.sample_labels[1] == f"digit {y[rows[1]]} (#{rows[1]})"
    fm.set_epoch(0)
    assert "channels 6..2 of 8" in ax.get_title()


def test_samples_whose_outputs_were_not_recorded_are_refused_with_the_way_out(digits):
    missing = sorted(set(range(400)) - set(digits.output_rows("conv").tolist()))[0]
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"not recorded for sample\(s\) \[%d\].*output_samples=None" % missing):
        digits.build_feature_maps(ax, samples=[missing])
    with pytest.raises(ValueError, match="out of range"):
        digits.build_feature_maps(ax, samples=[400])
    with pytest.raises(TypeError, match="samples"):
        digits.build_feature_maps(ax, samples=3)
    with pytest.raises(ValueError, match="repeated"):
        digits.build_feature_maps(ax, channels=[1, 1])
    with pytest.raises(ValueError, match=r"layer_name='dense'.*layers with feature maps: \['conv', 'pool'\]"):
        digits.build_feature_maps(ax, "dense")


def test_models_without_conv_layers_say_so(replay):
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="no layer whose outputs are maps"):
        replay.build_feature_maps(ax)
    with pytest.raises(ValueError, match="no convolution layer"):
        replay.build_filters(ax)


def test_default_probes_helper():
    labels = np.array([2, 0, 2, 1, 0, 1])
    np.testing.assert_array_equal(default_probes(labels, np.array([0, 2, 3, 4])), [4, 3, 0])
    np.testing.assert_array_equal(default_probes(None, np.arange(30)), np.arange(10))


# -- filters ---------------------------------------------------------------------------------------------
def test_filters_are_the_recorded_kernels_wrapped_on_a_grid(digits):
    _, ax = plt.subplots()
    f = digits.build_filters(ax)
    d = f.data
    assert conv_layers(digits) == ["conv"] and d.layer_name == "conv" and d.kernel_shape == (3, 3, 1, 8)
    assert d.wrap == 3 and d.mosaic.shape[1:] == (3 * 4 - 1, 3 * 4 - 1)  # 8 filters on a 3 x 3 grid
    for i, epoch in enumerate(d.epochs):
        kernel = digits.weights_at(int(epoch))["conv"]["kernel"]
        for k in range(8):
            np.testing.assert_array_equal(tile(d.mosaic[i], k // 3, k % 3, 3, 3), kernel[:, :, 0, k])
    low, high = d.limits
    assert low == -high > -np.inf and high > 0  # diverging, centred on 0
    f.set_epoch(0)
    assert [t.get_text() for t in f.labels] == list(map(str, range(8)))
    assert f.image.get_clim() == (low, high)


def test_filters_of_rgb_and_one_dimensional_convolutions(tmp_path):
    """Three input channels give three rows; a Conv1D kernel is drawn as strips; nothing raises."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 6, 6, 3)).astype(np.float32)
    y = np.arange(12) % 2
    model = keras.Sequential([keras.Input((6, 6, 3)), keras.layers.Conv2D(5, 3, name="c"),
                              keras.layers.DepthwiseConv2D(3, name="dw"),
                              keras.layers.GlobalAveragePooling2D(name="g"),
                              keras.layers.Dense(1, activation="sigmoid", name="out")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    ReplayData(X, y, str(tmp_path / "rgb.h5"), "rgb", model=model)
    S = rng.normal(size=(12, 20, 2)).astype(np.float32)
    seq = keras.Sequential([keras.Input((20, 2)), keras.layers.Conv1D(6, 5, name="c1"),
                            keras.layers.Flatten(name="f"), keras.layers.Dense(1, activation="sigmoid", name="out")])
    seq.compile(optimizer="sgd", loss="binary_crossentropy")
    ReplayData(S, y, str(tmp_path / "seq.h5"), "seq", model=seq)
    fig, axes = plt.subplots(1, 3)
    with Replay(tmp_path / "rgb.h5", "rgb") as rgb, Replay(tmp_path / "seq.h5", "seq") as s:
        f = rgb.build_filters(axes[0])
        assert f.data.wrap is None and f.data.mosaic.shape[1:] == (3 * 4 - 1, 5 * 4 - 1)
        kernel = rgb.weights_at(0)["c"]["kernel"]
        np.testing.assert_array_equal(tile(f.data.mosaic[0], 2, 4, 3, 3), kernel[:, :, 2, 4])
        assert conv_layers(rgb) == ["c", "dw"]
        dw = rgb.build_filters(fig.add_subplot(2, 3, 4), "dw").data  # (3, 3, 5 inputs, multiplier 1)
        assert dw.kernel_shape == (3, 3, 5, 1) and dw.mosaic.shape[1:] == (3 * 4 - 1, 3)
        np.testing.assert_array_equal(tile(dw.mosaic[0], 1, 0, 3, 3), rgb.weights_at(0)["dw"]["kernel"][:, :, 1, 0])
        f1 = s.build_filters(axes[1])
        assert f1.data.tile_shape == (1, 5) and f1.data.mosaic.shape[1] == 2 * 2 - 1  # 1-pixel strips, 2 inputs
        m = s.build_feature_maps(axes[2])
        assert m.data.layer_name == "c1" and m.data.inputs is None and m.data.tile_shape == (3, 16)
        np.testing.assert_array_equal(tile(m.data.mosaic[0], 0, 1, 3, 16)[0],
                                      s.outputs_at(0, "c1")[m.data.samples[0], :, 1])
        compose_plots([f, f1, m], 0)
    np.testing.assert_array_equal(kernel_tiles(np.zeros((3, 3, 4, 2)), "Conv2DTranspose").shape, (2, 4, 3, 3))


def test_filters_of_a_convolution_inside_a_nested_model(tmp_path):
    """A stem model's convolution ('stem/conv', as keras.applications.ConvNeXt has): its kernel is recorded with
    the stem's weights, and the filters said it was not recorded."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 6, 6, 1)).astype(np.float32)
    stem = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(4, 3, name="conv"),
                             keras.layers.LayerNormalization(name="norm")], name="stem")
    model = keras.Sequential([keras.Input((6, 6, 1)), stem, keras.layers.GlobalAveragePooling2D(name="g"),
                              keras.layers.Dense(1, activation="sigmoid", name="out")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    ReplayData(X, np.arange(12) % 2, str(tmp_path / "stem.h5"), "stem", model=model)
    _, ax = plt.subplots()
    with Replay(tmp_path / "stem.h5", "stem") as replay:
        assert conv_layers(replay) == ["stem/conv"]
        d = replay.build_filters(ax).data
        assert d.layer_name == "stem/conv" and d.kernel_shape == (3, 3, 1, 4)
        kernel = keras.ops.convert_to_numpy(stem.get_layer("conv").kernel)
        np.testing.assert_array_equal(tile(d.mosaic[0], 0, 1, 3, 3), kernel[:, :, 0, 1])


def test_maps_and_filters_animate_together(digits, tmp_path):
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 4))
    anim = compose_animations([digits.build_feature_maps(a), digits.build_filters(b)])
    path = tmp_path / "conv.gif"
    anim.save(path, fps=4, dpi=40)
    assert Image.open(path).n_frames == len(digits.epochs)


def test_bad_options(digits):
    _, ax = plt.subplots()
    with pytest.raises(TypeError, match="max_channels"):
        digits.build_feature_maps(ax, max_channels=2.5)
    with pytest.raises(ValueError, match="layer_name='dense' is not a convolution layer"):
        digits.build_filters(ax, "dense")
    with pytest.raises(ValueError, match="out of range"):
        digits.build_filters(ax, filters=[8])
    with pytest.raises(TypeError, match="title"):
        digits.build_filters(ax, title=3)
    with pytest.raises(TypeError, match="Axes"):
        digits.build_feature_maps(None)
    assert compute.robust_limits([np.zeros(3)], symmetric=True) == (-1.0, 1.0)


def test_the_recordings_own_probe_samples_are_the_default(digits, monkeypatch):
    """A recording that chose probe samples (ReplayData(probe_samples=...)) shows those, in its order."""
    rows = digits.output_rows("conv")
    probes = np.array([rows[7], rows[2], 10_000])  # one not among the recorded rows: left out
    monkeypatch.setattr(Replay, "probe_indices", property(lambda self: probes), raising=False)
    _, ax = plt.subplots()
    assert digits.build_feature_maps(ax).data.samples.tolist() == [rows[7], rows[2]]


@pytest.mark.parametrize("layout, n_channels", [("channels_last", 3), ("channels_first_layers", 1),
                                                 ("channels_first_config", 1), ("channels_first_config", 3)])
def test_the_input_column_in_both_layouts(tmp_path, layout, n_channels):
    """(H, W, C) or (C, H, W) inputs (data_format= on the layers, or Keras' image data format): the probe's
    image is the first column either way, and each channel's map is Keras' own."""
    rng = np.random.default_rng(1)
    images = rng.uniform(size=(12, 6, 6, n_channels)).astype(np.float32)  # (n, H, W, C)
    first = layout != "channels_last"
    X = np.moveaxis(images, -1, 1) if first else images
    previous = keras.config.image_data_format()
    if layout == "channels_first_config":
        keras.config.set_image_data_format("channels_first")
    try:
        fmt = {"data_format": "channels_first"} if layout == "channels_first_layers" else {}
        model = keras.Sequential([keras.Input(X.shape[1:]), keras.layers.Conv2D(2, 3, padding="same", name="c", **fmt),
                                  keras.layers.Flatten(name="f"),
                                  keras.layers.Dense(1, activation="sigmoid", name="out")])
        model.compile(optimizer="sgd", loss="binary_crossentropy")
        ReplayData(X, np.arange(12) % 2, str(tmp_path / "maps.h5"), "maps", model=model)
    finally:
        keras.config.set_image_data_format(previous)
    _, ax = plt.subplots()
    with Replay(tmp_path / "maps.h5", "maps") as rp:
        fm = rp.build_feature_maps(ax, "c")
        d = fm.data
        probes = d.samples
        expected = images[probes, ..., 0] if n_channels == 1 else \
            (images[probes] - images[probes].min()) / (images[probes].max() - images[probes].min())
        np.testing.assert_allclose(d.inputs, expected, rtol=1e-6)
        outputs = keras.ops.convert_to_numpy(keras_at(rp, 0).get_layer("c")(X[probes[:1]]))[0]
        for c in range(2):
            channel = outputs[c] if first else outputs[..., c]
            np.testing.assert_allclose(tile(d.mosaic[0], 0, c, 6, 6), channel, rtol=2e-3, atol=1e-6)
        fm.plot(0)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["input", "0", "1"]
