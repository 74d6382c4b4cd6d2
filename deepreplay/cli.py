"""The ``deepreplay`` command line: ``demo``, ``info``, ``convert``, ``render`` and ``compare``."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence

EXIT_USAGE = 2
EXIT_ERROR = 1


class CommandError(Exception):
    """An error to report in one line, without a traceback."""


def _quiet_tensorflow() -> None:
    """Hide TensorFlow's native INFO and WARNING lines unless the user set ``TF_CPP_MIN_LOG_LEVEL``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _import_keras() -> None:
    """Import Keras (and its backend) with the backend's start-up log lines filtered (:mod:`.native_log`).

    Called once a command's arguments are checked, before its heavy work.
    """
    from .native_log import import_quietly

    _quiet_tensorflow()
    import_quietly("keras")


DEMO_FORMATS = ("gif", "mp4", "html")


def _check_demo_request(args: argparse.Namespace) -> tuple[str, ...]:
    """Check ``demo``'s arguments before training; return the formats asked for."""
    formats = tuple(f.strip().lower().lstrip(".") for f in args.formats.split(",") if f.strip())
    unknown = [f for f in formats if f not in DEMO_FORMATS]
    if unknown:
        raise CommandError(f"--formats {args.formats}: {', '.join(unknown)} is not one of {', '.join(DEMO_FORMATS)}")
    if args.epochs < 1:
        raise CommandError(f"--epochs {args.epochs}: train for at least 1 epoch")
    for option in ("fps", "dpi"):
        value = getattr(args, option)
        if value is not None and not value > 0:
            raise CommandError(f"--{option} {value:g}: give a positive number")
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise CommandError(f"--output {args.output}: is a file; give a folder (created when missing)")
    return formats


def _cmd_demo(args: argparse.Namespace) -> int:
    import time

    formats = _check_demo_request(args)
    started = time.perf_counter()
    _import_keras()
    from .demo import run_demo

    imported = time.perf_counter() - started
    result = run_demo(args.output, epochs=args.epochs, activation=args.activation, fps=args.fps, dpi=args.dpi,
                      formats=formats)
    print("wrote:")
    for kind, path in result.files.items():
        print(f"  {kind:9s} {path}")
    seconds = {"import_keras": imported, **result.seconds}
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))
    return 0


def _write_visuals(args: argparse.Namespace, ext: str, fig, visuals: list, title: str) -> None:
    """``render``/``compare``: one PNG (``--epoch``, default the last epoch all visuals share) or one animation."""
    import matplotlib.pyplot as plt

    from .plot import compose_animations, compose_plots
    from .plot.base import common_epochs

    if ext == ".png":
        epoch = args.epoch if args.epoch is not None else int(common_epochs(visuals, None, None)[-1])
        compose_plots(visuals, epoch, title=title).savefig(args.output, dpi=args.dpi)
        print(f"wrote {args.output} ({visuals[0].frame_unit} {epoch})")
    else:
        anim = compose_animations(visuals, title=title)
        anim.save(args.output, fps=args.fps, dpi=args.dpi)
        print(f"wrote {args.output} ({len(anim.epochs)} frames)")
    plt.close(fig)


def _inputs_text(reader) -> str:
    """'(8,)' for one input; 'a (8,), b (4,)' for several."""
    shapes = reader.input_shapes
    if list(shapes) == ["inputs"]:
        return str(shapes["inputs"])
    return ", ".join(f"{name} {shape}" for name, shape in shapes.items())


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    message = text.splitlines()[0] if text else type(exc).__name__
    for name, option in _OPTION_NAMES.items():  # the user typed options, not Python parameters
        message = message.replace(name + "=", option + " ")
    return message


