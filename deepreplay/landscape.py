"""Loss landscapes of a recording: planes through weight space, the loss over them, the line from start to end.

Everything here is computation (NumPy, scikit-learn and the model's own
compiled loss); nothing imports Matplotlib, so it is tested without figures.
The visuals in :mod:`deepreplay.plot.loss_landscape` and
:mod:`deepreplay.plot.loss_interpolation` draw what it returns.

A weight vector ``θ`` is every trainable variable of the model flattened and
concatenated in ``model.trainable_variables`` order (:func:`trajectory`
gives one per recorded epoch).  A :class:`Plane` is an origin (the weights of
one epoch, by default the last) and two directions ``d1, d2``; the point
``(a, b)`` of the plane is ``θ = origin + a d1 + b d2``.  Three kinds of planes:

* ``"pca"`` (Li et al., "Visualizing the Loss Landscape of Neural Nets",
  NeurIPS 2018, section 7): the first two principal directions of the
  trajectory ``θ_k − θ_origin``, from scikit-learn's ``PCA``; the fraction of
  the trajectory's variance each explains comes with them.  With several
  recordings of one architecture (:func:`shared_plane`) the PCA is of every
  run's trajectory around one origin, so their paths share one surface;
* ``"random"``: two Gaussian directions with *filter normalisation* (Li et
  al., section 4): each output unit's slice of a kernel is rescaled to the
  norm of the same slice of the origin's weights; one-dimensional variables
  (biases, normalisation scales) get no component, as in the paper;
* given directions (two arrays the length of ``θ``).

Epochs are placed on a plane by least squares (for the orthonormal PCA
directions, the orthogonal projection).  How far a weight vector lies off the
plane is part of every :class:`Path`, and the loss *recorded* at an epoch is
kept beside the surface's value at its projection: the two differ when the
path leaves the plane, and the visuals show that difference.

The loss over a grid (:func:`loss_surface`) is evaluated by
:class:`deepreplay._backend.BatchedLoss`: many weight vectors per compiled,
vectorised call of the model's stateless forward pass, never one
``model.evaluate`` per point.  Surfaces are cached in the recording file
(:func:`deepreplay.storage.write_derived`), keyed by the plane and the grid,
so drawing them again is instant; the recorded data are never touched.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from . import compute, storage

if TYPE_CHECKING:
    import keras

    from .replay import Replay

__all__ = [
    "LineInterpolation",
    "LossEvaluator",
    "LossSurface",
    "Path",
    "Plane",
    "given_plane",
    "line_interpolation",
    "loss_surface",
    "make_plane",
    "parameter_layout",
    "pca_plane",
    "random_plane",
    "shared_plane",
    "trajectory",
]

#: Kinds of planes :func:`make_plane` builds.
PLANE_KINDS = ("pca", "random")

#: The derived-data kind under which surfaces are cached (see :func:`deepreplay.storage.write_derived`).
SURFACE_CACHE = "loss_surfaces"


# -- weight vectors ----------------------------------------------------------------------------------------
def _check_replay(replay: object, name: str = "replay") -> None:
    needed = ("weights_at", "model", "epochs", "inputs", "targets", "reader")
    if any(not hasattr(replay, attr) for attr in needed):
        raise TypeError(f"{name} must be a deepreplay Replay (Replay(filename, group_name)), "
                        f"got {type(replay).__name__}.")


def parameter_layout(replay: Replay) -> list[tuple[str, str, tuple[int, ...]]]:
    """``(layer, variable, shape)`` of each trainable variable, in the order of a weight vector.

    The order is ``model.trainable_variables`` of the rebuilt model; names
    are those of :meth:`~deepreplay.replay.Replay.weights_at`.
    """
    from .model_inspection import variable_holders

    _check_replay(replay)
    model = replay.model
    names = {id(var): (name, key) for name, keys in variable_holders(model) for key, var in keys}
    layout = []
    for var in model.trainable_variables:
        if id(var) not in names:
            raise ValueError(f"the trainable variable {var.path!r} belongs to no top-level layer of the model, so "
                             "its recorded values cannot be found; loss landscapes need every trainable "
                             "variable recorded.")
        layout.append((*names[id(var)], tuple(int(d) for d in var.shape)))
    return layout


def trajectory(replay: Replay, epochs: Sequence[int] | None = None) -> np.ndarray:
    """The recorded weights as weight vectors, one row per epoch: shape ``(E, P)``, float64.

    Parameters
    ----------
    replay : Replay
    epochs : sequence of int, optional
        Recorded epochs (default: every recorded epoch).
    """
    layout = parameter_layout(replay)
    epochs = replay.epochs if epochs is None else np.asarray(epochs)
    rows = []
    for epoch in epochs:
        weights = replay.weights_at(int(epoch))
        try:
            rows.append(np.concatenate([np.asarray(weights[layer][var], dtype=np.float64).ravel()
                                        for layer, var, _ in layout]))
        except KeyError as exc:
            raise ValueError(f"the weights of {exc} were not recorded, so the model's weights cannot be rebuilt; "
                             "record with ReplayData(record=...) including 'weights'.") from None
    return np.stack(rows) if rows else np.zeros((0, sum(int(np.prod(s)) for *_, s in layout)))


def _resolve_epoch(replay: Replay, epoch: int | None, name: str) -> int:
    if epoch is None:
        return int(replay.epochs[-1])
    replay.record_index(epoch)  # a clear error when it was not recorded
    return int(epoch)


# -- planes ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plane:
    """A plane through weight space: ``θ(a, b) = origin + a d1 + b d2``.

    Attributes
    ----------
    origin : ndarray, shape (P,)
    directions : ndarray, shape (2, P)
    kind : str
        ``'pca'``, ``'random'`` or ``'given'``.
    origin_epoch : int or None
        The epoch whose weights are the origin (None for a given origin).
    explained_variance_ratio : ndarray, shape (2,), or None
        For PCA planes: the fraction of the trajectory's variance along each direction.
    """

    origin: np.ndarray
    directions: np.ndarray
    kind: str
    origin_epoch: int | None = None
    explained_variance_ratio: np.ndarray | None = None

    def point(self, a: float | np.ndarray, b: float | np.ndarray) -> np.ndarray:
        """Weight vectors at plane coordinates ``(a, b)`` (broadcast), shape ``(..., P)``."""
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        return self.origin + a[..., None] * self.directions[0] + b[..., None] * self.directions[1]

    def project(self, thetas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates ``(N, 2)`` of weight vectors on the plane (least squares) and their distance to it ``(N,)``."""
        thetas = np.atleast_2d(np.asarray(thetas, dtype=np.float64))
        offsets = thetas - self.origin
        coords, *_ = np.linalg.lstsq(self.directions.T, offsets.T, rcond=None)
        coords = coords.T
        residual = offsets - coords @ self.directions
        return coords, np.linalg.norm(residual, axis=1)

    def key(self) -> str:
        """A short digest of the plane (origin and directions), for caches."""
        digest = hashlib.sha1()
        digest.update(np.ascontiguousarray(self.origin, dtype=np.float64).tobytes())
        digest.update(np.ascontiguousarray(self.directions, dtype=np.float64).tobytes())
        return digest.hexdigest()[:16]


