"""Per-frame checksums of the demo's GIF, to show a refactor leaves the frames byte-identical.

Usage::

    python scripts/frame_checksums.py RECORDING.h5 [--epochs 20] [--record] [--compare FILE]

``--record`` first trains and records the Part 1 network (``deepreplay.demo.record_part1``,
``--epochs`` epochs) into ``RECORDING.h5``; keep that file and render from it before and
after a change, so that training itself (threads, oneDNN) cannot make the frames differ.
The script builds the demo's dashboard from the recording, writes the GIF the demo writes
(``compose_animations(...).save_many``, fps 15, dpi 60), decodes every frame with Pillow and
prints the SHA-256 of each frame's RGB bytes and of the GIF file. ``--compare FILE`` compares
with an earlier output and exits 1 on any difference.

The checksums depend on the Matplotlib, Pillow, NumPy and Keras versions (printed in the
output): compare only outputs made with the same versions.

``scripts/frame_checksums.baseline.txt`` was first produced by the code before the issue 14
refactor (commit 30fad6b, 20 epochs, TensorFlow CPU).  It was replaced when the GIF palette
started keeping colour-map entries (``writers.figure_colormaps``): the demo's decision
boundary is a colour-mapped image, so its palette, and every frame, changed on purpose.
The new baseline is a fresh 20-epoch recording rendered by that commit (note: with that
fresh recording, the code just before it already differed from the old baseline)::

    python scripts/frame_checksums.py /tmp/part1.h5 --record --compare scripts/frame_checksums.baseline.txt
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile


def checksums(recording: str, group: str = "sigmoid") -> list[str]:
    import keras
    import matplotlib
    import matplotlib.pyplot as plt
    import numpy
    import PIL
    from PIL import Image, ImageSequence

    from deepreplay.dashboard import build_dashboard
    from deepreplay.plot import compose_animations
    from deepreplay.replay import Replay

    lines = [f"# matplotlib {matplotlib.__version__} pillow {PIL.__version__} numpy {numpy.__version__} "
             f"keras {keras.__version__}"]
    with Replay(recording, group) as replay, tempfile.TemporaryDirectory() as tmp:
        fig, visuals = build_dashboard(replay, layer_name="hidden", metric_name="accuracy")
        anim = compose_animations(visuals, title="Part 1 - Sigmoid")
        gif = os.path.join(tmp, "part1.gif")
        anim.save_many([gif], fps=15, dpi=60)
        plt.close(fig)
        with open(gif, "rb") as fh:
            lines.append(f"gif-file {hashlib.sha256(fh.read()).hexdigest()}")
        with Image.open(gif) as im:
            for i, frame in enumerate(ImageSequence.Iterator(im)):
                rgb = frame.convert("RGB")
                lines.append(f"frame {i:03d} {rgb.size[0]}x{rgb.size[1]} {hashlib.sha256(rgb.tobytes()).hexdigest()}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recording")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--compare")
    args = parser.parse_args(argv)
    if args.record:
        from deepreplay.demo import record_part1

        record_part1(args.recording, "sigmoid", activation="sigmoid", epochs=args.epochs, overwrite=True)
    lines = checksums(args.recording)
    print("\n".join(lines))
    if args.compare:
        with open(args.compare) as fh:
            before = fh.read().split("\n")
        before = [line for line in before if line.strip()]
        if before != lines:
            changed = [b for b, a in zip(before, lines) if b != a]
            print(f"DIFFERENT: {len(changed)} line(s) differ, {len(before)} vs {len(lines)} lines", file=sys.stderr)
            return 1
        print(f"identical to {args.compare}: {len(lines) - 2} frames", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
