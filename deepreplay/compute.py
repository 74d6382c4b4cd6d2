"""Pure-NumPy computations behind the visuals: epochs, grids, limits, bins.

Nothing here imports Matplotlib or Keras, so it is tested without figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def to_numpy(value: object) -> np.ndarray:
    """A backend tensor (or anything array-like) as a NumPy array."""
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        try:
            return np.asarray(value.numpy())
        except Exception:  # e.g. a torch tensor that requires grad
            pass
    if hasattr(value, "detach"):
        return np.asarray(value.detach().cpu().numpy())
    return np.asarray(value)


def describe_epochs(epochs: Sequence[int]) -> str:
    """Short text for a list of recorded epochs: '0..150' or '0, 3, 6'."""
    epochs = [int(e) for e in epochs]
    if not epochs:
        return "none"
    if len(epochs) > 2 and epochs == list(range(epochs[0], epochs[-1] + 1)):
        return f"{epochs[0]}..{epochs[-1]}"
    if len(epochs) > 8:
        return ", ".join(map(str, epochs[:4])) + ", ..., " + ", ".join(map(str, epochs[-2:]))
    return ", ".join(map(str, epochs))


def epoch_range(epochs: np.ndarray, epoch_start: int | None = None, epoch_end: int | None = None) -> np.ndarray:
    """Recorded epochs in ``[epoch_start, epoch_end]`` (inclusive; ``None`` means first/last).

    Raises
    ------
    ValueError
        Start after end, or no recorded epoch in the range.
    """
    epochs = np.asarray(epochs)
    if epochs.size == 0:
        raise ValueError("epochs is empty: there is no recorded epoch to select from; give the recorded epochs.")
    for name, value in (("epoch_start", epoch_start), ("epoch_end", epoch_end)):
        if value is not None and (isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer))):
            raise TypeError(f"{name}={value!r} must be an integer epoch or None.")
        if value is not None and value < 0:
            which = "first" if name == "epoch_start" else "last"
            raise ValueError(f"{name}={value} must be 0 or more (use None for the {which} recorded epoch).")
    start = int(epochs[0]) if epoch_start is None else int(epoch_start)
    end = int(epochs[-1]) if epoch_end is None else int(epoch_end)
    if start > end:
        end_text = f"epoch_end={end}" if epoch_end is not None else f"the last recorded epoch ({end})"
        start_text = f"epoch_start={start}" if epoch_start is not None else f"the first recorded epoch ({start})"
        raise ValueError(
            f"{start_text} is after {end_text}; give epoch_start <= epoch_end "
            f"(recorded epochs: {describe_epochs(epochs)})."
        )
    selected = epochs[(epochs >= start) & (epochs <= end)]
    if selected.size == 0:
        raise ValueError(
            f"no recorded epoch between epoch_start={start} and epoch_end={end}; "
            f"recorded epochs: {describe_epochs(epochs)}."
        )
    return selected


def check_limits(name: str, limits: Sequence[float]) -> tuple[float, float]:
    """Validate a ``(low, high)`` pair."""
    try:
        if isinstance(limits, (str, bytes)):
            raise TypeError
        items = tuple(limits)
        if any(isinstance(v, (str, bytes, bool, np.bool_)) for v in items):
            raise TypeError
        low, high = (float(v) for v in items)
    except (TypeError, ValueError):
        raise TypeError(f"{name}={limits!r} must be a pair of numbers (low, high).") from None
    if not (np.isfinite(low) and np.isfinite(high)) or low >= high:
        raise ValueError(f"{name}={limits!r} must be two finite numbers with low < high.")
    return low, high


def check_resolution(name: str, value: int, *, minimum: int = 2) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}={value!r} must be an integer.")
    if value < minimum:
        raise ValueError(f"{name}={value} must be at least {minimum}.")
    return int(value)


def make_grid(xlim: Sequence[float], ylim: Sequence[float], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An ``n`` x ``n`` grid: ``(xx, yy, points)`` with ``points`` of shape (n*n, 2), float32."""
    xs = np.linspace(xlim[0], xlim[1], n, dtype=np.float32)
    ys = np.linspace(ylim[0], ylim[1], n, dtype=np.float32)
    xx, yy = np.meshgrid(xs, ys)
    return xx, yy, np.column_stack([xx.ravel(), yy.ravel()])


def grid_lines(xlim: Sequence[float], ylim: Sequence[float], *, n_lines: int = 11, n_points: int = 101) -> np.ndarray:
    """Points along a lattice of lines: shape (2 * n_lines, n_points, 2).

    The first ``n_lines`` are vertical (constant x), the rest horizontal.
    """
    xs = np.linspace(xlim[0], xlim[1], n_lines)
    ys = np.linspace(ylim[0], ylim[1], n_lines)
    tx = np.linspace(xlim[0], xlim[1], n_points)
    ty = np.linspace(ylim[0], ylim[1], n_points)
    vertical = np.stack([np.stack([np.full_like(ty, x), ty], axis=-1) for x in xs])
    horizontal = np.stack([np.stack([tx, np.full_like(tx, y)], axis=-1) for y in ys])
    return np.concatenate([vertical, horizontal]).astype(np.float32)


def padded_limits(values: Iterable[np.ndarray], *, pad: float = 0.05) -> tuple[tuple[float, float], tuple[float, float]]:
    """``(xlim, ylim)`` covering every finite 2-D point in ``values``, padded by a fraction."""
    lows, highs = [], []
    for array in values:
        array = np.asarray(array, dtype=np.float64).reshape(-1, 2)
        array = array[np.all(np.isfinite(array), axis=1)]
        if array.size:
            lows.append(array.min(axis=0))
            highs.append(array.max(axis=0))
    if not lows:
        return (-1.0, 1.0), (-1.0, 1.0)
    low, high = np.min(lows, axis=0), np.max(highs, axis=0)
    span = np.where(high - low > 1e-12, high - low, 1.0)
    low, high = low - pad * span, high + pad * span
    return (float(low[0]), float(high[0])), (float(low[1]), float(high[1]))


def class_labels(targets: np.ndarray) -> np.ndarray:
    """Integer class of each sample from binary, integer or one-hot targets."""
    targets = np.asarray(targets)
    if targets.ndim == 2 and targets.shape[1] > 1:
        return np.argmax(targets, axis=1)
    return np.rint(targets.reshape(len(targets), -1)[:, 0]).astype(int)


def positive_probability(predictions: np.ndarray) -> np.ndarray:
    """Probability of the positive class from a binary model's outputs, shape (n,)."""
    predictions = np.asarray(predictions)
    if predictions.ndim == 2 and predictions.shape[1] == 2:
        return predictions[:, 1]
    return predictions.reshape(len(predictions), -1)[:, 0]


def histogram_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of finite ``values`` in the bins given by ``edges`` (values beyond are clipped in)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    return np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)[0]