def pca_plane(replay: Replay, *, origin_epoch: int | None = None, epoch_start: int | None = None,
              epoch_end: int | None = None) -> Plane:
    """The plane of the first two PCA directions of ``θ_k − θ_origin`` (Li et al. 2018).

    Parameters
    ----------
    replay : Replay
    origin_epoch : int, optional
        The epoch whose weights are the origin (default: the last recorded).
    epoch_start, epoch_end : int, optional
        The epochs of the trajectory (default: every recorded epoch).

    Returns
    -------
    Plane
        Directions are scikit-learn's ``PCA(n_components=2).components_`` of
        the rows ``θ_k − θ_origin``; ``explained_variance_ratio`` is its
        ``explained_variance_ratio_``.
    """
    return shared_plane([replay], origin_epoch=origin_epoch, epoch_start=epoch_start, epoch_end=epoch_end)


def shared_plane(replays: Sequence[Replay], *, origin_epoch: int | None = None, epoch_start: int | None = None,
                 epoch_end: int | None = None) -> Plane:
    """One PCA plane for several recordings of one architecture, so their paths share one surface.

    The origin is the weights of the FIRST recording at ``origin_epoch``
    (default: its last epoch); the PCA is of every recording's ``θ_k −
    origin``, stacked.

    Parameters
    ----------
    replays : sequence of Replay
        Recordings of models with the same trainable variables (names and shapes).
    origin_epoch, epoch_start, epoch_end : int, optional
        As in :func:`pca_plane`; the epoch range applies to every recording.

    Returns
    -------
    Plane
    """
    from sklearn.decomposition import PCA

    replays = list(replays) if not isinstance(replays, (str, bytes)) else None
    if not replays:
        raise ValueError("replays is empty; give a list of Replay objects (one per run).")
    for i, replay in enumerate(replays):
        _check_replay(replay, f"replays[{i}]")
    layout = parameter_layout(replays[0])
    for i, replay in enumerate(replays[1:], start=1):
        other = parameter_layout(replay)
        if other != layout:
            raise ValueError(
                f"replays[{i}] ({replay.group_name!r}) has other trainable variables than replays[0] "
                f"({replays[0].group_name!r}); a shared plane needs one architecture "
                f"({[(n, v, s) for n, v, s in other][:3]}... vs {layout[:3]}...)."
            )
    first = replays[0]
    origin_epoch = _resolve_epoch(first, origin_epoch, "origin_epoch")
    origin = trajectory(first, [origin_epoch])[0]
    offsets = np.concatenate([trajectory(r, r.epoch_range(epoch_start, epoch_end)) for r in replays]) - origin
    if len(offsets) < 2:
        raise ValueError("a PCA plane needs at least two recorded epochs; this trajectory has one.")
    pca = PCA(n_components=2, svd_solver="full").fit(offsets)
    kind = "pca"
    return Plane(origin=origin, directions=np.asarray(pca.components_, dtype=np.float64), kind=kind,
                 origin_epoch=origin_epoch, explained_variance_ratio=np.asarray(pca.explained_variance_ratio_))


