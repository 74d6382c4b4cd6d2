"""Disk taken in site-packages by deepreplay's install and each extra (run where it is installed).

For each choice (``pip install -e .``, ``.[test]``, ``.[jax]``, ``.[torch]``, ``.[test,jax,torch]``)
the script follows the installed distributions' requirements from deepreplay's (transitively,
environment markers evaluated here) and adds up the sizes of their installed files, as listed by
their RECORD.  It measures what pip installed on this machine; nothing is downloaded.
"""

from __future__ import annotations

import re
from importlib import metadata

from packaging.requirements import Requirement


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


DISTS = {_name(d.metadata["Name"]): d for d in metadata.distributions() if d.metadata["Name"]}


def closure(extras: tuple[str, ...]) -> set[str]:
    seen: set[str] = set()
    todo = [("deepreplay", extras)]
    while todo:
        name, wanted = todo.pop()
        dist = DISTS.get(_name(name))
        if dist is None:
            continue
        key = _name(name)
        new = key not in seen
        seen.add(key)
        for line in dist.requires or []:
            req = Requirement(line)
            env_ok = [req.marker is None or req.marker.evaluate({"extra": e}) for e in ("",) + tuple(wanted)]
            if any(env_ok) and (new or req.marker is not None):
                todo.append((req.name, tuple(req.extras)))
    return seen


def size_mb(names: set[str]) -> float:
    total = 0
    for name in names:
        for f in DISTS[name].files or []:
            try:
                total += f.locate().stat().st_size
            except OSError:
                pass
    return total / 1e6


if __name__ == "__main__":
    for extras in ((), ("test",), ("jax",), ("torch",), ("test", "jax", "torch")):
        names = closure(extras)
        label = "pip install -e ." + (f'"[{",".join(extras)}]"' if extras else "")
        print(f"{label:42s} {len(names):4d} distributions  {size_mb(names) / 1000:5.2f} GB")
