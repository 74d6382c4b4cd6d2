"""Part 2 of "Hyper-parameters in Action!": weight initializers, re-measured.

What holds and what does not (measured by this script: Keras 3.15, TensorFlow
2.21 CPU, initial state, seeds 0-9; each number is mean [min..max] over the
10 seeds unless said otherwise; the full table is in examples/part2_findings.md)
------------------------------------------------------------------------------
Holds (the direction holds in every seed unless a count is given):

* Sigmoid, Normal(0.01): the gradients vanish towards the first layer.  The
  gradient std of h1 over that of h5 is 1.5e-07 [1.1e-07..2.8e-07]; the
  gradient/weight std ratio of h1 is 1.8e-09.  Activations sit at 0.5 with a
  std of about 0.01.
* Sigmoid, Normal(0.1): still vanishing, less: h1/h5 = 0.0026 [0.00039..0.018].
* Sigmoid, Normal(1.0): the layers' gradients are closer to each other
  (h1/h5 = 0.28 [0.17..0.61]), but 66% of the activations of h2-h5 are
  below 0.05 or above 0.95 ("binary mode").
* Tanh, Normal(1.0): the gradients explode towards the first layer
  (h1/h5 = 44 [39..52]); 84% of the activations of h2-h5 have |a| > 0.95.
* ReLU with Glorot normal: the z-values shrink layer after layer (std 0.43 in
  h1 down to 0.11 in h5, about 1/sqrt(2) per layer), and the gradient/weight
  ratios of h2-h5 (0.004-0.009) are 14-15x smaller than with He normal.
  With He normal or uniform the z std stays at 1.4 in every layer, and the gradients still
  shrink towards the first layer (h1/h5 = 0.34 and 0.37), without vanishing.
* Figure 17, ReLU/He against Tanh/Glorot: bigger ratios in every one of
  h2-h5 in 20 of 20 seed pairs (He normal / Glorot normal: 5.3x in h2 up
  to 11x in h5), smaller in the first layer (fan-in 10) in 18 of 20.
* Figure 11: TruncatedNormal(stddev=0.1) has a measured std of 0.0879 (0.879
  of the request, the 0.8796 of the post); VarianceScaling asked for 0.1
  gives 0.1000.

Holds only in part:

* Tanh, Normal(0.01): z-values and activations vanish (z std 0.031 in h1,
  3.1e-06 in h5) and the gradients are alike in h2-h5 (max/min 1.2), but at
  5.5e-09, not "about 1e-7".
* Tanh, Glorot against Normal(0.1) ("incredibly similar"): the z-values are
  alike (std 0.43..0.28 against 0.31..0.23), but the gradient/weight ratio of
  h2-h5 is 2.3x larger with Glorot normal (0.98x..5.1x; larger in 9 of 10
  seeds): Glorot gives the first layer (fan-in 10) and the output layer
  (fan-out 1) a std of 0.134 and 0.14 instead of 0.1.

Does not hold:

* Tanh, Normal(0.1): "gradients about 20x smaller than the weights": they are
  190x smaller in h2-h5 (100x..300x), 56x in h1.

Flips with the seed (the post's "Uniform wins" of Figure 17):

* He uniform has a larger mean ratio than He normal in 5 of 10 seeds, Glorot
  uniform than Glorot normal in 3 of 10.  Over the seeds, uniform is slightly
  *below* normal (0.8x-0.9x per layer), well inside the seed-to-seed spread
  (std/mean of one ratio: 0.8 for He, 0.4 for Glorot).  With seed 0 alone,
  He normal's ratios are 5-10x He uniform's; another seed reverses that.
  Even 5 seeds mislead: with seeds 0-4 (--seeds 5) He uniform wins in 1 of 5
  and uniform/normal is 0.3x-0.5x, "Normal wins"; seeds 5-9 turn it around.
  One network per initializer cannot rank Normal against Uniform.

Also: in Keras 3 an initializer object returns the same values at every
call, so one initializer instance shared by several layers gives every
100x100 layer the same matrix.  This script gives each layer its own
initializer, seeded with 1000 * seed + layer index.

What it does
------------
The BLOCK model (10 inputs, 5 hidden Dense layers of 100 units, 1 sigmoid
output; SGD, binary cross-entropy) on the 10-D ball data (1,000 points), for
11 activation/initializer cases and several seeds each.  Every model's
initial state (epoch 0, no training) is recorded with
``ReplayData(X, y, file, group, model=model)``; the per-layer standard
deviations and gradient/weight ratios come from :mod:`deepreplay.diagnostics`.

Writes to ``--output`` (default ``out/part2``):

* ``part2_weight_initializers.h5``: every recording (a fresh file each run;
  an existing file is replaced only if it holds nothing but this example's
  groups);
* ``part2_<case>.png``: z-values, weights, activations and gradients per layer
  (seed 0), one 2x2 figure per case, as the post's Figures 1-6 and 12-16;
* ``part2_figure17_std_ratios.png``: the post's Figure 17 for seed 0 and for
  the mean over seeds, uniform against normal seed by seed, and the table of
  means;
* ``part2_figure11_truncated_normal.png``: a truncated normal of standard
  deviation 0.1 against Keras' variance scaling asked for 0.1;

and prints the multi-seed summary table and a check of each of the post's
claims, seed by seed.

Run:  python examples/part2_weight_initializers.py [--seeds 10] [--output out/part2]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

try:  # run from a clone without installing: use the package next to this file
    import deepreplay  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

N_INPUTS = 10
N_POINTS = 1000
N_HIDDEN = 5
UNITS = 100
HIDDEN = tuple(f"h{i + 1}" for i in range(N_HIDDEN))
H5_NAME = "part2_weight_initializers.h5"


@dataclass(frozen=True)
class Case:
    """One activation/initializer combination of the post."""

    slug: str
    label: str
    activation: str
    initializer: Callable[[int], object]  # seed -> keras initializer


def _cases() -> list[Case]:
    import keras

    init = keras.initializers

    def normal(std: float) -> Callable[[int], object]:
        return lambda seed: init.RandomNormal(mean=0.0, stddev=std, seed=seed)

    return [
        Case("sigmoid_normal_0.01", "Sigmoid - Normal(0.01)", "sigmoid", normal(0.01)),
        Case("sigmoid_normal_0.1", "Sigmoid - Normal(0.1)", "sigmoid", normal(0.1)),
        Case("sigmoid_normal_1.0", "Sigmoid - Normal(1.0)", "sigmoid", normal(1.0)),
        Case("tanh_normal_0.01", "Tanh - Normal(0.01)", "tanh", normal(0.01)),
        Case("tanh_normal_1.0", "Tanh - Normal(1.0)", "tanh", normal(1.0)),
        Case("tanh_normal_0.1", "Tanh - Normal(0.1)", "tanh", normal(0.1)),
        Case("tanh_glorot_normal", "Tanh - Glorot normal", "tanh", lambda seed: init.GlorotNormal(seed=seed)),
        Case("tanh_glorot_uniform", "Tanh - Glorot uniform", "tanh", lambda seed: init.GlorotUniform(seed=seed)),
        Case("relu_glorot_normal", "ReLU - Glorot normal", "relu", lambda seed: init.GlorotNormal(seed=seed)),
        Case("relu_he_normal", "ReLU - He normal", "relu", lambda seed: init.HeNormal(seed=seed)),
        Case("relu_he_uniform", "ReLU - He uniform", "relu", lambda seed: init.HeUniform(seed=seed)),
    ]


#: The cases of the post's Figure 17, in its order.
FIGURE17 = ("tanh_glorot_normal", "tanh_glorot_uniform", "relu_he_normal", "relu_he_uniform", "sigmoid_normal_0.01")


def build_block_model(activation: str, initializer: Callable[[int], object], seed: int):
    """The BLOCK model, compiled with SGD and binary cross-entropy.

    Each layer gets its own initializer seeded with ``1000 * seed + layer``:
    in Keras 3 a seeded initializer returns the same values at every call, so
    sharing one instance would give every 100x100 layer the same matrix.
    """
    import keras

    layers = [keras.Input((N_INPUTS,), name="inputs")]
    for i, name in enumerate(HIDDEN):
        layers.append(keras.layers.Dense(UNITS, activation=activation, name=name,
                                         kernel_initializer=initializer(1000 * seed + i)))
    layers.append(keras.layers.Dense(1, activation="sigmoid", name="output",
                                     kernel_initializer=initializer(1000 * seed + N_HIDDEN)))
    model = keras.Sequential(layers, name=f"block_{activation}")
    model.compile(optimizer=keras.optimizers.SGD(), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def group_name(case: Case, seed: int) -> str:
    return f"{case.slug}_seed{seed}"


# -- the recording file: never clobber a file this example did not write ---------------------------------------
def _check_target(filename: str, cases: list[Case]) -> None:
    """Refuse to replace ``filename`` unless it holds only groups this example writes."""
    if not os.path.exists(filename):
        return
    import h5py

    if not h5py.is_hdf5(filename):
        sys.exit(f"{filename} exists and is not an HDF5 file written by this example; "
                 "move it away or choose another --output.")
    ours = re.compile(r"^(" + "|".join(re.escape(c.slug) for c in cases) + r")_seed\d+$")
    with h5py.File(filename, "r") as f:
        foreign = [name for name in f if not ours.match(name)]
    if foreign:
        sys.exit(f"{filename} holds groups this example did not write ({foreign[:5]}...); refusing to replace it. "
                 "Move it away or choose another --output.")


def record_all(filename: str, cases: list[Case], seeds: list[int]) -> None:
    """Record the initial state of every case and seed into a fresh file, then move it to ``filename``."""
    from deepreplay.callbacks import ReplayData
    from deepreplay.datasets import ball

    _check_target(filename, cases)
    partial = f"{filename}.{os.getpid()}.partial"
    if os.path.exists(partial):
        sys.exit(f"{partial} exists; remove it (a leftover of an interrupted run) and try again.")
    X, y = ball.load_data(n_dims=N_INPUTS, n_points=N_POINTS)
    try:
        for case in cases:
            for seed in seeds:
                model = build_block_model(case.activation, case.initializer, seed)
                ReplayData(X, y, partial, group_name(case, seed), model=model)
        _check_target(filename, cases)
        os.replace(partial, filename)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


# -- measurements -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Measures:
    """Initial-state measurements of one case, one row per seed, one column per hidden layer."""

    ratio: np.ndarray      # std(gradients) / std(weights)
    grad_std: np.ndarray
    weight_std: np.ndarray
    z_std: np.ndarray
    saturated: np.ndarray  # fraction of activations near the ends of the activation's range (0 for ReLU: zeros)


def _saturation(activation: str, values: np.ndarray) -> float:
    if activation == "sigmoid":
        return float(np.mean((values < 0.05) | (values > 0.95)))
    if activation == "tanh":
        return float(np.mean(np.abs(values) > 0.95))
    return float(np.mean(values == 0))


def measure(filename: str, cases: list[Case], seeds: list[int]) -> dict[str, Measures]:
    from deepreplay import diagnostics as dg
    from deepreplay.replay import Replay

    out = {}
    for case in cases:
        rows: dict[str, list] = {k: [] for k in ("ratio", "grad_std", "weight_std", "z_std", "saturated")}
        for seed in seeds:
            with Replay(filename, group_name(case, seed)) as replay:
                rows["ratio"].append(dg.std_ratio(replay, list(HIDDEN)).at(0))
                rows["grad_std"].append(dg.gradients_std(replay, list(HIDDEN)).at(0))
                rows["weight_std"].append(dg.weights_std(replay, list(HIDDEN)).at(0))
                rows["z_std"].append(dg.layer_std(replay, "z", list(HIDDEN)).at(0))
                acts = dg.layer_values(replay, "activations", 0, layer_names=list(HIDDEN))
                rows["saturated"].append([_saturation(case.activation, v) for v in acts.values()])
        out[case.slug] = Measures(**{k: np.array(v) for k, v in rows.items()})
    return out


def _g(value: float) -> str:
    return f"{value:.2g}"


def _span(values: np.ndarray) -> str:
    values = np.asarray(values)
    return f"{_g(values.mean())} [{_g(values.min())}..{_g(values.max())}]"


def print_summary(cases: list[Case], measures: dict[str, Measures], seeds: list[int]) -> None:
    print(f"\nMulti-seed summary: initial state (epoch 0), seeds {seeds[0]}..{seeds[-1]} ({len(seeds)} seeds).")
    print("std(gradients)/std(weights) per hidden layer, mean ± std over seeds; then the gradient std of the")
    print("first hidden layer over the last one (h1/h5), mean [min..max] over seeds.\n")
    head = f"{'case':24s}" + "".join(f"{name:>20s}" for name in HIDDEN) + f"{'grad std h1/h5':>30s}"
    print(head)
    print("-" * len(head))
    for case in cases:
        m = measures[case.slug]
        cells = "".join(f"{f'{_g(mu)} ± {_g(sd)}':>20s}" for mu, sd in zip(m.ratio.mean(0), m.ratio.std(0)))
        print(f"{case.label:24s}{cells}{_span(m.grad_std[:, 0] / m.grad_std[:, -1]):>30s}")
    print("\nz-value std per hidden layer (mean over seeds) and activations near saturation "
          "(sigmoid: <0.05 or >0.95; tanh: |a|>0.95; ReLU: exactly 0):\n")
    print(f"{'case':24s}" + "".join(f"{'z ' + n:>9s}" for n in HIDDEN) + "".join(f"{'sat ' + n:>9s}" for n in HIDDEN))
    for case in cases:
        m = measures[case.slug]
        print(f"{case.label:24s}" + "".join(f"{_g(v):>9s}" for v in m.z_std.mean(0))
              + "".join(f"{v:>9.0%}" for v in m.saturated.mean(0)))


def check_claims(measures: dict[str, Measures], n_seeds: int) -> list[str]:
    """Each of the post's claims, with what was measured and in how many seeds it holds."""
    m = measures
    lines = []

    def add(verdict: str, claim: str, evidence: str) -> None:
        lines.append(f"[{verdict}] {claim}\n        {evidence}")

    def count(mask: np.ndarray) -> int:
        return int(np.sum(mask))

    def g15(slug: str) -> np.ndarray:
        return m[slug].grad_std[:, 0] / m[slug].grad_std[:, -1]

    r = g15("sigmoid_normal_0.01")
    add("HOLDS" if r.max() < 1e-3 else "FAILS", "Sigmoid, Normal(0.01): gradients vanish towards the first layer.",
        f"grad std h1/h5 = {_span(r)}; h1 gradient std {_span(m['sigmoid_normal_0.01'].grad_std[:, 0])}; "
        f"ratio to weights at h1 {_span(m['sigmoid_normal_0.01'].ratio[:, 0])}.")
    r = g15("sigmoid_normal_0.1")
    add("HOLDS" if r.max() < 0.1 else "FAILS", "Sigmoid, Normal(0.1): better, but still vanishing towards the first layer.",
        f"grad std h1/h5 = {_span(r)} (< 0.1 in {count(r < 0.1)}/{n_seeds} seeds).")
    r1 = g15("sigmoid_normal_1.0")
    sat = m["sigmoid_normal_1.0"].saturated[:, 1:].mean(1)
    add("HOLDS" if count(r1 > g15("sigmoid_normal_0.1")) == n_seeds else "SEED-DEPENDENT",
        "Sigmoid, Normal(1.0): gradients more similar across layers, but activations in 'binary mode'.",
        f"grad std h1/h5 = {_span(r1)} (closer to 1 than with 0.1 in "
        f"{count(r1 > g15('sigmoid_normal_0.1'))}/{n_seeds} seeds); activations of h2-h5 below 0.05 or "
        f"above 0.95: {_span(sat * 100)} %.")
    t = m["tanh_normal_0.01"]
    spread = t.grad_std[:, 1:].max(1) / t.grad_std[:, 1:].min(1)
    near_1e7 = bool(np.all((t.grad_std[:, 1:] > 1e-8) & (t.grad_std[:, 1:] < 1e-6)))
    add("HOLDS" if spread.max() < 2 and near_1e7 else ("PARTLY: similar, but not at 1e-7" if spread.max() < 2
                                                       else "FAILS"),
        "Tanh, Normal(0.01): vanishing z-values, activations and gradients; gradients "
        "similar along the layers at a scale of about 1e-7.",
        f"gradient std h2-h5 = {_span(t.grad_std[:, 1:])} (max/min over h2-h5 {_span(spread)}); z std falls "
        f"from {_g(t.z_std[:, 0].mean())} (h1) to {_g(t.z_std[:, -1].mean())} (h5).")
    r = g15("tanh_normal_1.0")
    add("HOLDS" if r.min() > 1 else "FAILS", "Tanh, Normal(1.0): exploding gradients, growing towards the first layer; "
        "activations collapse to -1/+1.",
        f"grad std h1/h5 = {_span(r)}; |activation| > 0.95 in h2-h5: "
        f"{_span(m['tanh_normal_1.0'].saturated[:, 1:].mean(1) * 100)} %.")
    t = m["tanh_normal_0.1"]
    factor = 1.0 / t.ratio[:, 1:]
    about20 = count((factor > 10).all(1) & (factor < 40).all(1))
    add("HOLDS" if about20 == n_seeds else ("FAILS" if about20 == 0 else "SEED-DEPENDENT"),
        "Tanh, Normal(0.1): gradients about 20x smaller than the weights (taken as 10x-40x).",
        f"weights std / gradient std in h2-h5 = {_span(factor)}x (h1: {_span(1 / t.ratio[:, 0])}x).")
    gl = m["tanh_glorot_normal"]
    rel = gl.ratio / t.ratio
    z_rel = gl.z_std / t.z_std
    z_alike = bool(np.all((z_rel > 2 / 3) & (z_rel < 1.5)))
    grad_alike = bool(np.all((rel > 2 / 3) & (rel < 1.5)))
    add("HOLDS" if z_alike and grad_alike else ("PARTLY: z-values alike, gradient ratios not" if z_alike
                                                 else "FAILS"),
        "Tanh: Glorot (normal and uniform) 'incredibly similar' to Normal(0.1).",
        f"z std h1..h5 Glorot normal {' '.join(_g(v) for v in gl.z_std.mean(0))} vs Normal(0.1) "
        f"{' '.join(_g(v) for v in t.z_std.mean(0))} (within 2/3..1.5x in every seed: {z_alike}); the "
        "gradient/weight ratio of h2-h5 is "
        f"{_span(rel[:, 1:])}x larger with Glorot normal (larger in {count(rel[:, 1:].min(1) > 1)}/{n_seeds} "
        "seeds): Glorot gives the first layer (fan-in 10) and the output layer (fan-out 1) a larger std.")
    rg = m["relu_glorot_normal"]
    shrink = rg.z_std[:, -1] / rg.z_std[:, 0]
    add("HOLDS" if shrink.max() < 0.5 else "SEED-DEPENDENT",
        "ReLU and Glorot normal 'don't mix well': z-values shrink layer after layer.",
        f"z std h5/h1 = {_span(shrink)} (about 1/sqrt(2) per layer); He normal: "
        f"{_span(m['relu_he_normal'].z_std[:, -1] / m['relu_he_normal'].z_std[:, 0])}.")
    for slug, name in (("relu_he_normal", "He normal"), ("relu_he_uniform", "He uniform")):
        r = g15(slug)
        add("HOLDS" if r.max() < 1 else "SEED-DEPENDENT",
            f"ReLU, {name}: z-values similar along the layers; gradients a bit 'vanishy' towards the first layer.",
            f"z std h1..h5 {' '.join(_g(v) for v in m[slug].z_std.mean(0))}; grad std h1/h5 = {_span(r)}.")
    for normal, uniform, name in (("relu_he_normal", "relu_he_uniform", "He"),
                                  ("tanh_glorot_normal", "tanh_glorot_uniform", "Glorot")):
        u, n = m[uniform].ratio, m[normal].ratio
        wins = count(u.mean(1) > n.mean(1))
        per_layer = ", ".join(f"{layer} {count(u[:, j] > n[:, j])}" for j, layer in enumerate(HIDDEN))
        add("FLIPS WITH THE SEED" if 0 < wins < n_seeds else ("HOLDS" if wins == n_seeds else "FAILS"),
            f"Figure 17: Uniform gives relatively bigger gradients than Normal ({name}).",
            f"{name} uniform's mean ratio over h1-h5 beats {name} normal's in {wins}/{n_seeds} seeds "
            f"(per layer: {per_layer}); uniform/normal of the seed means: "
            f"{' '.join(_g(v) for v in u.mean(0) / n.mean(0))}; per-seed spread of one ratio "
            f"(std/mean) ~{_g(np.mean(n.std(0) / n.mean(0)))}.")
    he, gl = m["relu_he_normal"].ratio, m["tanh_glorot_normal"].ratio
    hu, gu = m["relu_he_uniform"].ratio, m["tanh_glorot_uniform"].ratio
    later = count((he[:, 1:] > gl[:, 1:]).all(1)) + count((hu[:, 1:] > gu[:, 1:]).all(1))
    first = count(he[:, 0] < gl[:, 0]) + count(hu[:, 0] < gu[:, 0])
    add("HOLDS" if later == 2 * n_seeds else "SEED-DEPENDENT",
        "Figure 17: ReLU/He gives bigger ratios than Tanh/Glorot, except in the first layer.",
        f"bigger in every one of h2-h5 in {later}/{2 * n_seeds} seed-pairs (normal and uniform); smaller in h1 "
        f"in {first}/{2 * n_seeds}; He normal / Glorot normal per layer: "
        f"{' '.join(_g(v) for v in he.mean(0) / gl.mean(0))}.")
    return lines