def random_plane(replay: Replay, *, origin_epoch: int | None = None, seed: int | None = 0) -> Plane:
    """Two random Gaussian directions with filter normalisation (Li et al. 2018, section 4).

    Each output unit's slice of a kernel (the last axis indexes units) is
    rescaled to the norm of that slice of the origin's weights;
    one-dimensional variables (biases, normalisation scales) get zeros.

    Parameters
    ----------
    replay : Replay
    origin_epoch : int, optional
        Default: the last recorded epoch.
    seed : int or None, default 0
        Seed of NumPy's generator.
    """
    origin_epoch = _resolve_epoch(replay, origin_epoch, "origin_epoch")
    layout = parameter_layout(replay)
    origin = trajectory(replay, [origin_epoch])[0]
    rng = np.random.default_rng(seed)
    directions = []
    for _ in range(2):
        parts, start = [], 0
        for _, _, shape in layout:
            size = int(np.prod(shape, dtype=np.int64))
            weights = origin[start:start + size].reshape(shape)
            start += size
            if len(shape) < 2:
                parts.append(np.zeros(size))
                continue
            d = rng.standard_normal(shape)
            axes = tuple(range(len(shape) - 1))
            d_norm = np.sqrt((d ** 2).sum(axis=axes, keepdims=True))
            w_norm = np.sqrt((weights ** 2).sum(axis=axes, keepdims=True))
            parts.append((d * w_norm / np.where(d_norm > 0, d_norm, 1.0)).ravel())
        directions.append(np.concatenate(parts))
    return Plane(origin=origin, directions=np.stack(directions), kind="random", origin_epoch=origin_epoch)


