"""Run the five benchmarks of issue 7 one after the other and print the summary table.

Usage::

    python benchmarks/run_all.py                 # about 12 minutes on 2 cores
    python benchmarks/run_all.py --only rendering,memory

Each benchmark runs in its own Python process (its output is shown as it
goes); then one Markdown table gives each figure, its target, the measured
value and the command that produced it, with the machine's load, ready for
``benchmarks/README.md``.  ``benchmarks/backends.py`` (the recording overhead
on each Keras backend) is separate.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ("recording_overhead", "storage_size", "replay_speed", "rendering", "memory")


def _rows(name: str, r: dict) -> list[list[str]]:
    cmd = f"`python benchmarks/{name}.py`"
    if name == "recording_overhead":
        own, tb_own = r["own_time_ratio"], r["own_time_ratio_tensorboard"]
        rows = [["1. Part 1 fit, ReplayData's own time (hooks + writer CPU) / bare fit", "< 1.05",
                 f"{own:.3f} (per epoch once training runs: {r['steady_ratio']:.3f})", cmd]]
        if tb_own is not None:
            rows.append(["1. ... and below TensorBoard(histogram_freq=1)'s own time / bare", f"< {tb_own:.3f}",
                         f"{own:.3f} vs {tb_own:.3f}", cmd])
        tb = r["ratio_tensorboard"]
        rows.append(["1. (wall time: ReplayData / bare, TensorBoard / bare; control: a pause as long as "
                     "ReplayData's own time per epoch)", "-",
                     f"{r['ratio_replaydata']:.3f}" + (f", {tb:.3f}" if tb is not None else "")
                     + f"; control {r['ratio_control']:.3f} ({r['record_ms']:.1f} ms)", cmd])
        return rows
    if name == "storage_size":
        d, f = r["runs"]["default"], r["runs"]["full resolution"]
        fid = r["fidelity"]
        worst_std = max(fid["activations"]["std_error_max_pct"], fid["z"]["std_error_max_pct"])
        worst_q = max(fid["activations"]["quartile_error_max_pct"], fid["z"]["quartile_error_max_pct"])
        return [
            ["2. BLOCK recording at default settings", "<= 64 MiB", f"{d['file_mib']:.1f} MiB "
             f"(full resolution {f['file_mib']:.1f} MiB)", cmd],
            ["2. ... layer distributions vs full resolution", "faithful",
             f"quartiles within {worst_q:.2f}% of the range, std within {worst_std:.1f}%", cmd],
            ["2. ReplayData's own time / bare fit (BLOCK)", "<= 15%", f"{d['callback_share_of_bare_fit']:.0%}", cmd],
            ["2. (BLOCK fit with ReplayData / bare fit, wall time)", "-",
             f"{d['fit_seconds'] / r['bare_fit_seconds']:.2f}", cmd],
        ]
    if name == "replay_speed":
        return [["3. Build the five Part 1 visuals (150 epochs)", "<= 5 s",
                 f"{r['total_seconds']:.2f} s (fast paths off: {r['total_seconds_fast_paths_off']:.2f} s)", cmd]]
    if name == "rendering":
        runs = r["renderers"]
        naive = runs["naive reference (clear and redraw everything)"]["seconds"]
        best = min(v["seconds"] for k, v in runs.items() if k.startswith("deepreplay"))
        return [["4. Part 1 dashboard, 151 frames to GIF, vs naive renderer", ">= 5x",
                 f"{r['speedup_vs_naive']:.1f}x ({best:.1f} s vs {naive:.0f} s)", cmd]]
    if name == "memory":
        return [["5. Peak RSS, BLOCK layer distributions built and animated", "<= 1 GiB",
                 f"{r['peak_rss_mib']:.0f} MiB", cmd]]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help=f"comma-separated subset of {', '.join(SCRIPTS)}")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",")] if args.only else list(SCRIPTS)
    unknown = sorted(set(names) - set(SCRIPTS))
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; choose from {SCRIPTS}")
    tmp = Path(tempfile.mkdtemp(prefix="deepreplay_bench_"))
    results = {}
    loads = {}
    for name in names:
        out = tmp / f"{name}.json"
        print(f"\n=== {name} ===", flush=True)
        before = os.getloadavg()[0]
        proc = subprocess.run([sys.executable, str(HERE / f"{name}.py"), "--json", str(out)], check=False)
        if proc.returncode != 0 or not out.exists():
            print(f"{name} failed (exit {proc.returncode})")
            continue
        results[name] = json.loads(out.read_text())
        loads[name] = (before, os.getloadavg()[0])
    rows = []
    for name in names:
        if name in results:
            load = f"{loads[name][0]:.1f} -> {loads[name][1]:.1f}"
            rows.extend(row[:3] + [load] + row[3:] for row in _rows(name, results[name]))
    sys.path.insert(0, str(HERE))
    import _common as c

    print("\n" + c.table(rows, ["figure", "target", "measured", "load (1 min, start -> end)", "command"]))
    print(f"\n{c.load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
