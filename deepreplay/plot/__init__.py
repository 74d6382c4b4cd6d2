"""Visuals of a recording, their composition into one figure, and saving.

Each visual is a :class:`~deepreplay.plot.base.Plotter` in its own module,
usually built through :class:`deepreplay.replay.Replay` (``build_*``).
"""

from .base import Plotter, ReplayAnimation, compose_animations, compose_plots
from .common import CLASS_COLORS, MISCLASSIFIED_COLOR
from .confusion_matrix import ConfusionMatrix
from .decision_boundary import DecisionBoundary
from .export import save_animation
from .comparison import plot_ratio_table, plot_std_ratios
from .feature_maps import FeatureMaps, Filters
from .feature_space import FeatureSpace
from .gradient_flow import GradientFlow
from .layer_distributions import LayerDistributions
from .loss_and_metric import LossAndMetric
from .loss_histogram import LossHistogram
from .loss_interpolation import LossInterpolation
from .loss_landscape import LossLandscape
from .probability_histogram import ProbabilityHistogram
from .runs_loss_and_metric import RunsLossAndMetric, compare_loss_and_metric
from .widgets import epoch_slider

__all__ = [
    "CLASS_COLORS",
    "ConfusionMatrix",
    "DecisionBoundary",
    "FeatureMaps",
    "FeatureSpace",
    "GradientFlow",
    "Filters",
    "LayerDistributions",
    "MISCLASSIFIED_COLOR",
    "LossAndMetric",
    "LossHistogram",
    "LossInterpolation",
    "LossLandscape",
    "Plotter",
    "ProbabilityHistogram",
    "ReplayAnimation",
    "RunsLossAndMetric",
    "compare_loss_and_metric",
    "compose_animations",
    "compose_plots",
    "epoch_slider",
    "plot_ratio_table",
    "plot_std_ratios",
    "save_animation",
]