def _describe_group(filename: str, name: str) -> list[str]:
    """The lines ``info`` prints for one recording (metadata only: no recorded array is read)."""
    from . import compute, storage

    with storage.RecordingReader(filename, name) as r:
        a = r.attrs
        state = "complete" if r.complete else "INCOMPLETE (training still running, or did not end normally)"
        metrics = a.get("metrics", [])
        metrics = ", ".join(map(str, metrics)) if isinstance(metrics, list) else str(metrics)
        sizes = r.nbytes()
        detail = ", ".join(f"{k} {compute.human_bytes(v)}" for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])[:4])
        keys = f"{r.n_records} ({compute.describe_epochs(r.epochs)}"
        if r.record_unit == "step":
            fractions = r.epoch_fractions
            if len(fractions) and math.isfinite(fractions[-1]):
                keys += f", epochs {fractions[0]:.3g}..{fractions[-1]:.3g}"
            recorded = f"  steps recorded  : {keys})"
        else:
            recorded = f"  epochs recorded : {keys})"
        return [
            f"[{name}] {state}",
            recorded,
            f"  samples         : {r.n_samples} of {a.get('n_samples_given', '?')}, inputs {_inputs_text(r)}",
            f"  loss / metrics  : {a.get('loss')} / {metrics or '-'}",
            f"  layers          : {', '.join(r.layers)}",
            f"  quantities      : {', '.join(q for q in storage.QUANTITIES if r.has(q))}",
            f"  keras / backend : {a.get('keras_version')} / {a.get('backend')}, "
            f"batch size {a.get('batch_size', 'unknown')}",
            f"  size            : {compute.human_bytes(sum(sizes.values()))} ({detail})",
        ]


def _cmd_info(args: argparse.Namespace) -> int:
    from . import storage

    if not os.path.exists(args.file):
        raise CommandError(f"{args.file}: no such file")
    try:
        groups = storage.list_groups(args.file)
    except storage.RecordingError as exc:
        raise CommandError(str(exc)) from None
    old = storage.legacy_groups(args.file)
    if not groups and not old:
        raise CommandError(f"{args.file}: no deepreplay recording in this file")
    if old:
        _describe_legacy(args.file, old)
        if not groups:
            return 0
        print()
    print(f"{args.file}: {len(groups)} recording(s)")
    damaged = []
    for name in groups:
        try:
            lines = _describe_group(args.file, name)
        except (storage.RecordingError, ValueError, TypeError, KeyError, OSError, RuntimeError, MemoryError,
                RecursionError, IndexError) as exc:
            damaged.append(f"[{name}] {_one_line(exc)}")
            continue
        print("\n" + "\n".join(lines))
    if damaged:
        sys.stdout.flush()
        for line in damaged[:-1]:
            print(f"deepreplay: error: {line}", file=sys.stderr)
        raise CommandError(damaged[-1])
    return 0


def _describe_legacy(filename: str, groups: list[str]) -> None:
    """Say that ``groups`` are DeepReplay 0.1 recordings, and how to convert them."""
    _import_keras()  # deepreplay.legacy imports Keras
    from . import storage
    from .legacy import default_model_filename

    print(f"{filename}: {len(groups)} DeepReplay 0.1 recording(s) (the format of deepreplay 0.1.x; "
          "the model was saved apart by Keras 2)")
    for name in groups:
        try:
            old = storage.read_legacy_recording(filename, name)
            what = (f"{old.n_epochs} epochs, {len(old.inputs)} samples, {len(old.weights)} layers, "
                    f"logs {', '.join(sorted(old.logs)) or '-'}")
        except (storage.RecordingError, ValueError, OSError) as exc:
            what = f"damaged: {_one_line(exc)}"
        model = default_model_filename(filename, name)
        model = model if os.path.isabs(filename) else os.path.relpath(model)
        print(f"\n[{name}] DeepReplay 0.1 recording ({what})")
        print(f"  convert it with : deepreplay convert {filename} {name} --model {model} -o NEW.h5")
        print(f"  or open it with : Replay({filename!r}, {name!r}, model_filename={model!r})")


