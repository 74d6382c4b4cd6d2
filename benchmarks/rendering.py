"""4. Rendering: the composed Part 1 figure, 151 frames to GIF, against a naive reference renderer.

Usage::

    python benchmarks/rendering.py                    # default size (the figure's dpi, 100: 1300 x 840)
    python benchmarks/rendering.py --reference-frames 151 --json out.json   # references on every frame

The figure is the standard dashboard of the demo (``build_dashboard``):
feature space, loss and accuracy (with its twin axes), two probability
histograms and the loss histogram: 5 visuals on 6 axes, constrained layout.
Every epoch of the 150-epoch Part 1 recording is a frame (151 frames), saved
as GIF at ``--dpi`` (default: the figure's own, 100), side by side in one run:

* naive reference (kept here): ``FuncAnimation`` + ``PillowWriter``, every
  frame clears each axes and draws everything again;
* FuncAnimation as deepreplay saved before: artists updated in place, but
  ``PillowWriter`` redraws the whole figure (layout included) every frame;
* deepreplay now, in this process (``workers=1``) and with its default
  worker processes: the figure drawn once, the changed artists blitted.

The two FuncAnimation references take about a second per frame: by default
they render 51 frames spread over the run and their time is scaled to 151
frames (their cost per frame does not depend on the epoch);
``--reference-frames 151`` renders them all.  deepreplay always renders all
151 frames, and each GIF's frame count is checked.

Target (issue 7): deepreplay >= 5x faster than the naive reference.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import _common as c


def dashboard(path):
    from deepreplay.dashboard import build_dashboard
    from deepreplay.replay import Replay

    replay = Replay(path, "part1")
    fig, visuals = build_dashboard(replay, layer_name="hidden", metric_name="accuracy")
    return replay, fig, visuals


def naive_animation(fig, visuals, epochs, title):
    """FuncAnimation whose every frame clears each axes and draws every visual from scratch."""
    from matplotlib.animation import FuncAnimation

    from deepreplay.plot.base import epoch_title

    def update(epoch):
        for visual in visuals:
            twin = getattr(visual, "ax_metric", None)
            if twin is not None:
                twin.remove()
            for ax in visual.axes:
                ax.cla()
            visual._created = False  # artists are created again by set_epoch
            visual.set_epoch(int(epoch))
        epoch_title(fig, int(epoch), title)
        return []

    return FuncAnimation(fig, update, frames=list(epochs), blit=False, cache_frame_data=False, repeat=False)


def gif_frames(path) -> int:
    from PIL import Image

    with Image.open(path) as im:
        return im.n_frames


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dpi", type=float, default=None, help="resolution (default: the figure's, 100)")
    parser.add_argument("--reference-frames", type=int, default=51,
                        help="frames the two FuncAnimation references render (spread over the run), their "
                             "time scaled to all frames (default: %(default)s)")
    parser.add_argument("--skip-funcanimation", action="store_true", help="leave out deepreplay's previous path")
    parser.add_argument("--fresh", action="store_true", help="record the Part 1 run again")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.animation import FuncAnimation, PillowWriter

    from deepreplay.plot import compose_animations
    from deepreplay.plot.render import auto_workers

    print("Rendering: the Part 1 dashboard (5 visuals, 6 axes), 151 frames to GIF")
    print(f"  start: {c.load()}", flush=True)
    path = c.cached_recording("part1", fresh=args.fresh)
    out = tempfile.mkdtemp(prefix="deepreplay_render_")
    title = "Part 1 - Sigmoid"
    results: dict[str, dict] = {}

    def record(name, seconds, gif, frames):
        got = gif_frames(gif)
        results[name] = {"seconds": seconds, "ms_per_frame": 1000 * seconds / n, "gif_frames": got,
                         "gif_mib": os.path.getsize(gif) / c.MiB}
        if got != frames:
            print(f"  WARNING: {name}: the GIF has {got} frames, expected {frames}")
        print(f"  {name}: {seconds:.1f} s for {n} frames, GIF {got} frames, {results[name]['gif_mib']:.1f} MiB",
              flush=True)

    replay, fig, visuals = dashboard(path)
    dpi = fig.dpi if args.dpi is None else args.dpi
    size = tuple(int(v) for v in fig.get_size_inches() * dpi)
    epochs = [int(e) for e in visuals[0].epochs]
    n = len(epochs)
    chosen = epochs
    if args.reference_frames and args.reference_frames < n:
        chosen = [epochs[i] for i in np.unique(np.linspace(0, n - 1, args.reference_frames).round().astype(int))]
    plt.close(fig)
    replay.close()
    print(f"  {n} frames of {size[0]} x {size[1]} pixels (dpi {dpi:g})", flush=True)

    # deepreplay now
    workers = auto_workers(n)
    for name, w in (("deepreplay, 1 process", 1), (f"deepreplay, {workers} worker processes", workers)):
        if name.endswith("processes") and workers == 1:
            continue
        replay, fig, visuals = dashboard(path)
        anim = compose_animations(visuals, title=title)
        gif = os.path.join(out, f"fast{w}.gif")
        seconds, _ = c.timed(lambda: anim.save(gif, fps=15, dpi=dpi, workers=w, progress=False))
        record(name, seconds, gif, n)
        plt.close(fig)
        replay.close()

    def reference(name, make_animation, gif):
        replay, fig, visuals = dashboard(path)
        anim = make_animation(fig, visuals)
        seconds, _ = c.timed(lambda: anim.save(gif, writer=PillowWriter(fps=15), dpi=dpi))
        record(name, seconds * n / len(chosen), gif, len(chosen))
        results[name]["ms_per_frame"] = 1000 * seconds / len(chosen)
        if len(chosen) != n:
            results[name]["frames_rendered"] = len(chosen)
            print(f"    (rendered {len(chosen)} frames in {seconds:.1f} s, scaled to {n})", flush=True)
        plt.close(fig)
        replay.close()

    # deepreplay before: FuncAnimation + PillowWriter, artists updated in place
    if not args.skip_funcanimation:
        reference("FuncAnimation + PillowWriter (deepreplay before)",
                  lambda fig, visuals: FuncAnimation(fig, compose_animations(visuals, title=title)._update_epoch,
                                                     frames=chosen, cache_frame_data=False, repeat=False),
                  os.path.join(out, "funcanimation.gif"))
    # naive reference
    reference("naive reference (clear and redraw everything)",
              lambda fig, visuals: naive_animation(fig, visuals, chosen, title), os.path.join(out, "naive.gif"))

    naive = results["naive reference (clear and redraw everything)"]["seconds"]
    best = min(v["seconds"] for k, v in results.items() if k.startswith("deepreplay"))
    print()
    rows = [[k, f"{v['seconds']:.1f}" + (" (scaled)" if "frames_rendered" in v else ""),
             f"{v['ms_per_frame']:.0f}", f"{naive / v['seconds']:.1f}x", str(v["gif_frames"])]
            for k, v in results.items()]
    print(c.table(rows, ["renderer", "s (151 frames)", "ms/frame", "speed vs naive", "GIF frames"]))
    result = {"dpi": dpi, "size": size, "frames": n, "renderers": results, "speedup_vs_naive": naive / best,
              "load_end": os.getloadavg()}
    ok = naive / best >= 5
    print(f"\ntarget >= 5x faster than the naive reference: {'met' if ok else 'MISSED'} ({naive / best:.1f}x)")
    print(f"  end: {c.load()}")
    c.write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