def given_plane(replay: Replay, directions: Sequence[np.ndarray], *, origin_epoch: int | None = None) -> Plane:
    """The plane through the weights of ``origin_epoch`` spanned by two given directions.

    Parameters
    ----------
    replay : Replay
    directions : pair of arrays
        Two weight-space directions, each of length ``P`` (see :func:`parameter_layout`).
    origin_epoch : int, optional
        Default: the last recorded epoch.
    """
    origin_epoch = _resolve_epoch(replay, origin_epoch, "origin_epoch")
    origin = trajectory(replay, [origin_epoch])[0]
    try:
        array = np.asarray(directions, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"directions must be two arrays of {origin.size} numbers each.") from None
    if array.shape != (2, origin.size):
        raise ValueError(f"directions has shape {array.shape}; expected (2, {origin.size}): two weight-space "
                         "directions, each as long as the model's flattened trainable weights.")
    if not np.all(np.isfinite(array)) or np.linalg.matrix_rank(array) < 2:
        raise ValueError("directions must be two finite, linearly independent vectors.")
    return Plane(origin=origin, directions=array, kind="given", origin_epoch=origin_epoch)


def make_plane(replay: Replay, directions: str | Sequence[np.ndarray] | Plane = "pca", *,
               origin_epoch: int | None = None, epoch_start: int | None = None, epoch_end: int | None = None,
               seed: int | None = 0) -> Plane:
    """A plane from a ``directions`` argument: ``'pca'``, ``'random'``, two arrays, or a :class:`Plane`."""
    if isinstance(directions, Plane):
        return directions
    if isinstance(directions, str):
        if directions == "pca":
            return pca_plane(replay, origin_epoch=origin_epoch, epoch_start=epoch_start, epoch_end=epoch_end)
        if directions == "random":
            return random_plane(replay, origin_epoch=origin_epoch, seed=seed)
        raise ValueError(f"directions={directions!r} must be 'pca', 'random', two arrays or a Plane "
                         "(e.g. from deepreplay.landscape.shared_plane).")
    return given_plane(replay, directions, origin_epoch=origin_epoch)


# -- the loss for any weights ------------------------------------------------------------------------------
def recorded_loss_function(replay: Replay) -> Any:
    """The recording's compiled loss, as ``loss(y_true, y_pred)`` returning one value per sample."""
    import keras

    from .losses import per_sample_loss

    config = json.loads(replay.reader.model_config)
    loss = ((config.get("compile_config") or {}) if isinstance(config, dict) else {}).get("loss")
    if loss is None:
        raise ValueError(f"the recording {replay.group_name!r} stores no compiled loss, so its loss surface "
                         "cannot be computed.")
    if isinstance(loss, dict):
        loss = keras.losses.deserialize(loss)

    class _Compiled:  # what per_sample_loss reads of a compiled model
        pass

    holder = _Compiled()
    holder.loss = loss
    return per_sample_loss(holder)


class LossEvaluator:
    """The recording's loss (on its recorded samples) for any weight vectors, many at once.

    ``LossEvaluator(replay)(thetas)`` returns the loss ``ReplayData`` would
    have recorded (mean per-sample loss plus regularisation, inference mode)
    for each row of ``thetas`` (shape ``(N, P)``, see :func:`trajectory`).
    The model is a clone of the recorded one; non-trainable variables take
    their values at ``epoch`` (default: the last).

    Parameters
    ----------
    replay : Replay
    epoch : int, optional
    chunk_size : int, optional
        Weight vectors per compiled call (see :class:`deepreplay._backend.BatchedLoss`).
    """

    def __init__(self, replay: Replay, *, epoch: int | None = None, chunk_size: int | None = None) -> None:
        import keras

        from . import _backend
        from .layer_tree import assign_recorded_weights

        _check_replay(replay)
        epoch = _resolve_epoch(replay, epoch, "epoch")
        model = keras.models.clone_model(replay.model)
        recorded = replay.weights_at(epoch)
        assign_recorded_weights(model, recorded)
        self.model: keras.Model = model
        self._batched = _backend.BatchedLoss(model, recorded_loss_function(replay), replay.inputs,
                                             replay.targets, chunk_size=chunk_size)

    @property
    def n_parameters(self) -> int:
        return self._batched.n_parameters

    @property
    def compiled(self) -> bool:
        """Whether the evaluation runs compiled (known after the first call)."""
        return self._batched.compiled

    def __call__(self, thetas: np.ndarray) -> np.ndarray:
        return self._batched(thetas)