def _cmd_convert(args: argparse.Namespace) -> int:
    from . import storage

    if not os.path.exists(args.file):
        raise CommandError(f"{args.file}: no such file")
    if not storage.is_legacy_recording(args.file, args.group):
        if args.group in storage.list_groups(args.file):
            raise CommandError(f"{args.file}: group {args.group!r} is already a current deepreplay recording; "
                               "nothing to convert")
        found = storage.legacy_groups(args.file)
        raise CommandError(f"{args.file}: group {args.group!r} is not a DeepReplay 0.1 recording "
                           f"(DeepReplay 0.1 recordings in this file: {found or 'none'})")
    _import_keras()
    from .legacy import convert

    group = convert(args.file, args.group, args.output, model_filename=args.model, new_group_name=args.new_group,
                    overwrite=args.overwrite)
    print(f"wrote {args.output} (group {group!r}, format version {storage.FORMAT_VERSION}); "
          f"replay it with Replay({args.output!r}, {group!r}) or 'deepreplay render {args.output} {group} -o ...'")
    return 0


RENDER_FORMATS = (".gif", ".mp4", ".html", ".png")


def _check_output(output: str, formats: Sequence[str]) -> str:
    """The output file's extension, after checking it and its folder (no heavy import)."""
    ext = os.path.splitext(output)[1].lower()
    if ext not in formats:
        raise CommandError(f"output {output!r}: choose a file ending in {', '.join(formats[:-1])} or {formats[-1]}")
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise CommandError(f"output folder {os.path.dirname(output) or folder!r} does not exist: create it first")
    if not os.access(folder, os.W_OK):
        raise CommandError(f"output folder {os.path.dirname(output) or folder!r} is not writable")
    if os.path.isdir(output):
        raise CommandError(f"output {output!r} is a folder: give a file name such as {os.path.join(output, 'run' + ext)}")
    return ext


def _check_recording(filename: str, group: str) -> tuple[list[str], list[str], list[int], str]:
    """Check that ``filename`` holds the recording ``group``; return its layers, metrics, epochs and unit.

    The epochs are the records' keys: steps for a step-based recording (unit ``'step'``).

    Reads only the HDF5 file (h5py), so a wrong name is answered before
    Keras or Matplotlib is imported and before anything is rendered.
    """
    from . import storage

    if not os.path.exists(filename):
        raise CommandError(f"{filename}: no such file")
    if os.path.isdir(filename):
        raise CommandError(f"{filename} is a folder, not a recording: give the .h5 file written by ReplayData")
    try:
        groups = storage.list_groups(filename)
    except storage.RecordingError:
        raise CommandError(f"{filename} is not an HDF5 file, so not a deepreplay recording") from None
    except OSError as exc:
        raise CommandError(f"{filename} cannot be read ({exc.strerror or exc})") from None
    if group not in groups:
        known = ", ".join(repr(g) for g in groups) if groups else "none"
        raise CommandError(f"no recording {group!r} in {filename}; its recordings: {known}")
    with storage.RecordingReader(filename, group) as reader:
        metrics = [str(m) for m in reader.attrs.get("metrics", []) or []]
        return list(reader.layers), metrics, [int(e) for e in reader.epochs], reader.record_unit


def _check_epoch(option: str, epoch: int | None, epochs: Sequence[int], unit: str = "epoch", *,
                 recorded: bool = False) -> None:
    """``epoch`` within the recording's range; ``recorded``: one of its records (a ``render`` PNG is one
    record; ``compare`` steps runs recorded at other epochs, each showing its last record up to ``epoch``)."""
    if epoch is not None and not epochs[0] <= epoch <= epochs[-1]:
        raise CommandError(f"{option} {epoch}: the recording has {unit}s {epochs[0]} to {epochs[-1]}")
    if recorded and epoch is not None and epoch not in epochs:  # a frame is a record
        shown = ", ".join(map(str, epochs)) if len(epochs) <= 12 else \
            ", ".join(map(str, [*epochs[:5], "...", *epochs[-5:]]))
        raise CommandError(f"{option} {epoch}: not a recorded {unit} (ReplayData(every=...) or every_steps "
                           f"records some only); the recorded {unit}s: {shown}")


def _check_numbers(args: argparse.Namespace, ext: str) -> None:
    for option in ("fps", "dpi"):
        value = getattr(args, option)
        if value is not None and not value > 0:
            raise CommandError(f"--{option} {value:g}: give a positive number")
    if ext != ".png" and args.epoch is not None:
        raise CommandError("--epoch picks the epoch of a .png; for animations use --epoch-start/--epoch-end")


