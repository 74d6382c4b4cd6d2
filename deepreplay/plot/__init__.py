"""Visuals of a recording, their composition into one figure, and saving.

Each visual is a :class:`~deepreplay.plot.base.Plotter` in its own module,
usually built through :class:`deepreplay.replay.Replay` (``build_*``).
"""

from .base import Plotter, ReplayAnimation, compose_animations, compose_plots
from .common import CLASS_COLORS, MISCLASSIFIED_COLOR
from .decision_boundary import DecisionBoundary
from .export import save_animation
from .comparison import plot_ratio_table, plot_std_ratios
from .feature_space import FeatureSpace
from .layer_distributions import LayerDistributions
from .loss_and_metric import LossAndMetric
from .loss_histogram import LossHistogram
from .probability_histogram import ProbabilityHistogram
from .widgets import epoch_slider

__all__ = [
    "CLASS_COLORS",
    "DecisionBoundary",
    "FeatureSpace",
    "LayerDistributions",
    "MISCLASSIFIED_COLOR",
    "LossAndMetric",
    "LossHistogram",
    "Plotter",
    "ProbabilityHistogram",
    "ReplayAnimation",
    "compose_animations",
    "compose_plots",
    "epoch_slider",
    "plot_ratio_table",
    "plot_std_ratios",
    "save_animation",
]