# -- figures ---------------------------------------------------------------------------------------------
def case_figure(filename: str, case: Case, seed: int, path: str) -> None:
    """The post's 2x2 figure: z-values, weights / activations, gradients, per hidden layer."""
    from deepreplay.plot import compose_plots
    from deepreplay.plot.layer_distributions import LayerDistributions
    from deepreplay.replay import Replay

    with Replay(filename, group_name(case, seed)) as replay:
        fig, axes = plt.subplots(2, 2, figsize=(11, 8))
        visuals = [
            LayerDistributions.from_replay(replay, axes[0, 0], "z"),
            LayerDistributions.from_replay(replay, axes[0, 1], "weights"),
            LayerDistributions.from_replay(replay, axes[1, 0], "activations", include_inputs=True),
            LayerDistributions.from_replay(replay, axes[1, 1], "gradients"),
        ]
        compose_plots(visuals, 0, title=f"{case.label} (seed {seed})")
        fig.tight_layout()
        fig.savefig(path, dpi=80)
        plt.close(fig)


def figure17(filename: str, cases: list[Case], measures: dict[str, Measures], seeds: list[int], path: str) -> None:
    from deepreplay import diagnostics as dg
    from deepreplay.plot.comparison import plot_ratio_table, plot_std_ratios
    from deepreplay.replay import Replay

    by_slug = {c.slug: c for c in cases}
    chosen = [by_slug[slug] for slug in FIGURE17]
    replays = {c.label: Replay(filename, group_name(c, seeds[0])) for c in chosen}
    try:
        seed0 = dg.ratio_table(replays, epoch=0, layer_names=list(HIDDEN))
    finally:
        for replay in replays.values():
            replay.close()
    stacked = np.array([measures[c.slug].ratio for c in chosen])  # (C, S, L)
    mean = dg.RatioTable(epoch=0, cases=seed0.cases, layers=seed0.layers, values=stacked.mean(1))
    low, high = stacked.min(1), stacked.max(1)
    # Normal dark, uniform light; Glorot blue, He red; the naive sigmoid purple.
    colors = {c.label: col for c, col in zip(chosen, ("#1f77b4", "#9ecae1", "#d62728", "#fc9272", "#6a3d9a"))}

    fig = plt.figure(figsize=(19, 8.5))
    grid = fig.add_gridspec(2, 3, height_ratios=(2.2, 1), hspace=0.3, wspace=0.25)
    ax_seed, ax_mean = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    ax_flip = fig.add_subplot(grid[0, 2])
    bars = plot_std_ratios(ax_seed, seed0, colors=colors, legend=False,
                           title=f"One network per case (seed {seeds[0]}), as in the post")
    plot_std_ratios(ax_mean, mean, colors=colors, errors=np.array([mean.values - low, high - mean.values]),
                    title=f"Mean over {len(seeds)} seeds (bars: min..max)", legend=False)
    bottom = min(ax_seed.get_ylim()[0], ax_mean.get_ylim()[0])
    top = max(ax_seed.get_ylim()[1], ax_mean.get_ylim()[1])
    for ax in (ax_seed, ax_mean):
        ax.set_ylim(bottom, top)
    fig.legend([b.patches[0] for b in bars.values()], list(bars), loc="upper center", ncol=len(bars),
               bbox_to_anchor=(0.5, 0.95), fontsize="small", frameon=False)
    # Uniform against normal, seed by seed: the mean ratio over the layers, uniform / normal.
    width = 0.4
    x = np.arange(len(seeds))
    for k, (uniform, normal, name, color) in enumerate((
            ("relu_he_uniform", "relu_he_normal", "He (ReLU)", "#d62728"),
            ("tanh_glorot_uniform", "tanh_glorot_normal", "Glorot (Tanh)", "#1f77b4"))):
        quotient = measures[uniform].ratio.mean(1) / measures[normal].ratio.mean(1)
        ax_flip.bar(x + (k - 0.5) * width, quotient - 1.0, bottom=1.0, width=width * 0.95, color=color, label=name)
    ax_flip.axhline(1.0, color="0.2", lw=1)
    ax_flip.set_yscale("log")
    ax_flip.set_xticks(x)
    ax_flip.set_xticklabels([str(seed) for seed in seeds])
    ax_flip.set_xlabel("seed")
    ax_flip.set_ylabel("mean ratio over h1-h5: uniform / normal")
    ax_flip.set_title("Does Uniform beat Normal? Per seed; above 1: yes")
    ax_flip.legend(fontsize="small")
    ax_flip.grid(axis="y", which="major", alpha=0.3)
    ax_table = fig.add_subplot(grid[1, :])
    plot_ratio_table(ax_table, mean, precision=3, fontsize=9)
    ax_table.set_title(f"std(gradients) / std(weights) at epoch 0, mean over {len(seeds)} seeds", fontsize=10)
    fig.suptitle("Figure 17: how big are the gradients, relative to the weights? (initial state)")
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    print(f"\nFigure 17 table, seed {seeds[0]} (std(gradients)/std(weights), epoch 0):\n{seed0.format(precision=3)}")


