"""2. Storage: the BLOCK run recorded at default settings and at full resolution.

Usage::

    python benchmarks/storage_size.py            # 150 epochs: three fits of ~30 s each
    python benchmarks/storage_size.py --epochs 50 --json out.json

The BLOCK model of the Part 2 post (10-D ball, 1,000 points, 5 x
``Dense(100, relu)``, sigmoid output, SGD 0.01, batch 16) is fitted three
times from the same seed: bare, with ``ReplayData`` at its defaults, and with
``ReplayData(output_samples=None, significant_bits=None, compression=None)``
(every sample of every layer, full float32, uncompressed).  For each
recording: the file size, the size per quantity, the fit time and the time
spent in ReplayData's own recording step (against the bare fit).

Then how faithful the default recording is where it is not exact: the layer
distributions (what ``replay.build_outputs`` / ``build_gradients`` draw) of
the default and the full recording, on the same value scale, compared over
every epoch and hidden layer: the quartiles (error in % of the value range
drawn), the standard deviation (relative error), and the histogram (total
variation distance between the two normalised histograms, 0 = identical,
1 = disjoint).

Targets (issue 7): default recording <= 64 MiB with faithful layer
distributions; ReplayData's own time <= 15% of the bare fit.

The two recordings are kept in the benchmark cache (``$TMPDIR/deepreplay-bench``)
for ``benchmarks/memory.py``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import _common as c


def _fidelity(default_path, full_path, epochs_recorded: int) -> dict:
    from deepreplay import diagnostics
    from deepreplay.replay import Replay

    out = {}
    with Replay(full_path, "block_full") as full, Replay(default_path, "block") as default:
        for quantity in ("activations", "z", "gradients", "weights"):
            ref = diagnostics.layer_distributions(full, quantity)
            got = diagnostics.layer_distributions(default, quantity, ylim=ref.ylim)
            span = ref.ylim[1] - ref.ylim[0]
            q_err = np.abs(got.quartiles - ref.quartiles) / span
            with np.errstate(divide="ignore", invalid="ignore"):
                s_err = np.abs(got.std - ref.std) / ref.std
            p = ref.counts / ref.counts.sum(axis=-1, keepdims=True)
            r = got.counts / got.counts.sum(axis=-1, keepdims=True)
            tv = 0.5 * np.abs(p - r).sum(axis=-1)
            out[quantity] = {
                "quartile_error_max_pct": float(100 * np.nanmax(q_err)),
                "quartile_error_median_pct": float(100 * np.nanmedian(q_err)),
                "std_error_max_pct": float(100 * np.nanmax(s_err)),
                "std_error_median_pct": float(100 * np.nanmedian(s_err)),
                "tv_max": float(np.nanmax(tv)),
                "tv_median": float(np.nanmedian(tv)),
            }
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=c.BLOCK_EPOCHS, help="epochs (default: %(default)s)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    import keras

    from deepreplay import storage
    from deepreplay.callbacks import ReplayData

    print(f"Storage, BLOCK run: {args.epochs} epochs, 1,000 samples, 5 x Dense(100, relu)")
    print(f"  start: {c.load()}", flush=True)
    record_seconds: list[float] = []
    original_record = ReplayData._record

    def timed_record(self, *a, **k):
        start = time.perf_counter()
        try:
            return original_record(self, *a, **k)
        finally:
            record_seconds.append(time.perf_counter() - start)

    ReplayData._record = timed_record
    c.CACHE.mkdir(parents=True, exist_ok=True)
    X, y = c.block_data()

    keras.utils.set_random_seed(42)
    model = c.block_model()
    model.fit(X[:32], y[:32], epochs=1, batch_size=16, verbose=0)  # warm-up (tracing)
    keras.utils.set_random_seed(42)
    model = c.block_model()
    start = time.perf_counter()
    model.fit(X, y, epochs=args.epochs, batch_size=c.BLOCK_BATCH_SIZE, verbose=0)
    bare = time.perf_counter() - start
    print(f"  bare fit: {bare:.1f} s", flush=True)

    runs = {}
    for name, group, settings in (("default", "block", {}), ("full resolution", "block_full", c.FULL_RESOLUTION)):
        path = c.CACHE / f"{group}.h5" if args.epochs == c.BLOCK_EPOCHS else c.CACHE / f"{group}_{args.epochs}.h5"
        if path.exists():
            path.unlink()
        record_seconds.clear()
        fit_seconds = c.record_run("block", str(path), group, epochs=args.epochs, **settings)
        with storage.RecordingReader(path, group) as reader:
            parts = {k: v / c.MiB for k, v in sorted(reader.nbytes().items(), key=lambda kv: -kv[1])}
        runs[name] = {
            "path": str(path), "file_mib": os.path.getsize(path) / c.MiB, "parts_mib": parts,
            "fit_seconds": fit_seconds, "callback_seconds": sum(record_seconds),
            "callback_share_of_bare_fit": sum(record_seconds) / bare,
            "record_ms_median": 1000 * c.median(record_seconds),
        }
        print(f"  {name}: {runs[name]['file_mib']:.1f} MiB, fit {fit_seconds:.1f} s, ReplayData's own time "
              f"{sum(record_seconds):.1f} s", flush=True)
    ReplayData._record = original_record

    print()
    rows = []
    for name, r in runs.items():
        top = ", ".join(f"{k} {v:.1f}" for k, v in list(r["parts_mib"].items())[:4])
        rows.append([name, f"{r['file_mib']:.1f}", top, f"{r['fit_seconds']:.1f}", f"{r['callback_seconds']:.1f}",
                     f"{r['callback_share_of_bare_fit']:.1%}", f"{r['record_ms_median']:.0f}"])
    print(c.table(rows, ["recording", "file MiB", "largest parts (MiB)", "fit s", "ReplayData s",
                         "ReplayData / bare fit", "ms per record"]))
    print(f"bare fit: {bare:.1f} s ({bare / args.epochs * 1000:.0f} ms per epoch)")

    fidelity = _fidelity(runs["default"]["path"], runs["full resolution"]["path"], args.epochs + 1)
    print("\nDefault recording against full resolution, layer distributions over every epoch and hidden layer")
    print("(quartile error in % of the value range drawn; std relative error; histogram total variation):")
    rows = [[q, f"{f['quartile_error_median_pct']:.2f} / {f['quartile_error_max_pct']:.2f}",
             f"{f['std_error_median_pct']:.2f} / {f['std_error_max_pct']:.2f}",
             f"{f['tv_median']:.3f} / {f['tv_max']:.3f}"] for q, f in fidelity.items()]
    print(c.table(rows, ["quantity", "quartiles % (median / max)", "std % (median / max)",
                         "histogram TV (median / max)"]))

    default = runs["default"]
    result = {"epochs": args.epochs, "bare_fit_seconds": bare, "runs": runs, "fidelity": fidelity,
              "load_end": os.getloadavg()}
    print(f"\ntarget default <= 64 MiB: {'met' if default['file_mib'] <= 64 else 'MISSED'} "
          f"({default['file_mib']:.1f} MiB, {runs['full resolution']['file_mib'] / default['file_mib']:.1f}x "
          "smaller than full resolution)")
    share = default["callback_share_of_bare_fit"]
    print(f"target ReplayData's own time <= 15% of the bare fit: {'met' if share <= 0.15 else 'MISSED'} ({share:.1%})")
    print(f"  end: {c.load()}")
    c.write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
