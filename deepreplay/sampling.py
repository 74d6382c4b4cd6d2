"""Which samples a recording keeps: the ``max_samples`` subset and the probe samples.

* :func:`class_labels_or_none` reads class labels from targets (integer
  labels, a 0/1 column, one-hot rows), or says they are not a classification's.
* :func:`subset` draws ``max_samples`` rows, stratified by class for a
  classification (scikit-learn's ``train_test_split(stratify=...)``: every
  class kept in proportion), at random otherwise; deterministic for a seed.
* :func:`probe_rows` picks the few samples whose convolutional feature maps
  are recorded: one per class by default (the first of each class), else the
  first few samples.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_CLASSES", "N_PROBES_REGRESSION", "class_labels_or_none", "subset", "probe_rows"]

#: Targets with more distinct integer values than this are not treated as class labels.
MAX_CLASSES = 256
#: Probe samples of a model whose targets are not class labels.
N_PROBES_REGRESSION = 4


def class_labels_or_none(targets: np.ndarray) -> np.ndarray | None:
    """Integer class of each sample, or None when ``targets`` are not class labels.

    Class labels are integers (or integral floats) of shape ``(n,)`` or
    ``(n, 1)`` with at most :data:`MAX_CLASSES` distinct values, or one-hot
    rows (0/1, one 1 per row).
    """
    y = np.asarray(targets)
    if y.ndim == 0 or y.dtype.kind not in "biuf" or len(y) == 0:
        return None
    if y.ndim == 2 and y.shape[1] > 1:
        if np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1):
            return np.argmax(y, axis=1)
        return None
    if y.ndim > 2 or (y.ndim == 2 and y.shape[1] != 1):
        return None
    flat = y.reshape(-1)
    if y.dtype.kind == "f" and not np.all(np.isfinite(flat) & (flat == np.round(flat))):
        return None
    if len(np.unique(flat)) > MAX_CLASSES:
        return None
    return flat.astype(np.int64)


def subset(n: int, size: int, labels: np.ndarray | None, seed: int) -> np.ndarray:
    """Sorted positions of ``size`` of ``n`` samples: stratified by ``labels`` when given, else random.

    Stratified: each class keeps its share of the samples (rounded; every
    class with enough samples keeps at least one), as scikit-learn's
    ``train_test_split(..., stratify=labels)`` allots them.  When that cannot
    be done (fewer rows than classes, or a class of a single sample), the
    subset is drawn at random.  The same ``seed`` gives the same subset.
    """
    if size >= n:
        return np.arange(n)
    if labels is not None and len(np.unique(labels)) > 1:
        from sklearn.model_selection import train_test_split

        try:
            chosen, _ = train_test_split(np.arange(n), train_size=size, stratify=labels, random_state=int(seed))
        except ValueError:  # a class of one sample, or fewer rows than classes
            pass
        else:
            return np.sort(chosen)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def probe_rows(labels: np.ndarray | None, n: int) -> np.ndarray:
    """Default probe samples (positions): the first sample of each class, else the first few samples."""
    if labels is None:
        return np.arange(min(N_PROBES_REGRESSION, n))
    _, first = np.unique(labels, return_index=True)
    return np.sort(first)