def _check_render_request(args: argparse.Namespace) -> str:
    """Check every argument of ``render`` before anything heavy happens; return the output's extension."""
    ext = _check_output(args.output, RENDER_FORMATS)
    _check_numbers(args, ext)
    layers, metrics, epochs, unit = _check_recording(args.file, args.group)
    if args.layer is not None and args.layer not in layers:
        raise CommandError(f"--layer {args.layer}: no such layer in {args.group!r}; its layers: {', '.join(layers)}")
    if args.metric is not None and metrics and args.metric not in metrics:
        raise CommandError(f"--metric {args.metric}: not recorded in {args.group!r}; its metrics: {', '.join(metrics)}")
    for option, value in (("--epoch", args.epoch), ("--epoch-start", args.epoch_start),
                          ("--epoch-end", args.epoch_end)):
        _check_epoch(option, value, epochs, unit, recorded=option == "--epoch")
    if args.epoch_start is not None and args.epoch_end is not None and args.epoch_start > args.epoch_end:
        raise CommandError(f"--epoch-start {args.epoch_start} is after --epoch-end {args.epoch_end}")
    return ext


def _check_compare_request(args: argparse.Namespace) -> str:
    """Check every argument of ``compare`` before anything heavy happens; return the output's extension."""
    ext = _check_output(args.output, RENDER_FORMATS)
    _check_numbers(args, ext)
    for group in args.groups:
        layers, metrics, epochs, unit = _check_recording(args.file, group)
        if args.metric is not None and metrics and args.metric not in metrics:
            raise CommandError(f"--metric {args.metric}: not recorded in {group!r}; its metrics: {', '.join(metrics)}")
        _check_epoch("--epoch", args.epoch, epochs, unit)
    return ext


def _import_custom_objects(modules: Sequence[str] | None) -> dict:
    """Import each ``--import`` module (a name, or a ``.py`` file); the Keras objects they define, by name.

    Importing runs the module's decorators, so classes registered with
    ``@keras.saving.register_keras_serializable`` become known; the classes
    (layers, models, losses, metrics) and functions a module defines are
    also returned, for ``Replay(..., custom_objects=...)``, so an
    unregistered class is found by its name.  A ``.py`` file is imported
    under its own name, not as ``__main__`` (its ``if __name__ ==
    "__main__":`` block does not run).
    """
    import importlib
    import importlib.util
    import inspect

    found: dict = {}
    if not modules:
        return found
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # modules of the current folder, as `python -m` would find them
    import keras

    kinds = (keras.layers.Layer, keras.losses.Loss, keras.metrics.Metric)
    for name in modules:
        try:
            if name.endswith(".py"):
                if not os.path.isfile(name):
                    raise FileNotFoundError(f"no file {name}")
                stem = os.path.splitext(os.path.basename(name))[0]
                spec = importlib.util.spec_from_file_location(stem, name)
                module = importlib.util.module_from_spec(spec)
                sys.modules[stem] = module
                spec.loader.exec_module(module)
            else:
                module = importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - said in one line
            raise CommandError(f"--import {name}: cannot import it ({type(exc).__name__}: {exc}); give a module "
                               "importable from the current folder (e.g. my_models) or a .py file") from exc
        for key, obj in vars(module).items():
            if getattr(obj, "__module__", None) != module.__name__ or key.startswith("_"):
                continue
            if (inspect.isclass(obj) and issubclass(obj, kinds)) or inspect.isfunction(obj):
                found[key] = obj
    return found


