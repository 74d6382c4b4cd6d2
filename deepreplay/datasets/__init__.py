"""Small synthetic data sets used to demonstrate DeepReplay.

Each submodule exposes a ``load_data(...)`` function returning ``(X, y)``,
where ``X`` is a float32 array of shape ``(n, d)`` and ``y`` a float32 array
of shape ``(n, 1)`` holding binary labels (0.0 or 1.0). Results are
deterministic for a given ``seed``; no global random state is touched.

- :mod:`deepreplay.datasets.parabola`: two shifted parabolas in 2D.
- :mod:`deepreplay.datasets.ball`: points in (or on) an n-dimensional ball.
- :mod:`deepreplay.datasets.hypercube`: the vertices of an n-dimensional
  hypercube.
"""

from . import ball, hypercube, parabola

__all__ = ["ball", "hypercube", "parabola"]
