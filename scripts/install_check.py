"""How ``scripts/demo.sh`` installs deepreplay from this checkout: prints one word.

* ``installed``: this very checkout is installed (editable), ``setup.py``
  and ``pyproject.toml`` are not newer than that install, and every
  requirement of it is met: there is nothing to install.
* ``no-isolation``: otherwise, when the build requirements of
  ``pyproject.toml`` (setuptools, wheel) are installed already:
  ``pip install --no-build-isolation -e .`` builds with them instead of
  downloading them into a fresh build environment first (3-5 s).
* ``full``: anything else (a fresh machine, or any doubt): ``pip install -e .``.

Reads package metadata only (the standard library and ``packaging``); it
imports neither pip nor deepreplay nor TensorFlow.
"""

from __future__ import annotations

import os
import sys
import tomllib
from importlib import metadata
from urllib.parse import unquote, urlparse

ROOT = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))


def _met(requirements: list[str]) -> bool:
    """Whether every requirement (PEP 508 strings, extras left out) is installed in a matching version."""
    from packaging.requirements import Requirement

    for text in requirements:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            return False
        if not req.specifier.contains(version, prereleases=True):
            return False
    return True


def _installed_here() -> bool:
    """Whether this checkout is the installed (editable) deepreplay, up to date, its requirements met."""
    try:
        dist = metadata.distribution("deepreplay")
    except metadata.PackageNotFoundError:
        return False
    import json

    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    url = urlparse(direct.get("url", ""))
    if not direct.get("dir_info", {}).get("editable") or url.scheme != "file":
        return False
    if os.path.realpath(unquote(url.path)) != ROOT:
        return False
    meta = [f for f in dist.files or [] if f.name == "METADATA" and f.parent.name.endswith(".dist-info")]
    if not meta:
        return False
    installed_at = os.path.getmtime(dist.locate_file(meta[0]))
    if any(os.path.getmtime(os.path.join(ROOT, name)) > installed_at for name in ("setup.py", "pyproject.toml")):
        return False
    return _met(dist.requires or [])


def _build_requirements_met() -> bool:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        requires = tomllib.load(f).get("build-system", {}).get("requires", [])
    return bool(requires) and _met(requires)


def main() -> str:
    try:
        if _installed_here():
            return "installed"
        if _build_requirements_met():
            return "no-isolation"
    except Exception:  # noqa: BLE001 - any doubt: the full install
        pass
    return "full"


if __name__ == "__main__":
    print(main())
    sys.exit(0)