def _cmd_render(args: argparse.Namespace) -> int:
    import warnings

    # Every argument is checked first, before Keras and Matplotlib are imported (seconds).
    ext = _check_render_request(args)
    _import_keras()

    import matplotlib

    matplotlib.use("Agg")

    from .dashboard import DashboardNote, build_dashboard
    from .replay import Replay

    custom_objects = _import_custom_objects(args.imports)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        replay = Replay(args.file, args.group, custom_objects=custom_objects, safe_mode=not args.unsafe)
    for warning in caught:
        print(f"deepreplay: warning: {warning.message}", file=sys.stderr)
    with replay:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DashboardNote)
            fig, visuals = build_dashboard(replay, layer_name=args.layer, metric_name=args.metric,
                                           epoch_start=args.epoch_start, epoch_end=args.epoch_end)
        for warning in caught:
            kind = "note" if issubclass(warning.category, DashboardNote) else "warning"
            print(f"deepreplay: {kind}: {warning.message}", file=sys.stderr)
        _write_visuals(args, ext, fig, visuals, args.title if args.title is not None else args.group)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    import contextlib
    import warnings

    # Every argument is checked first, before Keras and Matplotlib are imported (seconds).
    ext = _check_compare_request(args)
    _import_keras()

    import matplotlib

    matplotlib.use("Agg")

    from .dashboard import DashboardNote, build_comparison
    from .replay import Replay

    custom_objects = _import_custom_objects(args.imports)
    with contextlib.ExitStack() as stack:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            replays = [stack.enter_context(Replay(args.file, group, custom_objects=custom_objects,
                                                  safe_mode=not args.unsafe))
                       for group in args.groups]
        for warning in caught:
            print(f"deepreplay: warning: {warning.message}", file=sys.stderr)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DashboardNote)
            fig, visuals = build_comparison(replays, layer_name=args.layer, metric_name=args.metric)
        for warning in caught:
            kind = "note" if issubclass(warning.category, DashboardNote) else "warning"
            print(f"deepreplay: {kind}: {warning.message}", file=sys.stderr)
        _write_visuals(args, ext, fig, visuals, args.title if args.title is not None else " vs ".join(args.groups))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deepreplay",
        description="Replay how a Keras model trained: record with ReplayData, then look at it.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"deepreplay {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    demo = sub.add_parser("demo", help="train, record and animate the canonical Part 1 run",
                          description="Train the Part 1 network (parabolas, 2-2-1, SGD 0.05, batch 16) with "
                                      "ReplayData and write its animation (GIF and MP4) and a PNG.")
    demo.add_argument("-o", "--output", default="out", help="output folder (default: out)")
    demo.add_argument("--epochs", type=int, default=150, help="training epochs (default: 150)")
    demo.add_argument("--activation", default="sigmoid", help="hidden activation (default: sigmoid)")
    demo.add_argument("--fps", type=float, default=None,
                      help="frames per second (default: 10, slower for short runs so they last ~5 s)")
    demo.add_argument("--dpi", type=float, default=None, help="resolution (default: 100, 1300 pixels wide)")
    demo.add_argument("--formats", default="gif,mp4", help="comma-separated: gif, mp4, html (default: gif,mp4)")
    demo.set_defaults(func=_cmd_demo)

    info = sub.add_parser("info", help="list the recordings in a file",
                          description="Show each recording in FILE: epochs, completeness, layers, sizes.")
    info.add_argument("file", help="an HDF5 file written by ReplayData")
    info.set_defaults(func=_cmd_info)

    convert = sub.add_parser("convert", help="convert a DeepReplay 0.1 recording to the current format",
                             description="Write a DeepReplay 0.1 recording (OLD.h5, its group, and the model "
                                         "saved apart by Keras 2) as a current recording: the model is rebuilt "
                                         "from its config, and the per-sample losses, predictions, layer outputs "
                                         "and gradients are recomputed from the recorded weights and inputs.")
    convert.add_argument("file", help="the DeepReplay 0.1 file (e.g. hyperparms_in_action.h5)")
    convert.add_argument("group", help="its group (see 'deepreplay info FILE')")
    convert.add_argument("--model", default=None,
                         help="the model file saved by Keras 2 (default: GROUP_model.h5 next to FILE)")
    convert.add_argument("-o", "--output", required=True, help="the file to write (other groups are kept)")
    convert.add_argument("--new-group", default=None, help="group name to write (default: GROUP)")
    convert.add_argument("--overwrite", action="store_true", help="replace that group if it exists")
    convert.set_defaults(func=_cmd_convert)

    render = sub.add_parser("render", help="draw the standard dashboard of a recording",
                            description="Draw the visuals that apply to a recording (feature space or decision "
                                        "boundary, loss and metric, probability histograms, loss histogram) as an "
                                        "animation (.gif, .mp4, .html) or one epoch (.png).")
    render.add_argument("file", help="an HDF5 file written by ReplayData")
    render.add_argument("group", help="the recording's group name (see 'deepreplay info FILE')")
    render.add_argument("-o", "--output", required=True, help="output file: .gif, .mp4, .html or .png")
    render.add_argument("--layer", default=None, help="2-unit layer for the feature space (default: the last one)")
    render.add_argument("--metric", default=None, help="metric next to the loss (default: accuracy or the first)")
    render.add_argument("--epoch", type=int, default=None, help="epoch of a .png (default: the last); a step for a step-based recording")
    render.add_argument("--epoch-start", type=int, default=None, help="first epoch of an animation")
    render.add_argument("--epoch-end", type=int, default=None, help="last epoch of an animation (inclusive)")
    render.add_argument("--fps", type=float, default=None,
                        help="frames per second (default: 10, slower for short runs so they last ~5 s)")
    render.add_argument("--dpi", type=float, default=None, help="resolution (default: 100, 1300 pixels wide)")
    render.add_argument("--title", default=None, help="figure title (default: the group name)")
    render.add_argument("--import", dest="imports", action="append", default=None, metavar="MODULE",
                        help="import MODULE (a name, or a .py file) first: the custom layers or model classes "
                             "it defines are used to rebuild the model (repeat for several)")
    render.add_argument("--unsafe", action="store_true",
                        help="rebuild a model whose stored config holds Python code (a Lambda layer): only for a "
                             "file you trust (Replay(..., safe_mode=False))")
    render.set_defaults(func=_cmd_render)

    compare = sub.add_parser("compare", help="draw several recordings side by side",
                             description="Draw several recordings of FILE side by side, stepping together by "
                                         "epoch: each run's feature space or decision boundary, and every run's "
                                         "loss and metric on one axes.")
    compare.add_argument("file", help="an HDF5 file written by ReplayData")
    compare.add_argument("groups", nargs="+", metavar="GROUP", help="the recordings to compare")
    compare.add_argument("-o", "--output", required=True, help="output file: .gif, .mp4, .html or .png")
    compare.add_argument("--layer", default=None, help="2-unit layer for the feature spaces (default: per run)")
    compare.add_argument("--metric", default=None, help="metric next to the loss (default: accuracy or the first)")
    compare.add_argument("--epoch", type=int, default=None, help="epoch of a .png (default: the last)")
    compare.add_argument("--fps", type=float, default=None,
                         help="frames per second (default: 10, slower for short runs so they last ~5 s)")
    compare.add_argument("--dpi", type=float, default=None, help="resolution (default: 100)")
    compare.add_argument("--title", default=None, help="figure title (default: the group names)")
    compare.add_argument("--import", dest="imports", action="append", default=None, metavar="MODULE",
                         help="import MODULE (a name, or a .py file) first, as for render")
    compare.add_argument("--unsafe", action="store_true",
                         help="rebuild models whose stored configs hold Python code, as for render")
    compare.set_defaults(func=_cmd_compare)
    return parser


#: Python parameter names in library messages, and the command-line options they come from.
_OPTION_NAMES = {"replay_filename": "FILE", "group_name": "GROUP", "layer_name": "--layer", "metric_name": "--metric",
                 "epoch_start": "--epoch-start", "epoch_end": "--epoch-end", "epoch": "--epoch", "fps": "--fps",
                 "dpi": "--dpi", "filename": "--output"}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    _quiet_tensorflow()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:
        # The reader of our output went away (``deepreplay info FILE | head``): not an error.
        # Point stdout at /dev/null so that Python's flush at exit does not fail again.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):  # no real file descriptor behind stdout
            pass
        return 0
    except CommandError as exc:
        print(f"deepreplay: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (ValueError, TypeError, KeyError, FileNotFoundError, OSError) as exc:
        print(f"deepreplay: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except (RuntimeError, MemoryError, RecursionError, IndexError, ArithmeticError) as exc:
        # A damaged file that got past the checks: still one line, never a traceback.
        print(f"deepreplay: error: {type(exc).__name__}: {_one_line(exc)} (is {args.file!r} damaged?)",
              file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