def figure11(path: str) -> tuple[float, float]:
    """Histograms of TruncatedNormal(0.1) and VarianceScaling asked for std 0.1, with their measured std."""
    import keras

    shape = (100, 10_000)  # fan_in = 100: VarianceScaling(scale=1.0, mode='fan_in') asks for std sqrt(1/100) = 0.1
    truncated = keras.ops.convert_to_numpy(keras.initializers.TruncatedNormal(stddev=0.1, seed=1)(shape)).ravel()
    scaled = keras.ops.convert_to_numpy(keras.initializers.VarianceScaling(
        scale=1.0, mode="fan_in", distribution="truncated_normal", seed=1)(shape)).ravel()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True, sharey=True)
    edges = np.linspace(-0.3, 0.3, 121)
    panels = ((truncated, "TruncatedNormal(stddev=0.1)", "#1f77b4"),
              (scaled, "VarianceScaling(scale=1, mode='fan_in',\ndistribution='truncated_normal'), fan_in=100",
               "#d62728"))
    for ax, (values, name, color) in zip(axes, panels):
        ax.hist(values, bins=edges, color=color, alpha=0.7)
        ax.axvline(-0.2, color="0.3", ls="--", lw=0.8)
        ax.axvline(0.2, color="0.3", ls="--", lw=0.8)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("weight value (dashed: ±0.2, twice the requested std)")
        ax.text(0.03, 0.95, f"requested std 0.1\nmeasured std {values.std():.4f}\n"
                f"= {values.std() / 0.1:.3f} x requested\nrange [{values.min():.3f}, {values.max():.3f}]",
                transform=ax.transAxes, va="top", fontsize=9,
                bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8})
    axes[0].set_ylabel("count (1,000,000 samples)")
    fig.suptitle("Figure 11: truncation shrinks the std; variance scaling compensates")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return float(truncated.std()), float(scaled.std())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=os.path.join("out", "part2"), help="directory for the file and figures")
    parser.add_argument("--seeds", type=int, default=10, help="number of seeds per case (0..N-1; at least 5)")
    args = parser.parse_args(argv)
    if args.seeds < 5:
        parser.error(f"--seeds {args.seeds}: use at least 5 seeds, or the claims cannot be checked across seeds.")
    os.makedirs(args.output, exist_ok=True)
    seeds = list(range(args.seeds))
    cases = _cases()
    filename = os.path.join(args.output, H5_NAME)

    start = time.perf_counter()
    print(f"recording the initial state of {len(cases)} cases x {len(seeds)} seeds into {filename} ...")
    record_all(filename, cases, seeds)
    print(f"  done in {time.perf_counter() - start:.0f} s")
    measures = measure(filename, cases, seeds)
    print_summary(cases, measures, seeds)

    for case in cases:
        path = os.path.join(args.output, f"part2_{case.slug}.png")
        case_figure(filename, case, seeds[0], path)
        print("wrote", path)
    path = os.path.join(args.output, "part2_figure17_std_ratios.png")
    figure17(filename, cases, measures, seeds, path)
    print("wrote", path)
    path = os.path.join(args.output, "part2_figure11_truncated_normal.png")
    truncated, scaled = figure11(path)
    print("wrote", path)

    print(f"\nChecking the post's claims over {len(seeds)} seeds:\n")
    for line in check_claims(measures, len(seeds)):
        print(line)
    verdict = "HOLDS" if abs(truncated / 0.1 - 0.8796) < 0.01 and abs(scaled / 0.1 - 1) < 0.01 else "FAILS"
    print(f"[{verdict}] Figure 11: truncation at 2 std shrinks the std to 0.8796 of the requested value; "
          f"Keras' VarianceScaling compensates.\n        TruncatedNormal(0.1) std {truncated:.4f} "
          f"({truncated / 0.1:.3f}x); VarianceScaling asked for 0.1: {scaled:.4f}.")
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
