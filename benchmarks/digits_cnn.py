"""7. Replay and render the standard dashboard of the digits CNN recording.

Usage::

    python benchmarks/digits_cnn.py [--epochs 30] [--dpi 60] [--json out.json]

The model of ``examples/digits_cnn.py`` (Conv2D 8 -> MaxPooling2D -> Flatten
-> Dense 16 -> Dense 10 softmax) trained on all 1,797 digits of scikit-learn's
``load_digits`` for ``--epochs`` epochs (default 30), recorded with
``ReplayData``'s default settings (every sample's predictions, losses,
weights and gradients; the wide conv and dense outputs for ``output_samples``
samples).  Then, side by side in one run:

* **replay**: open the recording and build the standard dashboard
  (``deepreplay.dashboard.build_dashboard``: plan, then every visual's data
  for every epoch — feature space of the dense layer, loss and accuracy,
  per-class histograms, loss histogram, layer distributions, confusion
  matrix, feature maps, filters), with the time of each visual;
* **render**: one PNG of the last epoch (``compose_plots`` + ``savefig``)
  and the GIF of every epoch (``compose_animations(...).save``) in one
  process and with the default worker processes.

The recording's size and bytes per record are printed for reference.  No
target is set by the issue; the figure goes in the README table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import _common as c


def record(path: str, epochs: int) -> float:
    """Train and record the digits CNN; return the fit's seconds."""
    import keras
    import numpy as np
    from sklearn.datasets import load_digits

    from deepreplay.callbacks import ReplayData

    examples = os.path.join(str(c.REPO), "examples")
    if examples not in sys.path:
        sys.path.insert(0, examples)
    from digits_cnn import build_model  # the example's model, one definition

    keras.utils.set_random_seed(0)
    digits = load_digits()
    X = (digits.images / 16.0).astype(np.float32)[..., None]
    y = digits.target.astype(np.int64)
    start = time.perf_counter()
    build_model(0).fit(X, y, epochs=epochs, batch_size=32, verbose=0,
                       callbacks=[ReplayData(X, y, path, "digits_cnn", overwrite=True)])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--dpi", type=float, default=60, help="resolution of the PNG and the GIF (default 60)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()

    import matplotlib.pyplot as plt
    from PIL import Image

    from deepreplay import dashboard
    from deepreplay.plot import compose_animations, compose_plots
    from deepreplay.replay import Replay

    print("7. digits CNN: replay and dashboard render", flush=True)
    print(f"  start: {c.load()}", flush=True)
    result: dict = {"load_start": os.getloadavg()[0], "epochs": args.epochs}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "digits_cnn.h5")
        result["fit_s"] = record(path, args.epochs)
        size = os.path.getsize(path)
        records = args.epochs + 1
        result.update(file_mib=size / c.MiB, bytes_per_record=size / records)
        print(f"  recorded {records} records in {result['fit_s']:.1f} s: {size / c.MiB:.1f} MiB, "
              f"{size / records / 1024:.0f} KiB per record", flush=True)

        # Replay: open and build every visual of the dashboard, timing each visual's build.
        builds: dict[str, float] = {}
        originals = {}
        for name in ("build_feature_space", "build_loss_and_metric", "build_probability_histogram",
                     "build_loss_histogram", "build_outputs", "build_confusion_matrix", "build_feature_maps",
                     "build_filters"):
            originals[name] = getattr(Replay, name)

            def timed_build(self, *a, _name=name, **k):
                start = time.perf_counter()
                try:
                    return originals[_name](self, *a, **k)
                finally:
                    builds[_name] = builds.get(_name, 0.0) + time.perf_counter() - start

            setattr(Replay, name, timed_build)
        start, cpu = time.perf_counter(), time.process_time()
        replay = Replay(path, "digits_cnn")
        fig, visuals = dashboard.build_dashboard(replay)
        result["replay_s"] = time.perf_counter() - start
        result["replay_cpu_s"] = time.process_time() - cpu
        for name, fn in originals.items():
            setattr(Replay, name, fn)
        result["builds_s"] = builds
        print(f"  replay (open + build the {len(visuals)} dashboard visuals over {records} epochs): "
              f"{result['replay_s']:.2f} s (CPU {result['replay_cpu_s']:.2f} s)", flush=True)
        for name, seconds in sorted(builds.items(), key=lambda kv: -kv[1]):
            print(f"    {name:30s} {seconds:6.2f} s")

        png = os.path.join(tmp, "dashboard.png")
        cpu = time.process_time()
        seconds, _ = c.timed(lambda: compose_plots(visuals, args.epochs, title="digits").savefig(png, dpi=args.dpi))
        result["png_s"], result["png_cpu_s"] = seconds, time.process_time() - cpu
        print(f"  PNG of the last epoch (the first draw, layout included): {seconds:.2f} s "
              f"(CPU {result['png_cpu_s']:.2f} s)", flush=True)
        anim = compose_animations(visuals, title="digits")
        for workers, key in ((1, "gif_1_worker_s"), (None, "gif_default_workers_s")):
            gif = os.path.join(tmp, f"dashboard_{key}.gif")
            before = os.times()
            seconds, _ = c.timed(lambda: anim.save(gif, fps=6, dpi=args.dpi, workers=workers, progress=False))
            after = os.times()
            cpu = sum(after[:4]) - sum(before[:4])  # this process and its finished worker processes
            frames = Image.open(gif).n_frames
            assert frames == records, (frames, records)
            result[key], result[key.replace("_s", "_cpu_s")] = seconds, cpu
            print(f"  GIF, {frames} frames, workers={workers or 'default'}: {seconds:.2f} s (CPU {cpu:.2f} s, "
                  f"{os.path.getsize(gif) / c.MiB:.1f} MiB)", flush=True)
        plt.close(fig)
        replay.close()
    result["load_end"] = os.getloadavg()[0]
    print(f"  end: {c.load()}", flush=True)
    total = result["replay_s"] + result["gif_default_workers_s"]
    print(f"  replay + GIF render: {total:.1f} s", flush=True)
    c.write_json(args.json, result)


if __name__ == "__main__":
    main()
