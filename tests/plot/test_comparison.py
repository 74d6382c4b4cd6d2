"""Figure 17: grouped bars of the gradient/weight std ratio, and the table of the same numbers."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from deepreplay.diagnostics import RatioTable
from deepreplay.plot.comparison import plot_ratio_table, plot_std_ratios


@pytest.fixture()
def table():
    values = np.array([[0.02, 0.012, 0.013],
                       [0.011, 0.06, 0.09],
                       [1.8e-9, 1.9e-7, 7.7e-6]])
    return RatioTable(epoch=0, cases=("Tanh - Glorot", "ReLU - He", "Sigmoid - N(0.01)"),
                      layers=("h1", "h2", "h3"), values=values)


def test_bars_have_the_table_values_grouped_by_layer(table):
    _fig, ax = plt.subplots()
    bars = plot_std_ratios(ax, table)
    assert list(bars) == list(table.cases)
    for k, case in enumerate(table.cases):
        heights = [patch.get_height() for patch in bars[case].patches]
        np.testing.assert_allclose(heights, table.values[k])
        centers = [patch.get_x() + patch.get_width() / 2 for patch in bars[case].patches]
        np.testing.assert_allclose(centers, np.arange(3) - 0.4 + (k + 0.5) * 0.8 / 3, atol=1e-12)
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["h1", "h2", "h3"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(table.cases)
    assert ax.get_title() == "Ratio of gradient to weight std - epoch 0"


def test_linear_scale_colours_and_error_bars(table):
    _fig, ax = plt.subplots()
    colors = {"Tanh - Glorot": "red", "ReLU - He": "green", "Sigmoid - N(0.01)": "blue"}
    errors = np.stack([table.values * 0.1, table.values * 0.2])
    bars = plot_std_ratios(ax, table, log_scale=False, colors=colors, errors=errors, legend=False, title="T")
    assert ax.get_yscale() == "linear" and ax.get_legend() is None and ax.get_title() == "T"
    assert bars["ReLU - He"].patches[0].get_facecolor()[:3] == pytest.approx((0.0, 0.5019607843137255, 0.0))
    assert bars["ReLU - He"].errorbar is not None


def test_bad_input(table):
    _fig, ax = plt.subplots()
    with pytest.raises(TypeError, match="table must be a RatioTable"):
        plot_std_ratios(ax, {"a": [1, 2]})
    with pytest.raises(TypeError, match="ax must be a Matplotlib Axes"):
        plot_std_ratios(None, table)
    with pytest.raises(ValueError, match="colors has no colour for cases"):
        plot_std_ratios(ax, table, colors={"Tanh - Glorot": "red"})
    with pytest.raises(ValueError, match="errors has shape"):
        plot_std_ratios(ax, table, errors=np.zeros(3))
    zero = RatioTable(epoch=0, cases=("a",), layers=("h1", "h2"), values=np.array([[0.0, 0.1]]))
    with pytest.raises(ValueError, match="log_scale=True needs positive ratios.*pass log_scale=False"):
        plot_std_ratios(ax, zero)


def test_the_table_shows_the_same_numbers(table):
    _fig, ax = plt.subplots()
    drawn = plot_ratio_table(ax, table, precision=2)
    cells = drawn.get_celld()
    assert cells[(0, 0)].get_text().get_text() == "h1"
    assert cells[(1, -1)].get_text().get_text() == "Tanh - Glorot"
    assert cells[(3, 0)].get_text().get_text() == f"{1.8e-9:.2g}"
    assert cells[(2, 2)].get_text().get_text() == "0.09"
    assert not ax.axison