# -- surfaces and paths ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Path:
    """Recorded epochs placed on a plane.

    Attributes
    ----------
    epochs : ndarray (E,)
    coords : ndarray (E, 2)
        Plane coordinates of each epoch's weights.
    distance : ndarray (E,)
        Distance of each epoch's weights from the plane (0: on it).
    recorded_loss : ndarray (E,)
        The loss recorded at each epoch.
    surface_loss : ndarray (E,)
        The loss at the projection of each epoch's weights on the plane.
    name : str
    """

    epochs: np.ndarray
    coords: np.ndarray
    distance: np.ndarray
    recorded_loss: np.ndarray
    surface_loss: np.ndarray
    name: str = ""

    @property
    def projection_error(self) -> np.ndarray:
        """Surface loss at the projection minus recorded loss, per epoch."""
        return self.surface_loss - self.recorded_loss


def path_on_plane(replay: Replay, plane: Plane, *, epoch_start: int | None = None, epoch_end: int | None = None,
                  evaluator: LossEvaluator | None = None) -> Path:
    """Place a recording's epochs on ``plane`` and evaluate the surface at their projections."""
    epochs = replay.epoch_range(epoch_start, epoch_end)
    thetas = trajectory(replay, epochs)
    if thetas.shape[1] != plane.origin.size:
        raise ValueError(f"the recording {replay.group_name!r} has {thetas.shape[1]} trainable weights but the plane "
                         f"lives in {plane.origin.size} dimensions; use a plane of this architecture.")
    coords, distance = plane.project(thetas)
    evaluator = evaluator or LossEvaluator(replay)
    surface = evaluator(plane.point(coords[:, 0], coords[:, 1]))
    recorded = np.asarray(replay.training_loss, dtype=np.float64)[np.isin(replay.epochs, epochs)]
    return Path(epochs=np.asarray(epochs), coords=coords, distance=distance, recorded_loss=recorded,
                surface_loss=surface, name=str(replay.group_name))


@dataclass(frozen=True)
class LossSurface:
    """The loss over a grid of a plane: ``losses[i, j]`` at ``(alphas[j], betas[i])``.

    Attributes
    ----------
    plane : Plane
    alphas, betas : ndarray (R,)
        Grid coordinates along ``d1`` and ``d2``.
    losses : ndarray (R, R)
        Rows follow ``betas``, columns ``alphas`` (as ``plt.contourf(alphas, betas, losses)`` expects).
    seconds : float
        Time taken to compute it (0 when read from the cache).
    from_cache : bool
    """

    plane: Plane
    alphas: np.ndarray
    betas: np.ndarray
    losses: np.ndarray
    seconds: float = 0.0
    from_cache: bool = False
    extra: dict = field(default_factory=dict)

    def at_origin(self) -> float | None:
        """The surface value at ``(0, 0)`` if that is a grid point, else None."""
        i, j = np.flatnonzero(np.isclose(self.betas, 0)), np.flatnonzero(np.isclose(self.alphas, 0))
        return float(self.losses[i[0], j[0]]) if i.size and j.size else None


