"""Tests for deepreplay.statistics: the layer statistics as functions of arrays (no recording)."""

import numpy as np
import pytest

from deepreplay import statistics as st


def epochs_of(*rows):
    return [[np.asarray(v, dtype=np.float64) for v in row] for row in rows]


def test_std_per_layer_is_the_population_std_of_each_array():
    values = epochs_of(([1, 3], [0, 0, 0]), ([2, 6], [1, -1]))
    out = st.std_per_layer(iter(values), 2)
    np.testing.assert_array_equal(out, [[1.0, 0.0], [2.0, 1.0]])
    assert out.dtype == np.float64
    assert st.std_per_layer([], 3).shape == (0, 3)


def test_std_ratio_is_nan_where_the_weights_do_not_spread():
    ratio = st.std_ratio_values(np.array([[1.0, 2.0, 3.0]]), np.array([[2.0, 0.0, np.nan]]))
    np.testing.assert_array_equal(ratio[0, :1], [0.5])
    assert np.isnan(ratio[0, 1]) and np.isnan(ratio[0, 2])


def test_kernel_values_prefer_the_kernel():
    kernel = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(st.kernel_values({"kernel": kernel, "bias": np.ones(3)}), np.arange(6.0))
    np.testing.assert_array_equal(st.kernel_values({"gamma": np.ones(2), "beta": np.zeros(1)}), [1.0, 1.0, 0.0])


def test_ranges_skip_non_finite_values_and_pad():
    assert st.finite_range(epochs_of(([1, np.nan], [-2]), ([np.inf, 5],))) == (-2.0, 5.0)
    assert st.finite_range(epochs_of(([np.nan],))) == (np.inf, -np.inf)
    assert st.padded_range(0.0, 10.0) == (-0.5, 10.5)
    assert st.padded_range(2.0, 2.0) == pytest.approx((1.8, 2.2))
    assert st.padded_range(0.0, 0.0) == (-1.0, 1.0)
    assert st.padded_range(np.inf, -np.inf) == (-1.0, 1.0)


def test_histograms_count_clip_and_summarise():
    edges = np.linspace(0.0, 4.0, 5)
    values = epochs_of(([0.5, 1.5, 1.5, 9.0], [np.nan]), ([-3.0, 2.5, 3.5, 3.5], [1.0, 2.0, 3.0]))
    counts, quartiles, std = st.histograms(iter(values), edges, 2, 2)
    np.testing.assert_array_equal(counts[0, 0], [1, 2, 0, 1])  # 9.0 counted in the last bin
    np.testing.assert_array_equal(counts[1, 0], [1, 0, 1, 2])  # -3.0 in the first
    np.testing.assert_array_equal(counts[0, 1], [0, 0, 0, 0])
    assert np.isnan(quartiles[0, 1]).all() and np.isnan(std[0, 1])
    np.testing.assert_allclose(quartiles[1, 1], [1.5, 2.0, 2.5])
    np.testing.assert_allclose(std[1, 1], np.std([1.0, 2.0, 3.0]))


def test_check_bins_names_the_argument():
    assert st.check_bins(np.int64(7)) == 7
    with pytest.raises(TypeError, match="bins=2.5"):
        st.check_bins(2.5)
    with pytest.raises(ValueError, match="bins=1 must be at least 2"):
        st.check_bins(1)


def test_tables_select_by_epoch_layer_and_case():
    table = st.LayerStatistics(st.frozen(np.array([0, 5])), ("a", "b"), st.frozen(np.array([[1.0, 2.0], [3.0, 4.0]])))
    np.testing.assert_array_equal(table.at(5), [3.0, 4.0])
    np.testing.assert_array_equal(table.of("b"), [2.0, 4.0])
    assert not table.values.flags.writeable
    with pytest.raises(ValueError, match="epoch=1 is not among these epochs"):
        table.at(1)
    with pytest.raises(ValueError, match="layer_name='c'"):
        table.of("c")
    ratios = st.RatioTable(epoch=0, cases=("tanh", "relu"), layers=("h1", "h2"), values=np.array([[0.1, 0.25], [1.0, 2.0]]))
    assert ratios.to_dict() == {"tanh": {"h1": 0.1, "h2": 0.25}, "relu": {"h1": 1.0, "h2": 2.0}}
    assert ratios.format(precision=2).splitlines() == ["case   h1    h2", "tanh  0.1  0.25", "relu    1     2"]
