"""5. Memory: replaying and animating the BLOCK recording's layer distributions.

Usage::

    python benchmarks/memory.py            # uses (or records once) the cached BLOCK recordings
    python benchmarks/memory.py --json out.json

Each case runs in a fresh Python process, which reports its peak resident
set size (``ru_maxrss``): open a ``Replay`` of the 150-epoch BLOCK recording,
build the four layer-distribution visuals (weights, gradients, activations,
z-values, every hidden layer) on one 2 x 2 figure, and save their 151-frame
animation as a GIF.  Once for the default recording (~55 MiB) and once for
the full-resolution one (~627 MiB, every sample of every layer): the reader
is lazy, so the second must not hold the whole file either.  A process that
only imports deepreplay, Keras/TensorFlow and Matplotlib gives the baseline.

Target (issue 7): peak RSS <= 1 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import _common as c

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {bench!r})
import _common as c
import matplotlib.pyplot as plt
import keras  # the imports a replay needs
from deepreplay.replay import Replay
from deepreplay.plot import compose_animations
start = time.perf_counter()
out = {{}}
if {path!r}:
    with Replay({path!r}, {group!r}) as replay:
        fig, axs = plt.subplots(2, 2, figsize=(12, 8))
        visuals = [replay.build_weights(axs[0, 0]), replay.build_gradients(axs[0, 1]),
                   replay.build_outputs(axs[1, 0]), replay.build_outputs(axs[1, 1], before_activation=True)]
        out["build_seconds"] = time.perf_counter() - start
        anim = compose_animations(visuals, title="BLOCK")
        anim.save({gif!r}, fps=15, dpi=60, progress=False)
        out["frames"] = len(anim.epochs)
out["seconds"] = time.perf_counter() - start
out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
out["peak_rss_worker_mib"] = children
print(json.dumps(out))
"""


def run_case(path: str, group: str, gif: str) -> dict:
    code = CHILD.format(bench=str(c.REPO / "benchmarks"), path=path, group=group, gif=gif)
    env = dict(os.environ, PYTHONPATH=str(c.REPO))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the case failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fresh", action="store_true", help="record the BLOCK runs again")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    print("Memory: layer distributions of the 150-epoch BLOCK recording, built and animated (151 frames)")
    print(f"  start: {c.load()}", flush=True)
    default = c.cached_recording("block", fresh=args.fresh)
    full = c.cached_recording("block", full=True, fresh=args.fresh)
    gif = str(c.CACHE / "memory.gif")
    cases = {
        "imports only (baseline)": ("", ""),
        f"default recording ({os.path.getsize(default) / c.MiB:.0f} MiB)": (str(default), "block"),
        f"full-resolution recording ({os.path.getsize(full) / c.MiB:.0f} MiB)": (str(full), "block_full"),
    }
    results = {}
    for name, (path, group) in cases.items():
        start = time.perf_counter()
        results[name] = run_case(path, group, gif)
        print(f"  {name}: peak RSS {results[name]['peak_rss_mib']:.0f} MiB "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    print()
    rows = [[k, f"{v['peak_rss_mib']:.0f}", f"{v['peak_rss_worker_mib']:.0f}" if v.get("frames") else "-",
             f"{v.get('build_seconds', 0):.1f}", f"{v['seconds']:.1f}", str(v.get("frames", "-"))]
            for k, v in results.items()]
    print(c.table(rows, ["case", "peak RSS MiB", "largest worker MiB", "build s", "build + GIF s", "frames"]))
    peak = max(max(v["peak_rss_mib"], v["peak_rss_worker_mib"]) for v in results.values())
    print(f"\ntarget peak RSS <= 1 GiB: {'met' if peak <= 1024 else 'MISSED'} ({peak:.0f} MiB)")
    print(f"  end: {c.load()}")
    result = {"cases": results, "peak_rss_mib": peak, "load_end": os.getloadavg()}
    c.write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