def _check_span(span: object) -> tuple[tuple[float, float], tuple[float, float]] | None:
    if span is None:
        return None
    if isinstance(span, (int, float, np.integer, np.floating)) and not isinstance(span, (bool, np.bool_)):
        if not np.isfinite(span) or span <= 0:
            raise ValueError(f"span={span!r} must be a positive number (the grid covers -span..span on both axes).")
        return (-float(span), float(span)), (-float(span), float(span))
    try:
        first, second = span  # type: ignore[misc]
        return compute.check_limits("span[0]", first), compute.check_limits("span[1]", second)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ValueError) and "span[" in str(exc):
            raise
        raise TypeError(f"span={span!r} must be None, a positive number, or ((a_min, a_max), (b_min, b_max)).") from None


def auto_span(coords: Sequence[np.ndarray], *, margin: float = 0.25) -> tuple[tuple[float, float], tuple[float, float]]:
    """Limits covering every path's coordinates, widened by ``margin`` of their range on each side."""
    points = np.concatenate([np.atleast_2d(c) for c in coords])
    low, high = points.min(axis=0), points.max(axis=0)
    size = np.maximum(high - low, 1e-3 * max(1.0, float(np.abs(points).max())))
    low, high = low - margin * size, high + margin * size
    return (float(low[0]), float(high[0])), (float(low[1]), float(high[1]))


def _grid_axis(limits: tuple[float, float], resolution: int) -> np.ndarray:
    """``resolution`` evenly spaced values; 0 is moved onto the grid when it falls inside (the origin is a grid point)."""
    axis = np.linspace(limits[0], limits[1], resolution)
    if limits[0] < 0 < limits[1]:
        axis[np.argmin(np.abs(axis))] = 0.0
    return axis


def loss_surface(replay: Replay, plane: Plane, *, resolution: int = 51, span: Any = None,
                 paths: Sequence[Path] | None = None, evaluator: LossEvaluator | None = None,
                 cache: bool = True) -> LossSurface:
    """The loss over a ``resolution`` x ``resolution`` grid of ``plane``, batched and compiled.

    Parameters
    ----------
    replay : Replay
        The recording whose model and samples define the loss.
    plane : Plane
    resolution : int, default 51
    span : float or pair of pairs, optional
        ``s`` for ``-s..s`` on both axes, or ``((a_min, a_max), (b_min, b_max))``;
        default: around ``paths`` (or this recording's path), 25% wider.
    paths : sequence of Path, optional
        Paths the default span must cover.
    evaluator : LossEvaluator, optional
        Reuse one (it compiles once).
    cache : bool, default True
        Read the surface from, and write it to, the recording file's derived
        data (nothing recorded is touched; a read-only file is simply not cached).

    Returns
    -------
    LossSurface
    """
    import time

    resolution = compute.check_resolution("resolution", resolution, minimum=3)
    limits = _check_span(span)
    if limits is None:
        if paths is None:
            coords, _ = plane.project(trajectory(replay))
            paths_coords = [coords]
        else:
            paths_coords = [p.coords for p in paths]
        limits = auto_span(paths_coords)
    alphas, betas = _grid_axis(limits[0], resolution), _grid_axis(limits[1], resolution)
    key = _surface_key(replay, plane, alphas, betas)
    if cache:
        cached = storage.read_derived(replay.replay_filename, replay.group_name, SURFACE_CACHE, key)
        if cached is not None and cached.get("losses") is not None and \
                cached["losses"].shape == (resolution, resolution):
            return LossSurface(plane, alphas, betas, np.asarray(cached["losses"], dtype=np.float64), 0.0, True)
    start = time.perf_counter()
    evaluator = evaluator or LossEvaluator(replay)
    aa, bb = np.meshgrid(alphas, betas)
    losses = evaluator(plane.point(aa.ravel(), bb.ravel())).reshape(resolution, resolution)
    seconds = time.perf_counter() - start
    if cache:
        storage.write_derived(replay.replay_filename, replay.group_name, SURFACE_CACHE, key,
                              {"losses": losses, "alphas": alphas, "betas": betas},
                              attrs={"plane_kind": plane.kind, "resolution": resolution})
    return LossSurface(plane, alphas, betas, losses, seconds, False)


def _surface_key(replay: Replay, plane: Plane, alphas: np.ndarray, betas: np.ndarray) -> str:
    digest = hashlib.sha1()
    digest.update(plane.key().encode())
    digest.update(np.ascontiguousarray(alphas, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(betas, dtype=np.float64).tobytes())
    digest.update(str(len(replay.epochs)).encode())
    digest.update(np.ascontiguousarray(replay.inputs).tobytes()[:4096])
    return digest.hexdigest()[:24]


# -- the straight line from the initial to the final weights (Goodfellow et al. 2015) --------------------------
@dataclass(frozen=True)
class LineInterpolation:
    """The loss along ``θ(t) = θ_start + t (θ_end − θ_start)``, and the recorded epochs placed on that line.

    Attributes
    ----------
    ts : ndarray (N,)
        Line positions (0: the start epoch's weights, 1: the end epoch's).
    losses : ndarray (N,)
    epochs : ndarray (E,)
    epoch_ts : ndarray (E,)
        Each epoch's weights projected on the line.
    distance : ndarray (E,)
        Distance of each epoch's weights from the line.
    recorded_loss : ndarray (E,)
    start_epoch, end_epoch : int
    """

    ts: np.ndarray
    losses: np.ndarray
    epochs: np.ndarray
    epoch_ts: np.ndarray
    distance: np.ndarray
    recorded_loss: np.ndarray
    start_epoch: int
    end_epoch: int


def line_interpolation(replay: Replay, *, n_points: int = 101, beyond: float = 0.25,
                       epoch_start: int | None = None, epoch_end: int | None = None,
                       evaluator: LossEvaluator | None = None) -> LineInterpolation:
    """The loss along the straight line from the weights of ``epoch_start`` to those of ``epoch_end``.

    Parameters
    ----------
    replay : Replay
    n_points : int, default 101
        Points on the line.
    beyond : float, default 0.25
        How far past both ends to go, as a fraction of the line (``t`` from ``-beyond`` to ``1 + beyond``).
    epoch_start, epoch_end : int, optional
        The two ends (default: first and last recorded epochs); the epochs between are placed on the line.
    evaluator : LossEvaluator, optional
    """
    n_points = compute.check_resolution("n_points", n_points, minimum=3)
    if isinstance(beyond, (bool, np.bool_)) or not isinstance(beyond, (int, float, np.integer, np.floating)) \
            or not np.isfinite(beyond) or beyond < 0:
        raise ValueError(f"beyond={beyond!r} must be a number >= 0 (a fraction of the line).")
    epochs = replay.epoch_range(epoch_start, epoch_end)
    if len(epochs) < 2:
        raise ValueError("the line needs two different recorded epochs; this range holds one.")
    thetas = trajectory(replay, epochs)
    start, end = thetas[0], thetas[-1]
    direction = end - start
    norm2 = float(direction @ direction)
    if norm2 == 0:
        raise ValueError("the first and last weights are equal, so there is no line between them.")
    ts = np.linspace(-beyond, 1 + beyond, n_points)
    for anchor in (0.0, 1.0):
        ts[np.argmin(np.abs(ts - anchor))] = anchor
    evaluator = evaluator or LossEvaluator(replay)
    losses = evaluator(start + ts[:, None] * direction)
    epoch_ts = (thetas - start) @ direction / norm2
    distance = np.linalg.norm(thetas - start - epoch_ts[:, None] * direction, axis=1)
    recorded = np.asarray(replay.training_loss, dtype=np.float64)[np.isin(replay.epochs, epochs)]
    return LineInterpolation(ts=ts, losses=losses, epochs=np.asarray(epochs), epoch_ts=epoch_ts, distance=distance,
                             recorded_loss=recorded, start_epoch=int(epochs[0]), end_epoch=int(epochs[-1]))

